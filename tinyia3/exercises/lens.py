"""Lesson 6's exercise: the logit lens of a last-layer FFN unit, wte @ (g ⊙ (W2[i] − mean))."""

from __future__ import annotations

from .spec import Case, Exercise, Mistake


def logit_lens(w, g, wte):
    """w (C,) = row i of mlp.c_proj.weight, g (C,) = ln_f.weight, wte (V, C) -> (V,): the change of each
    token's logit per unit of the unit's activation, up to the positive factor 1/σ."""
    return wte @ (g * (w - w.mean()))


def _lens_cases(rng):
    V, C = 30, 8
    w = 0.3 + rng.standard_normal(C)  # a mean far from 0, so that forgetting to centre shows
    g = 1.0 + 0.5 * rng.standard_normal(C)
    wte = rng.standard_normal((V, C))
    return [Case(f"w ({C},) = 0.3 + N(0, 1), g ({C},) = 1 + 0.5·N(0, 1), wte ({V}, {C}), float64", (w, g, wte))]


MISTAKES = (
    Mistake("not centred", "ln_f subtracts the mean over channels before anything else: the lens uses w minus "
            "its mean", lambda w, g, wte: wte @ (g * w)),
    Mistake("g missing", "ln_f multiplies by its gain g after normalising: the lens carries g",
            lambda w, g, wte: wte @ (w - w.mean())),
    Mistake("logits centred", "you centred the logits (over the vocabulary) instead of w (over the channels)",
            lambda w, g, wte: (lambda z: z - z.mean())(wte @ (g * w))),
    Mistake("w normalised", "you divided w by its own standard deviation: ln_f divides by σ of the whole "
            "residual vector, one positive number per position that only rescales the lens",
            lambda w, g, wte: wte @ (g * (w - w.mean()) / w.std())),
)

EXERCISES = (
    Exercise(
        "logit_lens", 6, 15, "which tokens an FFN unit of the last layer pushes up and down: its logit lens",
        "lesson 6 (inhibit and amplify)", logit_lens, ("lens",), _lens_cases, MISTAKES,
        ("Unit i adds (its activation) × W2[i] to the residual stream. In the last layer only ln_f and the tied "
         "LM head wte stand between that and the logits.",
         "Go through ln_f one step at a time: what does it do to a vector added to its input? (The division by "
         "σ is one positive number per position: leave it out.)",
         "The steps that act on the vector: subtract the mean over channels, multiply by the gain g. Then the "
         "LM head: one dot product with each row of wte.",
         "The result has one number per vocabulary token, shape (V,)."),
        gradient=False,
    ),
)
