"""Quantized weights: integer codes and float scales, dequantized on the fly in each linear.

Symmetric absmax (REFERENCE.md, "Quantization facts"): every block of weights that shares one
scale s keeps only integer codes Q,

    s = max |W| / 127,    Q = round(W / s) in [-127, 127],    W ≈ Q · s        (int8)
    s = max |W| / 7,      Q = round(W / s) in [-7, 7]                          (4 bits, two codes a byte)

int8 is per channel (a block is a whole column or a whole row); 4 bits are block-wise (blocks of
BLOCK_4BIT weights), since 15 levels cannot cover a whole row of a GPT-2 matrix well.

Which way a scale runs decides what merges exactly. A factor per output column folds into
scales per output column, a factor per input row into scales per input row:

    (x (Q · s_col)) ⊙ l   = x (Q · (s_col ⊙ l))        c_attn:     l_q, l_k, l_v scale its columns
    (l ⊙ h) (Q · s_row)   = h (Q · (l ⊙ s_row))        mlp.c_proj: l_ff scales its input rows

so c_attn (and attn.c_proj, mlp.c_fc) keep a scale per output column, mlp.c_proj a scale per
input row (LAYOUT), and `tinyia3.merge(quantized, ia3)` changes scales only: every code stays as
it was, bit for bit. A LoRA update W + s·A·B is a full matrix, not a factor per channel: no
scale absorbs it, and W + s·A·B rounded back to codes is another function. Measured on the
embedded model (benchmarks/quantized_quality.py, lesson 10): of a rank-8 LoRA's effect on the
logits, re-quantizing loses 1 % at int8; at 4 bits 18 % after 60 training steps and 93 % after
4 (the smaller the update against a quantization step, the more rounds away). tinyia3.merge
refuses it (QuantizedWeight.__add__), since a merge promises the same function; keep the LoRA
beside the quantized weights, where it works unchanged, or merge into the float model and
quantize the result, knowingly.

A QuantizedWeight stands where the model uses a float array: `x @ W` (linear_forward),
`x @ W.T` (linear_backward and the LM head), `W @ h` (one decoding token), `W[ids]` (the
embedding), `W * l` (IA³'s merge). Each product dequantizes into one float temporary at a time,
at most CHUNK_ELEMENTS numbers (the 50257-wide wte in pieces), so memory holds the codes plus
one layer's float weights, never the float model.

    q = tinyia3.quantize(model)                 # int8 linears and wte
    q4 = tinyia3.quantize(model, bits=4)        # 4-bit blocks of 64, wte int8
    merged = tinyia3.merge(q, ia3)              # scales only
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ArgumentError, ArgumentTypeError

LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
# The way each linear's scales run: "column" = one scale per output column (of each block of
# rows), "row" = one per input row (of each block of columns). mlp.c_proj is per row so that
# IA³'s l_ff, which scales its input, folds into its scales.
LAYOUT = {"attn.c_attn": "column", "attn.c_proj": "column", "mlp.c_fc": "column", "mlp.c_proj": "row"}
BITS = (8, 4)
BLOCK_4BIT = 64  # weights per scale at 4 bits (bitsandbytes' NF4 default block is 64 too)
# The largest float temporary a product makes: 2**21 numbers, 8 MiB in float32. Small enough
# that an int8 IA³ step on gpt2-large holds ≤ 0.35 of the float32 peak (mlp.c_fc, 1280 × 5120,
# then runs in 4 pieces; it was 2**23, one piece, and 0.37); wte (50257 × C) in pieces of rows.
CHUNK_ELEMENTS = 1 << 21


def levels(bits: int) -> int:
    """The largest code: 127 for int8, 7 for 4 bits (symmetric: -levels .. levels)."""
    return 2 ** (bits - 1) - 1


class QuantizedWeight:
    """An (in, out) weight W ≈ Q · s: integer codes Q and float scales s.

    per "column": scales (in // block, out), one per output column and block of `block` rows.
    per "row":    scales (in, out // block), one per input row and block of `block` columns.
    Per channel is block = the whole column (row). 8 bits: codes int8 (in, out); 4 bits: codes
    + 8 in [1, 15], two to a byte along the columns: uint8 (in, out // 2).
    Computations run in the scales' dtype (the model's: float32 or float64).
    """

    # x @ W, x * W: NumPy hands these to this class instead of turning W into an object array.
    __array_ufunc__ = None
    ndim = 2

    def __init__(self, codes: np.ndarray, scales: np.ndarray, per: str, bits: int, shape: tuple[int, int]):
        self.codes, self.scales, self.per, self.bits = codes, scales, per, bits
        self.shape = tuple(shape)
        self.codes.flags.writeable = False  # shared by a merged copy: the codes never change

    @property
    def block(self) -> int:
        """Weights per scale along the blocked axis (rows for "column", columns for "row")."""
        n_in, n_out = self.shape
        return n_in // self.scales.shape[0] if self.per == "column" else n_out // self.scales.shape[1]

    @property
    def dtype(self):
        return self.scales.dtype

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes held: the codes and the scales (what replaces the float weight in memory)."""
        return self.codes.nbytes + self.scales.nbytes

    @property
    def T(self) -> "TransposedWeight":
        return TransposedWeight(self)

    def __repr__(self) -> str:
        return (f"QuantizedWeight({self.shape[0]}×{self.shape[1]}, {self.bits} bits, a scale per {self.per}"
                f"{'' if self.block == (self.shape[0] if self.per == 'column' else self.shape[1]) else f' per block of {self.block}'}"
                f", {self.dtype})")

    def with_scales(self, scales: np.ndarray) -> "QuantizedWeight":
        """The same codes (shared, not copied) with other scales."""
        return QuantizedWeight(self.codes, scales, self.per, self.bits, self.shape)

    # -- dequantizing ------------------------------------------------------------------------------

    def _numbers(self, index) -> np.ndarray:
        """The codes of rows `index` (a slice or an int array) as numbers in the scales' dtype."""
        if self.bits == 8:
            return self.codes[index].astype(self.dtype)
        packed = self.codes[index]  # (..., out // 2)
        out = np.empty(packed.shape[:-1] + (2 * packed.shape[-1],), self.dtype)
        out[..., 0::2] = packed & 15
        out[..., 1::2] = packed >> 4
        out -= 8.0  # stored as code + 8, so that a nibble holds it
        return out

    def dequantize(self, rows: slice = slice(None)) -> np.ndarray:
        """Q · s for rows `rows` (r, out) in the scales' dtype: the one float temporary.
        For per "column" the rows lie inside one block or span whole blocks (pieces() gives such)."""
        r0, r1, _ = rows.indices(self.shape[0])
        w = self._numbers(slice(r0, r1))
        if self.per == "row":
            view = w.reshape(r1 - r0, -1, self.block)
            view *= self.scales[r0:r1, :, None]
        elif r0 // self.block == (r1 - 1) // self.block:  # inside one block: one row of scales
            w *= self.scales[r0 // self.block]
        else:
            view = w.reshape(-1, self.block, self.shape[1])  # whole blocks
            view *= self.scales[r0 // self.block:r1 // self.block, None, :]
        return w

    def take(self, ids) -> np.ndarray:
        """Rows ids (any int array) dequantized: ids.shape + (out,). The embedding lookup."""
        ids = np.asarray(ids)
        w = self._numbers(ids)
        if self.per == "row":
            view = w.reshape(*ids.shape, -1, self.block)
            view *= self.scales[ids][..., None]
        else:
            w *= self.scales[ids // self.block]
        return w

    def pieces(self) -> list[slice]:
        """Row ranges whose float copy has at most CHUNK_ELEMENTS numbers; for per "column" each
        is whole blocks or lies inside one block, so that dequantize() can scale it."""
        n_in, n_out = self.shape
        step = max(1, CHUNK_ELEMENTS // n_out)
        if self.per == "column":
            if step >= self.block:
                step -= step % self.block
            else:
                return [slice(r, min(r + step, b + self.block)) for b in range(0, n_in, self.block)
                        for r in range(b, b + self.block, step)]
        return [slice(r, min(r + step, n_in)) for r in range(0, n_in, step)]

    def __array__(self, dtype=None, copy=None):
        """The whole float weight: np.asarray(W) (hashing a model, copying it for full fine-tuning)."""
        if copy is False:
            raise ValueError("a quantized weight has no float array to share: it can only be dequantized into a copy")
        w = self.dequantize() if len(self.pieces()) == 1 else np.concatenate([self.dequantize(p) for p in self.pieces()])
        return w if dtype is None else w.astype(dtype, copy=False)

    # -- the products the model makes --------------------------------------------------------------

    def __rmatmul__(self, x):
        """x (..., in) @ W (in, out) -> (..., out): piece by piece of W's rows, summed."""
        x = np.asarray(x)
        pieces = self.pieces()
        if len(pieces) == 1:
            return x @ self.dequantize()
        out = np.zeros(x.shape[:-1] + (self.shape[1],), np.result_type(x.dtype, self.dtype))
        for rows in pieces:
            out += x[..., rows] @ self.dequantize(rows)
        return out

    def __matmul__(self, h):
        """W (in, out) @ h (out,) or (out, k) -> (in,) or (in, k): one decoding token's LM head."""
        h = np.asarray(h)
        out = np.empty((self.shape[0],) + h.shape[1:], np.result_type(h.dtype, self.dtype))
        for rows in self.pieces():
            out[rows] = self.dequantize(rows) @ h
        return out

    def __getitem__(self, ids):
        if isinstance(ids, (tuple, slice)):
            raise ArgumentTypeError("A quantized weight is indexed by row ids only (W[ids], the embedding lookup); "
                                    "for its values use np.asarray(W) or W.dequantize(rows).")
        return self.take(ids)

    def __mul__(self, factor):
        """W * l for l a factor per output column ((out,) or (1, out)), per input row ((in, 1)) or
        one number: the same codes with scales multiplied, exactly what IA³'s merge needs, when
        the factor runs the way the scales do. Otherwise no scale can take it: refused."""
        if isinstance(factor, (int, float, np.number)):
            return self.with_scales(self.scales * factor)
        factor = np.asarray(factor)
        n_in, n_out = self.shape
        if factor.shape in ((n_out,), (1, n_out)) and self.per == "column":
            return self.with_scales(self.scales * factor.reshape(1, n_out).astype(self.dtype, copy=False))
        if factor.shape == (n_in, 1) and self.per == "row":
            return self.with_scales(self.scales * factor.astype(self.dtype, copy=False))
        if factor.shape in ((n_out,), (1, n_out), (n_in, 1)):
            way = "input row" if factor.shape == (n_in, 1) else "output column"
            raise ArgumentError(f"This {n_in}×{n_out} quantized weight has its scales per {self.per}, so a factor per "
                                f"{way} does not fold into them exactly. Quantize the layer with scales per {way.split()[1]} "
                                f"(tinyia3.quantize(model, per={{'<linear>': '{way.split()[1]}'}})); the default LAYOUT "
                                "lets IA³ merge (c_attn per column, mlp.c_proj per row).")
        raise ArgumentError(f"A quantized weight ({n_in}×{n_out}) can be multiplied by one number, a factor per output "
                            f"column ({n_out},) or per input row ({n_in}, 1); found shape {factor.shape}.")

    __rmul__ = __mul__

    def __add__(self, other):
        raise ArgumentError(
            f"Cannot add a float matrix to quantized weights ({self.shape[0]}×{self.shape[1]}, {self.bits} bits): a LoRA "
            "update W + (alpha/r)·A·B changes every weight by a different amount, so no scale absorbs it, and "
            "rounding the sum back to codes gives another function (part of the update is lost, most of it at 4 "
            "bits). Keep the LoRA as an adapter on the "
            "quantized model (logits, loss, generate take it unchanged), or merge into the float model and "
            "quantize that: tinyia3.quantize(tinyia3.merge(float_model, lora)).")

    __radd__ = __sub__ = __rsub__ = __add__


class TransposedWeight:
    """W.T for a QuantizedWeight W: what linear_backward (dout @ W.T) and the LM head (h @ wte.T) use."""

    __array_ufunc__ = None
    ndim = 2

    def __init__(self, weight: QuantizedWeight):
        self.weight = weight
        self.shape = weight.shape[::-1]

    @property
    def dtype(self):
        return self.weight.dtype

    @property
    def T(self) -> QuantizedWeight:
        return self.weight

    def __rmatmul__(self, x):
        """x (..., out) @ W.T (out, in) -> (..., in): each piece of W's rows gives those outputs."""
        x = np.asarray(x)
        w = self.weight
        pieces = w.pieces()
        if len(pieces) == 1:
            return x @ w.dequantize().T
        out = np.empty(x.shape[:-1] + (w.shape[0],), np.result_type(x.dtype, w.dtype))
        for rows in pieces:
            out[..., rows] = x @ w.dequantize(rows).T
        return out

    def __array__(self, dtype=None, copy=None):
        return self.weight.__array__(dtype, copy).T


# -------------------------------------------------------------------------------------------------
# Quantizing.


def quantize_weight(w, per: str = "column", bits: int = 8, block_size: int | None = None) -> QuantizedWeight:
    """An (in, out) float weight as codes and absmax scales; see the module docstring.

    block_size: weights per scale along the blocked axis (rows for per "column", columns for
    "row"); None = the whole axis (per channel). Computed piece by piece of rows, so that the
    float temporaries stay small even for wte (a memory-mapped checkpoint is read, not copied)."""
    w = np.asarray(w)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.floating):
        raise ArgumentError(f"quantize_weight takes a 2-D float weight (in, out), found {w.dtype} {list(w.shape)}.")
    _check_choice("per", per, ("column", "row"))
    _check_choice("bits", bits, BITS)
    n_in, n_out = w.shape
    along = n_in if per == "column" else n_out
    block = along if block_size is None else block_size
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1 or along % block:
        raise ArgumentError(f"block_size must be a positive integer dividing the {along} "
                            f"{'rows' if per == 'column' else 'columns'} of this {n_in}×{n_out} weight, found "
                            f"{block_size!r}; try {math.gcd(along, BLOCK_4BIT)} or None (per channel).")
    if bits == 4 and n_out % 2:
        raise ArgumentError(f"4-bit codes are packed two to a byte along the columns: {n_out} columns is odd. Use bits=8.")
    scales = _absmax_scales(w, per, block) / float(levels(bits))
    scales[scales == 0] = 1.0  # an all-zero block codes to zeros whatever its scale; 1 avoids 0 / 0
    empty = QuantizedWeight(np.zeros(0, np.int8), scales, per, bits, w.shape)
    codes = np.empty((n_in, n_out) if bits == 8 else (n_in, n_out // 2), np.int8 if bits == 8 else np.uint8)
    for rows in empty.pieces():
        codes[rows] = _codes(w[rows], empty, rows, bits)
    return QuantizedWeight(codes, scales, per, bits, w.shape)


def _absmax_scales(w, per, block):
    """max |W| over each block: (in // block, out) for per "column", (in, out // block) for "row"."""
    n_in, n_out = w.shape
    step = max(1, CHUNK_ELEMENTS // n_out)
    if per == "row":
        out = np.empty((n_in, n_out // block), w.dtype)
        for r in range(0, n_in, step):
            piece = w[r:r + step]
            out[r:r + step] = np.abs(piece).reshape(len(piece), -1, block).max(axis=2)
        return out
    out = np.zeros((n_in // block, n_out), w.dtype)
    for b in range(n_in // block):  # a running max over the block's rows, a piece at a time
        for r in range(b * block, (b + 1) * block, step):
            np.maximum(out[b], np.abs(w[r:min(r + step, (b + 1) * block)]).max(axis=0), out=out[b])
    return out


def _codes(piece, weight: QuantizedWeight, rows: slice, bits: int):
    """round(W / s) of some rows, clipped to the levels, as stored (int8, or packed nibbles)."""
    r0, r1, _ = rows.indices(weight.shape[0])
    s = weight.scales
    if weight.per == "row":
        q = piece.reshape(r1 - r0, -1, weight.block) / s[r0:r1, :, None]
    elif r0 // weight.block == (r1 - 1) // weight.block:
        q = piece / s[r0 // weight.block]
    else:
        q = piece.reshape(-1, weight.block, weight.shape[1]) / s[r0 // weight.block:r1 // weight.block, None, :]
    np.rint(q, out=q)  # in place: for wte each temporary is a whole piece
    np.clip(q, -levels(bits), levels(bits), out=q)
    q = q.reshape(piece.shape)
    if bits == 8:
        return q.astype(np.int8)
    u = (q + 8.0).astype(np.uint8)  # 1 .. 15: one nibble
    return u[:, 0::2] | (u[:, 1::2] << 4)


def quantize(model, bits: int = 8, block_size: int | None = None, wte_bits: int | None = 8, per: dict | None = None):
    """A new GPT2 whose four linears per block are `bits`-bit and whose wte (the embedding and
    the tied LM head) is `wte_bits`-bit (None: kept in float), with scales in the model's dtype.

    bits=8: per channel unless block_size is given; bits=4: blocks of block_size or BLOCK_4BIT.
    wte has a scale per token row (per output logit of the head). per: overrides LAYOUT for
    some linears, e.g. {"mlp.c_proj": "column"} (then l_ff no longer merges exactly).
    Biases, layer norms and wpe stay float: they are 0.2 % of GPT-2's weights.
    """
    from .model import GPT2

    if not isinstance(model, GPT2):
        raise ArgumentTypeError(f"tinyia3.quantize takes a tinyia3 model (tinyia3.load_model(...)), found {type(model).__name__}.")
    if is_quantized(model):
        raise ArgumentError("This model is already quantized: quantize the float model it came from "
                            "(tinyia3.load_model(...)), or dequantize(model) first.")
    params = quantize_params(model.params.items(), bits, block_size, wte_bits, per)
    label = f"int{bits}" + (f" blocks of {_block(bits, block_size)}" if _block(bits, block_size) else "")
    return GPT2(model.config, params, source=f"{model.source} + {label}", name=model.name)


def quantize_params(items, bits: int = 8, block_size: int | None = None, wte_bits: int | None = 8,
                    per: dict | None = None) -> dict:
    """(name, float array) pairs -> {name: array or QuantizedWeight}, each weight quantized as it
    arrives: a generator of freshly made (or memory-mapped) tensors never holds the float model."""
    _check_choice("bits", bits, BITS)
    if wte_bits is not None:
        _check_choice("wte_bits", wte_bits, BITS)
    layout = dict(LAYOUT)
    for name, way in (per or {}).items():
        _check_choice("a linear of per", name, LINEARS)
        _check_choice(f"per[{name!r}]", way, ("column", "row"))
        layout[name] = way
    params = {}
    for name, array in items:
        linear = name.split(".", 2)[-1].removesuffix(".weight") if name.startswith("h.") else None
        if linear in layout and name.endswith(".weight"):
            params[name] = quantize_weight(array, layout[linear], bits, _block(bits, block_size))
        elif name == "wte.weight" and wte_bits is not None:
            params[name] = quantize_weight(array, "row", wte_bits, _block(wte_bits, block_size))
        else:
            params[name] = array
    return params


def _block(bits, block_size):
    return block_size if block_size is not None or bits == 8 else BLOCK_4BIT


def _check_choice(name, value, allowed):
    if isinstance(value, bool) or value not in allowed:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}, found {value!r}.")


def is_quantized(model) -> bool:
    return any(isinstance(a, QuantizedWeight) for a in model.params.values())


def dequantize(model):
    """The float model a quantized one stands for (Q · s for every weight): for comparisons,
    and to merge a LoRA before quantizing again."""
    from .model import GPT2

    params = {k: np.asarray(v) if isinstance(v, QuantizedWeight) else v for k, v in model.params.items()}
    return GPT2(model.config, params, source=f"{model.source}, dequantized", name=model.name)


# -------------------------------------------------------------------------------------------------
# Memory, from a model or from a config alone.


def weight_bytes(model) -> int:
    """Bytes of a model's weights as held: codes and scales for quantized ones."""
    return sum(a.nbytes for a in model.params.values())


def weight_bytes_for(config, bits: int | None, block_size: int | None = None, wte_bits: int | None = 8,
                     dtype=np.float32) -> int:
    """What weight_bytes(quantize(model, bits, block_size, wte_bits)) will be, from the config
    alone (bits None: the float model). Codes: bits / 8 bytes a weight; scales: one float each."""
    from .checkpoint import expected_shapes

    item = np.dtype(dtype).itemsize
    total = 0
    for name, shape in expected_shapes(config).items():
        linear = name.split(".", 2)[-1].removesuffix(".weight") if name.startswith("h.") else None
        if bits is not None and linear in LAYOUT and name.endswith(".weight"):
            total += _quantized_bytes(shape, LAYOUT[linear], bits, _block(bits, block_size), item)
        elif bits is not None and name == "wte.weight" and wte_bits is not None:
            total += _quantized_bytes(shape, "row", wte_bits, _block(wte_bits, block_size), item)
        else:
            total += math.prod(shape) * item
    return total


def _quantized_bytes(shape, per, bits, block, item):
    n_in, n_out = shape
    along = n_in if per == "column" else n_out
    n_scales = n_in * n_out // (block or along)
    return n_in * n_out * bits // 8 + n_scales * item
