"""Exercise layer_norm_backward (lesson 3: the backward pass by hand). About 25 minutes.

Layer norm normalises each token's C features (the last axis), then rescales them:

    mean = (1/C) Σ_j x_j                    var  = (1/C) Σ_j (x_j − mean)²      (biased, as PyTorch)
    rstd = 1 / sqrt(var + eps)              xhat = (x − mean) · rstd
    out  = xhat ⊙ g + b

Write the backward for x: dx = ∂loss/∂x given dout = ∂loss/∂out (the gradients for g and b
are another function, not this exercise). Go back through the affine part first, then through
the normalisation. Each x_i reaches the outputs of its token along three paths: directly, through
the mean (every x_j moves the mean) and through the variance (every x_j moves var): derive one
term per path on the graph, then simplify with xhat and rstd (the cache has no x, mean or var).

Inputs
    dout   (..., C) float    ∂loss/∂out; in the model (B, T, C)
    cache  (xhat, rstd, g)   what tinyia3.ops.layer_norm_forward saved:
                               xhat (..., C), rstd (..., 1), g (C,)
Returns
    dx     (..., C) float    ∂loss/∂x, same shape as dout, a new array

Notes
  * Everything is per token: reductions over the last axis, keepdims=True, so that any number
    of leading axes works (the checker tries a 3-D and a 2-D input).
  * Lesson 3's exercise 2 shows an input where a backward returning zeros would pass: the
    checker uses random g and a random dout.

Check your answer:     tinyia3 check layer_norm_backward
Stuck?                 tinyia3 check layer_norm_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check layer_norm_backward --solution
"""

import numpy as np


def layer_norm_backward(dout, cache):
    """dout (..., C) -> dx (..., C). See the module docstring."""
    xhat, rstd, g = cache
    raise NotImplementedError(
        "Exercise layer_norm_backward (lesson 3): implement dx through layer norm (one term per path) — "
        "see the docstring; check with `tinyia3 check layer_norm_backward`"
    )
