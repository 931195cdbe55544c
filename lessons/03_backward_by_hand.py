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
# This lesson derives the backward of each op IA³ training runs through on its computational
# graph and checks each derivation, then the whole model; it explains why checking at the IA³
# initialisation (all ones) can hide a bug, and measures how the step $h$ decides the accuracy.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import gradcheck, lesson, ops

args = lesson.setup(3, "The backward pass by hand, checked by finite differences")
rng = np.random.default_rng(args.seed)
TOL = gradcheck.TOLERANCE_F64  # 1e-7: below is right in float64; section 3.5 measures how far above a bug lands
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


# %% [markdown]
# ## 3.2 Deriving a backward on the computational graph
#
# A backward is not guessed, it is derived, the way CS231n's notes and micrograd do it: write
# the forward as a chain of **primitive nodes** (one multiplication, one sum, one tanh), each
# with the shape of its value; write each node's **local derivative**; then walk the graph
# backwards. Every node receives the gradient of the loss with respect to its output (written
# $\bar z$ for a node $z$), multiplies it by its local derivative and passes the result to its
# inputs (the chain rule). Three rules do all the work:
#
# * a value used by several nodes **collects** the sum of their gradients (a fan-out in the
#   forward is a sum in the backward);
# * a value **broadcast** in the forward (one $l_c$ multiplying every token) has its gradient
#   **summed** over the copied axis;
# * a **sum** (or mean) in the forward hands its gradient back to every term (divided by the
#   count for a mean).
#
# Below, each of the four ops IA³ training runs through is derived that way: the lesson writes
# the forward node by node (checked against `tinyia3.ops`), writes the backward node by node from
# the derivation, and checks the result two ways: against finite differences, and against the
# compact formula `tinyia3.ops` implements (the same maths in another order: float64 rounding
# apart, they must agree).

# %%
B, T, C = 2, 3, 5  # small: every coordinate gets two forward passes
N = B * T  # the ops below act on the last axis; tokens of the batch are independent rows
SAME_MATHS = 1e-12  # float64: the lesson's derivation and ops.py differ only in rounding


def show_derived(op, derived, numeric, from_ops):
    """Print, for each gradient, the lesson's derived value against finite differences and
    against tinyia3.ops at the worst coordinate, then check both. Args are {name: array} dicts."""
    print(f"--- {op}: the derived backward")
    print(f"    {'gradient':<10} {'derived':>13} {'numeric':>13} {'vs numeric':>11} {'vs ops.py':>10}")
    for what, a in derived.items():
        row = gradcheck.CheckRow(what, a, numeric[what])
        vs_ops = gradcheck.rel_error(a, from_ops[what])
        k = int(np.argmax(np.abs(np.ravel(a) - np.ravel(numeric[what]))))
        print(f"    {what:<10} {np.ravel(a)[k]:>13.8f} {np.ravel(numeric[what])[k]:>13.8f} "
              f"{row.error:>11.1e} {vs_ops:>10.1e}")
        assert row.error < TOL, f"{op} {what}: derived vs finite differences {row.error:.1e} >= {TOL:g}"
        assert vs_ops < SAME_MATHS, f"{op} {what}: derived vs ops.py {vs_ops:.1e} >= {SAME_MATHS:g}"
        all_rows.append((op, row))


def show_shapes(nodes):
    """One line per node of a forward graph: its name and shape."""
    print("    " + "   ".join(f"{name} {tuple(np.shape(value))}" for name, value in nodes.items()))


# %% [markdown]
# ### 3.2.1 The IA³ scale
#
# IA³ adds one op: $y = x \odot l$, one scale per channel shared by every token. As a graph,
# with the tokens of the batch flattened into $N = B\,T$ rows:
#
# | node | value | shape |
# |---|---|---|
# | input | $x$ | $(N, C)$ |
# | parameter | $l$ | $(C,)$ |
# | broadcast | $L_{nc} = l_c$ | $(N, C)$ |
# | product | $y_{nc} = x_{nc}\,L_{nc}$ | $(N, C)$ |
#
# Local derivatives of the product: $\partial y_{nc}/\partial x_{nc} = L_{nc}$ and
# $\partial y_{nc}/\partial L_{nc} = x_{nc}$ (each output depends on one $x$ and one $L$ only).
# Backwards:
#
# $$ \bar x_{nc} = \bar y_{nc}\,L_{nc} = \bar y_{nc}\,l_c, \qquad
#    \bar L_{nc} = \bar y_{nc}\,x_{nc}, \qquad
#    \bar l_c = \sum_n \bar L_{nc} = \sum_n \bar y_{nc}\,x_{nc}. $$
#
# The last step is the broadcast rule: $l_c$ was copied to every token, so its gradient is the
# sum over every token it touched. In the model that is the sum over batch *and* time.

# %%
x = rng.standard_normal((B, T, C))
l = 1 + 0.3 * rng.standard_normal(C)  # (C,), a random point, not the initialisation
dout = rng.standard_normal((B, T, C))


def ia3_scale_nodes(x, l):
    """The forward, node by node."""
    x2 = x.reshape(N, C)  # (N, C)
    L_ = np.broadcast_to(l, (N, C))  # (N, C): l copied to every token
    y = x2 * L_  # (N, C)
    return {"x": x2, "l": l, "L": L_, "y": y}


nodes = ia3_scale_nodes(x, l)
show_shapes(nodes)
assert np.array_equal(nodes["y"].reshape(x.shape), ops.ia3_scale_forward(x, l, cache=False)[0])

# The backward, node by node, from the derivation.
dy = dout.reshape(N, C)  # (N, C)
dx_derived = (dy * nodes["L"]).reshape(x.shape)  # x̄ = ȳ ⊙ L
dL = dy * nodes["x"]  # L̄ = ȳ ⊙ x, (N, C)
dl_derived = dL.sum(axis=0)  # l̄ = Σ_n L̄: the broadcast's backward, (C,)

_, cache = ops.ia3_scale_forward(x, l)
dx_ops, dl_ops = ops.ia3_scale_backward(dout, cache)
f = lambda: ops.ia3_scale_forward(x, l, cache=False)[0]  # noqa: E731
show_derived("IA³ scale", {"dx": dx_derived, "dl": dl_derived},
             {"dx": gradcheck.numerical_vjp(f, x, dout), "dl": gradcheck.numerical_vjp(f, l, dout)},
             {"dx": dx_ops, "dl": dl_ops})

# %% [markdown]
# ### 3.2.2 GELU (tanh form)
#
# GPT-2's GELU is $y = \tfrac12\,x\,\big(1 + \tanh(\sqrt{2/\pi}\,(x + c\,x^3))\big)$ with
# $c = 0.044715$ (`ops.gelu_forward`). It acts on each entry alone, so every node below has the
# shape of $x$, $(N, F)$ in the model, and every local derivative is a number per entry. With
# $s = \sqrt{2/\pi}$:
#
# | node | value | local derivative |
# |---|---|---|
# | cube | $p = x^3$ | $\partial p/\partial x = 3x^2$ |
# | sum | $w = x + c\,p$ | $\partial w/\partial x = 1$, $\partial w/\partial p = c$ |
# | scale | $u = s\,w$ | $\partial u/\partial w = s$ |
# | tanh | $t = \tanh u$ | $\partial t/\partial u = 1 - t^2$ |
# | shift | $g = 1 + t$ | $\partial g/\partial t = 1$ |
# | product | $y = \tfrac12\,x\,g$ | $\partial y/\partial x = \tfrac12 g$, $\partial y/\partial g = \tfrac12 x$ |
#
# $x$ fans out three ways (into $p$, into $w$, into $y$), so $\bar x$ is the sum of three
# gradients. Backwards, from $\bar y$:
#
# $$ \bar g = \tfrac12 x\,\bar y,\quad \bar t = \bar g,\quad \bar u = (1 - t^2)\,\bar t,\quad
#    \bar w = s\,\bar u,\quad \bar p = c\,\bar w, $$
#
# $$ \bar x = \underbrace{\tfrac12 g\,\bar y}_{\text{via } y} + \underbrace{\bar w}_{\text{via } w}
#    + \underbrace{3x^2\,\bar p}_{\text{via } p}
#    = \bar y\,\Big[\tfrac12 (1 + t) + \tfrac12\,x\,(1 - t^2)\,s\,(1 + 3c\,x^2)\Big]. $$
#
# The bracket is $\mathrm{gelu}'(x)$: the factor $s\,(1 + 3c\,x^2)$ is $du/dx$, gathered from the
# two paths into $w$. A backward that drops the $3c\,x^2$ term (the path through $p$) is the
# mistake of exercise 1.

# %%
x = 2 * rng.standard_normal((B, T, C))
dout = rng.standard_normal((B, T, C))
S2PI, GELU_C = np.sqrt(2.0 / np.pi), 0.044715


def gelu_nodes(x):
    """The forward, node by node; every node has the shape of x."""
    p = x ** 3
    w = x + GELU_C * p
    u = S2PI * w
    t = np.tanh(u)
    g = 1.0 + t
    y = 0.5 * x * g
    return {"x": x, "p": p, "w": w, "u": u, "t": t, "g": g, "y": y}


nodes = gelu_nodes(x)
show_shapes(nodes)
assert gradcheck.rel_error(nodes["y"], ops.gelu_forward(x, cache=False)[0]) < SAME_MATHS

# The backward, node by node: each line is one row of the table above, read from the bottom.
dg = 0.5 * x * dout  # ḡ = ½ x ȳ
dt = dg  # t̄ = ḡ
du = (1.0 - nodes["t"] ** 2) * dt  # ū = (1 − t²) t̄
dw = S2PI * du  # w̄ = s ū
dp = GELU_C * dw  # p̄ = c w̄
dx_derived = 0.5 * nodes["g"] * dout + dw + 3.0 * x ** 2 * dp  # the three paths into x, summed
# The assembled formula, written once: the same number.
t = nodes["t"]
dx_formula = dout * (0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * S2PI * (1 + 3 * GELU_C * x ** 2))
assert gradcheck.rel_error(dx_derived, dx_formula) < SAME_MATHS

_, cache = ops.gelu_forward(x)
show_derived("gelu", {"dx": dx_formula},
             {"dx": gradcheck.numerical_vjp(lambda: ops.gelu_forward(x, cache=False)[0], x, dout)},
             {"dx": ops.gelu_backward(dout, cache)})

# %% [markdown]
# ### 3.2.3 Layer norm
#
# Layer norm normalises each row (each token) over its $C$ channels, then applies a gain $g$ and
# a shift $b$. Rows are independent, so we derive one row; $\mu$, $v$, $r$ are one number per
# row, $(N, 1)$ for the batch:
#
# | node | value | shape | local derivative |
# |---|---|---|---|
# | mean | $\mu = \frac1C \sum_c x_c$ | $(N, 1)$ | $\partial\mu/\partial x_c = \frac1C$ |
# | centre | $d_c = x_c - \mu$ | $(N, C)$ | $\partial d_c/\partial x_c = 1$, $\partial d_c/\partial\mu = -1$ |
# | variance | $v = \frac1C \sum_c d_c^2$ | $(N, 1)$ | $\partial v/\partial d_c = \frac{2 d_c}{C}$ |
# | inverse std | $r = (v + \epsilon)^{-1/2}$ | $(N, 1)$ | $\partial r/\partial v = -\tfrac12 (v + \epsilon)^{-3/2} = -\tfrac12 r^3$ |
# | normalise | $\hat x_c = d_c\,r$ | $(N, C)$ | $\partial \hat x_c/\partial d_c = r$, $\partial \hat x_c/\partial r = d_c$ |
# | gain, shift | $y_c = \hat x_c\,g_c + b_c$ | $(N, C)$ | $\partial y_c/\partial \hat x_c = g_c$, $\partial y_c/\partial g_c = \hat x_c$, $\partial y_c/\partial b_c = 1$ |
#
# Backwards, from $\bar y$ $(N, C)$. $g$ and $b$ are broadcast over the rows, so their gradients
# are sums over the rows: $\bar b = \sum_n \bar y$, $\bar g = \sum_n \bar y \odot \hat x$, both $(C,)$.
# Then, per row,
#
# $$ \bar{\hat x}_c = g_c\,\bar y_c, \qquad \bar r = \sum_c \bar{\hat x}_c\,d_c, \qquad
#    \bar v = -\tfrac12 r^3\,\bar r. $$
#
# $d_c$ fans out into $\hat x_c$ and into $v$, so $\bar d_c$ has two terms; $x_c$ fans out into
# $d_c$ and into $\mu$, which sends $\bar\mu = -\sum_c \bar d_c$ back to every $x_c$ divided by $C$:
#
# $$ \bar d_c = r\,\bar{\hat x}_c + \frac{2 d_c}{C}\,\bar v, \qquad
#    \bar x_c = \bar d_c + \frac{\bar\mu}{C} = \bar d_c - \frac1C \sum_{c'} \bar d_{c'}. $$
#
# **Assembling.** With $d_c = \hat x_c / r$, the second term of $\bar d_c$ is
# $-\frac{r^2 d_c}{C}\sum_{c'} \bar{\hat x}_{c'} d_{c'} = -r\,\hat x_c\,\frac1C\sum_{c'} \bar{\hat x}_{c'}\hat x_{c'}$.
# Its mean over $c$ vanishes because $\sum_c \hat x_c = 0$ (a centred row), so subtracting the
# mean of $\bar d$ leaves
#
# $$ \bar x = r\,\Big(\bar{\hat x} - \operatorname{mean}_c(\bar{\hat x}) - \hat x\,\operatorname{mean}_c(\bar{\hat x} \odot \hat x)\Big), $$
#
# the three terms of `ops.layer_norm_backward`: the direct path, the path through the mean, and
# the path through the variance.

# %%
x = rng.standard_normal((B, T, C))  # (B, T, C)
g, b = 1 + 0.3 * rng.standard_normal(C), 0.3 * rng.standard_normal(C)  # (C,)
dout = rng.standard_normal((B, T, C))
EPS = 1e-5


def layer_norm_nodes(x, g, b):
    """The forward, node by node, on rows (N, C)."""
    x2 = x.reshape(N, C)
    mu = x2.mean(axis=1, keepdims=True)  # (N, 1)
    d = x2 - mu  # (N, C)
    v = (d * d).mean(axis=1, keepdims=True)  # (N, 1)
    r = (v + EPS) ** -0.5  # (N, 1)
    xhat = d * r  # (N, C)
    y = xhat * g + b  # (N, C)
    return {"x": x2, "mu": mu, "d": d, "v": v, "r": r, "xhat": xhat, "y": y}


def layer_norm():
    return ops.layer_norm_forward(x, g, b, EPS, cache=False)[0]


nodes = layer_norm_nodes(x, g, b)
show_shapes(nodes)
assert gradcheck.rel_error(nodes["y"].reshape(x.shape), layer_norm()) < SAME_MATHS

# The backward, node by node, from the table read bottom up.
dy, d, r, xhat = dout.reshape(N, C), nodes["d"], nodes["r"], nodes["xhat"]
db_derived = dy.sum(axis=0)  # b̄ = Σ_n ȳ, (C,)
dg_derived = (dy * xhat).sum(axis=0)  # ḡ = Σ_n ȳ ⊙ x̂, (C,)
dxhat = dy * g  # (N, C)
dr = (dxhat * d).sum(axis=1, keepdims=True)  # r̄ = Σ_c x̂̄ d, (N, 1)
dv = -0.5 * r ** 3 * dr  # (N, 1)
dd = r * dxhat + 2.0 * d / C * dv  # two paths into d, (N, C)
dmu = -dd.sum(axis=1, keepdims=True)  # (N, 1)
dx_nodes = dd + dmu / C  # two paths into x, (N, C)
# The assembled three-term formula.
dx_derived = (r * (dxhat - dxhat.mean(axis=1, keepdims=True)
                   - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))).reshape(x.shape)
assert gradcheck.rel_error(dx_nodes.reshape(x.shape), dx_derived) < SAME_MATHS
assert np.abs(xhat.sum(axis=1)).max() < 1e-12  # Σ_c x̂ = 0, the step the assembly used

_, cache = ops.layer_norm_forward(x, g, b, EPS)
dg_ops, db_ops = ops.layer_norm_backward_weights(dout, cache)
show_derived("layer norm", {"dx": dx_derived, "dg": dg_derived, "db": db_derived},
             {"dx": gradcheck.numerical_vjp(layer_norm, x, dout), "dg": gradcheck.numerical_vjp(layer_norm, g, dout),
              "db": gradcheck.numerical_vjp(layer_norm, b, dout)},
             {"dx": ops.layer_norm_backward(dout, cache), "dg": dg_ops, "db": db_ops})

# %% [markdown]
# ### 3.2.4 Softmax, then attention
#
# **Softmax** of one row $z$ $(T_k,)$: $a_j = e^{z_j} / \sum_m e^{z_m}$. Every output depends on
# every input, through the shared denominator. Its local derivative (a $T_k \times T_k$
# Jacobian) is
#
# $$ \frac{\partial a_j}{\partial z_m} = a_j\,(\delta_{jm} - a_m), $$
#
# ($\delta_{jm} = 1$ if $j = m$, else 0: the quotient rule on $e^{z_j}/\Sigma$). The vector-Jacobian
# product never needs the $T_k \times T_k$ matrix:
#
# $$ \bar z_m = \sum_j \bar a_j\,a_j\,(\delta_{jm} - a_m) = a_m\,\Big(\bar a_m - \sum_j a_j\,\bar a_j\Big). $$
#
# **Causal attention** on split heads, $q, k, v$ $(B, H, T, D)$, as a graph:
#
# | node | value | shape | backward |
# |---|---|---|---|
# | scores | $S = q\,k^\top$ | $(B, H, T, T)$ | $\bar q = \bar S\,k$, $\bar k = \bar S^\top q$ |
# | scale | $Z = S / \sqrt D$ | $(B, H, T, T)$ | $\bar S = \bar Z / \sqrt D$ |
# | mask | $Z'_{ts} = Z_{ts}$ if $s \le t$, else $-\infty$ | $(B, H, T, T)$ | $\bar Z = \bar Z'$ where allowed (masked: see below) |
# | softmax (rows) | $A = \mathrm{softmax}(Z')$ | $(B, H, T, T)$ | $\bar Z'_{t} = A_t \odot (\bar A_t - \sum_s A_{ts}\bar A_{ts})$ |
# | mix | $y = A\,v$ | $(B, H, T, D)$ | $\bar A = \bar y\,v^\top$, $\bar v = A^\top \bar y$ |
#
# The matrix-product rule comes from the entries: $y_{td} = \sum_s A_{ts} v_{sd}$, so
# $\partial y_{td}/\partial A_{ts} = v_{sd}$ and $\bar A_{ts} = \sum_d \bar y_{td} v_{sd}$, i.e.
# $\bar A = \bar y\,v^\top$; likewise $\bar v_{sd} = \sum_t A_{ts}\,\bar y_{td}$, i.e. $\bar v = A^\top \bar y$.
# A masked entry has $A_{ts} = 0$, so the softmax backward gives it $\bar Z' = 0$ with no extra
# masking, and nothing flows to $S$ there. Assembled:
#
# $$ \bar v = A^\top \bar y, \qquad \bar Z = A \odot \big(\bar y v^\top - \operatorname{rowsum}(A \odot \bar y v^\top)\big), \qquad
#    \bar q = \tfrac{1}{\sqrt D}\,\bar Z\,k, \qquad \bar k = \tfrac{1}{\sqrt D}\,\bar Z^\top q. $$

# %%
z = rng.standard_normal((3, 5))  # (rows, T_k)
da = rng.standard_normal((3, 5))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # the max subtracted: same softmax, no overflow
    return e / e.sum(axis=-1, keepdims=True)


a = softmax(z)
jacobian = a[:, :, None] * (np.eye(5) - a[:, None, :])  # (rows, j, m) = a_j (δ_jm − a_m)
dz_jacobian = np.einsum("rj,rjm->rm", da, jacobian)  # ā times the full Jacobian
dz_derived = a * (da - (a * da).sum(axis=-1, keepdims=True))  # the same product, without it
assert gradcheck.rel_error(dz_jacobian, dz_derived) < SAME_MATHS
row = gradcheck.CheckRow("dz", dz_derived, gradcheck.numerical_vjp(lambda: softmax(z), z, da))
print(f"--- softmax alone: derived vs numeric, rel. error {row.error:.1e}")
assert row.error < TOL
all_rows.append(("softmax", row))

# %%
H, D = 2, 3
q, k, v = (rng.standard_normal((1, H, 4, D)) for _ in range(3))  # (B, H, T, D)
allowed = ops.attention_mask(None, 4, 4)  # (1, 1, T, T), causal
dout = rng.standard_normal((1, H, 4, D))


def attention_nodes(q, k, v):
    """The forward, node by node."""
    S = q @ k.swapaxes(-1, -2)  # (B, H, T, T)
    Z = S / np.sqrt(D)
    Zm = np.where(allowed, Z, -np.inf)  # masked keys: exp(-inf) = 0
    A = softmax(Zm)  # (B, H, T, T)
    y = A @ v  # (B, H, T, D)
    return {"q": q, "S": S, "Z": Z, "Z'": Zm, "A": A, "y": y}


def attention():
    return ops.attention_forward(q, k, v, allowed, cache=False)[0]


nodes = attention_nodes(q, k, v)
show_shapes(nodes)
assert gradcheck.rel_error(nodes["y"], attention()) < SAME_MATHS
A = nodes["A"]
assert np.all(A[..., ~allowed[0, 0]] == 0)  # masked weights are exactly 0

# The backward, node by node.
dA = dout @ v.swapaxes(-1, -2)  # Ā = ȳ vᵀ, (B, H, T, T)
dv_derived = A.swapaxes(-1, -2) @ dout  # v̄ = Aᵀ ȳ, (B, H, T, D)
dZ = A * (dA - (A * dA).sum(axis=-1, keepdims=True))  # softmax backward, row by row; 0 where masked
assert np.all(dZ[..., ~allowed[0, 0]] == 0)  # no gradient reaches a masked score
dS = dZ / np.sqrt(D)
dq_derived = dS @ k  # (B, H, T, D)
dk_derived = dS.swapaxes(-1, -2) @ q  # (B, H, T, D)

_, cache = ops.attention_forward(q, k, v, allowed)
dq_ops, dk_ops, dv_ops = ops.attention_backward(dout, cache)
show_derived("attention", {"dq": dq_derived, "dk": dk_derived, "dv": dv_derived},
             {"dq": gradcheck.numerical_vjp(attention, q, dout), "dk": gradcheck.numerical_vjp(attention, k, dout),
              "dv": gradcheck.numerical_vjp(attention, v, dout)},
             {"dq": dq_ops, "dk": dk_ops, "dv": dv_ops})

# %% [markdown]
# ### 3.2.5 The two remaining ops, stated and checked
#
# The linear layer and the cross-entropy are derived the same way (exercise 4 below asks for the
# linear one); here they are only checked.
#
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
# **Cross-entropy** per token: $\text{nll}_n = -\log \mathrm{softmax}(z_n)[y_n]$, whose gradient
# is the famous $\bar z_n = \overline{\text{nll}}_n\,(\mathrm{softmax}(z_n) - \mathrm{onehot}(y_n))$.

# %%
n_rows, V = 4, 7
logits = 2 * rng.standard_normal((n_rows, V))  # (N, V)
targets = rng.integers(0, V, n_rows)  # (N,)
dnll = rng.standard_normal(n_rows)  # (N,)
_, cache = ops.nll_forward(logits, targets)
dlogits = ops.nll_backward(dnll, cache)
assert dlogits.shape == logits.shape
show("nll (cross-entropy)",
     [vjp_row("dlogits", dlogits, lambda: ops.nll_forward(logits, targets, cache=False)[0], logits, dnll)])

# %% [markdown]
# Every derived backward agrees with finite differences far below the tolerance, and with
# `tinyia3.ops` to float64 rounding. The figure collects the relative errors against finite
# differences; the printed range is what the summary quotes.

# %%
op_errors = np.array([row.error for _, row in all_rows])
print(f"{len(op_errors)} op gradients: relative error vs finite differences from {op_errors.min():.1e} "
      f"to {op_errors.max():.1e} (tolerance {TOL:g})")
assert op_errors.max() < TOL / 10  # at least 10× below the tolerance
fig, ax = plt.subplots(figsize=(8, 4.8))
labels = [f"{op}: {row.what}" for op, row in all_rows]
errors = np.array([max(row.error, 1e-17) for _, row in all_rows])  # an exact 0 drawn at 1e-17
ax.barh(range(len(labels)), errors, color="tab:green")
ax.axvline(TOL, color="tab:orange", linestyle="--", label=f"tolerance {TOL:g}: below is right")
ax.set_xscale("log")
ax.set_xlim(1e-17, 1)
ax.set_yticks(range(len(labels)), labels, fontsize=8)
ax.invert_yaxis()
h_vjp = inspect.signature(gradcheck.numerical_vjp).parameters["h"].default
ax.set_xlabel(f"relative error, analytic vs central difference (float64, h = {h_vjp:g})")
ax.set_title("Every op's backward (section 3.2) against finite differences")
ax.legend(fontsize=8, loc="lower right")
lesson.save(fig, args, "op_gradchecks")

# %% [markdown]
# ## 3.3 Why checking at the initialisation can hide a bug
#
# IA³ vectors start at $l = 1$. Suppose a backward forgets the factor $l$ in
# $\bar x = \bar y \odot l$ and returns $\bar y$. At $l = 1$ that is *exactly* right, so a check at
# the initialisation passes, and training starts fine; the error appears only once $l$ has
# moved. Here is that bug:

# %%
x = rng.standard_normal((B, T, C))  # (B, T, C)
l = 1 + 0.3 * rng.standard_normal(C)  # (C,), a random point
dout = rng.standard_normal((B, T, C))
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
    assert same_at_ones and err_at_rand > 0.05  # "several percent"

# %% [markdown]
# At $l = 1$ the buggy gradients are bit-for-bit the right ones, so *no* check there can catch
# the bug. At a random point they differ by several percent (more than 5 % for each vector,
# printed above); section 3.5 shows the finite-difference check catching it in every layer but
# one: the top block's $l_{ff}$, the first vector the backward reaches, before it has passed
# through any IA³ scale.

# %% [markdown]
# ## 3.4 Choosing the step $h$
#
# A central difference has two errors. Taylor's theorem gives the *truncation* error,
# $\frac{h^2}{6} f'''$, which shrinks with $h$. The *rounding* error grows as $h$ shrinks:
# $f(\theta \pm h)$ are each known only to about $\varepsilon\,|f|$ (machine epsilon
# $\varepsilon \approx 2.2\times 10^{-16}$ in float64, $1.2\times 10^{-7}$ in float32), and their
# difference is divided by $2h$. Relative to the gradient entry $g$,
#
# $$ \text{rel. error}(h) \approx \frac{|f'''|}{6|g|}\,h^2 + \frac{\varepsilon\,|f|}{|g|\,h}, $$
#
# a V on log-log axes. Note the $|g|$ in both terms: at the same loss $f$ (the language-model
# loss here, printed in the figure's title), a gradient entry of $10^{-5}$ has $10^{3}$ times more
# *relative* rounding error than an entry of $10^{-2}$. We measure the V for two IA³ coordinates
# of the model at the random point: the largest gradient entry of $l_{ff}$ in block 0, and an
# $l_k$ entry of typical (median) size.
#
# The **5-point rule** $\big(-f(\theta{+}2h) + 8f(\theta{+}h) - 8f(\theta{-}h) + f(\theta{-}2h)\big)/12h$
# (`order=4` in `gradcheck.numerical_gradient`) cancels one more Taylor term: its truncation error
# falls as $h^4$, so it can use a larger $h$, where rounding is smaller. It costs four
# evaluations per coordinate instead of two.

# %%
assert [len(gradcheck.STENCILS[order]) for order in (2, 4)] == [2, 4]  # evaluations per coordinate
assert np.finfo(np.float64).eps == 2.0 ** -52 and np.finfo(np.float32).eps == 2.0 ** -23  # 2.2e-16, 1.2e-7
loss0, grads = tinyia3.loss_and_grad(model, ia3, ids)
big = ("l_ff", 0, int(np.argmax(np.abs(grads.l_ff[0]))))
flat_k = np.abs(grads.l_k).ravel()
median_at = int(np.argsort(flat_k)[len(flat_k) // 2])
small = ("l_k",) + tuple(int(i) for i in np.unravel_index(median_at, grads.l_k.shape))
steps = 10.0 ** -np.arange(1, 13, 2 if args.quick else 1)  # 1e-1 … 1e-12


def error_curve(model, ia3, coordinate, order=2):
    """Relative error of the finite difference of the loss in one IA³ coordinate, per step h."""
    name, layer, i = coordinate
    exact = getattr(grads, name)[layer, i]  # float64 analytic gradient (checked in 3.5)
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
assert big32.min() > 10 * TOL  # float32: no step gives a check at the tolerance

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
# Read the figure from right to left, with the numbers the next cell prints and checks. At large
# $h$ the 3-point error falls as $h^2$ (the slope of its first segment is about 2); then rounding
# takes over and it grows again as $h$ shrinks. The float32 curve (orange) never gets near the
# tolerance: its best error is more than 10 times above it, and once $h$ is below half the
# spacing of float32 numbers near $l$ ($h \le 10^{-8}$ certainly), the nudged value $l + h$
# rounds back to exactly the same float32, the difference is 0 and the relative error is exactly 1.
# The typical $l_k$ entry (purple) is much smaller than the largest $l_{ff}$ entry, and the
# rounding side of its V is shifted up accordingly: at $h \le 10^{-5}$ its error is higher by a
# median factor of more than 10, as $\varepsilon |f| / (|g| h)$ says. Its 3-point bottom is still
# more than 10 times below the tolerance at this point. What the 5-point rule changes is the
# **width** of the good range: it stays below the tolerance at every step from $h = 0.1$ down to
# the model check's $h = 10^{-3}$, while the 3-point rule is above the tolerance at $h = 0.1$.
# At $h = 10^{-3}$ itself the two rules agree within a factor of 10 on this model, so
# here either would pass; the 5-point rule at $h = 10^{-3}$ is the margin for gradient entries
# smaller still (a trained model's keys), whose whole V is higher by the ratio of the entries.
# The op checks, whose values and gradients are of order 1, use the 3-point rule at
# $h = 10^{-5}$.

# %%
i_model = int(np.argmin(np.abs(steps - h_model)))  # the model check's step in the grid
assert steps[i_model] == h_model
slope = np.log10(big64[0] / big64[1]) / np.log10(steps[0] / steps[1])
tiny_h = steps <= 1e-8
print(f"3-point, large l_ff entry: slope of the first segment {slope:.2f}; best {big64.min():.1e} "
      f"at h = {steps[np.argmin(big64)]:g}")
print(f"float32: best {big32.min():.1e}; at h <= 1e-8 the errors are {sorted(set(big32[tiny_h].tolist()))}")
print(f"typical l_k entry: 3-point best {small64.min():.1e} at h = {steps[np.argmin(small64)]:g}, "
      f"5-point best {small64_5.min():.1e} at h = {steps[np.argmin(small64_5)]:g}")
print(f"at h = {h_model:g}: 3-point {small64[i_model]:.1e}, 5-point {small64_5[i_model]:.1e};  "
      f"at h = {steps[0]:g}: 3-point {small64[0]:.1e}, 5-point {small64_5[0]:.1e}")
assert 1.7 < slope < 2.3  # the h² branch
assert np.all(big32[tiny_h] == 1.0)  # l + h == l in float32: a zero difference
rounding_side = steps <= 1e-5
shift = np.median(small64[rounding_side] / big64[rounding_side])
print(f"rounding side (h <= 1e-5): the l_k entry's error / the l_ff entry's, median {shift:.0f} "
      f"(the entries' ratio: {abs(getattr(grads, big[0])[big[1], big[2]] / getattr(grads, small[0])[small[1], small[2]]):.0f})")
assert shift > 10 and small64.min() < TOL / 10
assert np.all(small64_5[: i_model + 1] < TOL) and small64[0] > TOL  # the 5-point rule's wider range
assert 0.1 < small64_5[i_model] / small64[i_model] < 10  # at the model check's h they agree within 10×

# %% [markdown]
# ## 3.5 The whole model
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
# And the model-level check catches the bug of section 3.3 once $l$ is away from 1. How far
# above the tolerance does a bug land? Not necessarily at 1e-2: the wrong rows below are spread
# over orders of magnitude (the range is printed), some well under 1e-2, yet every one is far
# above the right rows' errors. A wrong backward is anything well above the tolerance, not only
# what exceeds some fixed large number.

# %%
buggy = gradcheck.check_ia3_gradients(model, ia3, ids, coords_per_vector=1, seed=args.seed, grads=buggy_at_rand)
print(buggy.table())
assert not buggy.passed
top_l_ff = next(row for row in buggy.rows if row.what.startswith(f"dl_ff layer {L - 1} "))
assert top_l_ff.error < TOL  # the one vector above every IA³ scale is still right
wrong = np.array([row.error for row in buggy.rows if row is not top_l_ff])
right = np.array([row.error for row in report.rows])
print(f"the bug: {len(wrong)} wrong rows, relative error {wrong.min():.1e} to {wrong.max():.1e}, "
      f"{int(np.sum(wrong < 1e-2))} of them below 1e-2; the right gradients: at most {right.max():.1e}")
assert wrong.min() > 100 * TOL and wrong.min() > 1e4 * right.max()  # far above the tolerance, every one
assert np.any(wrong < 1e-2) and wrong.max() < 0.2  # but not always above 1e-2; "about 1e-4 to 1e-1"

# %% [markdown]
# ## Summary
#
# * A backward is derived on the computational graph: primitive nodes with their shapes, a local
#   derivative per node, gradients summed where a value fans out or was broadcast. The IA³
#   scale, GELU, layer norm and softmax/attention derived that way agree with `tinyia3.ops` to
#   float64 rounding (below 1e-12).
# * Every backward in `tinyia3.ops` is a vector-Jacobian product; checking it against
#   `gradcheck.numerical_vjp` with a **random** upstream gradient in float64 gives relative errors
#   from about 1e-11 to 1e-8 (the range is printed), at least 10 times below the 1e-7 tolerance. A wrong backward lands orders of
#   magnitude above the right one, but not necessarily above 1e-2: the bug of 3.3 gives
#   errors from about 1e-4 to 1e-1 (asserted: all above 100× the tolerance, some below 1e-2).
# * Check away from the initialisation: at $l = 1$ a backward that forgets `* l` returns exactly
#   the right numbers.
# * The step $h$ trades truncation ($\propto h^2$, or $h^4$ for the 5-point rule) against rounding
#   ($\propto \varepsilon |f| / (|g| h)$). float64 is needed, and the best $h$ depends on how small
#   the gradient entries are compared with the loss. The 5-point rule is good over a wider range of
#   $h$ (here from 0.1 down to $10^{-3}$); at the model check's $h = 10^{-3}$ the two rules agree
#   within 10× on this model, and the 5-point rule is the margin for smaller gradients.
#
# ## Exercises
#
# 1. Write GELU's backward yourself: `lessons/exercises/gelu_backward.py` is a stub, and
#    `tinyia3 check gelu_backward` checks it the way this lesson does. Then drop the
#    $3 \cdot 0.044715\,x^2$ term of $du/dx$ on purpose: what relative error does the check report,
#    and for which inputs is the damage largest? (Section 3.2.2 says which path of the graph you
#    dropped.)
# 2. In the layer-norm check, set `g = np.ones(C)` and replace the random upstream gradient by
#    `np.ones_like(dout)`. Show that `dx` is then exactly zero, analytically and numerically, so a
#    backward that returns zeros would pass. Why is it zero? (Hint: what is $\sum_c \hat x_c$?)
# 3. Redo the V-curve with a forward difference $(f(\theta + h) - f(\theta))/h$. What is the slope
#    of the truncation branch now, and where is the bottom of the V?
# 4. Derive the linear layer's backward $y = xW + b$ on its graph, the way 3.2 does: what are the
#    shapes of $\bar x$, $\bar W$, $\bar b$ when $x$ is $(B, T, n_\text{in})$, and why does
#    $\bar W$ sum over batch *and* time? Write it node by node and check it against
#    `ops.linear_backward_weights` and `gradcheck.numerical_vjp`.
# 5. Checked, in this order: `tinyia3 check ia3_scale_backward`, `layer_norm_backward`,
#    `l_ff_gradient`, `attention_backward` (`--hint` gives hints in tiers).
