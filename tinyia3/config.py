"""GPT2Config: the handful of numbers that fix a GPT-2's shapes, read from config.json.

Field names are the ones transformers writes into config.json, so a reader can hold the file
next to this class.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import ArgumentError, FileContentError

# GPT-2's "gelu_new" is the tanh approximation of GELU. transformers also accepts these
# spellings for the very same function; anything else (exact erf GELU, relu, ...) would give
# different numbers, so tinyia3 refuses it instead of silently computing something else.
TANH_GELU_NAMES = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # None means 4 * n_embd, as in transformers
    activation_function: str = "gelu_new"
    layer_norm_epsilon: float = 1e-5
    bos_token_id: int = 50256
    eos_token_id: int = 50256

    def __post_init__(self):
        if self.n_inner is None:
            object.__setattr__(self, "n_inner", 4 * self.n_embd)
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ArgumentError(f"GPT2Config.{name} must be a positive integer, found {value!r}.")
        eps = self.layer_norm_epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or not 0 < eps < 1:
            raise ArgumentError(f"GPT2Config.layer_norm_epsilon must be a small positive number (GPT-2: 1e-5), "
                                f"found {eps!r}: layer norm divides by sqrt(variance + epsilon).")
        if self.n_embd % self.n_head != 0:
            raise ArgumentError(
                f"GPT2Config: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) "
                "so that every attention head gets the same width."
            )
        if self.activation_function not in TANH_GELU_NAMES:
            raise ArgumentError(
                f"Unsupported activation_function {self.activation_function!r}: tinyia3 implements "
                f"GPT-2's tanh GELU only ({', '.join(TANH_GELU_NAMES)}). Use a GPT-2 family "
                "checkpoint, or convert the model's config if its activation really is tanh GELU."
            )

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "GPT2Config":
        """Keep the GPT-2 fields of a transformers config dict, ignore the rest."""
        model_type = raw.get("model_type", "gpt2")
        if model_type != "gpt2":
            raise FileContentError(
                f"{source}: model_type is {model_type!r}, expected 'gpt2'. tinyia3 implements the "
                "GPT-2 architecture only (gpt2, gpt2-medium/large/xl, distilgpt2 and their fine-tunes)."
            )
        # Variants transformers supports with flags; each would change the numbers, so refuse.
        unsupported = {
            "scale_attn_weights": (False, "attention without the 1/sqrt(d_head) scale"),
            "scale_attn_by_inverse_layer_idx": (True, "attention scaled by 1/layer index"),
            "reorder_and_upcast_attn": (True, "reordered attention upcasting"),
            "tie_word_embeddings": (False, "an LM head not tied to wte"),
        }
        for key, (bad, what) in unsupported.items():
            if raw.get(key) is bad:
                raise FileContentError(
                    f"{source}: {key}={bad} asks for {what}, which tinyia3 does not implement "
                    "(it implements the original GPT-2 only)."
                )
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in raw.items() if k in known}
        try:
            return cls(**kwargs)
        except ValueError as err:
            raise FileContentError(f"{source}: {err}") from None

    @classmethod
    def from_json(cls, path: str | Path) -> "GPT2Config":
        raw = read_json_object(path, "a GPT-2 config.json", "Expected the JSON file that transformers "
                               "writes next to model.safetensors; re-download or re-save the model.")
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict:
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], **asdict(self)}

    def num_parameters(self) -> int:
        """Parameters of GPT2LMHeadModel, counting the tied LM head once."""
        C, F, L = self.n_embd, self.n_inner, self.n_layer
        per_block = (
            2 * C  # ln_1
            + C * 3 * C + 3 * C  # attn.c_attn
            + C * C + C  # attn.c_proj
            + 2 * C  # ln_2
            + C * F + F  # mlp.c_fc
            + F * C + C  # mlp.c_proj
        )
        return self.vocab_size * C + self.n_positions * C + L * per_block + 2 * C


def read_json_object(path: str | Path, what: str, fix: str) -> dict:
    """Parse a JSON file that must hold an object (config.json, vocab.json, adapter_config.json).

    Any failure (missing, not UTF-8, truncated, a list instead of an object) becomes one
    ValueError naming the file, what it should be (`what`) and what to do about it (`fix`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FileContentError(f"Could not read {path} as {what} ({err}). {fix}") from None
    if not isinstance(raw, dict):
        raise FileContentError(f"{path} should hold {what}, a JSON object; found a JSON {type(raw).__name__}. {fix}")
    return raw
