"""LoRA (Hu et al. 2021): a trained low-rank update beside each frozen target weight.

    y = x W + b + (alpha / r) · (x A) B        A (in, r), B (r, out), r << in, out

on GPT-2's Conv1D layers (weights stored (in, out)); targets any of attn.c_attn, attn.c_proj,
mlp.c_fc, mlp.c_proj. PEFT's initialisation: A Kaiming-uniform with a = √5, which for a
(r, in) weight is U(−1/√in, 1/√in); B = 0, so the model starts unchanged. Only A and B train:
no gradient of W is ever formed (model.py's backward, ops.lora_backward).

    lora = LoRA.init(model, r=8, alpha=16, targets=("attn.c_attn",))
    loss, grads = tinyia3.loss_and_grad(model, lora, ids)     # grads: a LoRA of dA, dB
    merged = tinyia3.merge(model, lora)                        # W + (alpha / r) A B
    lora.save("lora.safetensors"); lora.save_peft("peft-lora/")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import GPT2Config
from .errors import ArgumentError, FileContentError, float_dtype, is_int, is_number
from .model import LINEARS as TARGETS  # the four linear layers a LoRA pair can sit on

FORMAT = "tinyia3-lora"
FORMAT_VERSION = "1"


def target_shape(config: GPT2Config, target: str) -> tuple[int, int]:
    """(in, out) of a target's Conv1D weight, as the checkpoint stores it."""
    from .checkpoint import expected_shapes

    if target not in TARGETS:
        raise ArgumentError(f"Unknown LoRA target {target!r}: expected some of {', '.join(TARGETS)}.")
    return expected_shapes(config)[f"h.0.{target}.weight"]


@dataclass
class LoRA:
    a: dict  # target -> (n_layer, in, r)
    b: dict  # target -> (n_layer, r, out)
    alpha: float
    base_model: str | None = None

    def __post_init__(self):
        _check_rank(self.r, self.alpha)
        self.alpha = float(self.alpha)  # a Python float: scaling stays one, and the file stores it plainly

    @classmethod
    def init(cls, model, r=8, alpha=16, targets=("attn.c_attn",), seed=0, dtype=None) -> "LoRA":
        """PEFT's initialisation: A ~ U(−1/√in, 1/√in) (Kaiming-uniform, a = √5), B = 0."""
        from .ia3 import _config_and_dtype

        config, dtype = _config_and_dtype(model, dtype, "LoRA.init")
        targets, rng = _check_targets(targets), np.random.default_rng(seed)
        _check_rank(r, alpha)
        a, b = {}, {}
        for t in targets:
            n_in, n_out = target_shape(config, t)
            bound = 1.0 / math.sqrt(n_in)
            a[t] = rng.uniform(-bound, bound, (config.n_layer, n_in, r)).astype(dtype)
            b[t] = np.zeros((config.n_layer, r, n_out), dtype)
        return cls(a, b, float(alpha), base_model=getattr(model, "name", None))

    @classmethod
    def random(cls, model, r=4, alpha=8, targets=("attn.c_attn",), std=0.1, seed=0, dtype=None) -> "LoRA":
        """A and B both N(0, std²): a LoRA away from its zero start, for gradient checks."""
        lora = cls.init(model, r, alpha, targets, seed, dtype)
        rng = np.random.default_rng([seed, 1])
        for t in lora.targets:
            lora.a[t][...] = std * rng.standard_normal(lora.a[t].shape)
            lora.b[t][...] = std * rng.standard_normal(lora.b[t].shape)
        return lora

    # -- shape and type ---------------------------------------------------------------------------

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.a)

    @property
    def r(self) -> int:
        return next(iter(self.a.values())).shape[-1]

    @property
    def scaling(self) -> float:
        return self.alpha / self.r  # a Python float: keeps a float32 forward in float32

    @property
    def n_layer(self) -> int:
        return next(iter(self.a.values())).shape[0]

    @property
    def dtype(self):
        return next(iter(self.a.values())).dtype

    @property
    def num_parameters(self) -> int:
        return sum(v.size for v in self.named().values())

    def named(self) -> dict[str, np.ndarray]:
        """{"attn.c_attn.lora_A": (L, in, r), "attn.c_attn.lora_B": (L, r, out), …}: views the
        optimiser updates in place."""
        out = {}
        for t in self.targets:
            out[f"{t}.lora_A"], out[f"{t}.lora_B"] = self.a[t], self.b[t]
        return out

    def astype(self, dtype) -> "LoRA":
        dtype = float_dtype(dtype, "LoRA.astype: dtype")
        return LoRA({t: v.astype(dtype) for t, v in self.a.items()}, {t: v.astype(dtype) for t, v in self.b.items()},
                    self.alpha, self.base_model)

    def copy(self) -> "LoRA":
        return self.astype(self.dtype)

    def check_fits(self, config: GPT2Config) -> None:
        for t in self.targets:
            n_in, n_out = target_shape(config, t)
            want_a, want_b = (config.n_layer, n_in, self.r), (config.n_layer, self.r, n_out)
            if self.a[t].shape != want_a or self.b[t].shape != want_b:
                raise ArgumentError(
                    f"LoRA on {t} has A {list(self.a[t].shape)} and B {list(self.b[t].shape)}, but this model "
                    f"(n_layer={config.n_layer}, n_embd={config.n_embd}, n_inner={config.n_inner}) needs "
                    f"{list(want_a)} and {list(want_b)}. Make one for this model with LoRA.init(model).")

    # -- the adapter seam (see tinyia3/model.py) -------------------------------------------------

    def sites(self, model):
        from .model import Sites

        s = self.scaling
        return Sites([{f"{t}.lora": (self.a[t][i], self.b[t][i], s) for t in self.targets}
                      for i in range(self.n_layer)], {})

    def gradients(self, blocks: list[dict], top: dict) -> "LoRA":
        return LoRA({t: np.stack([g[f"{t}.lora"][0] for g in blocks]) for t in self.targets},
                    {t: np.stack([g[f"{t}.lora"][1] for g in blocks]) for t in self.targets},
                    self.alpha, self.base_model)

    def summary(self) -> list[dict]:
        """Per target and layer: the size of the update ΔW = scaling · A B and how much of it lies
        in its largest direction (a LoRA update has at most r directions)."""
        rows = []
        for t in self.targets:
            for i in range(self.n_layer):
                s = np.linalg.svd(self.scaling * (self.a[t][i] @ self.b[t][i]), compute_uv=False)[: self.r]
                energy = float((s ** 2).sum())
                rows.append({"target": t, "layer": i, "r": self.r, "norm": float(np.sqrt(energy)),
                             "top": float(s[0]), "top_share": float(s[0] ** 2 / energy) if energy else 0.0})
        return rows

    def merge_into(self, model):
        """W + (alpha / r) · A B for every target: the same function with no LoRA at inference."""
        from .model import GPT2, require_model

        require_model(model, "LoRA.merge_into")
        self.check_fits(model.config)
        lora, params = self.astype(model.dtype), dict(model.params)
        for t in self.targets:
            for i in range(self.n_layer):
                name = f"h.{i}.{t}.weight"
                params[name] = model.params[name] + self.scaling * (lora.a[t][i] @ lora.b[t][i])
        return GPT2(model.config, params, source=f"{model.source} + merged LoRA r={self.r}", name=model.name)

    # -- files ------------------------------------------------------------------------------------

    def save(self, path, base_sha256: str | None = None) -> Path:
        """tinyia3's file: A and B by target, metadata with r, alpha, targets and the base model
        (and base_sha256, the digest of its weights, when given)."""
        from .adapter_files import check_save, write_file

        check_save("LoRA.save", path, base_sha256)
        c = self.shape
        metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "base_model": self.base_model or "",
                    "r": self.r, "alpha": repr(float(self.alpha)), "targets": ",".join(self.targets), **c}
        return write_file(path, self.named(), metadata, base_sha256)

    @property
    def shape(self) -> dict[str, int]:
        """The model shape the pairs fit (n_embd and n_inner as far as the targets show them)."""
        out = {"n_layer": self.n_layer}
        for t in self.targets:
            n_in, n_out = self.a[t].shape[1], self.b[t].shape[2]
            out.update({"attn.c_attn": {"n_embd": n_in}, "attn.c_proj": {"n_embd": n_in},
                        "mlp.c_fc": {"n_embd": n_in, "n_inner": n_out}, "mlp.c_proj": {"n_inner": n_in, "n_embd": n_out}}[t])
        return out

    @staticmethod
    def load(path, model=None) -> "LoRA":
        """tinyia3's LoRA file or a PEFT LoRA folder; with `model`, checked against it and cast."""
        from .adapter_files import check_load

        check_load("LoRA.load", path, model)
        path = Path(path)
        lora = _load_peft(path) if path.is_dir() else _load_file(path)
        if model is not None:
            from .adapter_files import check_base

            check_base(path, model)
            try:
                lora.check_fits(model.config)
            except ValueError as err:
                raise FileContentError(f"Adapter {path} was made for {lora.base_model!r}, not this model "
                                 f"({getattr(model, 'name', None)!r}): {err} Load the base model it was trained on.") from None
            lora = lora.astype(model.dtype)
        return lora

    def save_peft(self, folder, base_model_name_or_path: str | None = None) -> Path:
        """PEFT's LoRA folder: lora_A.weight (r, in) and lora_B.weight (out, r) per layer and
        target (PEFT's nn.Linear layout, so A and B are stored transposed), fan_in_fan_out."""
        from .adapter_files import PEFT_PREFIX, check_save_peft, write_peft

        check_save_peft("LoRA.save_peft", folder, base_model_name_or_path)
        tensors = {}
        for t in self.targets:
            for i in range(self.n_layer):
                tensors[f"{PEFT_PREFIX}{i}.{t}.lora_A.weight"] = self.a[t][i].T
                tensors[f"{PEFT_PREFIX}{i}.{t}.lora_B.weight"] = self.b[t][i].T
        config = {"peft_type": "LORA", "r": self.r, "lora_alpha": self.alpha, "target_modules": list(self.targets),
                  "fan_in_fan_out": True, "lora_dropout": 0.0, "bias": "none", "use_rslora": False,
                  "init_lora_weights": True, "layers_to_transform": None, "layers_pattern": None,
                  "rank_pattern": {}, "alpha_pattern": {}, "use_dora": False,
                  "base_model_name_or_path": base_model_name_or_path or self.base_model or "gpt2"}
        return write_peft(folder, tensors, config)

    def __repr__(self) -> str:
        return (f"LoRA(r={self.r}, alpha={self.alpha:g}, targets={list(self.targets)}, dtype={self.dtype}, "
                f"{self.num_parameters:,} parameters)")


def _check_targets(targets) -> tuple[str, ...]:
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    bad = [t for t in targets if t not in TARGETS]
    if not targets or bad or len(set(targets)) != len(targets):
        short = {"c_attn": "attn.c_attn", "c_fc": "mlp.c_fc", "c_proj": "attn.c_proj or mlp.c_proj"}
        hint = f" ({bad[0]!r} is PEFT's short name: write {short[bad[0]]})" if bad and bad[0] in short else ""
        raise ArgumentError(f"LoRA targets must be distinct names from {', '.join(TARGETS)}; found {list(targets)}{hint}.")
    return targets


def _check_rank(r, alpha):
    if not is_int(r) or r < 1:
        raise ArgumentError(f"LoRA rank r must be a positive integer, found {r!r}.")
    if not is_number(alpha) or alpha <= 0:
        raise ArgumentError(f"LoRA alpha must be a positive number, found {alpha!r}.")


def _load_file(path: Path) -> LoRA:
    from .adapter_files import check_names, read_file

    tensors, meta = read_file(path, FORMAT)
    if not meta.get("targets"):
        raise FileContentError(f"Adapter {path} is damaged: its metadata names no targets.")
    targets = _check_targets(meta["targets"].split(","))
    try:
        a = {t: np.array(tensors[f"{t}.lora_A"]) for t in targets}
        b = {t: np.array(tensors[f"{t}.lora_B"]) for t in targets}
    except KeyError as missing:
        raise FileContentError(f"Adapter {path} is damaged: it lacks {missing.args[0]}.") from None
    check_names(tensors, [f"{t}.lora_{m}" for t in targets for m in "AB"], path)
    wrong = [f"{t}.lora_{m}" for t in targets for m, x in (("A", a[t]), ("B", b[t])) if x.ndim != 3]
    if wrong:
        raise FileContentError(f"Adapter {path}: {wrong[0]} has shape {list(tensors[wrong[0]].shape)}; LoRA matrices "
                               "are stored as (n_layer, rows, columns). Save it again with tinyia3.")
    if "alpha" not in meta:
        raise FileContentError(f"Adapter {path} is damaged: its metadata has no alpha.")
    lora = LoRA(a, b, float(meta["alpha"]), meta.get("base_model") or None)
    if str(lora.r) != meta.get("r"):
        raise FileContentError(f"Adapter {path} is damaged: its rank {lora.r} disagrees with its metadata r={meta.get('r')}.")
    return lora


def _load_peft(folder: Path) -> LoRA:
    """PEFT's LoRA folder (GPT-2, fan_in_fan_out) in the file's dtype."""
    from .adapter_files import peft_key_parts, read_peft

    tensors, config = read_peft(folder, "LORA")
    special = [k for k in ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "layers_to_transform",
                           "layers_pattern", "lora_bias") if config.get(k)]
    if special:
        raise FileContentError(f"{folder}: {special[0]} is set; DoRA, rsLoRA, per-layer ranks, a subset of layers and "
                         "LoRA biases are not implemented in tinyia3. Export a plain LoRA on every layer "
                         "(one r and lora_alpha).")
    pairs = {}
    for key, value in tensors.items():
        layer, module, tensor = peft_key_parts(key, folder, "attn.c_attn.lora_A.weight")
        if tensor not in ("lora_A.weight", "lora_B.weight"):
            raise FileContentError(f"{folder}: unexpected tensor {key!r}; expected lora_A.weight and lora_B.weight.")
        pairs[(module, layer, tensor[5])] = value.T  # A (in, r), B (r, out)
    targets = sorted({m for m, _, _ in pairs}, key=TARGETS.index)
    L = 1 + max(layer for _, layer, _ in pairs)
    try:
        a = {t: np.stack([pairs[(t, i, "A")] for i in range(L)]) for t in targets}
        b = {t: np.stack([pairs[(t, i, "B")] for i in range(L)]) for t in targets}
    except KeyError as missing:
        raise FileContentError(f"{folder}: layer {missing.args[0][1]} has no {missing.args[0][2]} for "
                         f"{missing.args[0][0]}; expected lora_A and lora_B in all {L} layers.") from None
    lora = LoRA(a, b, float(config.get("lora_alpha", 8)), config.get("base_model_name_or_path"))
    if config.get("r") not in (None, lora.r):
        raise FileContentError(f"{folder}: adapter_config.json says r={config['r']}, the tensors have rank {lora.r}.")
    return lora
