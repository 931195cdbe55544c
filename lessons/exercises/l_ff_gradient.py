"""Exercise l_ff_gradient (lesson 3: the backward pass by hand). About 20 minutes.

Inside one block, IA³'s l_ff rescales the feed-forward hidden activation (Liu et al. 2022, §3.3):

    m   = ln_2(x_mid)                          (B, T, C)
    a   = gelu(m W1 + b1)                      (B, T, F)    mlp.c_fc, then GELU
    h   = l_ff ⊙ a                             (B, T, F)    the IA³ scale
    out = x_mid + h W2 + b2                    (B, T, C)    mlp.c_proj, plus the residual

Given dx = ∂loss/∂out at the block's output, compute ∂loss/∂l_ff. Follow the graph back from
out to l_ff, one op at a time (the residual, mlp.c_proj, the scale), writing the shape of
each gradient. Decide which part of the block you do NOT need to go through.

Inputs
    dx     (B, T, C) float        ∂loss/∂(block output), a random upstream gradient in the check
    bc     tinyia3.model.BlockCache, the block's activation record from block_forward; you need:
             bc.mlp_c_proj      = (x, w)   w = W2 = mlp.c_proj.weight (F, C); x is None: IA³
                                          forms no weight gradient, so the input is not kept
             bc.sites["l_ff"]   = (x, l)   x = a, the gelu output BEFORE the scale (B, T, F), l = l_ff (F,)
Returns
    dl_ff  (F,) float             ∂loss/∂l_ff for this block

Notes
  * Do ia3_scale_backward first; then read tinyia3/model.py: BlockCache lists every cached
    activation by name, and block_backward runs the block's lines in reverse.
  * GPT-2 stores weights as (in, out) (its Conv1D), so c_proj is h @ W2 with W2 (F, C).

Check your answer:     tinyia3 check l_ff_gradient
Stuck?                 tinyia3 check l_ff_gradient --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check l_ff_gradient --solution
"""

import numpy as np


def l_ff_gradient(dx, bc):
    """dx (B, T, C) at the block's output, bc the block's BlockCache -> dl_ff (F,)."""
    _, w2 = bc.mlp_c_proj
    a, l_ff = bc.sites["l_ff"]
    raise NotImplementedError(
        "Exercise l_ff_gradient (lesson 3): implement dl_ff from dx and the block's cache — "
        "see the docstring; check with `tinyia3 check l_ff_gradient`"
    )
