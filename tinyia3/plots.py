"""Figures shared by the lessons and the CLI. Each function writes one PNG and returns its path.

Scales are shown on a diverging colour map centred at 1, the value that leaves a channel
unchanged: blue below 1 (inhibited), red above (amplified).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window, works on a machine without a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from .ia3 import IA3  # noqa: E402

VECTOR_TITLES = {"l_k": "l_k (keys)", "l_v": "l_v (values)", "l_ff": "l_ff (FFN hidden units)",
                 "l_q": "l_q (queries, PEFT)"}


def save_figure(fig, path) -> Path:
    """Write a figure as PNG (folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def scale_norm(*arrays) -> TwoSlopeNorm:
    """A colour scale centred at 1 and symmetric around it, so equal shades mean equal change."""
    spread = max(float(np.abs(a - 1).max()) for a in arrays) or 1e-3
    return TwoSlopeNorm(vcenter=1.0, vmin=1 - spread, vmax=1 + spread)


def plot_ia3_heatmaps(ia3: IA3, path, title="IA³ scales per layer and channel") -> Path:
    """Layer × channel heatmap of every vector, centred at 1."""
    vectors = ia3.named()
    fig, axes = plt.subplots(len(vectors), 1, figsize=(11, 1.3 + 0.9 * len(vectors) * max(2, ia3.n_layer) / 2),
                             squeeze=False)
    norm = scale_norm(*vectors.values())
    for ax, (name, vec) in zip(axes[:, 0], vectors.items()):
        image = ax.imshow(vec, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest")
        ax.set_title(VECTOR_TITLES[name], fontsize=10)
        ax.set_ylabel("layer")
        ax.set_yticks(range(ia3.n_layer))
    axes[-1, 0].set_xlabel("channel index")
    bar = fig.colorbar(image, ax=axes[:, 0], shrink=0.9)
    bar.set_label("scale  (<1 inhibited, 1 unchanged, >1 amplified)")
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_ia3_counts(ia3: IA3, path, tol=0.01, title=None) -> Path:
    """Per layer: the share of channels each vector inhibits and amplifies."""
    rows = ia3.summary(tol)
    names = list(ia3.named())
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        mine = [r for r in rows if r["vector"] == name]
        layers = np.array([r["layer"] for r in mine])
        inhibited = np.array([100 * r["inhibited"] / r["channels"] for r in mine])
        amplified = np.array([100 * r["amplified"] / r["channels"] for r in mine])
        ax.bar(layers - 0.2, inhibited, 0.4, color="tab:blue", label=f"inhibited (< {1 - tol:g})")
        ax.bar(layers + 0.2, amplified, 0.4, color="tab:red", label=f"amplified (> {1 + tol:g})")
        ax.set_title(VECTOR_TITLES[name], fontsize=10)
        ax.set_xlabel("layer")
        ax.set_xticks(layers)
    axes[0, 0].set_ylabel("% of the layer's channels")
    axes[0, -1].legend(fontsize=8)
    fig.suptitle(title or f"Channels moved more than {tol:g} from 1, per layer")
    return save_figure(fig, path)
