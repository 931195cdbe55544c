"""Exercise causal_attention (lesson 2: the forward pass). About 20 minutes.

The core of one attention layer, on split heads: each query t mixes the values of the keys it
may see (itself and the tokens before it, never padding), weighted by how well it matches them.
Lesson 2 gives the scores (and the factor that keeps them from growing with D), the mask and
the softmax: write the forward, y (B, H, T, D).

Inputs
    q, k, v  (B, H, T, D) float       queries, keys, values of every head
    allowed  (B or 1, 1, T, T) bool   True where query t may look at key s (causal, and s is not
                                      padding): tinyia3.ops.attention_mask builds it
Returns
    y        (B, H, T, D) float       the mix of values for every query

Notes
  * A masked key must get weight exactly 0, and each query's weights over the keys must sum to 1.
  * A query that may see no key at all (a left-padding position) attends to nothing: its row of
    y is zeros. Beware −inf − (−inf) = NaN.

Check your answer:     tinyia3 check causal_attention
Stuck?                 tinyia3 check causal_attention --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check causal_attention --solution
"""

import math

import numpy as np


def causal_attention(q, k, v, allowed):
    """q, k, v (B, H, T, D), allowed (B or 1, 1, T, T) -> y (B, H, T, D). See the module docstring."""
    raise NotImplementedError(
        "Exercise causal_attention (lesson 2): implement one causal attention forward — "
        "see the docstring; check with `tinyia3 check causal_attention`"
    )
