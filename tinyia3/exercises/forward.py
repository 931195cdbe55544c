"""Lesson 2's exercise: one causal attention forward, y = softmax(mask(q kᵀ/sqrt(D))) v."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from .spec import Case, Exercise, Mistake


def causal_attention(q, k, v, allowed):
    """q, k, v (B, H, T, D), allowed (B or 1, 1, T, T) bool -> y (B, H, T, D)."""
    return ops.attention_forward(q, k, v, allowed, cache=False)[0]


def _attention_cases(rng):
    cases = []
    for (B, H, T, D), padded in (((2, 2, 5, 4), True), ((1, 3, 6, 2), False)):
        q, k, v = (rng.standard_normal((B, H, T, D)) for _ in range(3))
        mask = np.ones((B, T), dtype=np.int64)
        if padded:
            mask[1, :2] = 0  # row 1 is left-padded: its first query sees no key at all
        allowed = ops.attention_mask(mask, T, T)
        cases.append(Case(f"q, k, v ({B}, {H}, {T}, {D}), causal mask{' with a left-padded row' if padded else ''}, "
                          "float64", (q, k, v, allowed)))
    return cases


def _attention(q, k, v, allowed, scale=True, mask="before", axis=-1):
    """Attention with one step changed: each change is a common mistake."""
    s = q @ k.swapaxes(-1, -2) * (1.0 / math.sqrt(q.shape[-1]) if scale else 1.0)
    if mask == "before":
        s = np.where(allowed, s, -1e30)
    a = np.exp(s - s.max(axis=axis, keepdims=True))
    a = a / a.sum(axis=axis, keepdims=True)
    if mask == "after":
        a = a * allowed
    if mask != "none":  # a query with no key attends to nothing
        a = np.where(allowed.any(axis=-1, keepdims=True), a, 0.0)
    return a @ v


MISTAKES = (
    Mistake("no 1/sqrt(D)", "the scores lack the 1/sqrt(D) scale: q kᵀ grows with D and makes the softmax "
            "too sharp", lambda q, k, v, allowed: _attention(q, k, v, allowed, scale=False)),
    Mistake("no mask", "the mask is not applied: each query also sees later tokens (and padding)",
            lambda q, k, v, allowed: _attention(q, k, v, allowed, mask="none")),
    Mistake("masked after the softmax", "you zeroed the masked weights after the softmax: the remaining weights "
            "no longer sum to 1. Mask the scores before it", lambda q, k, v, allowed: _attention(q, k, v, allowed,
                                                                                                 mask="after")),
    Mistake("softmax over the queries", "the softmax runs over axis -2 (the queries): each query's weights over "
            "the keys (the last axis) must sum to 1", lambda q, k, v, allowed: _attention(q, k, v, allowed, axis=-2)),
)

EXERCISES = (
    Exercise(
        "causal_attention", 2, 20, "one causal attention forward: scaled scores, the mask, the softmax, the mix of values",
        "lesson 2 (the forward pass)", causal_attention, ("y",), _attention_cases, MISTAKES,
        ("Four steps: scores from q and k, the mask, a softmax, then a weighted sum of the values.",
         "q @ k.swapaxes(-1, -2) gives (B, H, T, T): row t holds query t's score against every key. Lesson 2 "
         "says by what the scores are divided, and why.",
         "Masked scores must get weight exactly 0 AND the others must still sum to 1: change the scores, before "
         "the softmax. A very negative finite number avoids −inf − (−inf) = NaN.",
         "The softmax of a row: subtract its max, exp, divide by the sum (axis=-1, keepdims=True). A query "
         "whose row is all masked (left padding) gets a row of zeros."),
        gradient=False,
    ),
)
