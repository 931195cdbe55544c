"""Exercise attention_backward (lesson 3: the backward pass by hand). About 40 minutes.

The core of causal self-attention, per batch row b and head (all heads at once with @):

    scores = q kᵀ / sqrt(D)              (B, H, T, T)    masked where key s > query t, or s is padding
    att    = softmax(scores)             (B, H, T, T)    over the last axis (the keys); masked → exactly 0
    y      = att v                       (B, H, T, D)

Write the backward: given dy = ∂loss/∂y, return dq, dk, dv. Go in reverse order through the
three lines: the product with v, the softmax (derive its vector-Jacobian product for one row:
every score of a row moves every weight of that row), then the scaled product of q and k.
Write the shape of every gradient as you go.

Masked entries have att = 0 exactly: see what that does to their gradient before adding any
masking. A query with no allowed key at all (a left-padding position) has a row of zeros in att.

Inputs
    dy       (B, H, T, D) float    ∂loss/∂y
    cache    (q, k, v, att)        what tinyia3.ops.attention_forward saved:
                                     q, k, v (B, H, T, D), att (B, H, T, T) after softmax and mask
    need_dq  bool                  False when no one needs dq (in IA³ training, block 0 needs only
                                   dk and dv): then skip it and return None for dq
Returns
    dq, dk, dv   each (B, H, T, D) float  (dq is None when need_dq is False)

Notes
  * Do layer_norm_backward first: the softmax's backward has a similar shape.
  * x.swapaxes(-1, -2) transposes the last two axes of a 4-D array; x.T would reverse all four.

Check your answer:     tinyia3 check attention_backward
Stuck?                 tinyia3 check attention_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
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
