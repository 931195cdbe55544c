"""Lesson 9's exercise: LoRA's backward, the gradients of its pair A, B (and of its input)."""

from __future__ import annotations

from .. import ops
from .spec import Case, Exercise, Mistake, finite_differences


def _lora_cases(rng):
    cases = []
    for x_shape, (n_in, r, n_out), need_dx in (((2, 3, 6), (6, 2, 9), True), ((4, 6), (6, 3, 5), False)):
        x = rng.standard_normal(x_shape)
        a, b = rng.standard_normal((n_in, r)), rng.standard_normal((r, n_out))
        scaling = 2.0  # alpha / r with alpha = 2r, as in lesson 9: a missing scaling shows
        dout = rng.standard_normal(x_shape[:-1] + (n_out,))
        _, cache = ops.lora_forward(x, a, b, scaling)
        numeric = finite_differences(lambda x, a, b: ops.lora_forward(x, a, b, scaling, cache=False)[0],
                                     {"dx": x, "da": a, "db": b}, dout, skip=() if need_dx else ("dx",))
        cases.append(Case(f"x {x_shape}, A ({n_in}, {r}), B ({r}, {n_out}), scaling {scaling}, random dout, "
                          f"need_dx={need_dx}, float64", (dout, cache), {"need_dx": need_dx}, numeric))
    return cases


def _lora(dout, cache, need_dx=True, scale=1, db_from="u", b_t=True, always_dx=False):
    """LoRA's backward with one step changed: each change is a common mistake."""
    x, xa, a, b, scaling = cache
    s = scaling ** scale
    d2, x2 = dout.reshape(-1, b.shape[1]), x.reshape(-1, x.shape[-1])
    db = s * ({"u": xa.reshape(-1, a.shape[1]), "x": x2}[db_from].T @ d2)
    du = s * (d2 @ (b.T if b_t else b))
    da = x2.T @ du
    dx = (du @ a.T).reshape(x.shape) if need_dx or always_dx else None
    return dx, da, db


MISTAKES = (
    Mistake("no scaling", "the LoRA term is scaling · (x A) B, so every gradient through it carries scaling "
            "(alpha / r)", lambda dout, cache, need_dx=True: _lora(dout, cache, need_dx, scale=0)),
    Mistake("scaling twice", "scaling is applied twice: once in du is enough, dA and dx inherit it",
            lambda dout, cache, need_dx=True: _lora(dout, cache, need_dx, scale=2)),
    Mistake("dB from x", "dB uses x: B multiplies u = x A (r numbers per token), so dB = (the gradient) with "
            "uᵀ, shape (r, out)", lambda dout, cache, need_dx=True: _lora(dout, cache, need_dx, db_from="x")),
    Mistake("B untransposed", "dout @ B does not fit: going back through u @ B multiplies by B's transpose",
            lambda dout, cache, need_dx=True: _lora(dout, cache, need_dx, b_t=False)),
    Mistake("dx when not needed", "need_dx=False asks for None in dx's place: skip computing it",
            lambda dout, cache, need_dx=True: _lora(dout, cache, need_dx, always_dx=True)),
)

EXERCISES = (
    Exercise(
        "lora_backward", 9, 20, "LoRA's backward: the gradients of A and B through scaling · (x A) B",
        "ia3_scale_backward", ops.lora_backward, ("dx", "da", "db"), _lora_cases, MISTAKES,
        ("Name the intermediate u = x A (r numbers per token): the term is scaling · u B. Go back through the "
         "last product first.",
         "For y = u B: the gradient of B is uᵀ times the upstream gradient, that of u is the upstream gradient "
         "times Bᵀ. scaling is a constant factor: where does it enter, and how many times?",
         "Then u = x A, the same rule again. x may have any number of leading axes: reshape to (tokens, in) and "
         "(tokens, out) first, so that one matrix product sums over every token.",
         "dx is only the LoRA term's share (the frozen W's is linear_backward's); need_dx=False: return None."),
    ),
)
