"""Exercise merge (lesson 7: merging an adapter). About 20 minutes.

A trained IA³ adapter costs a few multiplications per token. It can cost nothing: each scale
multiplies the output of a linear layer or the input of one, so it can be folded into that
layer's weights once, before inference (Liu et al. 2022, §3.3). GPT-2 stores weights as
(in, out) (its Conv1D): a linear layer is x @ W + b.

    keys, values:  k = l_k ⊙ (x W_k + b_k),  v = l_v ⊙ (x W_v + b_v)
        attn.c_attn computes q | k | v side by side: W (C, 3C), b (3C,). Columns [0:C] are the
        queries (not scaled in the paper), [C:2C] the keys, [2C:3C] the values.
    feed-forward:  out = (l_ff ⊙ h) W2 + b2,     mlp.c_proj: W2 (F, C), b2 (C,)

Write each as a product with diag(l) and work out which weights (and which of their rows or
columns, and which biases) absorb it. Every other weight is unchanged. The merged model, run
WITHOUT an adapter, must compute exactly what the original computes WITH it.

Inputs
    model  tinyia3.GPT2     model.params: {name: array}, names like "h.0.attn.c_attn.weight";
                            model.config.n_layer, .n_embd (C), .n_inner (F)
    ia3    tinyia3.IA3      ia3.l_k, ia3.l_v (n_layer, C); ia3.l_ff (n_layer, F);
                            ia3.layer(i) gives block i's vectors as a dict
Returns
    a NEW tinyia3.GPT2 with the scaled weights:
        tinyia3.GPT2(model.config, params, source=model.source + " + merged IA³", name=model.name)
    The original model and the adapter must not change.

Notes
  * Lesson 7; lesson 6 shows what the scales do.
  * `params = dict(model.params)` copies the dict but not the arrays: replace entries with new
    arrays (`params[k] = model.params[k] * s`), never `params[k] *= s`.
  * Extension, not checked: adapters imported from PEFT may carry l_q (ia3.l_q, not None) for
    the query columns.

Check your answer:     tinyia3 check merge
Stuck?                 tinyia3 check merge --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check merge --solution
"""

import numpy as np

import tinyia3


def merge(model, ia3):
    """A new tinyia3.GPT2 with the IA³ scales folded into its weights. See the module docstring."""
    raise NotImplementedError(
        "Exercise merge (lesson 7): implement folding the IA³ scales into c_attn and mlp.c_proj — "
        "see the docstring; check with `tinyia3 check merge`"
    )
