"""Lesson 10's exercise: a mixed-task batch's IA³ backward, one scale vector per sequence."""

from __future__ import annotations

import numpy as np

from .. import ops
from .spec import Case, Exercise, Mistake, finite_differences


def per_sequence_scale_backward(dout, cache):
    """dout (B, T, N), cache (x (B, T, N), l (B, 1, N)) -> dx (B, T, N), dl (B, 1, N)."""
    return ops.ia3_scale_backward(dout, cache)


def _cases(rng):
    cases = []
    for B, T, N in ((3, 4, 5), (2, 6, 3)):
        x = rng.standard_normal((B, T, N))
        l = 1.0 + 0.5 * rng.standard_normal((B, 1, N))  # one vector per sequence, away from 1
        dout = rng.standard_normal((B, T, N))
        _, cache = ops.ia3_scale_forward(x, l)
        numeric = finite_differences(lambda x, l: ops.ia3_scale_forward(x, l, cache=False)[0],
                                     {"dx": x, "dl": l}, dout)
        cases.append(Case(f"x ({B}, {T}, {N}), l ({B}, 1, {N}) = 1 + 0.5·N(0, 1): one vector per sequence, "
                          "random dout, float64", (dout, cache), {}, numeric))
    return cases


def _mixed(dout, cache, pooled=False, total=False, mean=False, keep=True, dx_l=True):
    """The per-sequence backward with one step changed: each change is a common mistake."""
    x, l = cache
    per = (dout * x).sum(axis=1, keepdims=keep)
    if mean:
        per = per / x.shape[1]
    if pooled:
        per = (dout * x).reshape(-1, x.shape[-1]).sum(axis=0)
    if total:
        per = np.broadcast_to((dout * x).sum(axis=(0, 1)), l.shape).copy()
    return (dout * l if dx_l else dout.copy()), per


MISTAKES = (
    Mistake("pooled over the batch", "dl sums over every sequence into one vector (N,): each sequence has its "
            "own vector, so each gets the sum over its own tokens only, (B, 1, N)",
            lambda dout, cache: _mixed(dout, cache, pooled=True)),
    Mistake("batch total in every row", "every sequence's dl is the sum over the whole batch: a vector gets "
            "gradient only from the tokens it scaled", lambda dout, cache: _mixed(dout, cache, total=True)),
    Mistake("averaged over tokens", "dl averages over the tokens of a sequence instead of summing",
            lambda dout, cache: _mixed(dout, cache, mean=True)),
    Mistake("lost the middle axis", "dl is (B, N): keep l's shape (B, 1, N) (keepdims=True), as the optimiser "
            "updates l in place", lambda dout, cache: _mixed(dout, cache, keep=False)),
    Mistake("dx = dout", "dx = dout: you forgot to multiply by each sequence's l",
            lambda dout, cache: _mixed(dout, cache, dx_l=False)),
)

EXERCISES = (
    Exercise(
        "per_sequence_scale_backward", 10, 15,
        "mixed-task batches: the IA³ backward when every sequence has its own vector",
        "ia3_scale_backward", per_sequence_scale_backward, ("dx", "dl"), _cases, MISTAKES,
        ("Write out[b, t, n] = l[b, 0, n] · x[b, t, n] for one entry: which entries of out does l[b, 0, n] touch?",
         "dx is as in ia3_scale_backward: l (B, 1, N) broadcasts over each sequence's tokens.",
         "dl[b, 0, n] adds up the contributions of the T tokens of sequence b only, never of another sequence.",
         "Keep l's shape (B, 1, N): a sum over axis 1 with keepdims=True."),
    ),
)
