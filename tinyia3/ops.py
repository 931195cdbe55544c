"""GPT-2's operations, each forward directly above its backward.

The contract is CS231n's: `op_forward(inputs..., cache=True) -> (out, cache)` and
`op_backward(dout, cache) -> gradients`. The cache holds exactly what the backward needs and
is `None` when `cache=False`, so inference pays nothing for it.

Weight gradients live in separate `*_backward_weights` functions. IA³ training never calls
them: the model's backward computes gradients for the IA³ vectors only, and tests forbid these
functions during an IA³ step.

Shapes: B batch, T time (tokens), C = n_embd, F = n_inner, H = n_head, D = C / H, V = vocab.
Every function works in the dtype of its inputs; constants are Python floats so that NumPy
does not promote a float32 computation to float64.

The ops take their arrays unchecked, by design: each is a transcription of its maths, read
next to the lesson, and a check would hide the few lines that matter. Arguments are checked
where they enter the package (the model, the losses, the adapters; see tinyia3/errors.py), so
an op only ever sees arrays of the shapes its comment states.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


# Every op's cache is a NamedTuple: a backward reads `cache.xhat`, and a student can print one.


class LayerNormCache(NamedTuple):
    xhat: np.ndarray  # (..., C) the normalised input
    rstd: np.ndarray  # (..., 1) 1 / sqrt(var + eps)
    g: np.ndarray  # (C,) the gain


class LinearCache(NamedTuple):
    x: np.ndarray | None  # (..., in) the input, None when only the input gradient is needed
    w: np.ndarray  # (in, out)


class GeluCache(NamedTuple):
    x: np.ndarray  # the pre-activation
    t: np.ndarray  # tanh(u), shared by the forward and the backward


class ScaleCache(NamedTuple):
    x: np.ndarray  # (..., N) before scaling
    l: np.ndarray  # (N,) the IA³ vector


class GeluScaleCache:
    """ScaleCache of the IA³ scale right after GELU (l_ff) that keeps no copy of its input
    a = gelu(x): `.x` rebuilds a from the GELU cache (two in-place products, bit for bit the
    forward's a) each time it is read. a is F numbers per token per layer (90 MiB on a
    gpt2-large-shaped model at 128 tokens) and the GELU cache already holds what it is made of.
    Unpacks as (x, l) like a ScaleCache."""

    __slots__ = ("gelu", "l")

    def __init__(self, gelu: GeluCache, l: np.ndarray):
        self.gelu, self.l = gelu, l

    @property
    def x(self) -> np.ndarray:
        return gelu_output(self.gelu)

    def __iter__(self):
        return iter((self.x, self.l))


class LoRACache(NamedTuple):
    x: np.ndarray  # (..., in) the layer's input
    xa: np.ndarray  # (..., r) x A
    a: np.ndarray  # (in, r)
    b: np.ndarray  # (r, out)
    scaling: float  # alpha / r


class AttentionCache(NamedTuple):
    q: np.ndarray  # (B, H, T_q, D)
    k: np.ndarray  # (B, H, T_k, D)
    v: np.ndarray  # (B, H, T_k, D)
    att: np.ndarray  # (B, H, T_q, T_k) the softmax weights


class NLLCache(NamedTuple):
    probs: np.ndarray  # (N, V) softmax of the logits
    targets: np.ndarray  # (N,)

# ---------------------------------------------------------------------------------------------
# Embedding: x[b, t] = wte[ids[b, t]] + wpe[pos[b, t]]


def embedding_forward(ids, pos, wte, wpe):
    """ids, pos: (B, T) int -> (B, T, C). No cache: the backward needs only ids and pos."""
    return wte[ids] + wpe[pos]


def embedding_backward_weights(dx, ids, pos, wte_shape, wpe_shape):
    """(B, T, C) -> dwte (V, C), dwpe (P, C). A token seen twice gets both gradients added."""
    C = dx.shape[-1]
    pos = np.broadcast_to(pos, ids.shape)  # positions may be shared by the batch: (1, T)
    dwte = np.zeros(wte_shape, dx.dtype)
    dwpe = np.zeros(wpe_shape, dx.dtype)
    np.add.at(dwte, ids.reshape(-1), dx.reshape(-1, C))
    np.add.at(dwpe, pos.reshape(-1), dx.reshape(-1, C))
    return dwte, dwpe


# ---------------------------------------------------------------------------------------------
# Layer norm over the last axis: y = (x - mean) / sqrt(var + eps) * g + b


def layer_norm_forward(x, g, b, eps, cache=True):
    """x: (..., C) -> (..., C). Cache: (xhat, rstd, g)."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = np.einsum("...c,...c->...", xc, xc)[..., None]  # Σ xc², without an (..., C) temporary
    var *= 1.0 / x.shape[-1]  # biased variance, as in PyTorch
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc
    xhat *= rstd  # in place: xc is not needed again
    out = xhat * g
    out += b
    return out, (LayerNormCache(xhat, rstd, g) if cache else None)


def layer_norm_backward(dout, cache):
    """dout (..., C) -> dx (..., C).

    With xhat = (x - mean) * rstd, the three terms are: the direct path, the path through the
    mean (every x moves the mean), and the path through the variance:
        dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat ⊙ xhat)),  dxhat = dout ⊙ g.
    """
    xhat, rstd, g = cache
    dxhat = dout * g
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)
    mean_dxhat_xhat = np.einsum("...c,...c->...", dxhat, xhat)[..., None]  # no (..., C) temporary
    mean_dxhat_xhat *= 1.0 / xhat.shape[-1]
    dx = xhat * mean_dxhat_xhat  # the variance path, then the other two, in one buffer
    np.subtract(dxhat, dx, out=dx)
    dx -= mean_dxhat
    dx *= rstd
    return dx


def layer_norm_backward_weights(dout, cache):
    """dout (..., C) -> dg (C,), db (C,)."""
    xhat = cache[0]
    C = dout.shape[-1]
    return (dout * xhat).reshape(-1, C).sum(axis=0), dout.reshape(-1, C).sum(axis=0)


# ---------------------------------------------------------------------------------------------
# Linear (GPT-2's Conv1D): y = x @ w + b with w stored (in, out), so no transpose is needed.


def matmul_2d(x, w):
    """(..., in) @ (in, out) as ONE 2-D matrix product: NumPy would otherwise run one smaller
    product per leading index (per sequence of the batch)."""
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])


def linear_forward(x, w, b, cache=True, keep_input=True):
    """x: (..., in) -> (..., out). Cache: (x, w), or (None, w) when keep_input is False: the
    input is needed only for the weight gradient, which IA³ training never computes."""
    out = matmul_2d(x, w)
    out += b
    return out, (LinearCache(x if keep_input else None, w) if cache else None)


def linear_backward(dout, cache):
    """dout (..., out) -> dx (..., in). The input gradient only: see linear_backward_weights."""
    _, w = cache
    return matmul_2d(dout, w.T)


def linear_backward_weights(dout, cache):
    """dout (..., out) -> dw (in, out), db (out,). Never called during IA³ training."""
    x, _ = cache
    if x is None:
        raise ValueError("This forward kept no input for this layer: its weight gradient needs an "
                         "adapter that trains the weight (the forward keeps inputs only for those).")
    n_in, n_out = x.shape[-1], dout.shape[-1]
    x2, dout2 = x.reshape(-1, n_in), dout.reshape(-1, n_out)  # fold batch and time: one big matmul
    return x2.T @ dout2, dout2.sum(axis=0)


def bias_backward(dout):
    """dout (..., out) -> db (out,): a bias is added to every token, so its gradient is the sum.
    Needs no layer input: BitFit's whole backward at a linear layer (and layer norm's shift)."""
    return dout.reshape(-1, dout.shape[-1]).sum(axis=0)


# ---------------------------------------------------------------------------------------------
# LoRA (Hu et al. 2021) on a linear layer: y = x W + b + scaling · (x A) B, scaling = alpha / r.
# A (in, r) and B (r, out) are the trained low-rank pair; W stays frozen. This op computes the
# added term; the layer's own x W + b is linear_forward's.


def lora_forward(x, a, b, scaling, cache=True):
    """x (..., in), A (in, r), B (r, out) -> scaling · (x A) B (..., out). Cache: x, x A, A, B, scaling.

    Two thin products instead of forming A B (in, out): r is small, so (x A) B costs
    r·(in + out) per token where x (A B) would cost in·out."""
    xa = matmul_2d(x, a)  # (..., r)
    out = matmul_2d(xa, b)
    out *= scaling
    return out, (LoRACache(x, xa, a, b, scaling) if cache else None)


def lora_backward(dout, cache, need_dx=True):
    """dout (..., out) -> dx (..., in) or None, dA (in, r), dB (r, out).

    With u = x A:  dB = scaling · uᵀ dout,  du = scaling · dout Bᵀ,  dA = xᵀ du,  dx = du Aᵀ
    (the base weight's share of dx is linear_backward's)."""
    x, xa, a, b, scaling = cache
    r, n_out = b.shape
    dout2 = dout.reshape(-1, n_out)
    db = xa.reshape(-1, r).T @ dout2
    db *= scaling
    du = dout2 @ b.T  # (N, r)
    du *= scaling
    da = x.reshape(-1, x.shape[-1]).T @ du
    dx = (du @ a.T).reshape(x.shape) if need_dx else None
    return dx, da, db


# ---------------------------------------------------------------------------------------------
# GELU, tanh approximation (GPT-2's "gelu_new"):
#   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # a Python float: keeps float32 in float32
_GELU_C = 0.044715


def gelu_forward(x, cache=True):
    """x: any shape -> same shape. Cache: (x, tanh(u)).

    Written with in-place steps: on GPT-2's (B, T, 3072) hidden layer each temporary is large,
    and the plain one-line formula makes seven of them. Done in row blocks (in_row_blocks)."""
    record = GeluCache(x, in_row_blocks(_tanh_u, x))
    return gelu_output(record), (record if cache else None)


def _tanh_u(x, out):
    """out = tanh(u), u = sqrt(2/pi) (x + c x³), for one block of rows."""
    u = np.multiply(x, x, out=out)
    u *= x
    u *= _GELU_C
    u += x
    u *= _SQRT_2_OVER_PI
    np.tanh(u, out=u)


def gelu_output(cache):
    """gelu(x) = 0.5 x (1 + t) from the cache (x, t): the forward's last steps, so that the output
    rebuilt later (GeluScaleCache) is bit for bit the one the forward returned."""
    x, t = cache
    return in_row_blocks(_half_x_one_plus_t, x, t)


def _half_x_one_plus_t(x, t, out):
    np.add(t, 1.0, out=out)
    out *= x
    out *= 0.5


def gelu_backward(dout, cache):
    """d gelu/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx,  du/dx = sqrt(2/pi) (1 + 3 c x^2).

    With 1 - t² = (1 - t)(1 + t) both terms share the factor (1 + t):
        d gelu/dx = (1 + t) · (0.5 + 0.5 x (1 - t) du/dx),
    one pass over the (B, T, F) arrays fewer than the sum as written."""
    x, t = cache
    return in_row_blocks(_gelu_backward_rows, x, t, dout)


def _gelu_backward_rows(x, t, dout, out):
    half_x_du = np.multiply(x, x, out=out)
    half_x_du *= 1.5 * _GELU_C * _SQRT_2_OVER_PI
    half_x_du += 0.5 * _SQRT_2_OVER_PI
    half_x_du *= x  # 0.5 x du/dx
    factor = 1.0 - t
    half_x_du *= factor
    half_x_du += 0.5  # 0.5 + 0.5 x (1 - t) du/dx
    np.add(t, 1.0, out=factor)
    half_x_du *= factor
    half_x_du *= dout


# Element-wise chains such as GELU's make ten passes over (B, T, F) arrays of 12 MB each (8 × 128
# tokens of GPT-2 small): from memory, each pass waits on the next level of cache. Run block by
# block, the same chain keeps every temporary in the core's cache; measured on the 2-core machine,
# GELU's backward at 8 × 128 took 15 ms whole and 9 ms in blocks of 16 rows (a block of
# BLOCK_BYTES is 21 rows of 3072 float32).
BLOCK_BYTES = 1 << 18  # 256 KiB per array per block


def in_row_blocks(fn, *arrays):
    """Apply fn(*row_blocks, out=block of out) to consecutive blocks of rows (the last axis kept
    whole) of arrays of one shape, each block about BLOCK_BYTES, and return out: a new array of
    the first array's shape and dtype. Bit for bit what fn on the whole arrays gives: every entry
    is computed by the same operations."""
    out = np.empty(arrays[0].shape, arrays[0].dtype)  # C order: its rows below are views of it
    n = out.shape[-1]
    rows = [a.reshape(-1, n) for a in (*arrays, out)]
    step = max(1, BLOCK_BYTES // (n * out.itemsize))
    for start in range(0, len(rows[0]), step):
        *blocks, out_block = (r[start:start + step] for r in rows)
        fn(*blocks, out=out_block)
    return out


# ---------------------------------------------------------------------------------------------
# IA³ scaling: y = l ⊙ x, one learned scale per channel (the last axis), shared by all tokens.
# This single op is the whole of IA³: it is applied to keys (l_k), values (l_v) and the FFN
# hidden activation (l_ff).


def ia3_scale_forward(x, l, cache=True):
    """x: (..., N), l: (N,) -> (..., N). Cache: (x, l).
    l may also be (B, 1, N) for x (B, T, N): one vector per sequence (a mixed-task batch)."""
    return x * l, (ScaleCache(x, l) if cache else None)


def ia3_scale_backward(dout, cache):
    """dout (..., N) -> dx (..., N), dl (N,). dl sums over every token the scale touched:
    for a vector per sequence, l (B, 1, N), over each sequence's own tokens, dl (B, 1, N)."""
    x, l = cache
    N = x.shape[-1]
    if l.ndim == 3:
        return dout * l, np.einsum("btc,btc->bc", dout, x)[:, None, :]
    # dl[c] = Σ_n dout[n, c] x[n, c] over all tokens n; einsum does it without an (..., N) temporary.
    dl = np.einsum("nc,nc->c", dout.reshape(-1, N), x.reshape(-1, N))
    return dout * l, dl


# ---------------------------------------------------------------------------------------------
# Causal self-attention core on split heads:
#   att = softmax(q kᵀ / sqrt(D) + mask),  y = att v
# q, k, v: (B, H, T, D). `allowed` (B or 1, 1, T, T) is True where query t may look at key s.


def attention_mask(attention_mask, T_q, T_k):
    """Boolean (B or 1, 1, T_q, T_k): causal (key s <= query t) and the key is not padding.

    Queries are the last T_q of T_k positions (T_q < T_k when decoding with a KV cache).
    `attention_mask` is (B, T_k) with 1 for tokens and 0 for padding, or None.
    """
    q_pos = np.arange(T_k - T_q, T_k)[:, None]
    allowed = (np.arange(T_k)[None, :] <= q_pos)[None, None]  # (1, 1, T_q, T_k)
    if attention_mask is not None:
        allowed = allowed & (attention_mask[:, None, None, :] != 0)
    return allowed


def attention_forward(q, k, v, allowed, cache=True):
    """(B, H, T_q, D), (B, H, T_k, D) x2 -> y (B, H, T_q, D). Cache: (q, k, v, att)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2)  # (B, H, T_q, T_k)
    scores *= scale  # in place: a second (B, H, T, T) array would be 50 MB at 4 × 512 tokens
    # The mask is applied before the softmax, so masked keys get exactly 0 weight. It writes the
    # most negative finite number rather than -inf, so that no row computes inf - inf = NaN.
    np.copyto(scores, np.finfo(scores.dtype).min, where=~allowed)  # in place: no second (B, H, T, T)
    # Subtracting the row max leaves softmax unchanged and keeps exp() from overflowing.
    scores -= scores.max(axis=-1, keepdims=True)
    att = np.exp(scores, out=scores)
    att /= att.sum(axis=-1, keepdims=True)
    # A query whose keys are all masked (a left-padding position) attends to nothing: its row
    # would otherwise be uniform over masked keys. Only padding outputs are affected.
    empty = ~allowed.any(axis=-1, keepdims=True)  # (B or 1, 1, T_q, 1)
    if empty.any():
        att = np.where(empty, 0.0, att).astype(att.dtype, copy=False)
    y = att @ v  # (B, H, T_q, D)
    return y, (AttentionCache(q, k, v, att) if cache else None)


def attention_backward(dy, cache, need_dq=True):
    """dy (B, H, T, D) -> dq, dk, dv, each (B, H, T, D); dq is None when not needed.

    Softmax backward: for a row a = softmax(s), ds = a ⊙ (da − Σ_j a_j da_j). Masked entries
    have a = 0 exactly, so they receive no gradient without further masking.
    """
    q, k, v, att = cache
    scale = 1.0 / math.sqrt(q.shape[-1])
    dv = att.swapaxes(-1, -2) @ dy  # (B, H, T_k, D)
    datt = dy @ v.swapaxes(-1, -2)  # (B, H, T_q, T_k)
    # ds = a ⊙ (da − Σ a da), computed inside datt's buffer: (B, H, T, T) is the largest array here.
    dscores = datt
    dscores -= np.einsum("...ij,...ij->...i", datt, att)[..., None]
    dscores *= att
    dscores *= scale
    dk = dscores.swapaxes(-1, -2) @ q  # (B, H, T_k, D)
    dq = dscores @ k if need_dq else None  # (B, H, T_q, D)
    return dq, dk, dv


def split_heads(x, n_head):
    """(B, T, C) -> (B, H, T, D)."""
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, D) -> (B, T, C). The inverse of split_heads; also its backward."""
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)


# ---------------------------------------------------------------------------------------------
# Negative log-likelihood of target tokens, one value per row: nll[n] = −log softmax(logits[n])[y_n].
# Every loss in losses.py is built from these per-token values.


def log_softmax(logits):
    """(N, V) -> (N, V), computed stably by subtracting the row max."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def nll_forward(logits, targets, cache=True, overwrite=False):
    """logits (N, V), targets (N,) int -> nll (N,). Cache: (softmax (N, V), targets).

    −log softmax(z)[y] = log Σ_j exp(z_j − m) − (z_y − m) with m = max_j z_j, so one exp over
    the (N, V) array serves both the value and the softmax the backward needs.
    overwrite=True reuses the logits' memory for the softmax (the caller no longer needs them):
    at N = 1024 rows of GPT-2's vocabulary that is 200 MB not allocated.
    """
    rows = np.arange(len(targets))
    if overwrite:
        shifted = logits
        shifted -= logits.max(axis=-1, keepdims=True)
    else:
        shifted = logits - logits.max(axis=-1, keepdims=True)  # (N, V), every entry <= 0
    picked = shifted[rows, targets]  # (N,)
    probs = np.exp(shifted, out=shifted)  # the buffer becomes exp(z − m)
    total = probs.sum(axis=-1, keepdims=True)  # (N, 1)
    nll = np.log(total[:, 0]) - picked
    if not cache:
        return nll, None
    probs /= total
    return nll, NLLCache(probs, targets)


def nll_backward(dnll, cache, overwrite=False):
    """dnll (N,) -> dlogits (N, V) = dnll[n] · (softmax − onehot(y_n)). A row with dnll 0 gets 0.

    overwrite=True turns the cached softmax into dlogits in place (the cache is then spent)."""
    probs, targets = cache
    dlogits = probs if overwrite else probs.copy()
    dlogits[np.arange(len(targets)), targets] -= 1.0
    dlogits *= np.asarray(dnll, dtype=dlogits.dtype)[:, None]
    return dlogits
