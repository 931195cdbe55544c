"""Read a GPT-2 safetensors checkpoint into a dict of named NumPy arrays, shapes checked.

A safetensors file is tiny to describe: 8 bytes (little-endian u64) giving the length N of a
JSON header, N bytes of header naming each tensor's dtype, shape and byte range, then the raw
bytes. We read it ourselves (instead of `safetensors.numpy.load_file`) for two reasons: NumPy
has no bfloat16, so bf16 tensors must be converted from their raw bits; and memory-mapping the
file means a 500 MB checkpoint is not copied when it is already float32.

Two key layouts exist for the same GPT-2 weights, and both load:
  * the hub's `model.safetensors`: `wte.weight`, `h.0.ln_1.weight`, ... (no prefix), plus
    causal-mask buffers `h.N.attn.bias` that are not weights and are ignored;
  * transformers' `save_pretrained`: the same names behind a `transformer.` prefix.
Neither stores `lm_head.weight`: GPT-2's output layer is tied to `wte`.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from .config import GPT2Config
from .errors import ArgumentError, FileContentError

# safetensors dtype name -> NumPy dtype. BF16 has no NumPy dtype: it is read as uint16 bits.
_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}

# Buffers some GPT-2 checkpoints carry that are not parameters (the causal mask, precomputed).
_IGNORED = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the 16 stored bits into the high half."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return (tensors, metadata). Float tensors keep their stored dtype, except bf16 -> f32."""
    path = Path(path)
    hint = "The file is damaged or incomplete: download or save it again."
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise FileContentError(f"{path}: {size} bytes is too short to be a safetensors file. {hint}")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise FileContentError(
                    f"{path}: header says it is {n} bytes long but the file has {size} bytes. {hint}"
                )
            header = json.loads(f.read(n))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileContentError(f"{path}: the safetensors header is not valid JSON ({err}). {hint}") from None
    if not isinstance(header, dict):
        raise FileContentError(f"{path}: the safetensors header is not a JSON object. {hint}")
    metadata = header.pop("__metadata__", None) or {}

    data_start = 8 + n
    buffer = np.memmap(path, dtype=np.uint8, mode="r") if size > data_start else np.zeros(0, np.uint8)
    tensors = {}
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FileContentError(f"{path}: tensor {name!r} has a malformed header entry {info!r}. {hint}") from None
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if end - begin != nbytes or data_start + end > size:
            raise FileContentError(
                f"{path}: tensor {name!r} ({info['dtype']} {list(shape)}) needs bytes "
                f"{begin}..{end} of the data section, but the file ends after byte {size - data_start}. "
                f"{hint}"
            )
        array = buffer[data_start + begin : data_start + end].view(dtype).reshape(shape)
        tensors[name] = bf16_to_float32(array) if info["dtype"] == "BF16" else array
    return tensors, metadata


def check_float_tensor(array: np.ndarray, name: str, source) -> None:
    """Refuse a tensor read from a file that is not floating point or holds NaN or inf, naming
    it: such a value would only surface later as NaN losses or "!!!!" generations."""
    if not np.issubdtype(array.dtype, np.floating):
        raise FileContentError(f"{source}: tensor {name} has dtype {array.dtype}, expected floating point. "
                               "The file was not written by tinyia3, PEFT or transformers: save it again.")
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - np.count_nonzero(finite))
        raise FileContentError(f"{source}: tensor {name} holds {bad} non-finite value{'s' if bad > 1 else ''} "
                               f"(NaN or inf) of {array.size}. It comes from a diverged run or a damaged file; "
                               "use an earlier checkpoint or save it again.")


def expected_shapes(config: GPT2Config) -> dict[str, tuple[int, ...]]:
    """Every GPT-2 parameter name (hub layout) with its shape. Conv1D weights are (in, out)."""
    C, F, V, P = config.n_embd, config.n_inner, config.vocab_size, config.n_positions
    shapes = {"wte.weight": (V, C), "wpe.weight": (P, C)}
    for i in range(config.n_layer):
        shapes.update({
            f"h.{i}.ln_1.weight": (C,), f"h.{i}.ln_1.bias": (C,),
            f"h.{i}.attn.c_attn.weight": (C, 3 * C), f"h.{i}.attn.c_attn.bias": (3 * C,),
            f"h.{i}.attn.c_proj.weight": (C, C), f"h.{i}.attn.c_proj.bias": (C,),
            f"h.{i}.ln_2.weight": (C,), f"h.{i}.ln_2.bias": (C,),
            f"h.{i}.mlp.c_fc.weight": (C, F), f"h.{i}.mlp.c_fc.bias": (F,),
            f"h.{i}.mlp.c_proj.weight": (F, C), f"h.{i}.mlp.c_proj.bias": (C,),
        })
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    return shapes


def gpt2_params(tensors: dict[str, np.ndarray], config: GPT2Config, dtype, source: str) -> dict[str, np.ndarray]:
    """Map either key layout to hub names, check names and shapes, cast to `dtype`."""
    params = {}
    for name, array in tensors.items():
        name = name.removeprefix("transformer.")
        if _IGNORED.match(name):
            continue
        if name == "lm_head.weight":
            # Only a tied head is GPT-2; an untied one would be silently dropped otherwise.
            if "wte.weight" in tensors or "transformer.wte.weight" in tensors:
                wte = tensors.get("wte.weight", tensors.get("transformer.wte.weight"))
                if wte.shape == array.shape and np.array_equal(wte, array):
                    continue
            raise FileContentError(
                f"{source}: lm_head.weight differs from wte.weight. GPT-2 ties its output layer "
                "to the token embedding and tinyia3 relies on that; this checkpoint is not a plain GPT-2."
            )
        params[name] = array

    expected = expected_shapes(config)
    missing = [k for k in expected if k not in params]
    unexpected = [k for k in params if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:6])}" + (" ..." if len(missing) > 6 else ""))
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s): {', '.join(unexpected[:6])}" + (" ..." if len(unexpected) > 6 else ""))
        raise FileContentError(
            f"{source}: the weights do not match a GPT-2 with n_layer={config.n_layer}: "
            + "; ".join(parts)
            + ". Check that config.json belongs to this model.safetensors."
        )
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise FileContentError(
                f"{source}: tensor {name} has shape {list(params[name].shape)}, but config.json "
                f"(n_embd={config.n_embd}, n_inner={config.n_inner}, vocab_size={config.vocab_size}, "
                f"n_positions={config.n_positions}) implies {list(shape)}. The config and the weights "
                "come from different models."
            )
        check_float_tensor(params[name], name, source)  # bf16 already arrives as float32
    # copy=False keeps a float32 checkpoint memory-mapped (read-only) when the model is float32.
    return {name: params[name].astype(dtype, copy=False) for name in expected}


def load_checkpoint(path: str | Path, config: GPT2Config, dtype=np.float32) -> dict[str, np.ndarray]:
    """Named GPT-2 parameters (hub names) from one safetensors file, as `dtype`."""
    tensors, _ = read_safetensors(path)
    return gpt2_params(tensors, config, dtype, source=str(path))


def write_atomic(path: Path, write) -> None:
    """Call write(tmp_path), then rename over `path`: readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_model(model, folder: str | Path, dtype=None) -> Path:
    """Write config.json + model.safetensors in the hub's layout (no prefix, Conv1D (in, out)
    weights, no lm_head: it is tied to wte). dtype: e.g. np.float16 to halve the file."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype or model.dtype)
    tensors = {}
    for name, array in model.params.items():
        if dtype == np.float16 and np.abs(array).max() > np.finfo(np.float16).max:
            raise ArgumentError(f"{name} has values beyond float16's range (65504); save in float32.")
        tensors[name] = np.ascontiguousarray(array, dtype=dtype)
    config = json.dumps({**model.config.to_dict(), "torch_dtype": dtype.name}, indent=2) + "\n"
    write_atomic(folder / "config.json", lambda p: p.write_text(config, encoding="utf-8"))
    write_atomic(folder / "model.safetensors", lambda p: save_file(tensors, str(p), metadata={"format": "pt"}))
    return folder
