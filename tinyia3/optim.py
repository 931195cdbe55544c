"""Adam / AdamW, a warm-up + linear-decay schedule, and global-norm clipping, in NumPy.

Parameters and gradients are dicts of named arrays ({"l_k": ..., ...} from IA3.named(), or a
model's params), updated in place so that the IA3 object or model sees the new values.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ArgumentError


class AdamW:
    """Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter 2019).

    m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,  bias-corrected m̂ = m / (1 − β1ᵗ),
    v̂ = v / (1 − β2ᵗ),  θ ← θ − lr (m̂ / (√v̂ + ε) + wd θ).

    weight_decay=0 gives plain Adam, the right choice for IA³: decay pulls toward 0, and a scale
    of 0 switches a channel off, whereas "no change" is 1.
    """

    def __init__(self, params: dict[str, np.ndarray], lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, betas[0], betas[1], eps, weight_decay
        self.t = 0
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        lr = float(self.lr if lr is None else lr)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            if self.weight_decay:
                p -= (lr * self.weight_decay) * p
            # lr·m̂/(√v̂+ε) with the bias corrections folded into two scalars
            p -= (lr / c1) * m / (np.sqrt(v / c2) + self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to save for --resume: m.NAME, v.NAME and the step count t."""
        state = {f"m.{k}": a for k, a in self.m.items()}
        state.update({f"v.{k}": a for k, a in self.v.items()})
        state["t"] = np.array(self.t, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in self.params:
            for moment in ("m", "v"):
                key = f"{moment}.{name}"
                if key not in state or state[key].shape != self.params[name].shape:
                    raise ArgumentError(
                        f"Optimizer state has no {key} of shape {list(self.params[name].shape)}: "
                        "it was saved for different parameters. Start without --resume."
                    )
                getattr(self, moment)[name][...] = state[key]
        self.t = int(state["t"])


def warmup_linear_lr(step: int, total_steps: int, peak_lr: float, warmup_steps: int) -> float:
    """Linear warm-up from 0 to peak_lr over warmup_steps, then linear decay to 0 at total_steps.

    `step` counts from 0; the first step already gets a non-zero rate.
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    remaining = total_steps - warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / remaining) if remaining > 0 else peak_lr


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """The L2 norm of all gradients together, accumulated in float64."""
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float | None) -> float:
    """Scale all gradients in place so their global norm is at most max_norm; returns the norm
    before clipping (log it: a spike in it is the first sign of a diverging run)."""
    norm = global_norm(grads)
    if max_norm is not None and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads.values():
            g *= scale
    return norm
