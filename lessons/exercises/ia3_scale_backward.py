"""Exercise ia3_scale_backward (lesson 3: the backward pass by hand). About 10 minutes.

IA³ is a single op, applied three times per block (to keys with l_k, values with l_v, and the
feed-forward hidden activation with l_ff): every channel n of every token is multiplied by one
learned scale l[n], shared by all tokens.

    out[..., n] = l[n] · x[..., n]          (out = l ⊙ x, l broadcast over the leading axes)

Write its backward: both gradients, dx for the input and dl for the scale, given
dout = ∂loss/∂out. Derive each from one entry of out; then ask how many entries of out one l[n]
touches.

Inputs
    dout   (..., N) float    ∂loss/∂out; in the model (B, T, N), but any number of leading axes
    cache  (x, l)            what tinyia3.ops.ia3_scale_forward saved: x (..., N), l (N,)
Returns
    dx     (..., N) float    ∂loss/∂x, same shape as x
    dl     (N,)     float    ∂loss/∂l, one number per channel

Notes
  * Lesson 3 (the backward pass) and lesson 6 (what the scales do: below 1 inhibits a
    channel, above 1 amplifies it).
  * At l = 1, the paper's initialisation, some wrong answers look right. The checker uses l
    away from 1 so that they show.
  * The checker tries a 3-D and a 2-D input: do not assume the number of leading axes.

Check your answer:     tinyia3 check ia3_scale_backward
Stuck?                 tinyia3 check ia3_scale_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check ia3_scale_backward --solution
"""

import numpy as np


def ia3_scale_backward(dout, cache):
    """dout (..., N) -> dx (..., N), dl (N,). See the module docstring."""
    x, l = cache
    raise NotImplementedError(
        "Exercise ia3_scale_backward (lesson 3): implement dx and dl for out = l ⊙ x — see the docstring; "
        "check with `tinyia3 check ia3_scale_backward`"
    )
