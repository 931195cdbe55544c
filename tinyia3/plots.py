"""Figures shared by the lessons and the CLI. Each function writes one PNG and returns its path.

Scales are shown on a diverging colour map centred at 1, the value that leaves a channel
unchanged: blue below 1 (inhibited), red above (amplified).

    plot_ia3_heatmaps       layer × channel map of every vector
    plot_ia3_counts         per layer, the share of channels inhibited and amplified
    plot_scale_histograms   per vector and layer, the distribution of the scales around 1
    plot_activation_change  per channel, mean |activation| without vs with the adapter
    plot_attention_pair     one head's attention without and with the adapter, and the change
    plot_neuron_tokens      logit lens: the tokens an FFN unit pushes up and down
    plot_merge_scaling      merged / base weights of one block: the stripes merging leaves
    plot_loss_curves        training and held-out loss against the step, one or more runs
    plot_run                one run's history: its losses, and its held-out accuracy if any
    plot_bar_panels         the same labels compared on several measures (counts, bytes, time)
    plot_quality_vs_parameters  quality against % of parameters updated (T-Few's Figure 2 shape)

Importing this module changes nothing global: no backend, no warnings filter, so a student's own
notebook keeps its inline plots. The command line and lesson scripts call files_only() at their
start; in a notebook, save_figure also shows each figure in its cell.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from .errors import ArgumentError, ArgumentTypeError
from .ia3 import IA3

VECTOR_TITLES = {"l_k": "l_k (keys)", "l_v": "l_v (values)", "l_ff": "l_ff (FFN hidden units)",
                 "l_q": "l_q (queries, PEFT)"}


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a notebook, or a lesson's cells run as one)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def files_only() -> None:
    """For entry points (the CLI, a lesson run as a script): draw into files, never a window, so
    that a machine without a screen works. Never called on import."""
    matplotlib.use("Agg")


def save_figure(fig, path) -> Path:
    """Write a figure as PNG (folders created), show it in a notebook's cell, and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Token labels can hold any Unicode (CJK, emoji, a lone byte of a multi-byte character); the
        # default font lacks some glyphs and draws a box, which is the honest thing to show. No warning.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        if in_notebook():  # closed below, so the cell would not show it otherwise
            from IPython.display import display

            display(fig)
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
    fig, axes = plt.subplots(len(vectors), 1, figsize=(11, 1.3 + len(vectors) * (0.6 + 0.25 * ia3.n_layer)),
                             squeeze=False, layout="constrained")
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


# -------------------------------------------------------------------------------------------------
# Shared by the lessons: how an adapter inhibits and amplifies, training curves, comparisons.

INHIBITED, AMPLIFIED, UNCHANGED = "tab:blue", "tab:red", "0.6"


def _vector(name, x, ndim=1) -> np.ndarray:
    """x as a float array of `ndim` dimensions, or a ValueError that names the argument."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim or a.size == 0:
        raise ArgumentError(f"{name} must be a non-empty {ndim}-D array, found shape {list(a.shape)}.")
    return a


def plot_scale_histograms(ia3: IA3, path, tol=0.01, bins=40, title=None, layers=None) -> Path:
    """One histogram per vector (rows) and layer (columns) of the scales, with a line at 1.

    Bars left of 1 - tol are inhibited channels (blue), right of 1 + tol amplified (red); each
    panel prints both shares. All panels share the x range so layers compare at a glance.
    layers: which layers to show; default all of them, or 6 spread from first to last when
    there are more than 8 (GPT-2 small has 12).
    """
    if not isinstance(ia3, IA3):
        raise ArgumentTypeError(f"plot_scale_histograms takes a tinyia3.IA3, found {type(ia3).__name__}.")
    vectors = ia3.named()
    if layers is None:
        n = ia3.n_layer
        layers = range(n) if n <= 8 else sorted({round(x) for x in np.linspace(0, n - 1, 6)})
    layers = list(layers)
    if not layers or not all(0 <= int(i) < ia3.n_layer for i in layers):
        raise ArgumentError(f"layers must be a non-empty list of indices from 0 to {ia3.n_layer - 1}, found {layers}.")
    L = len(layers)
    spread = max(float(np.abs(v - 1).max()) for v in vectors.values()) or 1e-3
    edges = np.linspace(1 - 1.05 * spread, 1 + 1.05 * spread, bins + 1)
    fig, axes = plt.subplots(len(vectors), L, figsize=(2.6 * L + 1, 2.1 * len(vectors) + 0.8),
                             sharex=True, squeeze=False)
    for row, (name, vec) in enumerate(vectors.items()):
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            v = vec[layer]
            counts, _, patches = ax.hist(v, bins=edges, color=UNCHANGED)
            for patch, left, right in zip(patches, edges[:-1], edges[1:]):
                if right <= 1 - tol:
                    patch.set_facecolor(INHIBITED)
                elif left >= 1 + tol:
                    patch.set_facecolor(AMPLIFIED)
            ax.axvline(1.0, color="black", lw=1, ls="--")
            down, up = 100 * np.mean(v < 1 - tol), 100 * np.mean(v > 1 + tol)
            ax.text(0.02, 0.97, f"{down:.0f}% <1", transform=ax.transAxes, va="top", color=INHIBITED, fontsize=8)
            ax.text(0.98, 0.97, f"{up:.0f}% >1", transform=ax.transAxes, va="top", ha="right",
                    color=AMPLIFIED, fontsize=8)
            ax.set_ylim(0, 1.25 * max(counts.max(), 1))
            if row == 0:
                ax.set_title(f"layer {layer}", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{VECTOR_TITLES[name]}\nchannels", fontsize=9)
            if row == len(vectors) - 1:
                ax.set_xlabel("scale (1 = unchanged)")
    fig.suptitle(title or f"IA³ scales per layer: inhibited (< {1 - tol:g}, blue) and amplified (> {1 + tol:g}, red)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_loss_curves(histories: dict, path, title="Loss during fine-tuning", smooth=5,
                     ylabel="loss (nats per scored token)") -> Path:
    """Training loss (per step, thin; moving average, solid) and held-out loss (markers) vs step.

    histories: {label: history} with history as returned by tinyia3.train.train (a list of
    {"step", "loss"} records, some with "eval": {"loss", ...}).
    """
    if not isinstance(histories, dict) or not histories:
        raise ArgumentError("histories must be a non-empty dict {label: history from tinyia3.train.train}.")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _draw_losses(ax, histories, smooth)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_run(history: list, path, title="A training run", label="run") -> Path:
    """One run's curves (tinyia3.run_folder.read_history): its losses, and beside them the held-out
    accuracy when the run evaluated one (multiple choice)."""
    if not isinstance(history, list) or not history:
        raise ArgumentError("history must be a non-empty list of records, as in a run's history.jsonl.")
    accuracy = [(h["step"], h["eval"]["accuracy"]) for h in history if "accuracy" in h.get("eval", {})]
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(13 if accuracy else 8, 4.5), squeeze=False)
    _draw_losses(axes[0, 0], {label: history}, smooth=5)
    axes[0, 0].set(ylabel="T-Few loss per example" if accuracy else "loss (nats per scored token)", title="loss")
    if accuracy:
        ax = axes[0, 1]
        steps, values = zip(*accuracy)
        ax.plot(steps, values, marker="o", ls="--", color="C0", label="held-out set")
        ax.set_ylim(0, 1)
        ax.set(xlabel="optimiser step", ylabel="rank-classification accuracy", title="accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def _draw_losses(ax, histories: dict, smooth: int) -> None:
    """Training loss (thin, and its moving average) and held-out loss (markers) of each history."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, history) in enumerate(histories.items()):
        color = colors[k % len(colors)]
        steps = np.array([h["step"] for h in history if "loss" in h])
        losses = np.array([h["loss"] for h in history if "loss" in h])
        evals = [(h["step"], h["eval"]["loss"]) for h in history if "eval" in h]
        if not len(steps) and not evals:
            raise ArgumentError(f"history {label!r} has no training losses and no evaluations.")
        if len(steps):
            w = max(1, min(smooth, len(losses) // 3))  # a window short enough to still show a trend
            ax.plot(steps, losses, color=color, alpha=0.3, lw=1, label=f"{label}: training batch" if w > 1 else None)
            avg = np.convolve(losses, np.ones(w) / w, mode="valid")
            ax.plot(steps[w - 1:], avg, color=color, lw=1.5,
                    label=f"{label}: training batches, {w}-step average" if w > 1 else f"{label}: training batch")
        if evals:
            e_steps, e_loss = zip(*evals)
            ax.plot(e_steps, e_loss, color=color, marker="o", ls="--", lw=1.5, label=f"{label}: held-out set")
    ax.set_xlabel("optimiser step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def plot_activation_change(panels: dict, path, title=None, ncols=3,
                           label="mean |activation|") -> Path:
    """Per channel: the mean |activation| without the adapter (before) and with it (after).

    panels: {panel title: (before (N,), after (N,), scale (N,))}. Each panel has two plots. On
    top, after against before, one dot per channel coloured by its scale, with the line
    after = before: amplified channels sit above it, inhibited ones below. Below, the ratio
    after / before with the channels sorted by their scale, next to the scale itself (black
    line). Where nothing upstream changed, the dots lie on the line: the scale alone explains
    the change.
    """
    from matplotlib.ticker import NullFormatter

    if not isinstance(panels, dict) or not panels:
        raise ArgumentError("panels must be a non-empty dict {title: (before, after, scale)}.")
    checked = {}
    for name, parts in panels.items():
        if len(parts) != 3:
            raise ArgumentError(f"panel {name!r}: expected (before, after, scale), found {len(parts)} arrays.")
        before, after, scale = (_vector(f"{name!r} {part}", x) for part, x in zip(("before", "after", "scale"), parts))
        if not before.shape == after.shape == scale.shape:
            raise ArgumentError(f"panel {name!r}: before {list(before.shape)}, after {list(after.shape)} and scale "
                             f"{list(scale.shape)} must have one entry per channel each.")
        checked[name] = before, after, scale
    ncols = min(ncols, len(checked))
    nrows = -(-len(checked) // ncols)
    fig = plt.figure(figsize=(4.4 * ncols + 1.2, 5.6 * nrows + 0.6))
    outer = fig.add_gridspec(nrows, ncols, left=0.07, right=0.88, top=1 - 0.75 / fig.get_figheight(), bottom=0.06,
                             hspace=0.32, wspace=0.32)
    norm = scale_norm(*(s for _, _, s in checked.values()))
    floor = 1e-12
    for k, (name, (before, after, scale)) in enumerate(checked.items()):
        r, c = divmod(k, ncols)
        inner = outer[r, c].subgridspec(2, 1, height_ratios=[1.7, 1], hspace=0.45)
        top, bottom = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        before, after = np.maximum(before, floor), np.maximum(after, floor)
        points = top.scatter(before, after, s=6, c=scale, cmap="RdBu_r", norm=norm)
        lo, hi = min(before.min(), after.min()), max(before.max(), after.max())
        top.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="after = before")
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_title(name, fontsize=10)
        top.set_xlabel(f"base model: {label}", fontsize=8)
        top.set_ylabel(f"with IA³: {label}", fontsize=8)
        top.legend(fontsize=7, loc="upper left")
        order = np.argsort(scale, kind="stable")
        x = np.arange(len(order))
        bottom.scatter(x, after[order] / before[order], s=4, c=scale[order], cmap="RdBu_r", norm=norm)
        bottom.plot(x, scale[order], color="black", lw=1, label="the scale l")
        bottom.axhline(1.0, color="black", lw=0.5, ls=":")
        bottom.set_xlabel("channels sorted by scale →", fontsize=8)
        bottom.set_ylabel("after / before", fontsize=8)
        bottom.legend(fontsize=7, loc="upper left")
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
    bar = fig.colorbar(points, cax=fig.add_axes([0.91, 0.3, 0.015, 0.4]))
    bar.set_label("scale  (<1 inhibited, >1 amplified)")
    fig.suptitle(title or "Channel magnitudes on real text, without and with the adapter", y=1 - 0.15 / fig.get_figheight())
    return save_figure(fig, path)


def plot_attention_pair(base, adapted, tokens, path, title=None, labels=("base model", "with IA³")) -> Path:
    """One head's attention (T_q, T_k) without and with the adapter on one colour scale, and
    their difference. Rows are queries (the token that looks), columns keys (what it looks at)."""
    base, adapted = _vector("base", base, 2), _vector("adapted", adapted, 2)
    if base.shape != adapted.shape or base.shape[0] != base.shape[1]:
        raise ArgumentError(f"base {list(base.shape)} and adapted {list(adapted.shape)} must be the same (T, T) "
                         "attention matrix of one head (index a head first: att[b, h]).")
    tokens = list(tokens)
    if len(tokens) != base.shape[0]:
        raise ArgumentError(f"{len(tokens)} token labels for a {base.shape[0]}-token attention matrix; "
                         "pass one label per position.")
    T = len(tokens)
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.2), layout="constrained")
    vmax = max(base.max(), adapted.max())
    for ax, att, label in zip(axes[:2], (base, adapted), labels):
        image = ax.imshow(att, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(label)
    bar = fig.colorbar(image, ax=axes[:2], shrink=0.8)
    bar.set_label("attention weight (each row sums to 1)")
    diff = adapted - base
    spread = float(np.abs(diff).max()) or 1e-6
    image = axes[2].imshow(diff, cmap="RdBu_r", vmin=-spread, vmax=spread, interpolation="nearest")
    axes[2].set_title(f"difference ({labels[1]} − {labels[0]})")
    bar = fig.colorbar(image, ax=axes[2], shrink=0.8)
    bar.set_label("change in attention weight")
    step = max(1, -(-T // 48))  # at most ~48 tick labels
    shown = [repr(t)[1:-1] for t in tokens]
    for ax in axes:
        ax.set_xticks(range(0, T, step))
        ax.set_xticklabels(shown[::step], rotation=90, fontsize=6)
        ax.set_yticks(range(0, T, step))
        ax.set_yticklabels(shown[::step], fontsize=6)
        ax.set_xlabel("key position (token attended to)")
    axes[0].set_ylabel("query position (token attending)")
    fig.suptitle(title or "Attention of one head, without and with the adapter")
    return save_figure(fig, path)


def plot_neuron_tokens(neurons: list, path, title=None,
                       xlabel="logit change per unit of activation") -> Path:
    """For each FFN neuron, the tokens it pushes up (red) and down (blue) through the unembedding.

    neurons: a list of {"label": str, "top": [(token, value), ...], "bottom": [(token, value), ...]}
    as produced by the logit lens; tokens are shown with repr() so leading spaces are visible.
    """
    if not isinstance(neurons, (list, tuple)) or not neurons:
        raise ArgumentError("neurons must be a non-empty list of {'label', 'top', 'bottom'} dicts.")
    for n in neurons:
        missing = {"label", "top", "bottom"} - set(n)
        if missing:
            raise ArgumentError(f"neuron entry {n.get('label', n)!r} lacks {sorted(missing)}; each needs "
                             "'label', 'top' and 'bottom' lists of (token, value).")
    k = max(len(n["top"]) + len(n["bottom"]) for n in neurons)
    fig, axes = plt.subplots(1, len(neurons), figsize=(3.6 * len(neurons), 0.28 * k + 1.6), squeeze=False)
    for ax, n in zip(axes[0], neurons):
        rows = list(n["top"]) + list(reversed(n["bottom"]))  # most positive on top, most negative at the bottom
        names = [repr(t) for t, _ in rows]
        values = np.array([v for _, v in rows], dtype=np.float64)
        y = np.arange(len(rows))[::-1]
        ax.barh(y, values, color=[AMPLIFIED if v > 0 else INHIBITED for v in values])
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(n["label"], fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "Tokens each neuron pushes up (red) and down (blue)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_bar_panels(panels: list, path, title=None) -> Path:
    """Side-by-side bar charts that compare the same labels (e.g. methods) on several measures.

    panels: a list of {"title": str, "ylabel": str (with units), "values": {label: number},
    optional "log": bool, optional "errors": {label: number}, optional "reference": (value,
    label) for a dashed line such as chance level}. An error is one number (±) or a pair (below,
    above), e.g. the distances to a range's ends. A label keeps its colour in every panel; each
    bar carries its value.
    """
    if not isinstance(panels, (list, tuple)) or not panels:
        raise ArgumentError("panels must be a non-empty list of {'title', 'ylabel', 'values'} dicts.")
    labels = []
    for p in panels:
        if not p.get("values"):
            raise ArgumentError(f"panel {p.get('title')!r} has no values: give {{'values': {{label: number}}}}.")
        labels += [label for label in p["values"] if label not in labels]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {label: colors[k % len(colors)] for k, label in enumerate(labels)}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels) + 0.5, 3.8), squeeze=False)
    for ax, p in zip(axes[0], panels):
        names = list(p["values"])
        values = np.array([p["values"][n] for n in names], dtype=np.float64)
        errors = p.get("errors")
        yerr = None if not errors else np.array([np.broadcast_to(errors.get(n, 0.0), (2,)) for n in names],
                                                dtype=np.float64).T  # (2, bars): below, above
        bars = ax.bar(range(len(names)), values, yerr=yerr, capsize=4, color=[color_of[n] for n in names])
        if p.get("log"):
            ax.set_yscale("log")
        if p.get("reference") is not None:
            value, text = p["reference"]
            ax.axhline(value, color="black", ls="--", lw=1, label=f"{text}: {_short(value)}")
            ax.legend(fontsize=8, loc="upper right")
        ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
        ax.set_xticks(range(len(names)))
        many = len(names) > 4  # long labels side by side overlap: slant them
        ax.set_xticklabels(names, fontsize=8, rotation=40 if many else 0, ha="right" if many else "center")
        ax.set_title(p.get("title", ""), fontsize=10)
        ax.set_ylabel(p.get("ylabel", ""))
        ax.margins(y=0.4 if p.get("reference") is not None else 0.2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def _short(v: float) -> str:
    """A bar label: 3 significant digits, thousands separators for big numbers."""
    if abs(v) >= 1e4 or (abs(v) >= 1e3 and float(v).is_integer()):
        return f"{v:,.0f}"
    return f"{v:.3g}"


def plot_merge_scaling(base_params: dict, merged_params: dict, layer: int, path, title=None) -> Path:
    """What merging did to block `layer`: merged / base, element by element, for the fused
    c_attn weight (C, 3C: q | k | v column blocks) and the FFN's mlp.c_proj weight (F, C).

    Merging multiplies whole columns of c_attn (keys, values) and whole rows of mlp.c_proj
    (FFN units), so the ratio images are stripes: vertical in c_attn, horizontal in c_proj.
    """
    names = [f"h.{layer}.attn.c_attn.weight", f"h.{layer}.mlp.c_proj.weight"]
    ratios = []
    for name in names:
        if name not in base_params or name not in merged_params:
            raise ArgumentError(f"{name} is missing: pass model.params of the base and of the merged model "
                             f"(layer {layer} must exist).")
        base, merged = np.asarray(base_params[name], np.float64), np.asarray(merged_params[name], np.float64)
        if base.shape != merged.shape:
            raise ArgumentError(f"{name}: base {list(base.shape)} and merged {list(merged.shape)} differ in shape.")
        ratios.append(np.divide(merged, base, out=np.ones_like(base), where=base != 0))
    c_attn, c_proj = ratios
    C = c_attn.shape[0]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 1.4]})
    norm = scale_norm(c_attn, c_proj)
    axes[0].imshow(c_attn, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest")
    for k, part in enumerate(("q (untouched)", "k: columns × l_k", "v: columns × l_v")):
        if k:
            axes[0].axvline(k * C - 0.5, color="black", lw=1)
        axes[0].text((k + 0.5) * C, -0.02 * C, part, ha="center", va="bottom", fontsize=9)
    axes[0].set_title(f"attn.c_attn.weight of layer {layer}: merged / base", pad=18)
    axes[0].set_xlabel("output column (q | k | v)")
    axes[0].set_ylabel("input channel (row)")
    image = axes[1].imshow(c_proj, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest")
    axes[1].set_title(f"mlp.c_proj.weight of layer {layer}:\nmerged / base (rows × l_ff)")
    axes[1].set_xlabel("output channel (column)")
    axes[1].set_ylabel("FFN hidden unit (row)")
    bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
    bar.set_label("merged / base weight (= the scale)")
    fig.suptitle(title or f"Merging IA³ into layer {layer}: every weight is multiplied by its column's or row's scale",
                 y=1.02)
    return save_figure(fig, path)


METHOD_COLORS = {"ia3": "C3", "lora": "C0", "bitfit": "C2", "full": "black"}


def plot_quality_vs_parameters(panels: dict, path, title=None) -> Path:
    """The T-Few paper's Figure 2 shape: held-out quality against the share of parameters updated.

    panels: {panel title: {"ylabel": str, "points": {label: {"percent": % of the model trained,
    "median", "min", "max": quality over seeds, "method": "ia3" | "lora" | "bitfit" | "full"}}}}.
    One dot per label at its median, bars from min to max; the x axis is logarithmic.
    """
    if not isinstance(panels, dict) or not panels or not all(p.get("points") for p in panels.values()):
        raise ArgumentError("panels must be a non-empty {title: {'ylabel', 'points': {label: {...}}}} dict.")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for ax, (name, panel) in zip(axes[0], panels.items()):
        for label, p in panel["points"].items():
            color = METHOD_COLORS.get(p["method"], "gray")
            ax.errorbar([p["percent"]], [p["median"]], yerr=[[p["median"] - p["min"]], [p["max"] - p["median"]]],
                        fmt="o", color=color, capsize=3)
            ax.annotate(label, (p["percent"], p["median"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("% of the model's parameters updated (log scale)")
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
