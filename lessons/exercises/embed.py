"""Exercise embed (lesson 1: tokens and embeddings). About 10 minutes.

GPT-2's first residual stream holds, for every token of every sequence, what the model knows
about the token and about where it stands: one learned row of the token embedding wte (one row
per vocabulary id) and one learned row of the position embedding wpe (one row per position).
Build that (B, T, C) array from the token ids.

Inputs
    ids    (B, T) int      token ids, 0 <= id < V; every sequence starts at its position 0
    wte    (V, C) float    the token embedding ("wte.weight")
    wpe    (P, C) float    the position embedding ("wpe.weight"), T <= P
Returns
    x      (B, T, C) float the first residual stream, a new array

Notes
  * Lesson 1 shows the tables and what their rows look like.
  * A token may appear several times: each occurrence gets the same token row but its own position.

Check your answer:     tinyia3 check embed
Stuck?                 tinyia3 check embed --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check embed --solution
"""

import numpy as np


def embed(ids, wte, wpe):
    """ids (B, T) -> x (B, T, C). See the module docstring."""
    raise NotImplementedError(
        "Exercise embed (lesson 1): implement the first residual stream from ids, wte and wpe — "
        "see the docstring; check with `tinyia3 check embed`"
    )
