"""Adapter files, for every method: tinyia3's own file and Hugging Face PEFT's folder.

One definition of each format, used by IA3 and LoRA alike:

    tinyia3's file   one safetensors file: the tensors by name, metadata with "format"
                     (tinyia3-ia3, tinyia3-lora, …), the base model and its shape
    PEFT's folder    adapter_config.json + adapter_model.safetensors, keys
                     base_model.model.transformer.h.{i}.<module>.<tensor>

`load_adapter(path)` reads either and returns the adapter the file holds (IA3 or LoRA).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import read_json_object
from .errors import ArgumentTypeError, FileContentError, MissingFileError, require, require_path

PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model.transformer.h."
PEFT_VERSION = "0.21.2"  # the version whose format this mirrors (tests/fixtures)
KINDS = {"tinyia3-ia3": "IA³", "tinyia3-lora": "LoRA"}  # tinyia3's file formats and what they hold


def check_save(where: str, path, base_sha256) -> None:
    """adapter.save's arguments: a path, and None or the 64 hex digits of a sha256."""
    require_path(path, f"{where}: path")
    require(base_sha256 is None or (isinstance(base_sha256, str) and len(base_sha256) == 64
                                    and all(c in "0123456789abcdef" for c in base_sha256)),
            f"{where}: base_sha256", "None or a sha256 hex digest (64 characters 0-9a-f)", base_sha256,
            "Pass tinyia3.run_folder.model_digest(model), or None to record no base weights.")


def check_save_peft(where: str, folder, base_model_name_or_path) -> None:
    require_path(folder, f"{where}: folder")
    require(base_model_name_or_path is None or (isinstance(base_model_name_or_path, str) and base_model_name_or_path),
            f"{where}: base_model_name_or_path", "None or a non-empty name (e.g. 'gpt2')", base_model_name_or_path)


def check_load(where: str, path, model) -> None:
    """A loader's arguments: a path, and None or the tinyia3 model to check the adapter against."""
    from .model import require_model

    require_path(path, f"{where}: path")
    if model is not None:
        require_model(model, where)


def write_file(path, tensors: dict, metadata: dict, base_sha256: str | None = None) -> Path:
    """tinyia3's adapter file, written atomically. With base_sha256 (model_digest of the model it
    was trained on, computed once by the caller: hashing every weight at every save would cost),
    loading it onto other weights is refused (check_base)."""
    from safetensors.numpy import save_file

    from .checkpoint import write_atomic

    if base_sha256 is not None:
        metadata = {**metadata, "base_model_sha256": base_sha256}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.ascontiguousarray(t) for name, t in tensors.items()}
    write_atomic(path, lambda p: save_file(tensors, str(p), metadata={k: str(v) for k, v in metadata.items()}))
    return path


def read_file(path: Path, expected_format: str | None = None) -> tuple[dict, dict]:
    """The tensors and metadata of a tinyia3 adapter file (of expected_format, when given); a
    clear error for a missing path, another file or another kind of adapter."""
    from .checkpoint import read_safetensors

    if not path.is_file():
        raise MissingFileError(f"Adapter {path} does not exist. Expected a .safetensors file written by "
                                "tinyia3 (adapter.save) or a PEFT adapter folder.")
    try:
        tensors, metadata = read_safetensors(path)
    except ValueError as err:
        raise FileContentError(f"Cannot read adapter {path}: {err}") from None
    if not str(metadata.get("format", "")).startswith("tinyia3-"):
        raise FileContentError(f"{path} is not a tinyia3 adapter (its metadata format is {metadata.get('format')!r}, "
                         "expected 'tinyia3-ia3' or 'tinyia3-lora'). A PEFT adapter is a folder: pass the folder.")
    if expected_format is not None and metadata["format"] != expected_format:
        raise FileContentError(f"{path} holds a {metadata['format']!r} adapter, not {KINDS[expected_format]}: load it "
                         "with tinyia3.load_adapter(path), which reads every kind.")
    _check_tensors(tensors, path)
    return tensors, metadata


def check_base(path: Path, model) -> None:
    """Refuse an adapter file recorded for other base weights (a model of the same shape, say
    a fine-tune of it): its scales were learned for those weights."""
    from .checkpoint import read_safetensors
    from .run_folder import model_digest

    if not Path(path).is_file():
        return  # a PEFT folder records no weights digest
    recorded = read_safetensors(path)[1].get("base_model_sha256")
    if not recorded:
        return
    digest = model_digest(model)
    if recorded != digest:
        raise FileContentError(f"Adapter {path} was trained on other base weights (sha256 {recorded[:12]}) than this "
                               f"model's ({digest[:12]}, {getattr(model, 'source', '')}), though of the "
                               "same shape. Load the base model it was trained on.")


def _check_tensors(tensors: dict, source) -> None:
    from .checkpoint import check_float_tensor

    for name, tensor in tensors.items():
        check_float_tensor(tensor, name, source)


def check_names(tensors: dict, allowed, source) -> None:
    """Refuse a tensor an adapter of this kind does not have (it would be silently ignored)."""
    unknown = sorted(set(tensors) - set(allowed))
    if unknown:
        raise FileContentError(f"{source}: unexpected tensor {unknown[0]!r}; this kind of adapter holds only "
                               f"{', '.join(sorted(allowed))}. Was it written by another tool? Save it again with tinyia3.")


def write_peft(folder, tensors: dict, config: dict) -> Path:
    """A folder that peft.PeftModel.from_pretrained(GPT2LMHeadModel, folder) loads unchanged."""
    from safetensors.numpy import save_file

    from .checkpoint import write_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"task_type": "CAUSAL_LM", "inference_mode": True, "modules_to_save": None, "revision": None,
              "auto_mapping": None, "exclude_modules": None, "peft_version": PEFT_VERSION, **config}
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    tensors = {name: np.ascontiguousarray(t) for name, t in tensors.items()}
    write_atomic(folder / PEFT_CONFIG, lambda p: p.write_text(text, encoding="utf-8"))
    write_atomic(folder / PEFT_WEIGHTS, lambda p: save_file(tensors, str(p), metadata={"format": "pt"}))
    return folder


def read_peft_config(folder: Path) -> dict:
    """adapter_config.json of a PEFT adapter folder (both of its files must be there)."""
    config_path, weights_path = folder / PEFT_CONFIG, folder / PEFT_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise MissingFileError(
            f"{folder} is not a PEFT adapter folder: expected {PEFT_CONFIG} and {PEFT_WEIGHTS} "
            f"(found: {', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'})."
        )
    return read_json_object(config_path, "a PEFT adapter_config.json",
                            "Re-save the adapter with PEFT's save_pretrained, or with adapter.save_peft(folder).")


def read_peft(folder: Path, peft_type: str) -> tuple[dict, dict]:
    """The tensors (in the file's dtype) and the config of a PEFT adapter folder of this type."""
    from .checkpoint import read_safetensors

    config = read_peft_config(folder)
    if config.get("peft_type") != peft_type:
        raise FileContentError(f"{folder} holds a {config.get('peft_type')!r} adapter, not {peft_type}: load it with "
                         "tinyia3.load_adapter(folder), which reads every kind tinyia3 knows.")
    weights_path = folder / PEFT_WEIGHTS
    try:
        tensors, _ = read_safetensors(weights_path)
    except ValueError as err:
        raise FileContentError(f"Cannot read adapter {weights_path}: {err}") from None
    _check_tensors(tensors, weights_path)
    return {k: np.array(v) for k, v in tensors.items()}, config


def peft_key_parts(key: str, weights_path, expected: str) -> tuple[int, str, str]:
    """'base_model.model.transformer.h.3.attn.c_attn.lora_A.weight' -> (3, 'attn.c_attn', 'lora_A.weight')."""
    if not key.startswith(PEFT_PREFIX):
        raise FileContentError(f"{weights_path}: unexpected tensor {key!r}; expected GPT-2 keys {PEFT_PREFIX}N.{expected}.")
    layer, rest = key[len(PEFT_PREFIX):].split(".", 1)
    from .model import LINEARS

    for module in LINEARS:
        if rest.startswith(module + "."):
            return int(layer), module, rest[len(module) + 1:]
    raise FileContentError(f"{weights_path}: tensor {key!r} is on a module tinyia3 does not know; expected "
                     "attn.c_attn, attn.c_proj, mlp.c_fc or mlp.c_proj.")


def load_adapter(path, model=None):
    """The adapter stored at path (tinyia3's file or a PEFT folder), IA3 or LoRA by what it holds.

    With `model`, the adapter's shape is checked against it and it takes the model's dtype."""
    from .ia3 import IA3
    from .lora import LoRA

    check_load("tinyia3.load_adapter", path, model)
    path = Path(path)
    if path.is_dir() and (path / "config.json").is_file() and not (path / PEFT_CONFIG).is_file():
        raise FileContentError(f"{path} is a model folder (config.json + model.safetensors), not an adapter: a BitFit or "
                         "full fine-tune is saved merged into a model. Pass it as the model (--model), with no adapter.")
    if path.is_dir():
        peft_type = read_peft_config(path).get("peft_type")
        kinds = {"IA3": IA3, "LORA": LoRA}
        if peft_type not in kinds:
            raise FileContentError(f"{path} holds a {peft_type!r} adapter; tinyia3 reads IA3 and LORA adapters.")
        return kinds[peft_type].load(path, model)
    kinds = {"tinyia3-ia3": IA3, "tinyia3-lora": LoRA}
    fmt = read_file(path)[1]["format"]
    if fmt not in kinds:
        raise FileContentError(f"{path}: adapter format {fmt!r} is not one this version of tinyia3 reads "
                         f"({', '.join(kinds)}).")
    return kinds[fmt].load(path, model)


def merge(model, adapter):
    """A new model with the adapter folded into its weights: inference then costs nothing extra.
    IA³ scales columns and rows (exact); LoRA adds scaling · A B to W (exact in float64)."""
    from .model import require_model

    require_model(model, "tinyia3.merge")
    require(hasattr(type(adapter), "merge_into"), "tinyia3.merge: adapter", "an adapter (tinyia3.IA3, LoRA, BitFit "
            "or FullFineTune)", adapter, "Pass the adapter first made or loaded (tinyia3.load_adapter(path)).",
            ArgumentTypeError)
    return adapter.merge_into(model)
