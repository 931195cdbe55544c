"""Figures: every plot function writes a non-empty PNG from small inputs and refuses bad input
with a message that says what was expected."""

import numpy as np
import pytest

from tinyia3 import GPT2, IA3, GPT2Config, merge
from tinyia3.model import init_params
from tinyia3.plots import (plot_activation_change, plot_attention_pair, plot_bar_panels, plot_ia3_counts,
                           plot_ia3_heatmaps, plot_loss_curves, plot_merge_scaling, plot_neuron_tokens,
                           plot_scale_histograms, save_figure)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONFIG = GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=2, n_head=2)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) > 1000, f"{path} is suspiciously small ({len(data)} bytes)"


@pytest.fixture
def ia3():
    return IA3.random(CONFIG, std=0.2, seed=0)


@pytest.fixture
def history():
    """The shape tinyia3.train.train returns: step 0 evaluation, then steps with some evaluations."""
    records = [{"step": 0, "eval": {"loss": 3.0}}]
    for step in range(1, 13):
        record = {"step": step, "loss": 3.0 - 0.1 * step + 0.05 * (-1) ** step, "lr": 1e-3, "grad_norm": 1.0}
        if step % 4 == 0:
            record["eval"] = {"loss": 3.0 - 0.08 * step}
        records.append(record)
    return records


def test_save_figure_creates_folders_and_writes_png(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "a" / "b" / "line.png")
    assert_png(path)


def test_ia3_heatmaps_and_counts_write_pngs(ia3, tmp_path):
    assert_png(plot_ia3_heatmaps(ia3, tmp_path / "heat.png"))
    assert_png(plot_ia3_counts(ia3, tmp_path / "counts.png"))


def test_scale_histograms_write_png_also_for_an_untrained_adapter(ia3, tmp_path):
    assert_png(plot_scale_histograms(ia3, tmp_path / "hist.png"))
    assert_png(plot_scale_histograms(IA3.ones(CONFIG), tmp_path / "ones.png"))  # all at 1: no zero-width range


def test_scale_histograms_show_a_subset_of_layers_for_deep_models(tmp_path):
    deep = IA3.random(GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=12, n_head=2), seed=1)
    assert_png(plot_scale_histograms(deep, tmp_path / "deep.png"))  # 6 of 12 layers by default
    assert_png(plot_scale_histograms(deep, tmp_path / "two.png", layers=[0, 11]))


def test_scale_histograms_refuse_a_plain_array_or_a_missing_layer(ia3, tmp_path):
    with pytest.raises(TypeError, match="tinyia3.IA3"):
        plot_scale_histograms(np.ones((2, 8)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="indices from 0 to 1"):
        plot_scale_histograms(ia3, tmp_path / "x.png", layers=[2])


def test_loss_curves_write_png_for_one_or_several_runs(history, tmp_path):
    assert_png(plot_loss_curves({"IA³": history}, tmp_path / "one.png"))
    short = [history[0], {"step": 1, "loss": 2.5, "eval": {"loss": 2.6}}]  # too short to average
    assert_png(plot_loss_curves({"IA³": history, "full": short}, tmp_path / "two.png"))


def test_loss_curves_refuse_empty_input(tmp_path):
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_loss_curves({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no training losses and no evaluations"):
        plot_loss_curves({"run": [{"step": 0}]}, tmp_path / "x.png")


def test_activation_change_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    panels = {}
    for name, n in [("l_k", 8), ("l_v", 8), ("l_ff", 32), ("layer 1 l_ff", 32)]:
        before, scale = rng.uniform(0.1, 1, n), rng.uniform(0.7, 1.3, n)
        panels[name] = (before, before * scale * rng.uniform(0.9, 1.1, n), scale)
    assert_png(plot_activation_change(panels, tmp_path / "act.png"))


def test_activation_change_refuses_mismatched_channels(tmp_path):
    with pytest.raises(ValueError, match="one entry per channel"):
        plot_activation_change({"l_k": (np.ones(8), np.ones(8), np.ones(4))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"expected \(before, after, scale\)"):
        plot_activation_change({"l_k": (np.ones(8), np.ones(8))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="1-D"):
        plot_activation_change({"l_k": (np.ones((2, 8)), np.ones(8), np.ones(8))}, tmp_path / "x.png")


def causal_attention(rng, T):
    scores = np.where(np.tril(np.ones((T, T), bool)), rng.standard_normal((T, T)), -np.inf)
    att = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return att / att.sum(axis=-1, keepdims=True)


def test_attention_pair_writes_png_with_and_without_many_labels(tmp_path):
    rng = np.random.default_rng(0)
    tokens = ["Hi", " there", ",", "\n", " friend"]
    assert_png(plot_attention_pair(causal_attention(rng, 5), causal_attention(rng, 5), tokens, tmp_path / "a.png"))
    T = 60  # more tokens than tick labels fit: every other one is shown
    assert_png(plot_attention_pair(causal_attention(rng, T), causal_attention(rng, T), [f"t{i}" for i in range(T)],
                                   tmp_path / "b.png"))


def test_attention_pair_refuses_wrong_shapes_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    a = causal_attention(rng, 4)
    with pytest.raises(ValueError, match=r"same \(T, T\)"):
        plot_attention_pair(a, causal_attention(rng, 5), list("abcd"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="one label per position"):
        plot_attention_pair(a, a, list("abc"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        plot_attention_pair(a[None], a[None], list("abcd"), tmp_path / "x.png")  # (1, T, T): a head not chosen


def test_neuron_tokens_writes_png(tmp_path):
    neurons = [{"label": f"unit {i}", "top": [(" good", 0.3), (" kind", 0.2)], "bottom": [(" bad", -0.4), ("\n", -0.1)]}
               for i in range(3)]
    assert_png(plot_neuron_tokens(neurons, tmp_path / "n.png"))


def test_neuron_tokens_refuses_entries_without_tokens(tmp_path):
    with pytest.raises(ValueError, match="non-empty list"):
        plot_neuron_tokens([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"lacks \['bottom'\]"):
        plot_neuron_tokens([{"label": "unit 3", "top": [(" a", 1.0)]}], tmp_path / "x.png")


def test_bar_panels_write_png_with_log_scale_errors_and_reference(tmp_path):
    panels = [
        {"title": "parameters", "ylabel": "count", "values": {"IA³": 3072, "full": 7_259_008}, "log": True},
        {"title": "time", "ylabel": "s", "values": {"IA³": 0.6, "full": 0.9}, "errors": {"IA³": 0.05}},
        {"title": "range", "ylabel": "s", "values": {"IA³": 0.6, "full": 0.9}, "errors": {"IA³": (0.1, 0.3)}},
        {"title": "loss", "ylabel": "nats", "values": {"IA³": 7.6, "full": 7.1}, "reference": (7.8, "before")},
    ]
    assert_png(plot_bar_panels(panels, tmp_path / "bars.png", title="comparison"))


def test_bar_panels_draw_a_pair_of_errors_below_and_above(tmp_path, monkeypatch):
    import matplotlib.axes

    seen = []
    original = matplotlib.axes.Axes.bar
    monkeypatch.setattr(matplotlib.axes.Axes, "bar", lambda ax, *a, **k: seen.append(k["yerr"]) or original(ax, *a, **k))
    plot_bar_panels([{"title": "t", "ylabel": "s", "values": {"a": 1.0, "b": 2.0}, "errors": {"a": (0.1, 0.3), "b": 0.2}}],
                    tmp_path / "e.png")
    assert np.array_equal(seen[0], [[0.1, 0.2], [0.3, 0.2]])  # (below, above) x bars


def test_bar_panels_refuse_a_panel_without_values(tmp_path):
    with pytest.raises(ValueError, match="non-empty list"):
        plot_bar_panels([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="has no values"):
        plot_bar_panels([{"title": "empty", "values": {}}], tmp_path / "x.png")


def test_merge_scaling_writes_png(ia3, tmp_path):
    model = GPT2(CONFIG, init_params(CONFIG, seed=0, dtype=np.float64))
    merged = merge(model, ia3)
    assert_png(plot_merge_scaling(model.params, merged.params, 1, tmp_path / "m.png"))


def test_merge_scaling_refuses_a_layer_the_model_does_not_have(ia3, tmp_path):
    model = GPT2(CONFIG, init_params(CONFIG, seed=0, dtype=np.float64))
    with pytest.raises(ValueError, match="h.5.attn.c_attn.weight is missing"):
        plot_merge_scaling(model.params, merge(model, ia3).params, 5, tmp_path / "x.png")
