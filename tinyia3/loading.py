"""load_model / load_tokenizer: a name or path in, a ready GPT2 or Tokenizer out."""

from __future__ import annotations

import numpy as np

from .checkpoint import load_checkpoint
from .config import GPT2Config
from .errors import ArgumentError, MissingFileError, float_dtype, require_path
from .hub import WEIGHTS_NAME, resolve
from .model import GPT2
from .tokenizer import Tokenizer, gpt2_tokenizer, tokenizer_from_folder

SUPPORTED_DTYPES = (np.float32, np.float64)


def load_model(name_or_path="embedded", dtype=np.float32, cache_dir=None) -> GPT2:
    """A GPT-2 from "embedded", a local folder, or a hub name such as "gpt2".

    Weights are cast to `dtype` (float32 or float64); fp16 and bf16 checkpoints are upcast.
    """
    _check_source("tinyia3.load_model", name_or_path, cache_dir)
    dtype = float_dtype(dtype, "tinyia3.load_model: dtype")
    if dtype not in SUPPORTED_DTYPES:
        raise ArgumentError(
            f"dtype {dtype} is not supported: tinyia3 computes in float32 (fast) or float64 "
            "(exact gradient checks). Checkpoints stored in float16/bfloat16 load with either."
        )
    files = resolve(name_or_path, cache_dir=cache_dir)
    config = GPT2Config.from_json(files.folder / "config.json")
    params = load_checkpoint(files.folder / WEIGHTS_NAME, config, dtype)
    return GPT2(config, params, source=files.source, name=str(name_or_path))


def load_tokenizer(name_or_path="embedded", cache_dir=None) -> Tokenizer:
    """The tokenizer stored with a model, else the exact GPT-2 one for a GPT-2 vocabulary."""
    _check_source("tinyia3.load_tokenizer", name_or_path, cache_dir)
    files = resolve(name_or_path, cache_dir=cache_dir)
    tokenizer = tokenizer_from_folder(files.folder)
    if tokenizer is not None:
        return tokenizer
    config = GPT2Config.from_json(files.folder / "config.json")
    if config.vocab_size == gpt2_tokenizer().vocab_size:
        return gpt2_tokenizer()
    raise MissingFileError(
        f"{files.folder} has no tokenizer files (tokenizer.json, or vocab.json + merges.txt), and "
        f"its vocabulary ({config.vocab_size} ids) is not GPT-2's ({gpt2_tokenizer().vocab_size}), "
        "so the shipped GPT-2 tokenizer would give wrong ids. Copy the model's tokenizer files "
        "into the folder."
    )


def _check_source(where: str, name_or_path, cache_dir) -> None:
    require_path(name_or_path, f"{where}: name_or_path")
    if cache_dir is not None:
        require_path(cache_dir, f"{where}: cache_dir")
