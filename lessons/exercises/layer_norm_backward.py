"""Exercise layer_norm_backward (lesson 3: the backward pass by hand). About 25 minutes.

Layer norm normalises each token's C features (the last axis), then rescales them:

    mean = (1/C) Σ_j x_j                    var  = (1/C) Σ_j (x_j − mean)²      (biased, as PyTorch)
    rstd = 1 / sqrt(var + eps)              xhat = (x − mean) · rstd
    out  = xhat ⊙ g + b

Write the backward for x (the gradients for g and b are another function, not this exercise).
First through the affine part, then through the normalisation:

    dxhat = dout ⊙ g
    dx    = rstd · ( dxhat − mean_j(dxhat) − xhat · mean_j(dxhat ⊙ xhat) )

Each of the three terms is one path from x to out: the direct one, the one through the mean
(every x_j moves the mean) and the one through the variance (every x_j moves var). The means
are over the last axis, one per token (keepdims=True keeps them broadcastable).

Inputs
    dout   (..., C) float    ∂loss/∂out; in the model (B, T, C)
    cache  (xhat, rstd, g)   what tinyia3.ops.layer_norm_forward saved:
                               xhat (..., C), rstd (..., 1), g (C,)
Returns
    dx     (..., C) float    ∂loss/∂x, same shape as dout, a new array

Hints
  * Lesson 3 derives the three terms; try deriving the mean term yourself first:
    ∂mean/∂x_i = 1/C for every i.
  * Work on axis=-1 with keepdims=True, so that any number of leading axes works.
  * The cache has no x, no mean and no var: everything is written with xhat and rstd.

Check your answer:     tinyia3 check layer_norm_backward
See a passing run:     tinyia3 check layer_norm_backward --solution
"""

import numpy as np


def layer_norm_backward(dout, cache):
    """dout (..., C) -> dx (..., C). See the module docstring."""
    xhat, rstd, g = cache
    raise NotImplementedError(
        "Exercise layer_norm_backward (lesson 3): implement dx through layer norm (three terms) — "
        "see the docstring; check with `tinyia3 check layer_norm_backward`"
    )
