"""Checking hand-written gradients against finite differences.

Central differences, (f(x + h) − f(x − h)) / 2h, have error O(h²) from the Taylor series plus
O(ε·|f| / h) from rounding. In float64 (ε ≈ 1e-16) with h ≈ 1e-5 both are around 1e-10, so a
correct gradient agrees to a relative error of about 1e-8 or better, and a wrong one (a missing
term, a transposed matrix) is off by orders of magnitude more: lesson 3's deliberately wrong IA³
gradients give 1e-4 to 1e-1, not always above 1e-2, so anything well above the tolerance is a
bug. float32 is far too coarse for this: check in float64, then trust the same code in float32.

Two rules from experience:
  * check at random points, never only at the IA³ initialisation (all ones), where a backward
    that forgets to multiply by l still looks right;
  * check a vector-Jacobian product against a random upstream gradient, not the gradient of a
    sum, which hides errors that cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, is_int, is_number, require, require_seed

# Relative error below this passes in float64 (see the module docstring for why 1e-7).
TOLERANCE_F64 = 1e-7


def rel_error(a, b, floor=1e-12) -> float:
    """max |a − b| / max(max |a|, max |b|, floor): the largest error relative to the scale.

    Relative to the whole array's scale rather than entry by entry, because an entry that is
    nearly 0 only carries the rounding noise of the others. `floor` keeps 0/0 from being NaN.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    require(a.shape == b.shape, "rel_error: b", f"an array of a's shape {a.shape}", b,
            "Compare like with like: a broadcast would compare other entries.")
    require(is_number(floor) and floor > 0, "rel_error: floor", "a positive finite number (e.g. 1e-12)", floor)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0), floor)
    return float(np.max(np.abs(a - b), initial=0.0) / scale)


# Central-difference stencils: offsets (in units of h) and weights. The 3-point rule has error
# O(h²); the 5-point rule O(h⁴), so it can use a larger h, where rounding (ε·|f|/h) is smaller:
# the way to check gradients that are tiny compared with the loss itself.
STENCILS = {
    2: ((1, 0.5), (-1, -0.5)),
    4: ((2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12)),
}


def _check_differences(where: str, f, x, h, order) -> None:
    """The arguments every finite difference shares: f() reads x, which is nudged in place."""
    require(callable(f), f"{where}: f", "a function of no arguments returning the value", f,
            error=ArgumentTypeError)
    require(isinstance(x, np.ndarray) and x.dtype.kind == "f", f"{where}: x",
            "a floating-point NumPy array that f reads (float64 for a check)", x)
    require(np.shares_memory(x.reshape(-1), x), f"{where}: x", "an array that can be nudged in place (contiguous)",
            x, "A non-contiguous view would be nudged in a copy f never reads: pass np.ascontiguousarray(x) "
            "and make f read that.")
    require(is_number(h) and h > 0, f"{where}: h", "a positive finite step (e.g. 1e-5)", h)
    require(order in STENCILS, f"{where}: order", f"one of {sorted(STENCILS)}", order)


def numerical_gradient(f, x, index=None, h=1e-5, order=2):
    """d f / d x by central differences, f() -> float reading x, which is changed in place.

    index: flat indices to check (default: all). order: 2 (3-point rule, 2 evaluations per
    coordinate) or 4 (5-point rule, 4 evaluations). x is restored exactly after each coordinate.
    """
    _check_differences("numerical_gradient", f, x, h, order)
    flat = x.reshape(-1)  # a view: writing to it changes x
    index = np.arange(flat.size) if index is None else np.asarray(index)
    in_range = index.size == 0 or (index.dtype.kind in "iu" and 0 <= index.min() and index.max() < flat.size)
    require(index.ndim == 1 and in_range, "numerical_gradient: index",
            f"None or a 1-D array of flat indices from 0 to x.size - 1 = {flat.size - 1}", index.tolist())
    stencil = STENCILS[order]
    grad = np.empty(len(index))
    for j, i in enumerate(index):
        old = flat[i]
        total = 0.0
        for offset, weight in stencil:
            flat[i] = old + offset * h
            total += weight * f()
        flat[i] = old
        grad[j] = total / h
    return grad


def numerical_vjp(f, x, dout, h=1e-5):
    """d/dx Σ f(x) ⊙ dout for an array-valued f() reading x: a vector-Jacobian product."""
    _check_differences("numerical_vjp", f, x, h, 2)
    require(isinstance(dout, np.ndarray), "numerical_vjp: dout", "an array of the shape f() returns", dout)
    return numerical_gradient(lambda: float(np.sum(f() * dout)), x, h=h).reshape(x.shape)


def directional_check(f, params, grads, h=1e-5, seed=0, order=2):
    """Compare ⟨∇f, u⟩ with (f(θ + h·u) − f(θ − h·u)) / 2h for a random unit direction u.

    Two evaluations of f (four with order=4) check every parameter at once, though not each one
    separately.
    params: arrays changed in place and restored; grads: their analytic gradients.
    Returns (analytic, numeric).
    """
    params, grads = list(params), list(grads)
    for p in params:
        _check_differences("directional_check", f, p, h, order)
    require(len(grads) == len(params) and all(np.shape(g) == p.shape for g, p in zip(grads, params)),
            "directional_check: grads", f"one gradient per parameter, of its shape ({[list(p.shape) for p in params]})",
            [list(np.shape(g)) for g in grads])
    require_seed(seed, "directional_check: seed")
    rng = np.random.default_rng(seed)
    us = [rng.standard_normal(p.shape) for p in params]
    norm = np.sqrt(sum(np.sum(u * u) for u in us))
    us = [u / norm for u in us]
    originals = [p.copy() for p in params]

    def shifted(step):
        for p, p0, u in zip(params, originals, us):
            p[...] = p0 + step * h * u
        return f()

    numeric = sum(weight * shifted(offset) for offset, weight in STENCILS[order]) / h
    for p, p0 in zip(params, originals):
        p[...] = p0
    analytic = float(sum(np.sum(g * u) for g, u in zip(grads, us)))
    return analytic, numeric


# -------------------------------------------------------------------------------------------------
# IA³ gradients of the model's loss, as a readable report.


@dataclass
class CheckRow:
    what: str  # e.g. "l_k layer 0" or "all vectors, random direction"
    analytic: np.ndarray
    numeric: np.ndarray
    scale: float = 1e-12  # the error is relative to at least this (see directional rows)
    error: float = field(init=False)

    def __post_init__(self):
        self.error = rel_error(self.analytic, self.numeric, floor=self.scale)


@dataclass
class GradcheckReport:
    rows: list[CheckRow]
    tolerance: float = TOLERANCE_F64

    @property
    def passed(self) -> bool:
        return all(row.error < self.tolerance for row in self.rows)

    def table(self) -> str:
        lines = [
            f"{'check':<34} {'analytic':>14} {'numeric':>14} {'rel. error':>11}  verdict",
            "-" * 84,
        ]
        for row in self.rows:
            a, n = np.ravel(row.analytic), np.ravel(row.numeric)
            k = int(np.argmax(np.abs(a - n)))  # show the worst coordinate
            verdict = "ok" if row.error < self.tolerance else "WRONG"
            lines.append(f"{row.what:<34} {a[k]:>14.6e} {n[k]:>14.6e} {row.error:>11.2e}  {verdict}")
        lines.append("-" * 84)
        lines.append(
            f"relative error = max|analytic - numeric| / scale of the gradient checked; float64 central differences: "
            f"< {self.tolerance:.0e} is right, far above it is a bug (a wrong backward can give as little as 1e-4)."
        )
        return "\n".join(lines)


def check_ia3_gradients(model, ia3, ids, loss_mask=None, attention_mask=None,
                        coords_per_vector=4, h=1e-3, order=4, seed=0, grads=None) -> GradcheckReport:
    """Sparse finite differences of every IA³ vector in every layer, plus a directional check.

    `grads`: analytic gradients to check (default: tinyia3's own loss_and_grad). Passing other
    gradients is how a student checks their own backward. The model should be float64.

    Key gradients of a trained model can be 10⁻⁵ of the loss or less, so plain central
    differences drown in rounding (ε·|loss|/h ≈ 1e-11 against a gradient of 1e-6). Hence the
    5-point rule with h = 1e-3 by default, and each row's error is relative to the scale of that
    layer's whole gradient vector (the quantity being checked), not only the sampled entries.
    """
    from .ia3 import IA3
    from .losses import loss, loss_and_grad
    from .model import require_model

    require_model(model, "check_ia3_gradients")
    require(isinstance(ia3, IA3), "check_ia3_gradients: ia3", "a tinyia3.IA3", ia3,
            "Make one away from ones: IA3.random(model, std=0.3).", ArgumentTypeError)
    require(is_int(coords_per_vector) and coords_per_vector >= 1, "check_ia3_gradients: coords_per_vector",
            "a positive integer", coords_per_vector)
    require(is_number(h) and h > 0, "check_ia3_gradients: h", "a positive finite step (e.g. 1e-3)", h)
    require(order in STENCILS, "check_ia3_gradients: order", f"one of {sorted(STENCILS)}", order)
    require_seed(seed, "check_ia3_gradients: seed")
    require(grads is None or (isinstance(grads, IA3) and grads.named().keys() == ia3.named().keys()),
            "check_ia3_gradients: grads", f"None or an IA3 of gradients of the same vectors ({', '.join(ia3.named())})",
            grads, "It is what loss_and_grad(model, ia3, ...) returns second.")
    if grads is not None:
        grads.check_fits(model.config)
    if np.dtype(model.dtype) != np.float64:
        raise ArgumentError(
            f"Gradient checks need a float64 model (found {np.dtype(model.dtype)}): float32 "
            "rounding swamps the finite differences. Load it with dtype=np.float64."
        )
    ia3 = ia3.astype(np.float64)  # a private copy: its entries are nudged in place
    if grads is None:
        _, grads = loss_and_grad(model, ia3, ids, loss_mask, attention_mask)

    def f():
        return loss(model, ia3, ids, loss_mask, attention_mask)

    rng = np.random.default_rng(seed)
    rows = []
    for name, vec in ia3.named().items():
        for layer in range(ia3.n_layer):
            index = rng.choice(vec.shape[1], size=min(coords_per_vector, vec.shape[1]), replace=False)
            numeric = numerical_gradient(f, vec[layer], index, h, order)
            analytic = getattr(grads, name)[layer]
            rows.append(CheckRow(f"d{name} layer {layer} ({len(index)} coords)", analytic[index], numeric,
                                 scale=float(np.abs(analytic).max())))
    vectors = list(ia3.named().values())
    grad_list = list(grads.named().values())
    analytic, numeric = directional_check(f, vectors, grad_list, h, seed, order)
    # ⟨∇f, u⟩ sums many terms of both signs and can be far smaller than |∇f|; relative to
    # itself it would look noisy. Its natural scale is |∇f| (Cauchy-Schwarz, |u| = 1).
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grad_list)))
    rows.append(CheckRow("all vectors, random direction", np.array([analytic]), np.array([numeric]), norm))
    return GradcheckReport(rows)
