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

import numpy as np

from .full import WeightSubset

BLOCK_BIASES = ("ln_1.bias", "attn.c_attn.bias", "attn.c_proj.bias", "ln_2.bias", "mlp.c_fc.bias", "mlp.c_proj.bias")


class BitFit(WeightSubset):
    """Every bias of the model (blocks' linears and layer norms, and ln_f), nothing else."""

    @classmethod
    def of(cls, model) -> "BitFit":
        from .model import require_model

        require_model(model, "BitFit.of")
        names = [f"h.{i}.{b}" for i in range(model.config.n_layer) for b in BLOCK_BIASES] + ["ln_f.bias"]
        return cls({n: np.array(model.params[n]) for n in names}, getattr(model, "name", None))
