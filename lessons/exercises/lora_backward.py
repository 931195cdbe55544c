"""Exercise lora_backward (lesson 9: IA³ vs LoRA). About 20 minutes.

LoRA adds a low-rank term to a frozen linear layer x W + b:

    out = scaling · (x A) B          A (in, r), B (r, out), scaling = alpha / r

Write its backward: given dout = ∂loss/∂out, the gradients of the trained pair A and B, and
the term's share of the gradient of its input x (the frozen W's share is another function's).
Name the intermediate product and go back through the two products one at a time.

Inputs
    dout     (..., out) float     ∂loss/∂out; any number of leading axes (tokens)
    cache    (x, xa, a, b, scaling)   what tinyia3.ops.lora_forward saved:
                                    x (..., in), xa = x A (..., r), a (in, r), b (r, out), scaling float
    need_dx  bool                 False when no one needs dx: then return None for it
Returns
    dx (..., in) or None,  da (in, r),  db (r, out)      float

Notes
  * A and B are used by every token: their gradients sum over all of them (one matrix product
    after a reshape to (tokens, features) does it).

Check your answer:     tinyia3 check lora_backward
Stuck?                 tinyia3 check lora_backward --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check lora_backward --solution
"""

import numpy as np


def lora_backward(dout, cache, need_dx=True):
    """dout (..., out) -> dx (..., in) or None, da (in, r), db (r, out). See the module docstring."""
    x, xa, a, b, scaling = cache
    raise NotImplementedError(
        "Exercise lora_backward (lesson 9): implement dx, dA, dB through scaling · (x A) B — "
        "see the docstring; check with `tinyia3 check lora_backward`"
    )
