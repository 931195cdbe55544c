"""GPT-2 over the blocks: forward, backward and the activation record between them.

A block is pre-LN (Radford et al. 2019), with the places where an adapter acts marked:

    a = ln_1(x)
    q, k, v = split(c_attn(a) [+ LoRA(a)])      k <- l_k ⊙ k,  v <- l_v ⊙ v      (IA³)
    x = x + attn.c_proj(attention(q, k, v)) [+ LoRA]
    m = ln_2(x)
    h = l_ff ⊙ gelu(mlp.c_fc(m) [+ LoRA(m)])                                        (IA³)
    x = x + mlp.c_proj(h) [+ LoRA(h)]

The backward is the same lines in reverse, and computes gradients only for what the adapter
trains: no weight gradient unless the adapter trains that weight, and nothing is propagated
below the lowest place the adapter acts (block 0's keys and values for IA³).

The adapter seam. The model imports no adapter type; an adapter (IA3, LoRA, BitFit,
FullFineTune) is any object with

    adapter.check_fits(config)      raise a clear error if it was made for another shape
    adapter.sites(model) -> Sites   what it puts at each site: Sites(blocks=[{site: value}], top={...})
    adapter.gradients(blocks, top)  the gradients, {site: grad} per block and top, as an adapter of its type

GPT2.sites(adapter) checks the site names and casts every value to the model's dtype, once;
forward() takes that Sites in place of the adapter too, so a caller that runs many forwards
(generation, a loss and its head) prepares it once.

A block's sites are named as in the checkpoint (without "h.i."):
    "attn.c_attn.weight", "ln_1.bias", …   a trained weight: the forward uses the adapter's array
    "l_q", "l_k", "l_v", "l_ff"            an IA³ scale vector
    "attn.c_attn.lora", …                  a LoRA pair (A (in, r), B (r, out), scaling) on that linear
and the top sites are "wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias". The gradient of a
LoRA site is (dA, dB); of every other site an array of its shape.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import ops
from .config import GPT2Config
from .errors import ArgumentError, ArgumentTypeError, require

LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
IA3_SITES = ("l_q", "l_k", "l_v", "l_ff")
LORA_SITES = tuple(f"{name}.lora" for name in LINEARS)
TOP_SITES = ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias")

# Where each site sits in a block, from the bottom: the backward of the lowest block an adapter
# touches stops as soon as that block's lowest site has its gradient. 0 = the block's input.
INPUT, LN_1, C_ATTN, QUERIES, KEYS_VALUES, ATTN_C_PROJ, LN_2, C_FC, L_FF, MLP_C_PROJ = range(10)
_LEVEL = {"ln_1": LN_1, "attn.c_attn": C_ATTN, "l_q": QUERIES, "l_k": KEYS_VALUES, "l_v": KEYS_VALUES,
          "attn.c_proj": ATTN_C_PROJ, "ln_2": LN_2, "mlp.c_fc": C_FC, "l_ff": L_FF, "mlp.c_proj": MLP_C_PROJ}


def site_level(site: str) -> int:
    """How low in its block a (checked) site is: "ln_1.bias" -> LN_1, "mlp.c_fc.lora" -> C_FC, "l_k" -> KEYS_VALUES."""
    return _LEVEL[site if site in _LEVEL else site.rsplit(".", 1)[0]]


class Sites(NamedTuple):
    """What an adapter puts into the model: one {site: value} dict per block, and the top sites."""

    blocks: list[dict]
    top: dict
    rows: int | None = None  # one adapter per sequence (a mixed-task batch, tinyia3/mixed.py): how many


class BlockCache(NamedTuple):
    """Every activation a block's backward reads, by name. B, T, C, F, H, D as in ops.

    `sites` holds the caches of what the adapter added, by site: "l_k" -> ScaleCache, "l_ff" ->
    GeluScaleCache (its input rebuilt from `gelu` when read),
    "attn.c_attn.lora" -> LoRACache, …"""

    ln_1: ops.LayerNormCache  # xhat (B, T, C), rstd (B, T, 1), g (C,)
    c_attn: ops.LinearCache  # input a = ln_1(x) (or None when its weight is frozen), weight (C, 3C)
    attn: ops.AttentionCache  # q, k, v (B, H, T, D), att (B, H, T, T); k, v None where IA³ scaled them
    attn_c_proj: ops.LinearCache  # merged heads (B, T, C), weight (C, C)
    ln_2: ops.LayerNormCache
    c_fc: ops.LinearCache  # input m = ln_2(x) (B, T, C), weight (C, F)
    gelu: ops.GeluCache  # pre-activation (B, T, F), tanh term (B, T, F)
    mlp_c_proj: ops.LinearCache  # input h (B, T, F), weight (F, C)
    sites: dict  # the adapter's caches by site name


@dataclass
class ForwardCache:
    """The activation record of one forward pass."""

    ids: np.ndarray  # (B, T)
    pos: np.ndarray  # (B, T) position ids (shifted for left padding)
    sites: Sites | None = None  # what the adapter put into the model, in the model's dtype
    blocks: list[BlockCache] = field(default_factory=list)
    ln_f: ops.LayerNormCache | None = None

    def activation_nbytes(self, weights=()) -> int:
        """Bytes of the activations the blocks and ln_f keep for the backward, each buffer once.

        A view (q of the fused qkv, a head split) keeps its whole buffer alive, so the buffer is
        what is counted. Weights are not activations: the frozen weights the caches refer to,
        the adapter's own values (self.sites) and any `weights` given (e.g. model.params.values())
        are left out, with every view of them."""
        frozen = [[b.c_attn.w, b.attn_c_proj.w, b.c_fc.w, b.mlp_c_proj.w, b.ln_1.g, b.ln_2.g] for b in self.blocks]
        excluded = {id(_buffer(a)) for a in _arrays([list(weights), self.sites, frozen,
                                                     self.ln_f.g if self.ln_f else None])}
        buffers = {id(b): b for b in map(_buffer, _arrays([self.blocks, self.ln_f])) if id(b) not in excluded}
        return sum(b.nbytes for b in buffers.values())


def _arrays(tree):
    """Every NumPy array in nested tuples, lists and dicts (caches are NamedTuples; a
    GeluScaleCache holds its GELU cache and l)."""
    if isinstance(tree, np.ndarray):
        yield tree
    elif isinstance(tree, ops.GeluScaleCache):
        yield from _arrays((tree.gelu, tree.l))
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _arrays(value)
    elif isinstance(tree, (tuple, list)):
        for value in tree:
            yield from _arrays(value)


def _buffer(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory a view looks at."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class GPT2:
    """A GPT-2 language model: named weights (checkpoint names) and the functions over them."""

    def __init__(self, config: GPT2Config, params: dict[str, np.ndarray], source: str = "memory", name=None):
        require(isinstance(config, GPT2Config), "GPT2: config", "a tinyia3.GPT2Config", config,
                "Take the model's own (model.config), or build one: GPT2Config(n_layer=..., ...).", ArgumentTypeError)
        require(isinstance(params, dict) and hasattr(params.get("wte.weight"), "shape"), "GPT2: params",
                "a dict of named weight arrays (or quantized weights) with 'wte.weight' among them", params,
                "Start from a model's own (dict(model.params)) or from init_params(config).", ArgumentTypeError)
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

    def forward(self, ids, adapter=None, attention_mask=None, cache=False, past=None):
        """Final hidden states after ln_f, and the activation record.

        ids (T,) or (B, T) int; attention_mask same shape, 1 = token, 0 = padding.
        adapter: an IA3, LoRA, BitFit or FullFineTune (or None: the bare model), a list with one
        IA3 (or None) per sequence (a mixed-task batch, tinyia3/mixed.py), or the Sites that
        self.sites(adapter) prepared.
        The record keeps a linear layer's input only when the adapter trains that weight (LoRA
        caches its own input), and no copy of what IA³ scaled (rebuilt in the backward): an IA³
        record is byte for byte the bare model's, 5C + 2F + 2 + H·T numbers per token and block
        against full fine-tuning's 8C + 3F + 2 + H·T (0.68× on GPT-2 small at 2 × 128; lesson 4.5,
        ForwardCache.activation_nbytes, tests/test_activation_record.py).
        Returns hidden (B, T, C), the ForwardCache (None unless cache=True) and, unless cache=True,
        the per-block (k, v) after IA³ scaling, (B, H, T_past + T, D) each, for a KV cache.
        `past`: those (k, v) from earlier calls; ids then holds only the new tokens.
        """
        ids, attention_mask = self._check_inputs(ids, attention_mask, past)
        sites = adapter if isinstance(adapter, Sites) else self.sites(adapter)
        if sites.rows is not None and sites.rows != ids.shape[0]:
            raise ArgumentError(f"{sites.rows} adapters, one per sequence, for a batch of {ids.shape[0]} sequences: "
                                "pass one adapter (or None) per row of ids.")
        c, top = self.config, {**self._top_weights(), **sites.top}
        T_past = 0 if past is None else past[0][0].shape[2]
        T = ids.shape[1]
        pos = positions(attention_mask, T_past, T)  # (B or 1, T)

        x = ops.embedding_forward(ids, pos, top["wte.weight"], top["wpe.weight"])  # (B, T, C)
        allowed = ops.attention_mask(attention_mask, T, T_past + T)
        record = ForwardCache(ids, pos, sites) if cache else None
        # A training pass (cache=True) keeps no KV cache: the record holds what its backward reads,
        # and every layer's keys and values kept to the end would be 2·C numbers per token more.
        presents = None if cache else []
        for i in range(c.n_layer):
            x, block_cache, kv = block_forward(
                x, self.blocks[i], sites.blocks[i], allowed, c, cache, None if past is None else past[i])
            if cache:
                record.blocks.append(block_cache)
            else:
                presents.append(kv)
        x, ln_f_cache = ops.layer_norm_forward(x, top["ln_f.weight"], top["ln_f.bias"], c.layer_norm_epsilon, cache)
        if cache:
            record.ln_f = ln_f_cache
        return x, record, presents

    def logits(self, ids, adapter=None, attention_mask=None):
        """Next-token logits (B, T, vocab_size) in the model's dtype; (T, V) input gives (1, T, V)."""
        sites = self.sites(adapter)
        hidden, _, _ = self.forward(ids, sites, attention_mask)
        return self.lm_head(hidden, self.head_weight(sites))

    def head_weight(self, sites: Sites) -> np.ndarray:
        """The LM head's weight: it is tied to wte, the adapter's own when it trains wte."""
        return sites.top.get("wte.weight", self.params["wte.weight"])

    def lm_head(self, hidden, wte=None):
        """(..., C) -> (..., V) with the tied head wte (V, C), the model's own by default."""
        C = self.config.n_embd
        require(isinstance(hidden, np.ndarray) and hidden.ndim >= 1 and hidden.shape[-1] == C, "GPT2.lm_head: hidden",
                f"an array of hidden states (..., n_embd={C})", hidden, "Pass the first value forward() returns.")
        wte = self.params["wte.weight"] if wte is None else wte
        if hidden.ndim == 1:
            return wte @ hidden  # one token while decoding: a matrix-vector product
        return ops.matmul_2d(hidden, wte.T)

    def _top_weights(self) -> dict:
        return {name: self.params[name] for name in TOP_SITES}

    # -- the adapter seam ------------------------------------------------------------------------

    def sites(self, adapter) -> Sites:
        """What the adapter puts at each site, in this model's dtype (a float64 adapter must not
        upcast a float32 forward); the empty Sites for no adapter."""
        if adapter is None:
            return Sites([{} for _ in range(self.config.n_layer)], {})
        adapter = per_sequence(adapter)
        # Looked up on the class: hasattr on the instance would call a property, and an
        # AttributeError inside it would read as a missing method.
        missing = [m for m in ("check_fits", "sites", "gradients") if not hasattr(type(adapter), m)]
        if missing:
            raise ArgumentTypeError(f"Expected an adapter (tinyia3.IA3, LoRA, BitFit or FullFineTune), found "
                            f"{type(adapter).__name__}, which has no {', '.join(missing)}.")
        adapter.check_fits(self.config)
        sites = adapter.sites(self)
        for i, block in enumerate(sites.blocks):
            unknown = [s for s in block if s not in self.blocks[i] and s not in IA3_SITES and s not in LORA_SITES]
            if unknown:
                raise ArgumentError(f"{type(adapter).__name__} puts {unknown[0]!r} into block {i}: no such site. Expected "
                                 f"a block weight name (e.g. 'ln_2.weight'), one of {', '.join(IA3_SITES)}, or "
                                 f"'<linear>.lora' with linear one of {', '.join(LINEARS)}.")
        unknown = [s for s in sites.top if s not in TOP_SITES]
        if unknown:
            raise ArgumentError(f"{type(adapter).__name__} puts {unknown[0]!r} at the top: expected some of {', '.join(TOP_SITES)}.")
        return Sites([{s: self._cast(v, f"block {i} {s}") for s, v in block.items()} for i, block in enumerate(sites.blocks)],
                     {s: self._cast(v, s) for s, v in sites.top.items()}, sites.rows)

    def _cast(self, value, where: str):
        """A site's value in the model's dtype (each array: an adapter may mix dtypes); a no-op
        when it already is. A non-finite value is refused: it would turn every output into NaN."""
        if isinstance(value, tuple):  # a LoRA pair (A, B, scaling)
            return tuple(self._cast(v, where) if isinstance(v, np.ndarray) else v for v in value)
        if not np.isfinite(value).all():
            raise ArgumentError(f"The adapter's {where} holds NaN or inf: every output would be NaN. It comes from "
                                "a diverged run; use an earlier checkpoint, or train again with a lower --lr.")
        if value.dtype.itemsize < np.dtype(self.dtype).itemsize:
            # One place of issue, so Python's default filter shows it once: not once per token or step.
            warnings.warn(f"a {value.dtype} adapter is used with a {np.dtype(self.dtype)} model: its values were "
                          f"already rounded to {value.dtype}, so results are only {value.dtype}-exact. Make the "
                          f"adapter in {np.dtype(self.dtype)} (e.g. IA3.ones(model), adapter.astype(model.dtype)).",
                          stacklevel=1)
        return value.astype(self.dtype, copy=False)

    # -- backward --------------------------------------------------------------------------------

    def backward(self, dhidden, record: ForwardCache, adapter, dwte_head=None):
        """Backpropagate d loss / d hidden (B, T, C) through the record, to the adapter's sites only.

        dwte_head: the LM head's share of d wte (the caller owns the logits), added when the
        adapter trains wte. Returns adapter.gradients(...): an adapter of the same type.
        """
        require(isinstance(record, ForwardCache) and bool(record.blocks), "GPT2.backward: record",
                "the record of a forward pass made with cache=True", record,
                "Pass the second value of model.forward(ids, adapter, cache=True).")
        require(adapter is not None, "GPT2.backward: adapter", "the adapter the forward pass used (its sites are "
                "what gets a gradient)", adapter, "Pass the adapter that was given to forward().")
        want = (*record.ids.shape, self.config.n_embd)
        require(isinstance(dhidden, np.ndarray) and dhidden.shape == want and dhidden.dtype.kind == "f",
                "GPT2.backward: dhidden", f"a floating-point array of the forward's hidden shape {want}", dhidden,
                "It is d loss / d hidden, one row per position of the forward.")
        V_C = self.params["wte.weight"].shape
        require(dwte_head is None or (isinstance(dwte_head, np.ndarray) and dwte_head.shape == V_C),
                "GPT2.backward: dwte_head", f"None or an array of wte's shape {V_C}", dwte_head)
        sites = record.sites
        top_grads, dx = {}, dhidden
        _layer_norm_grads(dx, record.ln_f, sites.top, "ln_f", top_grads)
        lowest = lowest_site(sites)
        if lowest is None:
            raise ArgumentError("This adapter puts nothing into the model: there is nothing to train.")
        dx = ops.layer_norm_backward(dx, record.ln_f) if lowest[0] < self.config.n_layer else None
        block_grads = [{} for _ in sites.blocks]
        for i in reversed(range(lowest[0], self.config.n_layer)):
            stop = lowest[1] if i == lowest[0] else INPUT
            dx, block_grads[i] = block_backward(dx, record.blocks[i], sites.blocks[i], stop)
        if "wte.weight" in sites.top or "wpe.weight" in sites.top:
            top_grads["wte.weight"], top_grads["wpe.weight"] = ops.embedding_backward_weights(
                dx, record.ids, record.pos, self.params["wte.weight"].shape, self.params["wpe.weight"].shape)
            if "wte.weight" in sites.top:
                if dwte_head is None:
                    raise ArgumentError("This adapter trains wte, which is also the LM head: pass the head's share "
                                     "of its gradient as dwte_head (losses.head_nll computes it).")
                top_grads["wte.weight"] += dwte_head
        top_grads = {k: v for k, v in top_grads.items() if k in sites.top}
        return per_sequence(adapter).gradients(block_grads, top_grads)

    # -- input checks ------------------------------------------------------------------------------

    def _check_inputs(self, ids, attention_mask, past):
        c = self.config
        ids = np.asarray(ids)
        if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
            if ids.size and np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids)):
                hint = "they look like whole numbers stored as floats: pass ids.astype(np.int64)"
            else:
                hint = "token ids come from tokenizer.encode(text)"
            raise ArgumentTypeError(f"Token ids must be integers, found dtype {ids.dtype}; {hint}.")
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2:
            raise ArgumentError(f"Token ids must have shape (T,) or (B, T), found shape {ids.shape}.")
        if ids.shape[1] == 0 or ids.shape[0] == 0:
            raise ArgumentError(
                f"Got an empty sequence (ids shape {ids.shape}): the model needs at least one token. "
                "Check that the text was not empty before encoding."
            )
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= c.vocab_size:
            bad = lo if lo < 0 else hi
            raise ArgumentError(
                f"Token id {bad} is out of range: this model's vocabulary has ids 0..{c.vocab_size - 1}. "
                "Were the ids made by a tokenizer for a different model?"
            )
        self._check_past(past, ids.shape[0])
        T_past = 0 if past is None else past[0][0].shape[2]
        if T_past + ids.shape[1] > c.n_positions:
            raise ArgumentError(
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
                raise ArgumentError(
                    f"attention_mask has shape {attention_mask.shape}, expected {expected} "
                    "(one entry per token, past tokens included: 1 = token, 0 = padding)."
                )
            if not np.isin(attention_mask, (0, 1)).all():
                raise ArgumentError("attention_mask may only hold 0 (padding) and 1 (token).")
            attention_mask = attention_mask.astype(np.int64)
        return ids, attention_mask

    def _check_past(self, past, B):
        """past: None, or the n_layer (k, v) pairs (B, H, T_past, D) an earlier forward returned."""
        if past is None:
            return
        c = self.config
        pairs = isinstance(past, (list, tuple)) and len(past) == c.n_layer and all(
            isinstance(kv, (list, tuple)) and len(kv) == 2 and all(isinstance(a, np.ndarray) and a.ndim == 4 for a in kv)
            for kv in past)
        fix = "Pass the third value an earlier forward() returned, or None to start afresh."
        require(pairs, "GPT2.forward: past", f"a list of n_layer={c.n_layer} (k, v) pairs", past, fix)
        want = (B, c.n_head, past[0][0].shape[2], c.d_head)
        require(all(a.shape == want for kv in past for a in kv), "GPT2.forward: past",
                f"(k, v) pairs of shape (B, n_head, T_past, d_head) = {want}", past[0][0], fix)


def require_model(model, where: str) -> None:
    """Refuse anything but a tinyia3 GPT2 where a model goes (a name, a path, an adapter)."""
    fix = ("Load one first: tinyia3.load_model(" + repr(model) + ")." if isinstance(model, str)
           else "Load one with tinyia3.load_model(name_or_path).")
    require(isinstance(model, GPT2), f"{where}: model", "a tinyia3 GPT2", model, fix, ArgumentTypeError)


def per_sequence(adapter):
    """A list or tuple, one adapter per sequence of the batch (a mixed-task batch), as the one
    adapter of tinyia3/mixed.py that stands for it; any other adapter as it is."""
    if isinstance(adapter, (list, tuple)):
        from .mixed import PerSequence

        return PerSequence(adapter)
    return adapter


def lowest_site(sites: Sites) -> tuple[int, int] | None:
    """(block, level) of the lowest place the adapter acts: the backward goes no further.
    (0, INPUT) when it trains the embedding, (n_layer, INPUT) when only ln_f; None: no site at all."""
    if "wte.weight" in sites.top or "wpe.weight" in sites.top:
        return 0, INPUT
    for i, block in enumerate(sites.blocks):
        if block:
            return i, min(site_level(site) for site in block)
    return (len(sites.blocks), INPUT) if sites.top else None


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


def block_forward(x, w, p, allowed, config: GPT2Config, cache=True, past=None):
    """x (B, T, C) -> x (B, T, C), BlockCache or None, (k, v) as (B, H, T_past + T, D).

    w: the block's frozen weights by checkpoint name; p: the adapter's sites of this block."""
    C, H, eps = config.n_embd, config.n_head, config.layer_norm_epsilon
    p = p or {}
    w = {**w, **{name: value for name, value in p.items() if name in w}}  # weights the adapter trains
    keep = {name: f"{name}.weight" in p for name in LINEARS}  # inputs only for trained weights
    s = {}  # the adapter's caches, by site

    a, ln_1 = ops.layer_norm_forward(x, w["ln_1.weight"], w["ln_1.bias"], eps, cache)
    qkv, c_attn = ops.linear_forward(a, w["attn.c_attn.weight"], w["attn.c_attn.bias"], cache, keep["attn.c_attn"])  # (B, T, 3C)
    qkv = _lora(qkv, a, p, "attn.c_attn", s, cache)
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]  # (B, T, C) each
    q = _scale(q, p, "l_q", s, cache)  # PEFT's IA³ only; absent in the paper
    k = _scale(k, p, "l_k", s, cache)
    v = _scale(v, p, "l_v", s, cache)
    q, k, v = ops.split_heads(q, H), ops.split_heads(k, H), ops.split_heads(v, H)  # (B, H, T, D)
    if past is not None:
        k = np.concatenate([past[0], k], axis=2)  # (B, H, T_past + T, D)
        v = np.concatenate([past[1], v], axis=2)
    y, attn = ops.attention_forward(q, k, v, allowed, cache)  # (B, H, T, D)
    if cache and past is None:
        attn = _without_scaled_kv(attn, s)
    y = ops.merge_heads(y)  # (B, T, C)
    z, attn_c_proj = ops.linear_forward(y, w["attn.c_proj.weight"], w["attn.c_proj.bias"], cache, keep["attn.c_proj"])
    x = x + _lora(z, y, p, "attn.c_proj", s, cache)

    m, ln_2 = ops.layer_norm_forward(x, w["ln_2.weight"], w["ln_2.bias"], eps, cache)
    h, c_fc = ops.linear_forward(m, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"], cache, keep["mlp.c_fc"])  # (B, T, F)
    h = _lora(h, m, p, "mlp.c_fc", s, cache)
    h, gelu = ops.gelu_forward(h, cache)
    h = _scale(h, p, "l_ff", s, cache)
    if "l_ff" in s:  # keep no copy of gelu's output: the backward rebuilds it from the GELU cache
        s["l_ff"] = ops.GeluScaleCache(gelu, p["l_ff"])
    z, mlp_c_proj = ops.linear_forward(h, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"], cache, keep["mlp.c_proj"])  # (B, T, C)
    x = x + _lora(z, h, p, "mlp.c_proj", s, cache)
    record = BlockCache(ln_1, c_attn, attn, attn_c_proj, ln_2, c_fc, gelu, mlp_c_proj, s) if cache else None
    return x, record, (k, v)


def _scale(x, p, site, caches, cache):
    """IA³ scaling when the adapter has a vector at this site; otherwise nothing is computed."""
    if site not in p:
        return x
    x, caches[site] = ops.ia3_scale_forward(x, p[site], cache)
    return x


def _without_scaled_kv(attn: ops.AttentionCache, caches) -> ops.AttentionCache:
    """The attention cache without the keys and values that IA³ scaled: their site caches hold
    the unscaled k, v (views of c_attn's output, kept anyway) and l_k, l_v, from which the backward
    rebuilds them (_with_scaled_kv). Keeping both would cost 2·C more numbers per token per layer."""
    return attn._replace(k=None if "l_k" in caches else attn.k, v=None if "l_v" in caches else attn.v)


def _with_scaled_kv(attn: ops.AttentionCache, caches, H) -> ops.AttentionCache:
    """The attention cache with k = l_k ⊙ k and v = l_v ⊙ v rebuilt where the record left them out:
    the forward's own product, so bit for bit the keys and values the forward used."""
    def scaled(site):
        x, l = caches[site]
        return ops.split_heads(x * l, H)

    return attn._replace(k=scaled("l_k") if attn.k is None else attn.k,
                         v=scaled("l_v") if attn.v is None else attn.v)


def _lora(y, x, p, linear, caches, cache):
    """y + LoRA's low-rank term of input x when the adapter has a pair on this linear layer."""
    site = f"{linear}.lora"
    if site not in p:
        return y
    delta, caches[site] = ops.lora_forward(x, *p[site], cache)
    y += delta  # y is the linear layer's fresh output: adding in place copies nothing
    return y


def block_backward(dx, bc: BlockCache, p, stop=INPUT):
    """dx (B, T, C) at the block's output -> dx at its input (None when stop > INPUT), and the
    gradients of the adapter's sites p, {site: grad}. The backward returns as soon as the site
    at level `stop` has its gradient: below it nothing is trained."""
    g = {}

    # x_out = x_mid + mlp.c_proj(l_ff ⊙ gelu(c_fc(ln_2(x_mid))))
    dh = _linear_backward(dx, bc, "mlp.c_proj", p, g, stop < MLP_C_PROJ)  # (B, T, F)
    if stop >= MLP_C_PROJ:
        return None, g
    if "l_ff" in p:
        dh, g["l_ff"] = ops.ia3_scale_backward(dh, bc.sites["l_ff"])
    if stop >= L_FF:
        return None, g
    dh = ops.gelu_backward(dh, bc.gelu)
    dm = _linear_backward(dh, bc, "mlp.c_fc", p, g, stop < C_FC)  # (B, T, C)
    if stop >= C_FC:
        return None, g
    _layer_norm_grads(dm, bc.ln_2, p, "ln_2", g)
    if stop >= LN_2:
        return None, g
    dx = dx + ops.layer_norm_backward(dm, bc.ln_2)  # the residual passes dx straight through

    # x_mid = x_in + attn.c_proj(attention(q, l_k ⊙ k, l_v ⊙ v))
    dy = _linear_backward(dx, bc, "attn.c_proj", p, g, stop < ATTN_C_PROJ)  # (B, T, C)
    if stop >= ATTN_C_PROJ:
        return None, g
    H, T = bc.attn.q.shape[1], dy.shape[1]
    dq, dk, dv = ops.attention_backward(ops.split_heads(dy, H), _with_scaled_kv(bc.attn, bc.sites, H),
                                        need_dq=stop <= QUERIES)
    # With a KV cache the keys span past tokens too; training never uses one, so take the last T.
    dk, dv = ops.merge_heads(dk[:, :, -T:]), ops.merge_heads(dv[:, :, -T:])  # (B, T, C)
    if "l_k" in p:
        dk, g["l_k"] = ops.ia3_scale_backward(dk, bc.sites["l_k"])
    if "l_v" in p:
        dv, g["l_v"] = ops.ia3_scale_backward(dv, bc.sites["l_v"])
    if stop >= KEYS_VALUES:
        return None, g
    dq = ops.merge_heads(dq)
    if "l_q" in p:
        dq, g["l_q"] = ops.ia3_scale_backward(dq, bc.sites["l_q"])
    if stop >= QUERIES:
        return None, g
    da = _linear_backward(np.concatenate([dq, dk, dv], axis=-1), bc, "attn.c_attn", p, g, stop < C_ATTN)
    if stop >= C_ATTN:
        return None, g
    _layer_norm_grads(da, bc.ln_1, p, "ln_1", g)
    if stop >= LN_1:
        return None, g
    return dx + ops.layer_norm_backward(da, bc.ln_1), g


_CACHE_FIELD = {"attn.c_attn": "c_attn", "attn.c_proj": "attn_c_proj", "mlp.c_fc": "c_fc", "mlp.c_proj": "mlp_c_proj"}


def _linear_backward(dy, bc: BlockCache, name, p, g, need_dx):
    """dy at a linear layer's output -> dx at its input (or None), with the gradients of what
    the adapter trains there into g: its weight, its bias, its LoRA pair. A frozen weight gets
    no gradient: its d W = xᵀ dy is the largest product of a backward, and IA³ never forms it."""
    cache, lora = getattr(bc, _CACHE_FIELD[name]), f"{name}.lora" in p
    if f"{name}.weight" in p:
        g[f"{name}.weight"], g[f"{name}.bias"] = ops.linear_backward_weights(dy, cache)
    elif f"{name}.bias" in p:
        g[f"{name}.bias"] = ops.bias_backward(dy)
    if lora:
        dx_lora, da, db = ops.lora_backward(dy, bc.sites[f"{name}.lora"], need_dx)
        g[f"{name}.lora"] = (da, db)
    if not need_dx:
        return None
    dx = ops.linear_backward(dy, cache)
    if lora:
        dx += dx_lora
    return dx


def _layer_norm_grads(dy, cache, p, name, g):
    """The adapter's share of a layer norm's gain and shift, into g."""
    if f"{name}.weight" in p:
        g[f"{name}.weight"], g[f"{name}.bias"] = ops.layer_norm_backward_weights(dy, cache)
    elif f"{name}.bias" in p:
        g[f"{name}.bias"] = ops.bias_backward(dy)


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
