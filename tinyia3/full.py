"""Full fine-tuning as a parameter set: every weight of the model is trained.

In the adapter seam (tinyia3/model.py) full fine-tuning is the adapter whose sites are all of
the model's weights. Its gradients are every weight's gradient by checkpoint name, and its
backward keeps every linear layer's input: that is what it costs next to IA³ and LoRA.

    full = FullFineTune.of(model)            # a private copy of the weights (model unchanged)
    full = FullFineTune.of(model, copy=False)  # the model's own arrays: updates change the model
    loss, grads = tinyia3.loss_and_grad(model, full, ids)
    grads.named()["h.0.attn.c_attn.weight"]  # (C, 3C)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import GPT2Config


@dataclass
class FullFineTune:
    params: dict  # {checkpoint name: array}, every weight of the model
    base_model: str | None = None

    @classmethod
    def of(cls, model, copy: bool = True) -> "FullFineTune":
        params = {k: np.array(v) for k, v in model.params.items()} if copy else model.params
        return cls(params, base_model=getattr(model, "name", None))

    def named(self) -> dict[str, np.ndarray]:
        return self.params

    @property
    def dtype(self):
        return self.params["wte.weight"].dtype

    @property
    def num_parameters(self) -> int:
        return sum(v.size for v in self.params.values())

    def astype(self, dtype) -> "FullFineTune":
        return FullFineTune({k: v.astype(dtype) for k, v in self.params.items()}, self.base_model)

    def check_fits(self, config: GPT2Config) -> None:
        from .checkpoint import expected_shapes

        expected = expected_shapes(config)
        wrong = sorted(set(expected) ^ set(self.params)) or [k for k in expected if self.params[k].shape != expected[k]]
        if wrong:
            raise ValueError(f"FullFineTune does not fit this model (n_layer={config.n_layer}, n_embd={config.n_embd}): "
                             f"{wrong[0]} is missing, extra or of another shape. Make it with FullFineTune.of(model).")

    def sites(self, model):
        """Every block weight at its site, and the embeddings and ln_f at the top."""
        from .model import TOP_SITES, Sites

        blocks = [{name[len(f"h.{i}."):]: v for name, v in self.params.items() if name.startswith(f"h.{i}.")}
                  for i in range(model.config.n_layer)]
        return Sites(blocks, {name: self.params[name] for name in TOP_SITES})

    def gradients(self, blocks: list[dict], top: dict) -> "FullFineTune":
        grads = dict(top)
        for i, block in enumerate(blocks):
            grads.update({f"h.{i}.{name}": g for name, g in block.items()})
        return FullFineTune(grads, self.base_model)

    def merge_into(self, model):
        """The model with these weights: a full fine-tune is its own merged model."""
        from .model import GPT2

        self.check_fits(model.config)
        params = {k: v.astype(model.dtype) for k, v in self.params.items()}  # a copy: later steps leave it alone
        return GPT2(model.config, params, source=f"{model.source}, fully fine-tuned", name=model.name)

    def __repr__(self) -> str:
        return f"FullFineTune({len(self.params)} tensors, {self.num_parameters:,} parameters, dtype={self.dtype})"
