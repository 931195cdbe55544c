"""The IA³ vectors (Liu et al. 2022, section 3.3): three learned scales per block.

    attention:  softmax(Q (l_k ⊙ K)ᵀ / sqrt(d_head)) (l_v ⊙ V)
    FFN:        (l_ff ⊙ gelu(x W1 + b1)) W2 + b2

`l_k`, `l_v` have one entry per key/value channel (n_embd, shared across heads' slices);
`l_ff` one per FFN hidden unit (n_inner). All start at 1, where the model is unchanged.
A value below 1 inhibits its channel, above 1 amplifies it.

`l_q` is not in the paper. Hugging Face PEFT's IA³ on GPT-2 scales the fused q|k|v output of
`c_attn`, queries included; `l_q` exists only so that such an adapter can be imported. It is
`None` unless imported, and then no query scaling is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import GPT2Config

NAMES = ("l_k", "l_v", "l_ff")


@dataclass
class IA3:
    l_k: np.ndarray  # (n_layer, n_embd)
    l_v: np.ndarray  # (n_layer, n_embd)
    l_ff: np.ndarray  # (n_layer, n_inner)
    l_q: np.ndarray | None = None  # (n_layer, n_embd), PEFT import only

    @classmethod
    def ones(cls, model_or_config, dtype=None) -> "IA3":
        """The paper's initialisation. Pass a model (dtype follows it) or a GPT2Config."""
        config, dtype = _config_and_dtype(model_or_config, dtype)
        L, C, F = config.n_layer, config.n_embd, config.n_inner
        return cls(np.ones((L, C), dtype), np.ones((L, C), dtype), np.ones((L, F), dtype))

    @classmethod
    def random(cls, model_or_config, std=0.1, seed=0, dtype=None) -> "IA3":
        """1 + std·N(0, 1): a non-identity adapter, for gradient checks and demonstrations."""
        ia3 = cls.ones(model_or_config, dtype)
        rng = np.random.default_rng(seed)
        for name in NAMES:
            vec = getattr(ia3, name)
            vec += (std * rng.standard_normal(vec.shape)).astype(vec.dtype)
        return ia3

    # -- the vectors as a named collection ----------------------------------------------------

    def named(self) -> dict[str, np.ndarray]:
        """{"l_k": ..., "l_v": ..., "l_ff": ...} plus "l_q" when present."""
        out = {name: getattr(self, name) for name in NAMES}
        if self.l_q is not None:
            out["l_q"] = self.l_q
        return out

    @property
    def n_layer(self) -> int:
        return self.l_k.shape[0]

    @property
    def dtype(self):
        return self.l_k.dtype

    @property
    def num_parameters(self) -> int:
        return sum(v.size for v in self.named().values())

    def layer(self, i: int) -> dict[str, np.ndarray]:
        """The vectors of block i: {"l_k": (C,), "l_v": (C,), "l_ff": (F,), ["l_q": (C,)]}."""
        return {name: vec[i] for name, vec in self.named().items()}

    def map(self, fn) -> "IA3":
        """A new IA3 with fn applied to every vector (l_q stays absent if absent)."""
        return IA3(**{name: fn(vec) for name, vec in self.named().items()})

    def copy(self) -> "IA3":
        return self.map(np.copy)

    def astype(self, dtype) -> "IA3":
        return self.map(lambda v: v.astype(dtype))

    def zeros_like(self) -> "IA3":
        return self.map(np.zeros_like)

    def check_fits(self, config: GPT2Config) -> None:
        """Raise a clear error if these vectors do not belong to a model of this shape."""
        expected = {"l_k": (config.n_layer, config.n_embd), "l_v": (config.n_layer, config.n_embd),
                    "l_ff": (config.n_layer, config.n_inner), "l_q": (config.n_layer, config.n_embd)}
        for name, vec in self.named().items():
            if vec.shape != expected[name]:
                raise ValueError(
                    f"IA3 vector {name} has shape {list(vec.shape)}, but this model "
                    f"(n_layer={config.n_layer}, n_embd={config.n_embd}, n_inner={config.n_inner}) "
                    f"needs {list(expected[name])}. The adapter was made for a different model; "
                    "create one for this model with IA3.ones(model)."
                )

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={list(v.shape)}" for k, v in self.named().items())
        return f"IA3({shapes}, dtype={self.dtype}, {self.num_parameters:,} parameters)"


def _config_and_dtype(model_or_config, dtype):
    if isinstance(model_or_config, GPT2Config):
        return model_or_config, np.dtype(dtype or np.float32)
    config = getattr(model_or_config, "config", None)
    if not isinstance(config, GPT2Config):
        raise TypeError(
            f"Expected a tinyia3 model or a GPT2Config, found {type(model_or_config).__name__}."
        )
    return config, np.dtype(dtype or model_or_config.dtype)
