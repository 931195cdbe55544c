"""Exercise attention_backward (lesson 3: the backward pass by hand). About 40 minutes.

The core of causal self-attention, per batch row b and head (all heads at once with @):

    scores = q kᵀ / sqrt(D)              (B, H, T, T)    masked where key s > query t, or s is padding
    att    = softmax(scores)             (B, H, T, T)    over the last axis (the keys); masked → exactly 0
    y      = att v                       (B, H, T, D)

Write the backward: given dy = ∂loss/∂y, return dq, dk, dv. In reverse order:

    dv      = attᵀ dy                                     (transpose the last two axes)
    datt    = dy vᵀ
    dscores = att ⊙ (datt − Σ_j att_j · datt_j)            softmax's backward, row by row
              then times 1/sqrt(D)                         the scale of the scores
    dq      = dscores k                                   (only when need_dq is True; else None)
    dk      = dscoresᵀ q

Masked entries have att = 0 exactly, so they get no gradient without any further masking.
A query with no allowed key at all (a left-padding position) has a row of zeros in att.

Inputs
    dy       (B, H, T, D) float    ∂loss/∂y
    cache    (q, k, v, att)        what tinyia3.ops.attention_forward saved:
                                     q, k, v (B, H, T, D), att (B, H, T, T) after softmax and mask
    need_dq  bool                  False when no one needs dq (in IA³ training, block 0 needs only
                                   dk and dv): then skip it and return None for dq
Returns
    dq, dk, dv   each (B, H, T, D) float  (dq is None when need_dq is False)

Hints
  * Lesson 3. Do layer_norm_backward first: the softmax's backward has the same
    "subtract a weighted mean" shape.
  * x.swapaxes(-1, -2) transposes the last two axes of a 4-D array; x.T would reverse all four.
  * For softmax, da_i affects ds_j through every a in the row: ds = a ⊙ (da − (a · da) summed
    over the row, keepdims=True).

Check your answer:     tinyia3 check attention_backward
See a passing run:     tinyia3 check attention_backward --solution
"""

import math

import numpy as np


def attention_backward(dy, cache, need_dq=True):
    """dy (B, H, T, D) -> dq (or None), dk, dv, each (B, H, T, D). See the module docstring."""
    q, k, v, att = cache
    raise NotImplementedError(
        "Exercise attention_backward (lesson 3): implement dq, dk, dv through softmax attention — "
        "see the docstring; check with `tinyia3 check attention_backward`"
    )
