"""Lesson 3's exercises: backward passes by hand (GELU, the IA³ scale, layer norm, l_ff in a
block, attention). Each is checked against float64 finite differences and the package's op."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..config import GPT2Config
from ..gradcheck import numerical_vjp
from ..model import GPT2, BlockCache, block_forward, init_params
from .spec import Case, Exercise, Mistake, finite_differences

SQRT_2_OVER_PI, GELU_C = math.sqrt(2.0 / math.pi), 0.044715


# -------------------------------------------------------------------------------------------------
# The reference for l_ff_gradient: the two lines of model.block_backward that form dl_ff.


def l_ff_gradient(dx, bc: BlockCache):
    """dx (B, T, C) at the block's output, the block's BlockCache -> dl_ff (F,).

    The residual passes dx to mlp.c_proj's output unchanged; c_proj's backward gives the
    gradient of its input h = l_ff ⊙ a, and the IA³ scale's backward gives dl_ff.
    """
    dh = ops.linear_backward(dx, bc.mlp_c_proj)  # (B, T, F)
    _, dl_ff = ops.ia3_scale_backward(dh, bc.sites["l_ff"])  # (F,)
    return dl_ff


# -------------------------------------------------------------------------------------------------
# Random inputs. Values are of order 1, IA³ scales are 1 + 0.5·N(0, 1), and every gradient is a
# vector-Jacobian product with a random upstream gradient: a sum would hide errors that cancel.


def _gelu_cases(rng):
    x = 2.0 * rng.standard_normal((2, 3, 8))  # both tails of GELU matter
    dout = rng.standard_normal(x.shape)
    _, cache = ops.gelu_forward(x)
    numeric = finite_differences(lambda x: ops.gelu_forward(x, cache=False)[0], {"dx": x}, dout)
    return [Case(f"x {x.shape} = 2·N(0, 1), random dout, float64", (dout, cache), {}, numeric)]


def _gelu(dout, cache, chain=True, product=True, tanh_prime=True, cubic=True, k=True):
    """GELU's backward with one piece switched off: each switch is a common mistake."""
    x, t = cache
    du = (SQRT_2_OVER_PI if k else 1.0) * (1.0 + (3.0 * GELU_C * x * x if cubic else 0.0))
    local = 0.5 * (1.0 + t) + (0.5 * x * ((1.0 - t * t) if tanh_prime else (1.0 - t)) * du if product else 0.0)
    return dout * local if chain else local


GELU_MISTAKES = (
    Mistake("no dout", "you returned d gelu/dx alone: multiply it by dout (the chain rule)",
            lambda dout, cache: _gelu(dout, cache, chain=False)),
    Mistake("half the product rule", "you kept only 0.5·(1 + t): the product rule on 0.5·x·(1 + t) gives "
            "a second term, through t", lambda dout, cache: _gelu(dout, cache, product=False)),
    Mistake("tanh' = 1 − t", "you used 1 − t for the derivative of tanh: differentiate tanh again "
            "(it is not 1 − tanh)", lambda dout, cache: _gelu(dout, cache, tanh_prime=False)),
    Mistake("du/dx without the cubic", "du/dx lacks the derivative of the 0.044715·x³ term inside u",
            lambda dout, cache: _gelu(dout, cache, cubic=False)),
    Mistake("du/dx without sqrt(2/π)", "du/dx lacks the factor sqrt(2/π) in front of u",
            lambda dout, cache: _gelu(dout, cache, k=False)),
)


def _ia3_scale_cases(rng):
    cases = []
    for shape in ((2, 3, 8), (5, 8)):  # (B, T, N) as in the model, and any other number of axes
        x = rng.standard_normal(shape)
        l = 1.0 + 0.5 * rng.standard_normal(shape[-1])  # away from 1, where `dx = dout` looks right
        dout = rng.standard_normal(shape)
        _, cache = ops.ia3_scale_forward(x, l)
        numeric = finite_differences(lambda x, l: ops.ia3_scale_forward(x, l, cache=False)[0],
                                     {"dx": x, "dl": l}, dout)
        cases.append(Case(f"x {shape}, l = 1 + 0.5·N(0, 1) of shape ({shape[-1]},), random dout, float64",
                          (dout, cache), {}, numeric))
    return cases


def _tokens_sum(a):
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


IA3_SCALE_MISTAKES = (
    Mistake("dx = dout", "dx = dout: you forgot to multiply by l. At l = 1 (the initialisation) this looks "
            "right; here l is not 1", lambda dout, cache: (dout.copy(), _tokens_sum(dout * cache[0]))),
    Mistake("dx = dout ⊙ x", "dx = dout ⊙ x: the gradient for x is multiplied by what x was multiplied by",
            lambda dout, cache: (dout * cache[0], _tokens_sum(dout * cache[0]))),
    Mistake("dl without x", "dl sums dout without multiplying by x: what does l multiply?",
            lambda dout, cache: (dout * cache[1], _tokens_sum(dout))),
    Mistake("dl averaged", "dl averages over the tokens instead of summing: every token that l scaled adds "
            "its whole share", lambda dout, cache: (dout * cache[1], _tokens_sum(dout * cache[0]) / (dout.size
                                                                                                // dout.shape[-1]))),
    Mistake("dl ⊙ l", "dl sums dout ⊙ l: the gradient for l is multiplied by what l multiplies, x",
            lambda dout, cache: (dout * cache[1], _tokens_sum(dout * cache[1]))),
    Mistake("dl sums axis 0 only", "dl has the wrong shape: you summed over axis 0 only. Sum over every axis but "
            "the last, whatever their number: a.reshape(-1, N).sum(axis=0)",
            lambda dout, cache: (dout * cache[1], (dout * cache[0]).sum(axis=0))),
    Mistake("dl sums axes (0, 1)", "dl sums over axis=(0, 1): that fits 3-D inputs only. Sum over every axis but "
            "the last, whatever their number: a.reshape(-1, N).sum(axis=0)",
            lambda dout, cache: (dout * cache[1], (dout * cache[0]).sum(axis=(0, 1)))),
)


def _layer_norm_cases(rng):
    cases = []
    for shape in ((2, 3, 8), (4, 8)):
        x = 0.5 + 2.0 * rng.standard_normal(shape)  # a mean far from 0, so that the mean's path matters
        C = shape[-1]
        g = 1.0 + 0.5 * rng.standard_normal(C)
        b = 0.1 * rng.standard_normal(C)
        dout = rng.standard_normal(shape)
        _, cache = ops.layer_norm_forward(x, g, b, 1e-5)
        numeric = finite_differences(lambda x: ops.layer_norm_forward(x, g, b, 1e-5, cache=False)[0], {"dx": x}, dout)
        cases.append(Case(f"x {shape} = 0.5 + 2·N(0, 1), g = 1 + 0.5·N(0, 1), eps 1e-5, random dout, float64",
                          (dout, cache), {}, numeric))
    return cases


def _layer_norm(dout, cache, mean_term=-1.0, var_term=-1.0, use_g=True, use_rstd=True, axis=-1, keepdims=True,
                reduce="mean"):
    """Layer norm's backward with one piece changed: each change is a common mistake."""
    xhat, rstd, g = cache
    d = dout * g if use_g else dout

    def avg(a):
        out = a.mean(axis=axis, keepdims=keepdims) if reduce == "mean" else a.sum(axis=axis, keepdims=keepdims)
        return out

    return (rstd if use_rstd else 1.0) * (d + mean_term * avg(d) + var_term * xhat * avg(d * xhat))


LAYER_NORM_MISTAKES = (
    Mistake("no mean term", "the path through the mean is missing: every x_j moves the mean",
            lambda dout, cache: _layer_norm(dout, cache, mean_term=0.0)),
    Mistake("no variance term", "the path through the variance is missing: every x_j moves var, hence rstd",
            lambda dout, cache: _layer_norm(dout, cache, var_term=0.0)),
    Mistake("direct path only", "only the direct path: the paths through the mean and the variance are missing",
            lambda dout, cache: _layer_norm(dout, cache, mean_term=0.0, var_term=0.0)),
    Mistake("mean term's sign", "the mean term has the wrong sign: the mean is subtracted from x, so its path "
            "enters with a minus", lambda dout, cache: _layer_norm(dout, cache, mean_term=1.0)),
    Mistake("variance term's sign", "the variance term has the wrong sign: a larger var gives a smaller rstd, "
            "so its path enters with a minus", lambda dout, cache: _layer_norm(dout, cache, var_term=1.0)),
    Mistake("means over axis 0", "the means are over axis 0 (across tokens): layer norm normalises each "
            "token over its C features, the last axis", lambda dout, cache: _layer_norm(dout, cache, axis=0)),
    Mistake("no keepdims", "the means lost their axis (keepdims=False), so they cannot broadcast against "
            "(..., C): use keepdims=True", lambda dout, cache: _layer_norm(dout, cache, keepdims=False)),
    Mistake("g missing", "g is missing: out = xhat ⊙ g + b, so the gradient reaching xhat is dout ⊙ g",
            lambda dout, cache: _layer_norm(dout, cache, use_g=False)),
    Mistake("rstd missing", "the factor rstd = 1/sqrt(var + eps) in front is missing: xhat = (x − mean)·rstd",
            lambda dout, cache: _layer_norm(dout, cache, use_rstd=False)),
    Mistake("sums for means", "the correction terms use sums where they need means (divide by C)",
            lambda dout, cache: _layer_norm(dout, cache, reduce="sum")),
)


def _attention_cases(rng):
    cases = []
    # Case 1: a batch with a left-padded row (a query that sees no key at all); case 2: need_dq=False.
    for (B, H, T, D), padded, need_dq in (((2, 2, 5, 4), True, True), ((1, 3, 4, 2), False, False)):
        q, k, v = (rng.standard_normal((B, H, T, D)) for _ in range(3))
        mask = np.ones((B, T), dtype=np.int64)
        if padded:
            mask[1, :2] = 0
        allowed = ops.attention_mask(mask, T, T)
        dy = rng.standard_normal((B, H, T, D))
        _, cache = ops.attention_forward(q, k, v, allowed)
        numeric = finite_differences(lambda q, k, v: ops.attention_forward(q, k, v, allowed, cache=False)[0],
                                     {"dq": q, "dk": k, "dv": v}, dy, skip=() if need_dq else ("dq",))
        what = (f"q, k, v ({B}, {H}, {T}, {D}), causal mask{' with a left-padded row' if padded else ''}, "
                f"random dy, need_dq={need_dq}, float64")
        cases.append(Case(what, (dy, cache), {"need_dq": need_dq}, numeric))
    return cases


def _attention(dy, cache, need_dq=True, scale=True, second_term=True, dk_t=True, dv="swap", always_dq=False):
    """Attention's backward with one piece changed: each change is a common mistake."""
    q, k, v, att = cache
    s = 1.0 / math.sqrt(q.shape[-1]) if scale else 1.0
    dv_ = (att.swapaxes(-1, -2) if dv == "swap" else att.T if dv == "T" else att) @ dy
    datt = dy @ v.swapaxes(-1, -2)
    ds = att * (datt - (datt * att).sum(axis=-1, keepdims=True)) if second_term else att * datt
    ds = ds * s
    dk = (ds.swapaxes(-1, -2) if dk_t else ds) @ q
    return (ds @ k if need_dq or always_dq else None), dk, dv_


ATTENTION_MISTAKES = (
    Mistake("no 1/sqrt(D)", "the scores are q kᵀ/sqrt(D): their gradient carries the 1/sqrt(D) into dq and dk",
            lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq, scale=False)),
    Mistake("softmax's second term", "the softmax backward lacks its second term: every score of a row moves "
            "every weight of that row through the normalisation",
            lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq, second_term=False)),
    Mistake("dk untransposed", "dk = dscores @ q: the scores are q kᵀ, so key s collects over the queries t: "
            "transpose dscores' last two axes", lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq,
                                                                                            dk_t=False)),
    Mistake("dv untransposed", "dv = att @ dy: y = att v sums over the keys, so dv collects over the queries: "
            "transpose att's last two axes", lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq,
                                                                                         dv="none")),
    Mistake("att.T on 4-D", "att.T reverses all four axes of att (B, H, T, T), not the last two, so its shape "
            "does not fit dy's: use att.swapaxes(-1, -2)",
            lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq, dv="T")),
    Mistake("dq when not needed", "need_dq=False asks for None in dq's place: skip computing it",
            lambda dy, cache, need_dq=True: _attention(dy, cache, need_dq, always_dq=True)),
)


def tiny_model(rng, n_layer=1) -> GPT2:
    """A small random GPT-2 (C = 8, F = 32, 2 heads) whose biases and layer-norm gains are not trivial."""
    config = GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=n_layer, n_head=2)
    params = init_params(config, seed=int(rng.integers(1 << 30)), dtype=np.float64, std=0.3)
    for name, value in params.items():
        if name.endswith(".bias") or ".ln_" in name or name.startswith("ln_"):
            value += 0.1 * rng.standard_normal(value.shape)
    return GPT2(config, params, source="exercise: tiny random model", name="tiny")


def _l_ff_cases(rng):
    model = tiny_model(rng)
    config = model.config
    B, T, C, F = 2, 5, config.n_embd, config.n_inner
    w = model.blocks[0]
    layer = {"l_k": 1.0 + 0.5 * rng.standard_normal(C), "l_v": 1.0 + 0.5 * rng.standard_normal(C),
             "l_ff": 1.0 + 0.5 * rng.standard_normal(F)}
    x = rng.standard_normal((B, T, C))
    allowed = ops.attention_mask(None, T, T)
    _, bc, _ = block_forward(x, w, layer, allowed, config, cache=True)
    dx = rng.standard_normal((B, T, C))
    l_ff = layer["l_ff"].copy()
    numeric = numerical_vjp(
        lambda: block_forward(x, w, {**layer, "l_ff": l_ff}, allowed, config, cache=False)[0], l_ff, dx)
    what = (f"one block, C={C}, F={F}, x ({B}, {T}, {C}), l_k, l_v, l_ff = 1 + 0.5·N(0, 1), "
            f"random dx at the block's output, float64")
    return [Case(what, (dx, bc), {}, {"dl_ff": numeric})]


def _l_ff(dx, bc, factor="a", average=False, through_gelu=False, transpose=True):
    """dl_ff with one step changed: each change is a common mistake."""
    _, w2 = bc.mlp_c_proj
    a, l = bc.sites["l_ff"]
    dh = dx @ (w2.T if transpose else w2)
    if through_gelu:
        dh = ops.gelu_backward(dh * l, bc.gelu)
    out = _tokens_sum(dh * {"a": a, "h": a * l, "l": l}[factor])
    return out / (dx.size // dx.shape[-1]) if average else out


L_FF_MISTAKES = (
    Mistake("h instead of a", "you multiplied dh by h = l_ff ⊙ a, the input of mlp.c_proj: ∂h/∂l_ff is a, the "
            "GELU output before the scale (bc.sites['l_ff'].x)", lambda dx, bc: _l_ff(dx, bc, factor="h")),
    Mistake("averaged over tokens", "you averaged over the tokens instead of summing",
            lambda dx, bc: _l_ff(dx, bc, average=True)),
    Mistake("l_ff instead of a", "you multiplied by l_ff instead of a: ∂(l ⊙ a)/∂l is a",
            lambda dx, bc: _l_ff(dx, bc, factor="l")),
    Mistake("went through GELU", "you went on through GELU's backward: l_ff acts after GELU, so its gradient "
            "stops before it", lambda dx, bc: _l_ff(dx, bc, through_gelu=True)),
    Mistake("W2 untransposed", "dx @ W2 with W2 (F, C): going back through h @ W2 multiplies by W2's transpose",
            lambda dx, bc: _l_ff(dx, bc, transpose=False)),
)


EXERCISES = (
    Exercise(
        "gelu_backward", 3, 10, "the chain rule on one elementwise function: GPT-2's tanh GELU",
        "lesson 2 (the forward pass)", ops.gelu_backward, ("dx",), _gelu_cases, GELU_MISTAKES,
        ("GELU acts on each entry alone: dx is dout times the derivative of gelu at x, entry by entry.",
         "gelu(x) = 0.5·x·(1 + t) is a product of x and (1 + t): the product rule gives two terms.",
         "t = tanh(u) is in the cache: d tanh(u)/du is written with t alone, no second tanh. "
         "Then du/dx from u = sqrt(2/π)·(x + 0.044715·x³).",
         "Constants: sqrt(2/π) = math.sqrt(2.0 / math.pi) (a Python float keeps float32 in float32) and "
         "0.044715; the derivative of x³ brings a 3·x².")),
    Exercise(
        "ia3_scale_backward", 3, 10,
        "IA³'s one op, l ⊙ x, backward: dx scales by l, dl sums over every token",
        "gelu_backward", ops.ia3_scale_backward, ("dx", "dl"), _ia3_scale_cases, IA3_SCALE_MISTAKES,
        ("Write out[..., n] = l[n]·x[..., n] for one entry and differentiate it by x[..., n], then by l[n].",
         "x and l are in the cache, in this order. dx has x's shape; l (N,) broadcasts over the leading axes.",
         "l[n] is used by every token: its gradient adds up one contribution per token, over every leading axis.",
         "Whatever the number of leading axes: a.reshape(-1, N).sum(axis=0) sums over all of them.")),
    Exercise(
        "layer_norm_backward", 3, 25,
        "backpropagate through a normalisation: the direct path, the mean's and the variance's",
        "gelu_backward", ops.layer_norm_backward, ("dx",), _layer_norm_cases, LAYER_NORM_MISTAKES,
        ("First the affine part: what reaches xhat from out = xhat ⊙ g + b?",
         "Then xhat = (x − mean)·rstd: x_i reaches every xhat_j three ways: directly, through the mean and "
         "through the variance. Draw the graph and give each path its term.",
         "∂mean/∂x_i = 1/C and ∂var/∂x_i = 2(x_i − mean)/C. The cache has xhat and rstd only: write "
         "(x − mean) as xhat/rstd.",
         "All three terms share a factor rstd; the two corrections are means over the last axis "
         "(axis=-1, keepdims=True), both subtracted; the variance's is xhat times a mean that has xhat in it.")),
    Exercise(
        "l_ff_gradient", 3, 20,
        "where dl_ff comes from in a block: through mlp.c_proj, then the IA³ scale; sum over tokens",
        "ia3_scale_backward", l_ff_gradient, ("dl_ff",), _l_ff_cases, L_FF_MISTAKES,
        ("Follow the graph back from the block's output to l_ff: the residual, then mlp.c_proj, then the scale.",
         "An addition passes the gradient unchanged. For y = h W2 + b2, the gradient of h is the upstream "
         "gradient times W2's transpose (W2 is (F, C)).",
         "h = l_ff ⊙ a: this is ia3_scale_backward. a is bc.sites['l_ff'].x, the activation before the scale.",
         "Sum over batch and time: dl_ff has one entry per hidden unit, shape (F,).")),
    Exercise(
        "attention_backward", 3, 40,
        "backward through causal softmax attention: dv, the softmax Jacobian, dq and dk",
        "layer_norm_backward", ops.attention_backward, ("dq", "dk", "dv"), _attention_cases, ATTENTION_MISTAKES,
        ("Go in reverse: y = att v first (two matrix products' backward), then the softmax, then the scaled "
         "scores q kᵀ/sqrt(D).",
         "For a product y = A B: dA = dy Bᵀ and dB = Aᵀ dy. On (B, H, T, T) arrays, transpose the last two "
         "axes with swapaxes(-1, -2); .T reverses all four.",
         "Softmax: a_j = exp(s_j)/Σ exp. Differentiate one row: ∂a_j/∂s_i = a_j(δ_ij − a_i). Contract that "
         "with da: the result has the 'subtract a weighted mean' shape of layer norm's backward.",
         "The scale 1/sqrt(D) multiplies the scores, so it multiplies their gradient once. Masked entries have "
         "att = 0 exactly and need no further masking. need_dq=False: return None for dq.")),
)
