"""Lesson 5's exercise: one Adam step on an IA³ vector, as tinyia3.optim.AdamW takes it."""

from __future__ import annotations

import numpy as np

from ..optim import AdamW
from .spec import Case, Exercise, Mistake


def adam_step(l, grad, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):
    """Step t (1, 2, …) of Adam without weight decay -> new (l, m, v); the inputs stay unchanged."""
    opt = AdamW({"l": l.copy()}, lr=lr, betas=(beta1, beta2), eps=eps)
    opt.m["l"][...], opt.v["l"][...], opt.t = m, v, t - 1  # the state after step t − 1
    opt.step({"l": grad})
    return opt.params["l"], opt.m["l"], opt.v["l"]


def _adam_cases(rng):
    N = 12
    l = 1.0 + 0.1 * rng.standard_normal(N)
    grad = rng.standard_normal(N)
    m, v = 0.1 * rng.standard_normal(N), 0.1 * rng.random(N) ** 2
    return [Case(f"l ({N},) = 1 + 0.1·N(0, 1), a random gradient, m and v after 4 steps, step t = 5, "
                 "lr 1e-2, float64", (l, grad, m, v, 5)),
            Case("the first step, t = 1, from m = v = 0, lr 3e-3, float64",
                 (l, grad, np.zeros(N), np.zeros(N), 1), {"lr": 3e-3})]


def _adam(l, grad, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, correct=True, sqrt=True, sign=-1.0,
          use_m=True, t_in_correction=None):
    """Adam with one step changed: each change is a common mistake."""
    m2 = beta1 * m + (1.0 - beta1) * grad
    v2 = beta2 * v + (1.0 - beta2) * grad * grad
    tc = t if t_in_correction is None else t_in_correction
    m_hat = m2 / (1.0 - beta1 ** tc) if correct else m2
    v_hat = v2 / (1.0 - beta2 ** tc) if correct else v2
    step = (m_hat if use_m else grad) / ((np.sqrt(v_hat) if sqrt else v_hat) + eps)
    return l + sign * lr * step, m2, v2


MISTAKES = (
    Mistake("no bias correction", "m and v start at 0, so early on they are too small: divide them by "
            "(1 − β1ᵗ) and (1 − β2ᵗ) before the update", lambda *a, **k: _adam(*a, **k, correct=False)),
    Mistake("no square root", "the update divides by v̂ itself: v̂ is a mean of g², so it is its square root "
            "that has the gradient's units", lambda *a, **k: _adam(*a, **k, sqrt=False)),
    Mistake("climbs the gradient", "you added the step: descent subtracts it", lambda *a, **k: _adam(*a, **k, sign=1.0)),
    Mistake("gradient for m̂", "the update uses this step's gradient instead of the bias-corrected first moment m̂",
            lambda *a, **k: _adam(*a, **k, use_m=False)),
    Mistake("correction with t − 1", "the bias correction uses t − 1: the state you return is after step t, "
            "so it is 1 − β^t", lambda l, grad, m, v, t, **k: _adam(l, grad, m, v, t, **k, t_in_correction=t - 1)),
)

EXERCISES = (
    Exercise(
        "adam_step", 5, 15, "one Adam step on an IA³ vector: the two moments, the bias correction, the update",
        "lesson 5 (training an adapter)", adam_step, ("l", "m", "v"), _adam_cases, MISTAKES,
        ("Adam keeps two running means per number: one of the gradient, one of its square. Update both first, "
         "with β1 and β2.",
         "Both start at 0, so after few steps they are biased toward 0: lesson 5 (and Kingma & Ba, §3) divide "
         "each by one minus its β to the power t.",
         "The step is lr times the corrected first moment divided by (the square root of the corrected second "
         "moment + eps); descent subtracts it.",
         "Return new arrays (l, m, v): the caller keeps the old ones. No weight decay: for IA³ the 'no change' "
         "value is 1, not 0."),
        gradient=False,
    ),
)
