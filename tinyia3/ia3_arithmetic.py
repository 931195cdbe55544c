"""Arithmetic on IA³ adapters: composition (the product of scales) and PEFT's weighted sum.

Two IA³ adapters applied one after the other scale each channel twice: l_b ⊙ (l_a ⊙ k). So the
adapter that does both is the product of their vectors,

    compose(a, b).l = a.l ⊙ b.l       merge(merge(model, a), b) == merge(model, compose(a, b))

PEFT's add_weighted_adapter for IA³ (added in peft#1701) sums the vectors instead; that IA³
scales compose by multiplication was pointed out in the review of the earlier peft#980:

    weighted_sum([a, b], [w_a, w_b]).l = w_a · a.l + w_b · b.l

With weights 1 and 1 an untouched channel (1 and 1) becomes 2, not 1: every channel the tasks
did not train is amplified. Weights summing to 1 (an average) keep untouched channels at 1, but
halve what each task moved. benchmarks/adapter_arithmetic.py measures both on two tasks.
Missing l_q counts as ones (no query scaling), as in PEFT's fused c_attn vector.
"""

from __future__ import annotations

import numpy as np

from .errors import ArgumentError, ArgumentTypeError
from .ia3 import IA3


def _vectors(adapters) -> tuple[list[IA3], list[str]]:
    adapters = list(adapters)
    if not adapters or not all(isinstance(a, IA3) for a in adapters):
        found = [type(a).__name__ for a in adapters]
        raise ArgumentTypeError(f"IA³ arithmetic takes one or more tinyia3.IA3 adapters, found {found or 'none'}.")
    shapes = {tuple(sorted(a.shape.items())) for a in adapters}
    if len(shapes) > 1:
        raise ArgumentError(f"IA³ adapters of different models cannot be combined: shapes {[a.shape for a in adapters]}.")
    names = list(dict.fromkeys(n for a in adapters for n in a.named()))
    return adapters, names


def _get(adapter: IA3, name: str) -> np.ndarray:
    vector = adapter.named().get(name)
    return np.ones_like(adapter.l_k) if vector is None else vector


def compose(*adapters: IA3) -> IA3:
    """The adapter that applies all of them: the product of their scales, channel by channel."""
    adapters, names = _vectors(adapters)
    out = {}
    for name in names:
        product = _get(adapters[0], name).copy()
        for adapter in adapters[1:]:
            product *= _get(adapter, name)
        out[name] = product
    return IA3(**out, base_model=adapters[0].base_model)


def weighted_sum(adapters, weights) -> IA3:
    """PEFT's add_weighted_adapter for IA³: Σ w_i · l_i, vector by vector."""
    adapters, names = _vectors(adapters)
    weights = [float(w) for w in weights]
    if len(weights) != len(adapters) or not all(np.isfinite(weights)):
        raise ArgumentError(f"weighted_sum needs one finite weight per adapter: {len(adapters)} adapters, "
                            f"weights {weights}.")
    out = {name: sum(w * _get(a, name) for a, w in zip(adapters, weights)) for name in names}
    return IA3(**{k: np.asarray(v, adapters[0].dtype) for k, v in out.items()}, base_model=adapters[0].base_model)
