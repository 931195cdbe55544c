"""Exercise logit_lens (lesson 6: inhibit and amplify). About 15 minutes.

FFN unit i of the LAST block adds (its activation) × W2[i] to the residual stream, W2[i] being
row i of that block's mlp.c_proj.weight. Only the final layer norm ln_f and the LM head (tied to
wte) stand between the residual stream and the logits. Compute the unit's logit lens: how much
each vocabulary token's logit changes per unit of the unit's activation, to first order, leaving
out the positive factor 1/σ (σ: the residual vector's standard deviation, one number per position).
Lesson 6.5 derives it; follow the vector W2[i] through ln_f's steps and the LM head.

Inputs
    w      (C,) float     W2[i], row i of the last block's mlp.c_proj.weight
    g      (C,) float     ln_f.weight, the final layer norm's gain
    wte    (V, C) float   the token embedding, also the LM head
Returns
    lens   (V,) float     one number per vocabulary token: > 0 the unit pushes it up, < 0 down

Check your answer:     tinyia3 check logit_lens
Stuck?                 tinyia3 check logit_lens --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check logit_lens --solution
"""

import numpy as np


def logit_lens(w, g, wte):
    """w (C,), g (C,), wte (V, C) -> (V,). See the module docstring."""
    raise NotImplementedError(
        "Exercise logit_lens (lesson 6): implement the logit lens of one FFN unit — "
        "see the docstring; check with `tinyia3 check logit_lens`"
    )
