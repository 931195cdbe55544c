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
from .errors import ArgumentError, ArgumentTypeError, float_dtype, require


@dataclass
class WeightSubset:
    """Some of the model's own weights, trained in place of the frozen ones: the base of full
    fine-tuning (all of them) and BitFit (the biases). Names are the checkpoint's."""

    params: dict  # {checkpoint name: array}
    base_model: str | None = None

    def named(self) -> dict[str, np.ndarray]:
        return self.params

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

    @property
    def num_parameters(self) -> int:
        return sum(v.size for v in self.params.values())

    def astype(self, dtype):
        dtype = float_dtype(dtype, f"{type(self).__name__}.astype: dtype")
        return type(self)({k: v.astype(dtype) for k, v in self.params.items()}, self.base_model)

    def check_fits(self, config: GPT2Config) -> None:
        from .checkpoint import expected_shapes

        expected = expected_shapes(config)
        wrong = [k for k, v in self.params.items() if expected.get(k) != getattr(v, "shape", None)]
        if wrong:
            raise ArgumentError(f"{type(self).__name__}: {wrong[0]} is not a weight of this model's shape "
                             f"(n_layer={config.n_layer}, n_embd={config.n_embd}). Make it with "
                             f"{type(self).__name__}.of(model).")

    def sites(self, model):
        """Each block weight at its site, the embeddings and ln_f at the top."""
        from .model import TOP_SITES, Sites

        blocks = [{name[len(f"h.{i}."):]: v for name, v in self.params.items() if name.startswith(f"h.{i}.")}
                  for i in range(model.config.n_layer)]
        return Sites(blocks, {name: self.params[name] for name in TOP_SITES if name in self.params})

    def gradients(self, blocks: list[dict], top: dict):
        grads = dict(top)
        for i, block in enumerate(blocks):
            grads.update({f"h.{i}.{name}": g for name, g in block.items()})
        return type(self)(grads, self.base_model)

    def merge_into(self, model):
        """The model with these weights in place of its own (a checked copy in the model's dtype)."""
        from .model import GPT2, require_model

        require_model(model, f"{type(self).__name__}.merge_into")
        self.check_fits(model.config)
        params = {**model.params, **{k: v.astype(model.dtype) for k, v in self.params.items()}}
        return GPT2(model.config, params, source=f"{model.source} + {type(self).__name__}", name=model.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.params)} tensors, {self.num_parameters:,} parameters, dtype={self.dtype})"


class FullFineTune(WeightSubset):
    """Every weight of the model."""

    @classmethod
    def of(cls, model, copy: bool = True) -> "FullFineTune":
        from .model import require_model

        require_model(model, "FullFineTune.of")
        require(isinstance(copy, bool), "FullFineTune.of: copy", "True (a private copy) or False (the model's own "
                "arrays)", copy, error=ArgumentTypeError)
        params = {k: np.array(v) for k, v in model.params.items()} if copy else model.params
        return cls(params, base_model=getattr(model, "name", None))
