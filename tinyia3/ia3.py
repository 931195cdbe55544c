"""The IA³ vectors (Liu et al. 2022, section 3.3): three learned scales per block.

    attention:  softmax(Q (l_k ⊙ K)ᵀ / sqrt(d_head)) (l_v ⊙ V)
    FFN:        (l_ff ⊙ gelu(x W1 + b1)) W2 + b2

`l_k`, `l_v` have one entry per key/value channel (n_embd, shared across heads' slices);
`l_ff` one per FFN hidden unit (n_inner). All start at 1, where the model is unchanged.
A value below 1 inhibits its channel, above 1 amplifies it.

`l_q` is not in the paper. Hugging Face PEFT's IA³ on GPT-2 scales the fused q|k|v output of
`c_attn`, queries included; `l_q` exists so that such an adapter can be imported, and so that
PEFT's placement can be trained and compared (`IA3.ones(model, queries=True)`). It is `None`
otherwise, and then no query scaling is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import GPT2Config
from .errors import ArgumentError, ArgumentTypeError, FileContentError, float_dtype, is_number, require, require_seed

NAMES = ("l_k", "l_v", "l_ff")


@dataclass
class IA3:
    l_k: np.ndarray  # (n_layer, n_embd)
    l_v: np.ndarray  # (n_layer, n_embd)
    l_ff: np.ndarray  # (n_layer, n_inner)
    l_q: np.ndarray | None = None  # (n_layer, n_embd): PEFT's placement only
    base_model: str | None = None  # the model these vectors were made for, saved with them

    @classmethod
    def ones(cls, model_or_config, dtype=None, queries=False) -> "IA3":
        """The paper's initialisation. Pass a model (dtype follows it) or a GPT2Config.
        queries=True adds l_q = 1: PEFT's placement, which scales all of c_attn's q|k|v."""
        if not isinstance(queries, bool):
            raise ArgumentTypeError(f"IA3.ones: queries must be True or False, found {queries!r}.")
        config, dtype = _config_and_dtype(model_or_config, dtype, "IA3.ones")
        L, C, F = config.n_layer, config.n_embd, config.n_inner
        return cls(np.ones((L, C), dtype), np.ones((L, C), dtype), np.ones((L, F), dtype),
                   l_q=np.ones((L, C), dtype) if queries else None, base_model=getattr(model_or_config, "name", None))

    @classmethod
    def random(cls, model_or_config, std=0.1, seed=0, dtype=None) -> "IA3":
        """1 + std·N(0, 1): a non-identity adapter, for gradient checks and demonstrations."""
        if isinstance(std, bool) or not isinstance(std, (int, float, np.floating)) or not np.isfinite(std) or std < 0:
            raise ArgumentError(f"IA3.random: std must be a finite number >= 0 (e.g. 0.1), found {std!r}.")
        require_seed(seed, "IA3.random: seed", optional=True)
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

    # -- the adapter seam (see tinyia3/model.py) -------------------------------------------------

    def sites(self, model) -> "Sites":
        """Block i gets {"l_k": (C,), "l_v": (C,), "l_ff": (F,)[, "l_q"]}: IA³ touches no weight."""
        from .model import Sites

        return Sites([self.layer(i) for i in range(self.n_layer)], {})

    def gradients(self, blocks: list[dict], top: dict) -> "IA3":
        """The per-block gradients stacked into an IA3 of d l_k, d l_v, d l_ff[, d l_q]."""
        return IA3(**{name: np.stack([g[name] for g in blocks]) for name in self.named()}, base_model=self.base_model)

    def map(self, fn) -> "IA3":
        """A new IA3 with fn applied to every vector (l_q stays absent if absent); fn returns an
        array of the shape it is given."""
        require(callable(fn), "IA3.map: fn", "a function of one array", fn, error=ArgumentTypeError)
        out = {}
        for name, vec in self.named().items():
            out[name] = fn(vec)
            require(isinstance(out[name], np.ndarray) and out[name].shape == vec.shape, "IA3.map: fn",
                    f"a function returning an array of the shape it is given ({list(vec.shape)} for {name})",
                    out[name], "Map elementwise (e.g. lambda v: np.clip(v, 0.0, 2.0)).")
        return IA3(**out, base_model=self.base_model)

    def copy(self) -> "IA3":
        return self.map(np.copy)

    def astype(self, dtype) -> "IA3":
        dtype = float_dtype(dtype, "IA3.astype: dtype")
        return self.map(lambda v: v.astype(dtype))

    def zeros_like(self) -> "IA3":
        return self.map(np.zeros_like)

    def check_fits(self, config: GPT2Config) -> None:
        """Raise a clear error if these vectors do not belong to a model of this shape."""
        expected = {"l_k": (config.n_layer, config.n_embd), "l_v": (config.n_layer, config.n_embd),
                    "l_ff": (config.n_layer, config.n_inner), "l_q": (config.n_layer, config.n_embd)}
        for name, vec in self.named().items():
            if not isinstance(vec, np.ndarray):
                raise ArgumentTypeError(f"IA3 vector {name} must be a NumPy array, found {type(vec).__name__}: "
                                "build adapters with IA3.ones(model) or IA3.random(model).")
            if vec.shape != expected[name]:
                raise ArgumentError(
                    f"IA3 vector {name} has shape {list(vec.shape)}, but this model "
                    f"(n_layer={config.n_layer}, n_embd={config.n_embd}, n_inner={config.n_inner}) "
                    f"needs {list(expected[name])}. The adapter was made for a different model; "
                    "create one for this model with IA3.ones(model)."
                )

    @property
    def shape(self) -> dict[str, int]:
        """The model shape these vectors fit."""
        return {"n_layer": self.l_k.shape[0], "n_embd": self.l_k.shape[1], "n_inner": self.l_ff.shape[1]}

    def save(self, path, base_sha256: str | None = None) -> Path:
        """tinyia3's adapter file (safetensors); see save() below. base_sha256: the digest of the
        weights it was trained on (tinyia3.run_folder.model_digest), recorded in the file."""
        from .adapter_files import check_save

        check_save("IA3.save", path, base_sha256)
        return save(self, path, base_sha256)

    def save_peft(self, folder, base_model_name_or_path: str | None = None) -> Path:
        """A Hugging Face PEFT adapter folder; see save_peft() below."""
        from .adapter_files import check_save_peft

        check_save_peft("IA3.save_peft", folder, base_model_name_or_path)
        return save_peft(self, folder, base_model_name_or_path or self.base_model or "gpt2")

    @staticmethod
    def load(path, model=None) -> "IA3":
        """tinyia3's file or a PEFT folder; see load() below."""
        from .adapter_files import check_load

        check_load("IA3.load", path, model)
        return load(path, model)

    def merge_into(self, model):
        """The model with these scales folded into its weights; see merge() below."""
        from .model import require_model

        require_model(model, "IA3.merge_into")
        return merge(model, self)

    def summary(self, tol: float = 0.01) -> list[dict]:
        """Per vector and layer: how many channels are inhibited (< 1 − tol), amplified
        (> 1 + tol) or left alone, and the range of the scales.

        "negative" counts the inhibited channels whose scale went below 0: those are not damped
        but sign-flipped, which a large learning rate can do (the paper's scales stay positive)."""
        require(is_number(tol) and 0 <= tol < 1, "IA3.summary: tol", "a number in [0, 1) (e.g. 0.01)", tol,
                "A scale counts as inhibited below 1 - tol and as amplified above 1 + tol.")
        rows = []
        for name, vec in self.named().items():
            for layer, v in enumerate(vec):
                rows.append({"vector": name, "layer": layer, "channels": v.size,
                             "inhibited": int((v < 1 - tol).sum()), "amplified": int((v > 1 + tol).sum()),
                             "negative": int((v < 0).sum()),
                             "min": float(v.min()), "mean": float(v.mean()), "max": float(v.max())})
        return rows

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={list(v.shape)}" for k, v in self.named().items())
        return f"IA3({shapes}, dtype={self.dtype}, {self.num_parameters:,} parameters)"


def _config_and_dtype(model_or_config, dtype, where: str):
    """The config an adapter is made for, and its dtype: the one given, else the model's (float32 for a config)."""
    if isinstance(model_or_config, GPT2Config):
        config, default = model_or_config, np.float32
    else:
        config = getattr(model_or_config, "config", None)
        if not isinstance(config, GPT2Config):
            raise ArgumentTypeError(
                f"Expected a tinyia3 model or a GPT2Config, found {type(model_or_config).__name__}."
            )
        default = model_or_config.dtype
    return config, float_dtype(default if dtype is None else dtype, f"{where}: dtype")


# -------------------------------------------------------------------------------------------------
# Saving and loading: tinyia3's own file, and Hugging Face PEFT's adapter folder
# (the formats themselves are defined once, in adapter_files.py).

FORMAT = "tinyia3-ia3"
FORMAT_VERSION = "1"


def save(ia3: IA3, path, base_sha256: str | None = None) -> Path:
    """One safetensors file: the vectors by name, and metadata naming the base model and its
    shape so that loading onto another model can be refused. Written atomically."""
    from .adapter_files import write_file

    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "base_model": ia3.base_model or "", **ia3.shape}
    return write_file(path, ia3.named(), metadata, base_sha256)


def load(path, model=None) -> IA3:
    """An IA3 from tinyia3's file or from a PEFT IA³ adapter folder (GPT-2, default targets).

    With `model`, the adapter's shape is checked against it (a clear error if it was made for
    another model) and the vectors take the model's dtype.
    """
    from .adapter_files import check_names, read_file

    path = Path(path)
    if path.is_dir():
        ia3 = _load_peft(path)
    else:
        tensors, metadata = read_file(path, FORMAT)
        missing = [n for n in NAMES if n not in tensors]
        if missing:
            raise FileContentError(f"Adapter {path} is damaged: it lacks {', '.join(missing)}.")
        check_names(tensors, (*NAMES, "l_q"), path)
        flat = [n for n, t in tensors.items() if t.ndim != 2]
        if flat:
            raise FileContentError(f"Adapter {path}: {flat[0]} has shape {list(tensors[flat[0]].shape)}; IA³ vectors are "
                                   "stored as (n_layer, channels), one row per layer. Save it again with tinyia3.")
        ia3 = IA3(**{n: np.array(tensors[n]) for n in ("l_k", "l_v", "l_ff", "l_q") if n in tensors},
                  base_model=metadata.get("base_model") or None)
        if ia3.shape != {k: int(metadata.get(k, -1)) for k in ia3.shape}:
            raise FileContentError(f"Adapter {path} is damaged: its vectors {ia3.shape} disagree with its metadata.")
    if model is not None:
        from .adapter_files import check_base

        check_base(path, model)
        c = model.config
        if ia3.shape != {"n_layer": c.n_layer, "n_embd": c.n_embd, "n_inner": c.n_inner}:
            raise FileContentError(
                f"Adapter {path} was made for {ia3.base_model!r} with {ia3.shape}, but this model "
                f"({getattr(model, 'name', None)!r}) has n_layer={c.n_layer}, n_embd={c.n_embd}, "
                f"n_inner={c.n_inner}. Load the base model it was trained on."
            )
        ia3 = ia3.astype(model.dtype)
    return ia3


def save_peft(ia3: IA3, folder, base_model_name_or_path: str) -> Path:
    """A folder that peft.PeftModel.from_pretrained(GPT2LMHeadModel, folder) loads unchanged.

    PEFT scales the fused q|k|v output of c_attn with one (3C, 1) vector: [l_q | l_k | l_v],
    l_q = 1 when the adapter has none (the paper does not scale queries); and the input of
    mlp.c_proj with a (1, F) vector, the paper's l_ff. Stored in float32, as PEFT does.
    """
    from .adapter_files import PEFT_PREFIX, write_peft

    l_q = ia3.l_q if ia3.l_q is not None else np.ones_like(ia3.l_k)
    tensors = {}
    for i in range(ia3.n_layer):
        qkv = np.concatenate([l_q[i], ia3.l_k[i], ia3.l_v[i]])
        tensors[f"{PEFT_PREFIX}{i}.attn.c_attn.ia3_l"] = qkv[:, None].astype(np.float32)  # (3C, 1)
        tensors[f"{PEFT_PREFIX}{i}.mlp.c_proj.ia3_l"] = ia3.l_ff[i][None, :].astype(np.float32)  # (1, F)
    config = {"peft_type": "IA3", "target_modules": ["c_attn", "mlp.c_proj"], "feedforward_modules": ["mlp.c_proj"],
              "fan_in_fan_out": True, "init_ia3_weights": True, "base_model_name_or_path": base_model_name_or_path}
    return write_peft(folder, tensors, config)


def _load_peft(folder: Path):
    """PEFT's IA³ folder as an IA3, in the file's dtype."""
    from .adapter_files import peft_key_parts, read_peft

    tensors, config = read_peft(folder, "IA3")
    # Keys may carry an adapter name (…ia3_l.default) when saved by older PEFT versions.
    by_module = {}
    for key, value in tensors.items():
        layer, module, tensor = peft_key_parts(key, folder, "attn.c_attn.ia3_l")
        if not tensor.startswith("ia3_l"):
            raise FileContentError(f"{folder}: unexpected tensor {key!r}; expected GPT-2 IA³ keys ending in ia3_l.")
        by_module[(layer, module)] = value
    modules = {m for _, m in by_module}
    if not modules <= {"attn.c_attn", "mlp.c_proj"}:
        raise FileContentError(f"{folder}: IA³ on {sorted(modules)}; tinyia3 maps only PEFT's GPT-2 default targets "
                         "c_attn (q|k|v) and mlp.c_proj (feed-forward).")
    L = 1 + max(layer for layer, _ in by_module)
    qkv = [by_module.get((i, "attn.c_attn")) for i in range(L)]
    ff = [by_module.get((i, "mlp.c_proj")) for i in range(L)]
    if any(v is None for v in qkv) or any(v is None for v in ff):
        raise FileContentError(f"{folder}: some layers lack a c_attn or mlp.c_proj vector; expected both in all {L} layers.")
    qkv = np.stack([v.reshape(-1) for v in qkv])  # (L, 3C)
    C = qkv.shape[1] // 3
    l_ff = np.stack([v.reshape(-1) for v in ff])  # (L, F)
    l_q = qkv[:, :C]
    return IA3(qkv[:, C:2 * C].copy(), qkv[:, 2 * C:].copy(), l_ff,
               None if np.all(l_q == 1.0) else l_q.copy(),  # an untrained q slice is no scaling at all
               base_model=config.get("base_model_name_or_path"))


def merge(model, ia3: IA3):
    """A new model whose weights have the scales folded in, so inference costs nothing extra:
        l ⊙ (x W + b) = x (W diag(l)) + l ⊙ b      keys, values (and PEFT's queries): c_attn columns and bias
        (l ⊙ h) W2    = h (diag(l) W2)             FFN: rows of mlp.c_proj; its bias is untouched
    Any adapter: tinyia3.merge(model, adapter) calls adapter.merge_into(model).
    """
    from .model import GPT2

    ia3.check_fits(model.config)
    C = model.config.n_embd
    params = dict(model.params)
    for i in range(model.config.n_layer):
        l = ia3.astype(model.dtype).layer(i)
        scale = np.concatenate([l.get("l_q", np.ones(C, model.dtype)), l["l_k"], l["l_v"]])  # (3C,)
        params[f"h.{i}.attn.c_attn.weight"] = model.params[f"h.{i}.attn.c_attn.weight"] * scale  # columns
        params[f"h.{i}.attn.c_attn.bias"] = model.params[f"h.{i}.attn.c_attn.bias"] * scale
        params[f"h.{i}.mlp.c_proj.weight"] = model.params[f"h.{i}.mlp.c_proj.weight"] * l["l_ff"][:, None]  # rows
    return GPT2(model.config, params, source=f"{model.source} + merged IA³", name=model.name)
