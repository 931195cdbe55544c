# %% [markdown]
# # Lesson 3: The backward pass by hand, checked by finite differences
#
# IA³ training needs $\partial\,\text{loss} / \partial l$ for every IA³ vector $l$. tinyia3
# computes it with a hand-written backward pass: every op of lesson 2 has a `*_backward`
# function next to its forward. A hand-written derivative is easy to get subtly wrong, so
# before trusting one we compare it with a number that needs no calculus at all, the central
# difference
#
# $$ \frac{\partial f}{\partial \theta_i} \approx \frac{f(\theta + h\,e_i) - f(\theta - h\,e_i)}{2h}. $$
#
# This lesson checks each op, then the whole model, explains why checking at the IA³
# initialisation (all ones) can hide a bug, and measures how the step $h$ decides the accuracy.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import gradcheck, lesson, ops

args = lesson.setup(3, "The backward pass by hand, checked by finite differences")
rng = np.random.default_rng(args.seed)
TOL = gradcheck.TOLERANCE_F64  # 1e-7: below is right in float64, above 1e-2 is a bug
print(f"tolerance (float64): relative error < {TOL:g}")

# %% [markdown]
# ## 3.1 What a backward function computes
#
# An op maps an input $x$ to an output $y = f(x)$. Its backward receives $\bar y =
# \partial\,\text{loss} / \partial y$ (the *upstream gradient*, called `dout`) and returns
# $\bar x = J^\top \bar y$, where $J = \partial y / \partial x$: a vector-Jacobian product.
# To check it we pick a **random** $\bar y$ and differentiate the scalar
# $s(x) = \sum y \odot \bar y$ numerically, coordinate by coordinate:
# `gradcheck.numerical_vjp(f, x, dout)`. A random $\bar y$ matters: with all ones we would check
# only the gradient of $\sum y$, in which errors of opposite sign can cancel.
#
# We compare with the relative error, relative to the size of the whole gradient,
#
# $$ \text{rel}(a, n) = \frac{\max_i |a_i - n_i|}{\max(\max_i |a_i|,\ \max_i |n_i|)}, $$
#
# (`gradcheck.rel_error`). Everything here is float64 with random inputs.

# %%
all_rows = []  # (op, CheckRow) of every check, for the summary figure


def show(op, rows):
    """Print analytic vs numeric (at the worst coordinate) and the relative error, then check it."""
    print(f"--- {op}")
    print(f"    {'gradient':<18} {'analytic':>14} {'numeric':>14} {'rel. error':>11}")
    for row in rows:
        a, n = np.ravel(row.analytic), np.ravel(row.numeric)
        k = int(np.argmax(np.abs(a - n)))  # the worst coordinate
        print(f"    {row.what:<18} {a[k]:>14.8f} {n[k]:>14.8f} {row.error:>11.1e}")
        all_rows.append((op, row))
    worst = max(row.error for row in rows)
    assert worst < TOL, f"{op}: relative error {worst:.1e} >= {TOL:g}"


def vjp_row(what, analytic, f, x, dout):
    """One CheckRow: the analytic gradient against numerical_vjp of f with respect to x."""
    return gradcheck.CheckRow(what, analytic, gradcheck.numerical_vjp(f, x, dout))


B, T, C = 2, 3, 6  # small: every coordinate gets two forward passes

# %% [markdown]
# **Layer norm.** $y = \hat x \odot g + b$ with $\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}$;
# every input moves the mean and the variance, so $\bar x$ has three terms
# (`ops.layer_norm_backward`), and $\bar g = \sum \bar y \odot \hat x$, $\bar b = \sum \bar y$.

# %%
x = rng.standard_normal((B, T, C))  # (B, T, C)
g, b = 1 + 0.3 * rng.standard_normal(C), 0.3 * rng.standard_normal(C)  # (C,)
dout = rng.standard_normal((B, T, C))


def layer_norm():
    return ops.layer_norm_forward(x, g, b, 1e-5, cache=False)[0]


_, cache = ops.layer_norm_forward(x, g, b, 1e-5)
dx = ops.layer_norm_backward(dout, cache)
dg, db = ops.layer_norm_backward_weights(dout, cache)
assert dx.shape == x.shape and dg.shape == db.shape == (C,)
show("layer norm", [vjp_row("dx", dx, layer_norm, x, dout), vjp_row("dg", dg, layer_norm, g, dout),
                    vjp_row("db", db, layer_norm, b, dout)])

# %% [markdown]
# **Linear** (GPT-2's Conv1D, weight stored (in, out)): $y = x W + b$, so $\bar x = \bar y W^\top$,
# $\bar W = x^\top \bar y$ (summed over batch and time), $\bar b = \sum \bar y$.

# %%
x = rng.standard_normal((B, T, C))  # (B, T, in)
w, b = rng.standard_normal((C, 4)), rng.standard_normal(4)  # (in, out), (out,)
dout = rng.standard_normal((B, T, 4))


def linear():
    return ops.linear_forward(x, w, b, cache=False)[0]


_, cache = ops.linear_forward(x, w, b)
dx = ops.linear_backward(dout, cache)
dw, db = ops.linear_backward_weights(dout, cache)
assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
show("linear", [vjp_row("dx", dx, linear, x, dout), vjp_row("dw", dw, linear, w, dout),
                vjp_row("db", db, linear, b, dout)])

# %% [markdown]
# **GELU** (tanh form): elementwise, so $\bar x = \bar y \odot \mathrm{gelu}'(x)$.

# %%
x = 2 * rng.standard_normal((B, T, C))
dout = rng.standard_normal((B, T, C))
_, cache = ops.gelu_forward(x)
dx = ops.gelu_backward(dout, cache)
show("gelu", [vjp_row("dx", dx, lambda: ops.gelu_forward(x, cache=False)[0], x, dout)])

# %% [markdown]
# **Causal attention** on split heads: $A = \mathrm{softmax}(q k^\top/\sqrt D + \text{mask})$,
# $y = A v$. The softmax backward is $\bar s = A \odot (\bar A - \textstyle\sum_j A_j \bar A_j)$
# row by row; masked entries have $A = 0$ and get no gradient.

# %%
H, D = 2, 3
q, k, v = (rng.standard_normal((1, H, 4, D)) for _ in range(3))  # (B, H, T, D)
allowed = ops.attention_mask(None, 4, 4)  # (1, 1, T, T), causal
dout = rng.standard_normal((1, H, 4, D))


def attention():
    return ops.attention_forward(q, k, v, allowed, cache=False)[0]


_, cache = ops.attention_forward(q, k, v, allowed)
dq, dk, dv = ops.attention_backward(dout, cache)
assert dq.shape == dk.shape == dv.shape == q.shape
show("attention", [vjp_row("dq", dq, attention, q, dout), vjp_row("dk", dk, attention, k, dout),
                   vjp_row("dv", dv, attention, v, dout)])

# %% [markdown]
# **The IA³ scaling**, the one op IA³ adds: $y = l \odot x$ with one scale per channel, so
# $\bar x = \bar y \odot l$ and $\bar l = \sum_{b,t} \bar y \odot x$ (every token the scale touched).

# %%
x = rng.standard_normal((B, T, C))
l = 1 + 0.3 * rng.standard_normal(C)  # (C,), a random point, not the initialisation
dout = rng.standard_normal((B, T, C))


def ia3_scale():
    return ops.ia3_scale_forward(x, l, cache=False)[0]


_, cache = ops.ia3_scale_forward(x, l)
dx, dl = ops.ia3_scale_backward(dout, cache)
assert dx.shape == x.shape and dl.shape == l.shape
show("IA³ scale", [vjp_row("dx", dx, ia3_scale, x, dout), vjp_row("dl", dl, ia3_scale, l, dout)])

# %% [markdown]
# **Cross-entropy** per token: $\text{nll}_n = -\log \mathrm{softmax}(z_n)[y_n]$, whose gradient
# is the famous $\bar z_n = \overline{\text{nll}}_n\,(\mathrm{softmax}(z_n) - \mathrm{onehot}(y_n))$.

# %%
N, V = 4, 7
logits = 2 * rng.standard_normal((N, V))  # (N, V)
targets = rng.integers(0, V, N)  # (N,)
dnll = rng.standard_normal(N)  # (N,)
_, cache = ops.nll_forward(logits, targets)
dlogits = ops.nll_backward(dnll, cache)
assert dlogits.shape == logits.shape
show("nll (cross-entropy)",
     [vjp_row("dlogits", dlogits, lambda: ops.nll_forward(logits, targets, cache=False)[0], logits, dnll)])

# %%
fig, ax = plt.subplots(figsize=(8, 4.2))
labels = [f"{op}: {row.what}" for op, row in all_rows]
errors = np.array([max(row.error, 1e-17) for _, row in all_rows])  # an exact 0 drawn at 1e-17
ax.barh(range(len(labels)), errors, color="tab:green")
ax.axvline(TOL, color="tab:orange", linestyle="--", label=f"tolerance {TOL:g}: below is right")
ax.axvline(1e-2, color="tab:red", linestyle="--", label="1e-2: above is a bug")
ax.set_xscale("log")
ax.set_xlim(1e-17, 1)
ax.set_yticks(range(len(labels)), labels, fontsize=8)
ax.invert_yaxis()
h_vjp = inspect.signature(gradcheck.numerical_vjp).parameters["h"].default
ax.set_xlabel(f"relative error, analytic vs central difference (float64, h = {h_vjp:g})")
ax.set_title("Every op's backward against finite differences")
ax.legend(fontsize=8, loc="lower right")
lesson.save(fig, args, "op_gradchecks")

# %% [markdown]
# ## 3.2 Why checking at the initialisation can hide a bug
#
# IA³ vectors start at $l = 1$. Suppose a backward forgets the factor $l$ in
# $\bar x = \bar y \odot l$ and returns $\bar y$. At $l = 1$ that is *exactly* right, so a check at
# the initialisation passes, and training starts fine; the error appears only once $l$ has
# moved. Here is that bug:

# %%
correct_ia3_scale_backward = ops.ia3_scale_backward


def ia3_scale_backward_forgets_l(dout, cache):
    """A deliberately WRONG backward: dx should be dout * l."""
    _, dl = correct_ia3_scale_backward(dout, cache)  # dl is still right
    return dout, dl  # BUG: forgets * l


for name, point in [("l = 1 (init)", np.ones(C)), ("l = 1 + 0.3·randn", l)]:
    _, cache = ops.ia3_scale_forward(x, point)
    wrong_dx, _ = ia3_scale_backward_forgets_l(dout, cache)
    numeric = gradcheck.numerical_vjp(lambda: ops.ia3_scale_forward(x, point, cache=False)[0], x, dout)
    print(f"buggy dx at {name:<18} rel. error {gradcheck.rel_error(wrong_dx, numeric):.1e}")
    if name.startswith("l = 1 ("):
        assert gradcheck.rel_error(wrong_dx, numeric) < TOL  # the bug is invisible here
    else:
        assert gradcheck.rel_error(wrong_dx, numeric) > 1e-2  # and obvious here

# %% [markdown]
# The same bug in the model. We swap the buggy op into `tinyia3.ops` for a moment (the model
# calls `ops.ia3_scale_backward`), compute IA³ gradients of the language-model loss, and put the
# correct op back. The model is loaded in float64 for the checks.

# %%
model = tinyia3.load_model(args.model, dtype=np.float64)
tokenizer = tinyia3.load_tokenizer(args.model)
config = model.config
L = config.n_layer
text = "In the beginning, God created the heavens and the earth. The earth was formless and empty."
ids = np.array(tokenizer.encode(text))[None, : 6 if args.quick else 12]  # (1, T); the LM head dominates the cost
ones = tinyia3.IA3.ones(model)
ia3 = tinyia3.IA3.random(model, std=0.3, seed=args.seed)  # l = 1 + 0.3·N(0, 1), float64
print(model, "\nids", ids.shape, repr(tokenizer.decode(ids[0])))


def gradients_with(backward, ia3):
    """IA³ gradients of the LM loss computed with `backward` in place of ops.ia3_scale_backward."""
    ops.ia3_scale_backward = backward
    try:
        return tinyia3.loss_and_grad(model, ia3, ids)[1]
    finally:
        ops.ia3_scale_backward = correct_ia3_scale_backward


right_at_ones = gradients_with(correct_ia3_scale_backward, ones)
buggy_at_ones = gradients_with(ia3_scale_backward_forgets_l, ones)
right_at_rand = gradients_with(correct_ia3_scale_backward, ia3)
buggy_at_rand = gradients_with(ia3_scale_backward_forgets_l, ia3)
assert ops.ia3_scale_backward is correct_ia3_scale_backward  # the package is whole again
for name in ("l_k", "l_v", "l_ff"):
    same_at_ones = np.array_equal(getattr(right_at_ones, name), getattr(buggy_at_ones, name))
    err_at_rand = gradcheck.rel_error(getattr(right_at_rand, name), getattr(buggy_at_rand, name))
    print(f"d{name:<4} buggy vs right: identical at l = 1: {same_at_ones};  "
          f"rel. difference at random l: {err_at_rand:.2f}")
    assert same_at_ones and err_at_rand > 1e-2

# %% [markdown]
# At $l = 1$ the buggy gradients are bit-for-bit the right ones, so *no* check there can catch
# the bug. At a random point they differ by several percent; section 3.4 shows the
# finite-difference check catching it in every layer but one: the top block's $l_{ff}$, the first
# vector the backward reaches, before it has passed through any IA³ scale.

# %% [markdown]
# ## 3.3 Choosing the step $h$
#
# A central difference has two errors. Taylor's theorem gives the *truncation* error,
# $\frac{h^2}{6} f'''$, which shrinks with $h$. The *rounding* error grows as $h$ shrinks:
# $f(\theta \pm h)$ are each known only to about $\varepsilon\,|f|$ (machine epsilon
# $\varepsilon \approx 2.2\times 10^{-16}$ in float64, $1.2\times 10^{-7}$ in float32), and their
# difference is divided by $2h$. Relative to the gradient entry $g$,
#
# $$ \text{rel. error}(h) \approx \frac{|f'''|}{6|g|}\,h^2 + \frac{\varepsilon\,|f|}{|g|\,h}, $$
#
# a V on log-log axes. Note the $|g|$ in both terms: for a loss of about 5 (the language-model
# loss), a gradient entry of $10^{-5}$ has $10^{3}$ times more *relative* rounding error than an
# entry of $10^{-2}$. We measure the V for two IA³ coordinates of the model at the random point:
# the largest gradient entry of $l_{ff}$ in block 0, and an $l_k$ entry of typical (median) size.
#
# The **5-point rule** $\big(-f(\theta{+}2h) + 8f(\theta{+}h) - 8f(\theta{-}h) + f(\theta{-}2h)\big)/12h$
# (`order=4` in `gradcheck.numerical_gradient`) cancels one more Taylor term: its truncation error
# falls as $h^4$, so it can use a larger $h$, where rounding is smaller. It costs four
# evaluations per coordinate instead of two.

# %%
loss0, grads = tinyia3.loss_and_grad(model, ia3, ids)
big = ("l_ff", 0, int(np.argmax(np.abs(grads.l_ff[0]))))
flat_k = np.abs(grads.l_k).ravel()
median_at = int(np.argsort(flat_k)[len(flat_k) // 2])
small = ("l_k",) + tuple(int(i) for i in np.unravel_index(median_at, grads.l_k.shape))
steps = 10.0 ** -np.arange(1, 13, 2 if args.quick else 1)  # 1e-1 … 1e-12


def error_curve(model, ia3, coordinate, order=2):
    """Relative error of the finite difference of the loss in one IA³ coordinate, per step h."""
    name, layer, i = coordinate
    exact = getattr(grads, name)[layer, i]  # float64 analytic gradient (checked in 3.4)
    vec = getattr(ia3, name)[layer]  # a view: numerical_gradient nudges it in place, then restores it
    f = lambda: tinyia3.loss(model, ia3, ids)  # noqa: E731
    return np.array([gradcheck.rel_error(exact, gradcheck.numerical_gradient(f, vec, [i], h, order)[0])
                     for h in steps])


def describe(coord):
    name, layer, i = coord
    return f"d{name}[block {layer}, {i}] = {getattr(grads, name)[layer, i]:.1e}"


curves = {  # label -> (errors per step, colour, style)
    f"float64, 3-point, {describe(big)}": (error_curve(model, ia3.copy(), big), "tab:blue", "o-"),
    f"float64, 3-point, {describe(small)}": (error_curve(model, ia3.copy(), small), "tab:purple", "d-"),
    f"float64, 5-point, {describe(small)}": (error_curve(model, ia3.copy(), small, order=4), "tab:purple", "x:"),
}
model32 = tinyia3.load_model(args.model, dtype=np.float32)
curves["float32, 3-point, same l_ff coordinate"] = (error_curve(model32, ia3.astype(np.float32), big),
                                                     "tab:orange", "s-")
print(f"{'h':<58}", " ".join(f"{h:.0e}" for h in steps))
for label, (errs, _, _) in curves.items():
    print(f"{label:<58}", " ".join(f"{e:.0e}" for e in errs))

# The V: in float64 the best step is far better than both ends; float32 is never good.
big64, small64, small64_5, big32 = (errs for errs, _, _ in curves.values())
assert big64.min() < 1e-8 and big64[0] > 10 * big64.min() and big64[-1] > 10 * big64.min()
assert small64_5.min() < 3 * small64.min() and big32.min() > 1e-6

# %%
h_ops = inspect.signature(gradcheck.numerical_gradient).parameters["h"].default
h_model = inspect.signature(gradcheck.check_ia3_gradients).parameters["h"].default
order_model = inspect.signature(gradcheck.check_ia3_gradients).parameters["order"].default
fig, ax = plt.subplots(figsize=(9, 5.8))
for label, (errs, color, style) in curves.items():
    ax.plot(steps, np.maximum(errs, 1e-17), style, color=color, label=label)
# Reference slopes, anchored at the ends of the measured curves.
h_line = np.logspace(-12, -1, 100)
ax.plot(h_line, big64[0] / steps[0] ** 2 * h_line ** 2, ":", color="gray", label="∝ h²  (truncation, 3-point)")
ax.plot(h_line, small64_5[0] / steps[0] ** 4 * h_line ** 4, "-.", color="gray", linewidth=0.8,
        label="∝ h⁴  (truncation, 5-point)")
ax.plot(h_line, big64[-1] * steps[-1] / h_line, "--", color="gray", label="∝ ε/h  (rounding)")
ax.axvline(h_ops, color="tab:green", linewidth=1, label=f"h = {h_ops:g}: op checks (numerical_vjp, 3-point)")
ax.axvline(h_model, color="tab:red", linewidth=1,
           label=f"h = {h_model:g}: model check (check_ia3_gradients, {order_model + 1}-point)")
ax.axhline(TOL, color="black", linewidth=0.6, label=f"tolerance {TOL:g}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_ylim(1e-14, 3)
ax.set_xlabel("finite-difference step h (in units of the IA³ scale, dimensionless)")
ax.set_ylabel("relative error of the finite difference (dimensionless)")
ax.set_title(f"Finite-difference error vs step size: the V\n(IA³ coordinates of the {L}-block model, loss {loss0:.2f})")
ax.legend(fontsize=7, loc="lower left")
lesson.save(fig, args, "step_size_v")

# %% [markdown]
# Read the figure from right to left. At large $h$ the error falls as $h^2$ (as $h^4$ for the
# 5-point rule); then rounding takes over and it grows as $1/h$. The float32 curve (orange) is
# shifted up by $\varepsilon_{32}/\varepsilon_{64} \approx 10^{9}$ on the rounding side: in float32
# no step gives a useful check, and below $h \approx 6\times 10^{-8}$ the nudged value $l + h$
# rounds back to exactly the same float32, the difference is 0 and the relative error is 1.
# The typical $l_k$ entry (purple), much smaller than the largest $l_{ff}$ entry, has its whole V
# shifted up, and with the 3-point rule its bottom is close to the tolerance. That is why the
# model check uses the 5-point rule at a larger $h$, while the op checks, whose values and
# gradients are of order 1, use the 3-point rule at $h = 10^{-5}$.
#
# ## 3.4 The whole model
#
# `gradcheck.check_ia3_gradients` nudges a few random coordinates of every vector in every layer,
# and compares each with the analytic gradient *relative to the scale of that layer's whole
# vector* (an entry near 0 carries only the rounding noise of the others). It adds a
# *directional* check: along a random unit direction $u$ over all vectors at once,
# $\big(f(\theta + h u) - f(\theta - h u)\big)/2h \approx \langle \nabla f, u\rangle$, a handful of
# evaluations for any number of parameters. It runs at the random point
# $l = 1 + 0.3\,\varepsilon$, never at ones.

# %%
# One random coordinate per vector and layer (4 loss evaluations each, 5-point rule), plus the
# directional check, which covers every coordinate at once.
report = gradcheck.check_ia3_gradients(model, ia3, ids, coords_per_vector=1, seed=args.seed)
print(report.table())
assert report.passed, "the model's IA³ gradients disagree with finite differences"

# %% [markdown]
# And the model-level check catches the bug of section 3.2 once $l$ is away from 1:

# %%
buggy = gradcheck.check_ia3_gradients(model, ia3, ids, coords_per_vector=1, seed=args.seed, grads=buggy_at_rand)
print(buggy.table())
assert not buggy.passed
top_l_ff = next(row for row in buggy.rows if row.what.startswith(f"dl_ff layer {L - 1} "))
assert top_l_ff.error < TOL  # the one vector above every IA³ scale is still right

# %% [markdown]
# ## Summary
#
# * Every backward in `tinyia3.ops` is a vector-Jacobian product; checking it against
#   `gradcheck.numerical_vjp` with a **random** upstream gradient in float64 gives relative errors
#   around 1e-10, far below the 1e-7 tolerance, while a wrong backward is off by 1e-2 or more.
# * Check away from the initialisation: at $l = 1$ a backward that forgets `* l` returns exactly
#   the right numbers.
# * The step $h$ trades truncation ($\propto h^2$, or $h^4$ for the 5-point rule) against rounding
#   ($\propto \varepsilon |f| / (|g| h)$). float64 is needed, and the best $h$ depends on how small
#   the gradient entries are compared with the loss: tiny key gradients of a trained model need
#   the 5-point rule at a larger $h$.
#
# ## Exercises
#
# 1. Write GELU's backward yourself: `lessons/exercises/gelu_backward.py` is a stub, and
#    `tinyia3 check gelu_backward` checks it the way this lesson does. Then drop the
#    $3 \cdot 0.044715\,x^2$ term of $du/dx$ on purpose: what relative error does the check report,
#    and for which inputs is the damage largest?
# 2. In the layer-norm check, set `g = np.ones(C)` and replace the random upstream gradient by
#    `np.ones_like(dout)`. Show that `dx` is then exactly zero, analytically and numerically, so a
#    backward that returns zeros would pass. Why is it zero? (Hint: what is $\sum_c \hat x_c$?)
# 3. Redo the V-curve with a forward difference $(f(\theta + h) - f(\theta))/h$. What is the slope
#    of the truncation branch now, and where is the bottom of the V?
