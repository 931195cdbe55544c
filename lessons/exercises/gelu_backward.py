"""Exercise gelu_backward (lesson 3: the backward pass by hand). About 10 minutes.

GPT-2's feed-forward layer uses the tanh approximation of GELU ("gelu_new"), entry by entry:

    out = gelu(x) = 0.5 · x · (1 + t),      t = tanh(u),      u = sqrt(2/π) · (x + 0.044715 · x³)

Write its backward: dx = ∂loss/∂x, given dout = ∂loss/∂out. GELU acts on each entry alone, so
its Jacobian is diagonal and the vector-Jacobian product is an entrywise product of dout with
the derivative d gelu/dx, which you derive: lesson 3 draws the graph x → u → t → out; take one
edge at a time (the product rule at the last node).

Inputs
    dout   (..., F) float    ∂loss/∂out, the gradient arriving from above (any shape)
    cache  (x, t)            what tinyia3.ops.gelu_forward saved:
                               x (..., F) the input, t (..., F) = tanh(u), already computed
Returns
    dx     (..., F) float    ∂loss/∂x: same shape and dtype as x, a new array

Notes
  * Write the derivative of tanh with t, which the cache holds: no second tanh.
  * Write constants as Python floats (math.sqrt(2.0 / math.pi)): a NumPy float64 scalar such
    as np.sqrt(2 / np.pi) would turn a float32 computation into float64.
  * Do not change dout in place (no `dout *= ...`): build a new array.

Check your answer:     tinyia3 check gelu_backward
Stuck?                 tinyia3 check gelu_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check gelu_backward --solution
"""

import math

import numpy as np


def gelu_backward(dout, cache):
    """dout (..., F) -> dx (..., F). See the module docstring."""
    x, t = cache
    raise NotImplementedError(
        "Exercise gelu_backward (lesson 3): implement dx = dout ⊙ d gelu/dx — see the docstring; "
        "check with `tinyia3 check gelu_backward`"
    )
