"""BitFit (Ben Zaken et al. 2022): train the biases only, every other weight frozen.

The third parameter set of the adapter seam (tinyia3/model.py), added in this one file: its
sites are the model's own bias names, so the forward uses its biases in place of the model's
and the backward forms each bias gradient (a sum over tokens, ops.bias_backward) and nothing
else: no weight gradient, no layer input kept.

    bitfit = BitFit.of(model)                        # starts at the model's biases
    loss, grads = tinyia3.loss_and_grad(model, bitfit, ids)
    merged = tinyia3.merge(model, bitfit)            # the biases written back
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_BIASES = ("ln_1.bias", "attn.c_attn.bias", "attn.c_proj.bias", "ln_2.bias", "mlp.c_fc.bias", "mlp.c_proj.bias")


@dataclass
class BitFit:
    biases: dict  # {checkpoint name: array}: every block's biases and ln_f.bias
    base_model: str | None = None

    @classmethod
    def of(cls, model) -> "BitFit":
        names = [f"h.{i}.{b}" for i in range(model.config.n_layer) for b in BLOCK_BIASES] + ["ln_f.bias"]
        return cls({n: np.array(model.params[n]) for n in names}, getattr(model, "name", None))

    def named(self) -> dict[str, np.ndarray]:
        return self.biases

    @property
    def dtype(self):
        return self.biases["ln_f.bias"].dtype

    @property
    def num_parameters(self) -> int:
        return sum(v.size for v in self.biases.values())

    def astype(self, dtype) -> "BitFit":
        return BitFit({k: v.astype(dtype) for k, v in self.biases.items()}, self.base_model)

    def check_fits(self, config) -> None:
        from .checkpoint import expected_shapes

        shapes = expected_shapes(config)
        wrong = [k for k, v in self.biases.items() if shapes.get(k) != v.shape]
        if wrong:
            raise ValueError(f"BitFit bias {wrong[0]} does not fit this model (n_layer={config.n_layer}, "
                             f"n_embd={config.n_embd}): make one for it with BitFit.of(model).")

    def sites(self, model):
        from .model import Sites

        blocks = [{b: self.biases[f"h.{i}.{b}"] for b in BLOCK_BIASES} for i in range(model.config.n_layer)]
        return Sites(blocks, {"ln_f.bias": self.biases["ln_f.bias"]})

    def gradients(self, blocks: list[dict], top: dict) -> "BitFit":
        grads = {f"h.{i}.{b}": g[b] for i, g in enumerate(blocks) for b in BLOCK_BIASES}
        return BitFit({**grads, "ln_f.bias": top["ln_f.bias"]}, self.base_model)

    def merge_into(self, model):
        from .model import GPT2

        self.check_fits(model.config)
        params = {**model.params, **{k: v.astype(model.dtype) for k, v in self.biases.items()}}
        return GPT2(model.config, params, source=f"{model.source} + BitFit biases", name=model.name)

    def __repr__(self) -> str:
        return f"BitFit({len(self.biases)} biases, {self.num_parameters:,} parameters, dtype={self.dtype})"
