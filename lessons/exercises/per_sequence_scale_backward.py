"""Exercise per_sequence_scale_backward (lesson 10: mixed-task batches). About 15 minutes.

In a mixed-task batch every sequence has its own IA³ adapter: the scale is one vector per
sequence, l (B, 1, N), broadcast over that sequence's tokens only:

    out[b, t, n] = l[b, 0, n] · x[b, t, n]

Write the backward: dx and dl given dout = ∂loss/∂out. Work out, for one l[b, 0, n], which
entries of out it touches.

Inputs
    dout   (B, T, N) float    ∂loss/∂out
    cache  (x, l)             what tinyia3.ops.ia3_scale_forward saved: x (B, T, N), l (B, 1, N)
Returns
    dx     (B, T, N) float
    dl     (B, 1, N) float    the shape of l: one gradient per sequence's vector

Notes
  * Do ia3_scale_backward (lesson 3) first. tinyia3/mixed.py explains why a vector per sequence
    lets one forward serve many tasks.

Check your answer:     tinyia3 check per_sequence_scale_backward
Stuck?                 tinyia3 check per_sequence_scale_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check per_sequence_scale_backward --solution
"""

import numpy as np


def per_sequence_scale_backward(dout, cache):
    """dout (B, T, N) -> dx (B, T, N), dl (B, 1, N). See the module docstring."""
    x, l = cache
    raise NotImplementedError(
        "Exercise per_sequence_scale_backward (lesson 10): implement dx and one dl per sequence — "
        "see the docstring; check with `tinyia3 check per_sequence_scale_backward`"
    )
