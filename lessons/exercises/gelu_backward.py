"""Exercise gelu_backward (lesson 3: the backward pass by hand). About 10 minutes.

GPT-2's feed-forward layer uses the tanh approximation of GELU ("gelu_new"), entry by entry:

    out = gelu(x) = 0.5 · x · (1 + t),      t = tanh(u),      u = sqrt(2/π) · (x + 0.044715 · x³)

Write its backward. GELU acts on each entry alone, so its Jacobian is diagonal and the
vector-Jacobian product is an entrywise product:

    dx = dout ⊙ gelu'(x)
    gelu'(x) = 0.5 · (1 + t) + 0.5 · x · (1 − t²) · du/dx          (product rule; tanh' = 1 − tanh²)
    du/dx    = sqrt(2/π) · (1 + 3 · 0.044715 · x²)

Inputs
    dout   (..., F) float    ∂loss/∂out, the gradient arriving from above (any shape)
    cache  (x, t)            what tinyia3.ops.gelu_forward saved:
                               x (..., F) the input, t (..., F) = tanh(u), already computed
Returns
    dx     (..., F) float    ∂loss/∂x: same shape and dtype as x, a new array

Hints
  * Lesson 3 derives this; tinyia3/ops.py's gelu_forward has the constants.
  * Reuse t from the cache rather than recomputing tanh.
  * Write constants as Python floats (math.sqrt(2.0 / math.pi)): a NumPy float64 scalar such
    as np.sqrt(2 / np.pi) would turn a float32 computation into float64.
  * Do not change dout in place (no `dout *= ...`): build a new array.

Check your answer:     tinyia3 check gelu_backward
See a passing run:     tinyia3 check gelu_backward --solution
"""

import math

import numpy as np


def gelu_backward(dout, cache):
    """dout (..., F) -> dx (..., F). See the module docstring."""
    x, t = cache
    raise NotImplementedError(
        "Exercise gelu_backward (lesson 3): implement dx = dout ⊙ gelu'(x) — see the docstring; "
        "check with `tinyia3 check gelu_backward`"
    )
