"""Lesson 1's exercise: from token ids to the first residual stream, x = wte[ids] + wpe[positions]."""

from __future__ import annotations

import numpy as np

from .. import ops
from .spec import Case, Exercise, Mistake


def embed(ids, wte, wpe):
    """ids (B, T) int, wte (V, C), wpe (P, C) -> x (B, T, C): token rows plus position rows 0 … T−1."""
    T = ids.shape[-1]
    return ops.embedding_forward(ids, np.arange(T)[None, :], wte, wpe)


def _embed_cases(rng):
    cases = []
    for (B, T), V, P, C in (((2, 5), 20, 12, 6), ((3, 12), 40, 12, 4)):  # T < P, and T = P
        ids = rng.integers(0, min(V, P), (B, T))  # ids < P: a wpe[ids] slip does not raise
        ids[0, 1] = ids[0, 3] = ids[1, 0]  # a token seen twice gets the same row at different positions
        wte, wpe = rng.standard_normal((V, C)), rng.standard_normal((P, C))
        cases.append(Case(f"ids ({B}, {T}) with repeats, wte ({V}, {C}), wpe ({P}, {C}), float64", (ids, wte, wpe)))
    return cases


def _embed(ids, wte, wpe, positions="arange"):
    """x with the position rows chosen another way: each is a common mistake."""
    T = ids.shape[-1]
    pos = {"arange": np.arange(T), "ids": ids, "from 1": np.arange(1, T + 1), "first": np.zeros(T, int),
           "none": None}[positions]
    return wte[ids] + (0.0 if pos is None else wpe[pos])


MISTAKES = (
    Mistake("no positions", "x has the token rows only: GPT-2 adds a learned row of wpe for each position, "
            "or the model could not tell 'dog bites man' from 'man bites dog'",
            lambda ids, wte, wpe: _embed(ids, wte, wpe, "none")),
    Mistake("wpe indexed by ids", "you looked up wpe with the token ids: wpe is indexed by the position "
            "0 … T−1 of each token, whatever the token", lambda ids, wte, wpe: _embed(ids, wte, wpe, "ids")),
    Mistake("positions from 1", "the positions start at 1: the first token of a sequence is position 0",
            lambda ids, wte, wpe: _embed(ids, wte, wpe, "from 1")),
    Mistake("one position row", "every token got position 0's row: each position t has its own row wpe[t]",
            lambda ids, wte, wpe: _embed(ids, wte, wpe, "first")),
)

EXERCISES = (
    Exercise(
        "embed", 1, 10, "token ids to the first residual stream: a row of wte per token plus a row of wpe per position",
        "lesson 1 (tokens and embeddings)", embed, ("x",), _embed_cases, MISTAKES,
        ("Two lookups and one addition. What indexes wte, and what indexes wpe?",
         "NumPy fancy indexing: table[ids] with ids (B, T) gives (B, T, C) in one step, repeats included.",
         "The positions are the same for every row of the batch: 0, 1, …, T−1. A (T, C) array adds to "
         "(B, T, C) by broadcasting.",
         "GPT-2 counts positions from 0 and has its own row for each; nothing is shared between positions."),
        gradient=False,
    ),
)
