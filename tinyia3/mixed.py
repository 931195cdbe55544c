"""Mixed-task batches: one IA³ adapter per sequence of a batch (Liu et al. 2022, section 3.3).

An IA³ vector scales channels, the same for every token. A batch whose sequences belong to
different tasks needs a vector per sequence: l of shape (B, 1, N) instead of (N,), broadcast
over each sequence's own tokens. Nothing else changes: the forward is the same code, and in the
backward each sequence's vector gets the sum over that sequence's tokens only
(ops.ia3_scale_backward). So one forward serves many tasks, and with a LoRA it could not:
each sequence would need its own matrix product.

    logits = model.logits(ids, [a, b, a])                      # sequence 0 and 2: task a, 1: task b
    loss, (da, db) = tinyia3.loss_and_grad(model, [a, b, a], ids)

Any list or tuple in the adapter's place is read as one adapter per sequence (model.py's
per_sequence). None is the bare model for that sequence. The gradients come back as a list,
one per distinct adapter in the order of first appearance: [a, b, a] gives [d a, d b]; each is
the gradient of the batch's loss (the mean over all of its scored tokens), so a task with more
tokens in the batch pulls harder, as in one task's batch.
"""

from __future__ import annotations

import numpy as np

from .errors import ArgumentError, ArgumentTypeError
from .ia3 import IA3


class PerSequence:
    """One IA3 (or None) per sequence, as one adapter of the model's seam."""

    def __init__(self, per_sequence):
        per_sequence = list(per_sequence)
        if not per_sequence:
            raise ArgumentError("A mixed-task batch needs one adapter (or None) per sequence; found an empty list.")
        for r, adapter in enumerate(per_sequence):
            if adapter is not None and not isinstance(adapter, IA3):
                raise ArgumentTypeError(
                    f"A mixed-task batch takes one tinyia3.IA3 (or None) per sequence; sequence {r} has a "
                    f"{type(adapter).__name__}. An IA³ vector broadcasts over one sequence's tokens; a LoRA or a "
                    "trained weight would need a matrix product per sequence: run those tasks in separate batches.")
        self.adapters = []  # distinct, in order of first appearance
        for adapter in per_sequence:
            if adapter is not None and not any(adapter is seen for seen in self.adapters):
                self.adapters.append(adapter)
        # rows[b]: which of self.adapters sequence b uses, -1 for the bare model
        self.rows = np.array([-1 if a is None else next(j for j, s in enumerate(self.adapters) if s is a)
                              for a in per_sequence])

    def check_fits(self, config) -> None:
        for adapter in self.adapters:
            adapter.check_fits(config)

    def names(self) -> list[str]:
        """The IA³ sites any of the adapters has (l_q only if one of them scales queries)."""
        names = list(dict.fromkeys(name for adapter in self.adapters for name in adapter.named()))
        return names

    def sites(self, model):
        """Block i gets {name: (B, 1, N)}: row b is sequence b's vector, ones where its adapter
        has none (the bare model, or an adapter without l_q)."""
        from .model import Sites

        names = self.names()
        blocks = []
        for i in range(model.config.n_layer):
            block = {}
            for name in names:
                vectors = [adapter.named().get(name) for adapter in self.adapters]
                size = next(v.shape[1] for v in vectors if v is not None)
                dtype = np.result_type(*[v.dtype for v in vectors if v is not None])
                table = np.stack([np.ones(size, dtype) if v is None else v[i] for v in vectors] + [np.ones(size, dtype)])
                block[name] = table[self.rows][:, None, :]  # row -1 is the ones appended last
            blocks.append(block)
        return Sites(blocks, {}, rows=len(self.rows))

    def gradients(self, blocks: list[dict], top: dict) -> list:
        """Each adapter's gradient: the per-sequence gradients (B, 1, N) summed over its sequences."""
        grads = []
        for j, adapter in enumerate(self.adapters):
            mine = self.rows == j
            own = [{name: g[name][mine, 0].sum(axis=0) for name in adapter.named()} for g in blocks]
            grads.append(adapter.gradients(own, {}))
        return grads

    def __repr__(self) -> str:
        return f"PerSequence({len(self.rows)} sequences, {len(self.adapters)} adapters, rows {self.rows.tolist()})"
