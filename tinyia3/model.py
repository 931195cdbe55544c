"""GPT-2 over the blocks: forward, backward and the activation record between them.

A block is pre-LN (Radford et al. 2019), with IA³'s three scales where the paper puts them:

    a = ln_1(x)
    q, k, v = split(c_attn(a))              k <- l_k ⊙ k,  v <- l_v ⊙ v
    x = x + attn.c_proj(attention(q, k, v))
    m = ln_2(x)
    h = l_ff ⊙ gelu(mlp.c_fc(m))
    x = x + mlp.c_proj(h)

The backward is the same lines in reverse. In IA³ mode it computes gradients for the IA³
vectors only: no weight gradient is formed and nothing is propagated below block 0's keys and
values, the lowest place an IA³ vector acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ops
from .config import GPT2Config
from .ia3 import IA3


@dataclass
class BlockCache:
    """Every activation a block's backward reads, by name. B, T, C, F, H, D as in ops."""

    ln_1: tuple  # layer_norm cache: xhat (B, T, C), rstd (B, T, 1), g (C,)
    c_attn: tuple  # linear cache: input a = ln_1(x) (B, T, C) or None (IA³ mode), weight (C, 3C)
    l_q: tuple | None  # ia3_scale cache: q before scaling (B, T, C), l_q (C,)   [PEFT import only]
    l_k: tuple | None  # ia3_scale cache: k before scaling (B, T, C), l_k (C,)
    l_v: tuple | None  # ia3_scale cache: v before scaling (B, T, C), l_v (C,)
    attn: tuple  # attention cache: q, k, v (B, H, T, D), att (B, H, T, T)
    attn_c_proj: tuple  # linear cache: merged heads (B, T, C), weight (C, C)
    ln_2: tuple  # layer_norm cache
    c_fc: tuple  # linear cache: input m = ln_2(x) (B, T, C), weight (C, F)
    gelu: tuple  # gelu cache: pre-activation (B, T, F), tanh term (B, T, F)
    l_ff: tuple | None  # ia3_scale cache: gelu output (B, T, F), l_ff (F,)
    mlp_c_proj: tuple  # linear cache: input h (B, T, F), weight (F, C)


@dataclass
class ForwardCache:
    """The activation record of one forward pass."""

    ids: np.ndarray  # (B, T)
    pos: np.ndarray  # (B, T) position ids (shifted for left padding)
    blocks: list[BlockCache] = field(default_factory=list)
    ln_f: tuple | None = None


class GPT2:
    """A GPT-2 language model: named weights (checkpoint names) and the functions over them."""

    def __init__(self, config: GPT2Config, params: dict[str, np.ndarray], source: str = "memory", name=None):
        self.config = config
        self.params = params
        self.source = source  # where the weights came from, for `tinyia3 info` and reprs
        self.name = name  # what it was loaded as ("embedded", "gpt2", a path): adapters record it
        self.dtype = params["wte.weight"].dtype
        # blocks[i]["attn.c_attn.weight"] is params["h.{i}.attn.c_attn.weight"]: the block code
        # reads like the checkpoint.
        self.blocks = [
            {name[len(f"h.{i}."):]: arr for name, arr in params.items() if name.startswith(f"h.{i}.")}
            for i in range(config.n_layer)
        ]

    def __repr__(self) -> str:
        c = self.config
        return (f"GPT2(n_layer={c.n_layer}, n_head={c.n_head}, n_embd={c.n_embd}, "
                f"vocab_size={c.vocab_size}, dtype={np.dtype(self.dtype).name}, source={self.source!r})")

    def num_parameters(self) -> int:
        return sum(a.size for a in self.params.values())

    # -- forward ---------------------------------------------------------------------------------

    def forward(self, ids, ia3: IA3 | None = None, attention_mask=None, cache=False, past=None,
                keep_inputs=True):
        """Final hidden states after ln_f, and the activation record.

        ids (T,) or (B, T) int; attention_mask same shape, 1 = token, 0 = padding.
        keep_inputs=False records no linear layer inputs: enough for IA³ gradients, and
        ~10 % less memory; weight gradients (trainable="all") need them.
        Returns hidden (B, T, C), the ForwardCache (None unless cache=True) and the per-block
        (k, v) after IA³ scaling, (B, H, T_past + T, D) each, for a KV cache.
        `past`: those (k, v) from earlier calls; ids then holds only the new tokens.
        """
        ids, attention_mask = self._check_inputs(ids, attention_mask, past)
        layers = self._ia3_layers(ia3)
        c = self.config
        T_past = 0 if past is None else past[0][0].shape[2]
        T = ids.shape[1]
        pos = positions(attention_mask, T_past, T)  # (B or 1, T)

        x = ops.embedding_forward(ids, pos, self.params["wte.weight"], self.params["wpe.weight"])  # (B, T, C)
        allowed = ops.attention_mask(attention_mask, T, T_past + T)
        record = ForwardCache(ids, pos) if cache else None
        presents = []
        for i in range(c.n_layer):
            x, block_cache, kv = block_forward(
                x, self.blocks[i], layers[i], allowed, c, cache, None if past is None else past[i], keep_inputs
            )
            presents.append(kv)
            if cache:
                record.blocks.append(block_cache)
        x, ln_f_cache = ops.layer_norm_forward(
            x, self.params["ln_f.weight"], self.params["ln_f.bias"], c.layer_norm_epsilon, cache
        )
        if cache:
            record.ln_f = ln_f_cache
        return x, record, presents

    def logits(self, ids, ia3: IA3 | None = None, attention_mask=None):
        """Next-token logits (B, T, vocab_size) in the model's dtype; (T, V) input gives (1, T, V)."""
        hidden, _, _ = self.forward(ids, ia3, attention_mask)
        return self.lm_head(hidden)

    def lm_head(self, hidden):
        """(..., C) -> (..., V). The output layer is tied to the token embedding wte."""
        if hidden.ndim == 1:
            return self.params["wte.weight"] @ hidden  # one token while decoding: a matrix-vector product
        return ops.matmul_2d(hidden, self.params["wte.weight"].T)

    # -- backward --------------------------------------------------------------------------------

    def backward(self, dhidden, record: ForwardCache, ia3: IA3 | None = None, trainable="ia3"):
        """Backpropagate d loss / d hidden (B, T, C) through the record.

        trainable="ia3": returns (IA3 of gradients, None). Weight gradients are never formed.
        trainable="all": returns (IA3 gradients or None, dict of weight gradients by name).
            The LM head's share of d wte is the caller's (it owns the logits); it is not added here.
        """
        if trainable not in ("ia3", "all"):
            raise ValueError(f"trainable must be 'ia3' or 'all', found {trainable!r}.")
        if record is None or not record.blocks:
            raise ValueError("backward needs the record of a forward pass made with cache=True.")
        if trainable == "ia3" and ia3 is None:
            raise ValueError("trainable='ia3' needs the IA3 vectors the forward pass used.")
        weights = trainable == "all"
        c = self.config
        grads = {} if weights else None
        layer_grads = []

        dx, ln_f_cache = dhidden, record.ln_f
        if weights:
            grads["ln_f.weight"], grads["ln_f.bias"] = ops.layer_norm_backward_weights(dx, ln_f_cache)
        dx = ops.layer_norm_backward(dx, ln_f_cache)
        for i in reversed(range(c.n_layer)):
            # Below block 0's keys and values no IA³ vector acts: stop there unless training weights.
            need_dx = weights or i > 0
            dx, dia3, dw = block_backward(dx, record.blocks[i], need_dx, weights)
            layer_grads.append(dia3)
            if weights:
                grads.update({f"h.{i}.{name}": g for name, g in dw.items()})
        layer_grads.reverse()

        if weights:
            grads["wte.weight"], grads["wpe.weight"] = ops.embedding_backward_weights(
                dx, record.ids, record.pos, self.params["wte.weight"].shape, self.params["wpe.weight"].shape
            )
        dia3 = None
        if ia3 is not None:
            dia3 = IA3(**{name: np.stack([g[name] for g in layer_grads]) for name in ia3.named()})
        return dia3, grads

    # -- input checks ------------------------------------------------------------------------------

    def _check_inputs(self, ids, attention_mask, past):
        c = self.config
        ids = np.asarray(ids)
        if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
            if ids.size and np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids)):
                hint = "they look like whole numbers stored as floats: pass ids.astype(np.int64)"
            else:
                hint = "token ids come from tokenizer.encode(text)"
            raise TypeError(f"Token ids must be integers, found dtype {ids.dtype}; {hint}.")
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2:
            raise ValueError(f"Token ids must have shape (T,) or (B, T), found shape {ids.shape}.")
        if ids.shape[1] == 0 or ids.shape[0] == 0:
            raise ValueError(
                f"Got an empty sequence (ids shape {ids.shape}): the model needs at least one token. "
                "Check that the text was not empty before encoding."
            )
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= c.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"Token id {bad} is out of range: this model's vocabulary has ids 0..{c.vocab_size - 1}. "
                "Were the ids made by a tokenizer for a different model?"
            )
        T_past = 0 if past is None else past[0][0].shape[2]
        if T_past + ids.shape[1] > c.n_positions:
            raise ValueError(
                f"Sequence of {T_past + ids.shape[1]} tokens is longer than this model's context of "
                f"n_positions={c.n_positions}. Truncate the input (e.g. keep the last "
                f"{c.n_positions} tokens) or split it into chunks."
            )
        if attention_mask is not None:
            attention_mask = np.asarray(attention_mask)
            if attention_mask.ndim == 1:
                attention_mask = attention_mask[None, :]
            expected = (ids.shape[0], T_past + ids.shape[1])
            if attention_mask.shape != expected:
                raise ValueError(
                    f"attention_mask has shape {attention_mask.shape}, expected {expected} "
                    "(one entry per token, past tokens included: 1 = token, 0 = padding)."
                )
            if not np.isin(attention_mask, (0, 1)).all():
                raise ValueError("attention_mask may only hold 0 (padding) and 1 (token).")
            attention_mask = attention_mask.astype(np.int64)
        return ids, attention_mask

    def _ia3_layers(self, ia3):
        if ia3 is None:
            return [None] * self.config.n_layer
        if not isinstance(ia3, IA3):
            raise TypeError(f"ia3 must be a tinyia3.IA3, found {type(ia3).__name__}.")
        ia3.check_fits(self.config)
        # Scales in the model's dtype: a float64 adapter must not upcast a float32 forward.
        ia3 = ia3.astype(self.dtype) if ia3.dtype != self.dtype else ia3
        return [ia3.layer(i) for i in range(self.config.n_layer)]


def positions(attention_mask, T_past, T):
    """Position ids (B or 1, T) of T new tokens that follow T_past earlier ones (KV cache).

    Without padding, positions are 0, 1, 2, ... With left padding the first real token must
    still get position 0, as in transformers' generate: position = (number of real tokens
    before it), and pads get 0. Their value does not matter since no real token attends to them.
    """
    if attention_mask is None:
        return np.arange(T_past, T_past + T)[None, :]
    pos = np.cumsum(attention_mask, axis=-1) - 1
    return np.maximum(pos, 0)[:, -T:]


# -------------------------------------------------------------------------------------------------
# One block, forward and backward.


def block_forward(x, w, ia3, allowed, config: GPT2Config, cache=True, past=None, keep_inputs=True):
    """x (B, T, C) -> x (B, T, C), BlockCache or None, (k, v) as (B, H, T_past + T, D)."""
    C, H, eps = config.n_embd, config.n_head, config.layer_norm_epsilon
    ia3 = ia3 or {}
    caches = {}

    a, caches["ln_1"] = ops.layer_norm_forward(x, w["ln_1.weight"], w["ln_1.bias"], eps, cache)
    qkv, caches["c_attn"] = ops.linear_forward(a, w["attn.c_attn.weight"], w["attn.c_attn.bias"], cache, keep_inputs)  # (B, T, 3C)
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]  # (B, T, C) each
    q, caches["l_q"] = _scale(q, ia3.get("l_q"), cache)  # PEFT import only; absent in the paper
    k, caches["l_k"] = _scale(k, ia3.get("l_k"), cache)
    v, caches["l_v"] = _scale(v, ia3.get("l_v"), cache)
    q, k, v = ops.split_heads(q, H), ops.split_heads(k, H), ops.split_heads(v, H)  # (B, H, T, D)
    if past is not None:
        k = np.concatenate([past[0], k], axis=2)  # (B, H, T_past + T, D)
        v = np.concatenate([past[1], v], axis=2)
    y, caches["attn"] = ops.attention_forward(q, k, v, allowed, cache)  # (B, H, T, D)
    y = ops.merge_heads(y)  # (B, T, C)
    y, caches["attn_c_proj"] = ops.linear_forward(y, w["attn.c_proj.weight"], w["attn.c_proj.bias"], cache, keep_inputs)
    x = x + y

    m, caches["ln_2"] = ops.layer_norm_forward(x, w["ln_2.weight"], w["ln_2.bias"], eps, cache)
    h, caches["c_fc"] = ops.linear_forward(m, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"], cache, keep_inputs)  # (B, T, F)
    h, caches["gelu"] = ops.gelu_forward(h, cache)
    h, caches["l_ff"] = _scale(h, ia3.get("l_ff"), cache)
    h, caches["mlp_c_proj"] = ops.linear_forward(h, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"], cache, keep_inputs)  # (B, T, C)
    x = x + h
    return x, (BlockCache(**caches) if cache else None), (k, v)


def _scale(x, l, cache):
    """IA³ scaling when the vector is present; without an adapter nothing is computed."""
    return (x, None) if l is None else ops.ia3_scale_forward(x, l, cache)


def block_backward(dx, bc: BlockCache, need_dx=True, weights=False):
    """dx (B, T, C) at the block's output -> dx at its input (or None), IA³ grads, weight grads.

    The IA³ grads are a dict {"l_k": (C,), "l_v": (C,), "l_ff": (F,), ["l_q": (C,)]} of the
    vectors the forward used. Weight grads (hub names without "h.i.") only when weights=True.
    """
    dia3, dw = {}, {}

    # x_out = x_mid + mlp.c_proj(l_ff ⊙ gelu(c_fc(ln_2(x_mid))))
    dh = ops.linear_backward(dx, bc.mlp_c_proj)  # (B, T, F)
    if weights:
        dw["mlp.c_proj.weight"], dw["mlp.c_proj.bias"] = ops.linear_backward_weights(dx, bc.mlp_c_proj)
    if bc.l_ff is not None:
        dh, dia3["l_ff"] = ops.ia3_scale_backward(dh, bc.l_ff)
    dh = ops.gelu_backward(dh, bc.gelu)
    dm = ops.linear_backward(dh, bc.c_fc)  # (B, T, C)
    if weights:
        dw["mlp.c_fc.weight"], dw["mlp.c_fc.bias"] = ops.linear_backward_weights(dh, bc.c_fc)
        dw["ln_2.weight"], dw["ln_2.bias"] = ops.layer_norm_backward_weights(dm, bc.ln_2)
    dx = dx + ops.layer_norm_backward(dm, bc.ln_2)  # the residual passes dx straight through

    # x_mid = x_in + attn.c_proj(attention(q, l_k ⊙ k, l_v ⊙ v))
    dy = ops.linear_backward(dx, bc.attn_c_proj)  # (B, T, C)
    if weights:
        dw["attn.c_proj.weight"], dw["attn.c_proj.bias"] = ops.linear_backward_weights(dx, bc.attn_c_proj)
    H = bc.attn[0].shape[1]
    need_dq = need_dx or bc.l_q is not None  # queries matter only below this point, or for l_q
    dq, dk, dv = ops.attention_backward(ops.split_heads(dy, H), bc.attn, need_dq)
    T = dy.shape[1]
    # With a KV cache the keys span past tokens too; training never uses one, so take the last T.
    dk, dv = ops.merge_heads(dk[:, :, -T:]), ops.merge_heads(dv[:, :, -T:])  # (B, T, C)
    if bc.l_k is not None:
        dk, dia3["l_k"] = ops.ia3_scale_backward(dk, bc.l_k)
    if bc.l_v is not None:
        dv, dia3["l_v"] = ops.ia3_scale_backward(dv, bc.l_v)
    if dq is not None:
        dq = ops.merge_heads(dq)
        if bc.l_q is not None:
            dq, dia3["l_q"] = ops.ia3_scale_backward(dq, bc.l_q)
    if not need_dx:
        return None, dia3, dw

    dqkv = np.concatenate([dq, dk, dv], axis=-1)  # (B, T, 3C)
    da = ops.linear_backward(dqkv, bc.c_attn)  # (B, T, C)
    if weights:
        dw["attn.c_attn.weight"], dw["attn.c_attn.bias"] = ops.linear_backward_weights(dqkv, bc.c_attn)
        dw["ln_1.weight"], dw["ln_1.bias"] = ops.layer_norm_backward_weights(da, bc.ln_1)
    dx = dx + ops.layer_norm_backward(da, bc.ln_1)
    return dx, dia3, dw


# -------------------------------------------------------------------------------------------------
# Fresh weights.


def init_params(config: GPT2Config, seed=0, dtype=np.float32, std=0.02) -> dict[str, np.ndarray]:
    """GPT-2's initialisation: N(0, std) weights, zero biases, unit layer norms, and the two
    projections that write into the residual stream scaled by 1/sqrt(2·n_layer) so the stream's
    variance does not grow with depth (Radford et al. 2019, section 2.3)."""
    from .checkpoint import expected_shapes

    rng = np.random.default_rng(seed)
    residual_std = std / np.sqrt(2 * config.n_layer)
    params = {}
    for name, shape in expected_shapes(config).items():
        if ".ln_" in name or name.startswith("ln_"):
            value = np.ones(shape) if name.endswith(".weight") else np.zeros(shape)
        elif name.endswith(".bias"):
            value = np.zeros(shape)
        else:
            scale = residual_std if name.endswith("c_proj.weight") else std
            value = scale * rng.standard_normal(shape)
        params[name] = value.astype(dtype)
    return params
