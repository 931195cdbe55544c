# %% [markdown]
# # Lesson 9: IA³ against LoRA, BitFit and full fine-tuning, measured
#
# "How does IA³ compare with LoRA?" is the question most people bring to IA³. The T-Few paper
# answers it for T0-3B on 11 held-out tasks (as reported: IA³ 64.6 mean accuracy with 540K
# parameters, LoRA 62.8 with 9.1M, full fine-tuning 63.3); PEFT's own MetaMathQA benchmark on
# Llama-3.2-3B answers it the other way (IA³ 39.8–45.5 %, LoRA r32 47.8 %), with IA³ wanting a
# learning rate 10–50× LoRA's. Both are someone else's measurements on someone else's model.
# Here we measure it ourselves, in one engine, on the embedded model:
#
# * **IA³** as in the paper (l_k, l_v, l_ff) and with PEFT's placement on GPT-2 (queries too);
# * **LoRA** (Hu et al. 2021) of rank 1, 4 and 16, on `attn.c_attn` only or on all four linears;
# * **BitFit** (every bias) and **full fine-tuning** (every weight).
#
# All ten are parameter sets behind the same seam (tinyia3/model.py): the forward asks each what
# it does at each site of a block, the backward forms only their gradients. Same loop, same
# batches, same schedule, same number of steps; each at its own best learning rate.
#
# The whole comparison — a learning-rate sweep for every variant on two tasks, three seeds at the
# best rate, and the costs — is too long to rerun here (its training runs alone recorded about
# 2.8 hours of run time, two at a time on two cores: about an hour and a half; printed below):
# `python benchmarks/compare_methods.py` wrote `data/measured/methods.json`, which this lesson
# reads. To show the committed numbers still hold, the lesson reruns one of its configurations.

# %%
import json
import time

import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.data import load_dataset
from tinyia3.plots import plot_bar_panels, plot_quality_vs_parameters, save_figure
from tinyia3.train import TrainConfig, train

args = lesson.setup(9, "IA³ vs LoRA, BitFit and full fine-tuning")
RESULTS = lesson.ROOT / "data" / "measured" / "methods.json"
results = json.loads(RESULTS.read_text())
summary, settings = results["summary"], results["settings"]
print(f"{RESULTS}: {len(results['runs'])} training runs, {len(summary)} variants, measured {results['machine']['date']} "
      f"on {results['machine']['cpus']} CPUs")
print(f"budget: batch {settings['batch']}, steps {settings['steps']}, seeds {settings['seeds']}")
run_hours = sum(r["seconds_busy"] for r in results["runs"]) / 3600
print(f"the training runs' recorded time: {run_hours:.1f} hours in all, {run_hours / 2:.1f} hours two at a time")
assert 2.3 < run_hours < 3.3  # "about 2.8 hours"
model = tinyia3.load_model(settings["model"])
c = model.config
print(model)

# %% [markdown]
# ## 9.1 What each variant trains
#
# Each count follows from the config. With L blocks of width C and FFN width F:
#
# * IA³: L·(2C + F) scales (PEFT's placement adds the queries' L·C);
# * LoRA of rank r on a linear (in → out): A (in × r) and B (r × out), L·r·(in + out) per target;
#   c_attn is C → 3C, attn.c_proj C → C, mlp.c_fc C → F, mlp.c_proj F → C;
# * BitFit: each block's six biases, 7C + F, and ln_f's C;
# * full: every weight.
#
# We build each variant's parameter set as the comparison did (`TrainConfig(...).make_adapter`)
# and check its size against the formula and against the committed results.

# %%
LINEARS = {"attn.c_attn": (c.n_embd, 3 * c.n_embd), "attn.c_proj": (c.n_embd, c.n_embd),
           "mlp.c_fc": (c.n_embd, c.n_inner), "mlp.c_proj": (c.n_inner, c.n_embd)}


def formula(v: dict) -> int:
    L, C, F = c.n_layer, c.n_embd, c.n_inner
    if v["method"] == "ia3":
        return L * (2 * C + F) + (L * C if v.get("queries") else 0)
    if v["method"] == "lora":
        return sum(L * v["rank"] * sum(LINEARS[t]) for t in v["targets"])
    if v["method"] == "bitfit":
        return L * (7 * C + F) + C
    return model.num_parameters()


total = model.num_parameters()
print(f"{'variant':<16}{'trainable':>11}{'% of model':>12}{'Adam m + v':>12}")
for name, v in settings["variants"].items():
    built = TrainConfig(**{k: tuple(x) if isinstance(x, list) else x for k, x in v.items()}).make_adapter(model)
    n = built.num_parameters
    assert n == formula(v) == summary[name]["trainable"], (name, n, formula(v), summary[name]["trainable"])
    assert summary[name]["optimizer_bytes"] == 8 * n  # two float32 moments per trainable number
    print(f"{name:<16}{n:>11,}{100 * n / total:>11.3f}%{8 * n / 1024:>9.1f} KiB")
    del built

# %% [markdown]
# ## 9.2 Quality against the share of parameters updated
#
# Two tasks, each with the same budget for every variant:
#
# * **drama_style** (language modelling on passages of Shakespeare): quality is how far the
#   held-out loss falls, in nats per token — the register the style demo of the README adapts to;
# * **review_sentiment** (multiple choice, rank classification with the T-Few losses): quality is
#   held-out accuracy (70 reviews of two choices each; 0.5 is chance, one review is 1.4 points).
#
# Each variant ran a sweep of learning rates with seed 0 (at least four rates, more beyond an
# edge while the best sat on it), then seeds 1 and 2 at its best rate. The figure has the shape of the
# T-Few paper's Figure 2: the median over the three seeds against the share of the model's
# parameters updated, on a log axis, with a bar from the worst seed to the best.

# %%
tokenizer = tinyia3.load_tokenizer(settings["model"])
DATA = lesson.ROOT / "data" / "datasets"
reviews = load_dataset(DATA / "review_sentiment_heldout.jsonl", tokenizer, c.n_positions)
assert len(reviews) == 70 and round(100 / len(reviews), 1) == 1.4  # one review is 1.4 points
assert reviews.kind == "mc" and all(len(example.choices) == 2 for example in reviews.examples)  # chance is 0.5
TASKS = list(results["figure"])
assert all(len(row[t]["sweep"]) >= 4 for row in summary.values() for t in TASKS)  # at least four rates each
print(f"{'variant':<16}" + "".join(f"{t + ' (best lr, median [min, max])':>44}" for t in TASKS))
for name, row in summary.items():
    cells = [f"{row[t]['lr']:>9.1e}  {row[t]['quality']['median']:.3f} [{row[t]['quality']['min']:.3f}, "
             f"{row[t]['quality']['max']:.3f}]" for t in TASKS]
    print(f"{name:<16}" + "".join(f"{cell:>44}" for cell in cells))
    for t in TASKS:  # the median is one of the three seeds' values, inside their range
        q = row[t]["quality"]
        assert q["min"] <= q["median"] <= q["max"] and len(q["all"]) == len(settings["seeds"]) >= 3
path = plot_quality_vs_parameters(results["figure"], args.out / "quality_vs_parameters.png",
                                  title=f"{settings['model']}: quality against % of parameters updated "
                                        f"(median of {len(settings['seeds'])} seeds; bars: min–max)")
print(f"[figure] {path}")

# %% [markdown]
# ## 9.3 Each method wants its own learning rate
#
# A scale of 1 moved by 1e-2 changes its channel by 1 %; a LoRA B that starts at 0 moved by
# 1e-2 adds an update of that size times A; a weight moved by 1e-2 may be wrecked. So the best
# rates differ by orders of magnitude (the largest best rate is at least 100× the smallest, on
# each task: printed below), and comparing methods at one shared rate would compare rates, not
# methods. Every seed-0 run of the sweep:

# %%
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"ia3": "-", "lora": "--", "bitfit": ":", "full": "-."}  # the line says the method, the colour the variant
fig, axes = plt.subplots(1, len(TASKS), figsize=(6.2 * len(TASKS), 4.2), squeeze=False)
for ax, task in zip(axes[0], TASKS):
    for k, (name, row) in enumerate(summary.items()):
        rates = sorted(row[task]["sweep"], key=float)
        ax.plot([float(r) for r in rates], [row[task]["sweep"][r] for r in rates], marker="o", ms=3, label=name,
                ls=STYLE[settings["variants"][name]["method"]], color=f"C{k}")
    floor = {"drama_style": 0.0, "review_sentiment": 0.45}[task]  # below: a rate that diverged
    if min(min(row[task]["sweep"].values()) for row in summary.values()) < floor:
        ax.set_ylim(bottom=floor)
        ax.text(0.02, 0.02, f"lines that leave the bottom: the run diverged (below {floor:g})",
                transform=ax.transAxes, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate (log scale)")
    ax.set_ylabel(results["figure"][task]["ylabel"] + ", seed 0")
    ax.set_title(task)
    ax.grid(alpha=0.3)
axes[0][-1].legend(fontsize=7, ncol=2)
fig.tight_layout()
lesson.save(fig, args, "learning_rate_sweeps")
best = {name: {t: row[t]["lr"] for t in TASKS} for name, row in summary.items()}
for name, row in summary.items():
    edge = [t for t in TASKS if row[t]["at_edge"]]
    print(f"{name:<16} best rates: " + ", ".join(f"{t} {best[name][t]:.1e}" for t in TASKS)
          + (f"   (at the edge of its grid for {', '.join(edge)})" if edge else ""))
for t in TASKS:
    rates = [best[n][t] for n in summary]
    print(f"{t}: best rates from {min(rates):.0e} to {max(rates):.0e} ({max(rates) / min(rates):,.0f}x)")
    assert max(rates) >= 100 * min(rates)  # orders of magnitude apart

# %% [markdown]
# ## 9.4 What each costs
#
# Sizes are exact (counted and written); time and peak memory were measured with each variant
# in a fresh process, one training step at a time on batch 8 of drama_style, the variants
# interleaved round by round so that all see the same machine; the bars show the median and the
# range over the rounds.

# %%
names = list(summary)
spread = lambda m: {n: (summary[n][m]["max"] - summary[n][m]["min"]) / 2 for n in names}  # noqa: E731
rounds = len(summary[names[0]]["step_seconds"]["all"])
path = plot_bar_panels([
    {"title": "adapter file", "ylabel": "KiB (log scale)", "log": True,
     "values": {n: summary[n]["file_bytes"] / 1024 for n in names}},
    {"title": "Adam moments (m + v)", "ylabel": "KiB (log scale)", "log": True,
     "values": {n: summary[n]["optimizer_bytes"] / 1024 for n in names}},
    {"title": "time per training step", "ylabel": f"seconds (median of {rounds}, ± half range)",
     "values": {n: summary[n]["step_seconds"]["median"] for n in names}, "errors": spread("step_seconds")},
    {"title": "peak RSS of the process", "ylabel": f"MB (median of {rounds}, ± half range)",
     "values": {n: summary[n]["peak_rss_mb"]["median"] for n in names}, "errors": spread("peak_rss_mb")},
], args.out / "costs.png", title=f"What each variant costs on {settings['model']}")
print(f"[figure] {path}")
assert rounds >= 5

# %% [markdown]
# ## 9.5 The committed numbers still hold
#
# Every run of the comparison is a function of its settings (seeded batches, seeded LoRA
# initialisation, no other randomness), so one of them can be run again here and must give the
# same held-out numbers: IA³ on review_sentiment at its best rate, seed 0. The comparison ran it
# with one BLAS thread; this run may use more, which can change the last bits of float32 sums,
# hence a tolerance on the loss (float32: 1e-4 relative) and at most one review on accuracy.

# %%
RERUN = dict(task="review_sentiment", variant="IA³", seed=0)
committed = next(r for r in results["runs"] if all(r[k] == v for k, v in RERUN.items())
                 and r["lr"] == summary[RERUN["variant"]][RERUN["task"]]["lr"])
train_set, heldout = (load_dataset(DATA / f"{RERUN['task']}_{part}.jsonl", tokenizer, c.n_positions)
                      for part in ("train", "heldout"))
config = TrainConfig(steps=committed["steps"], batch_size=settings["batch"], lr=committed["lr"], seed=RERUN["seed"],
                     **settings["variants"][RERUN["variant"]])
t0 = time.perf_counter()
history = train(model, train_set, heldout, args.out / "rerun", config, progress=False, overwrite=True)
again = history[-1]["eval"]
print(f"rerun of {RERUN} at lr {committed['lr']:g}, {committed['steps']} steps, in {time.perf_counter() - t0:.0f} s:")
print(f"  held-out accuracy {again['accuracy']:.4f} (committed {committed['after']['accuracy']:.4f}), "
      f"T-Few loss {again['loss']:.5f} (committed {committed['after']['loss']:.5f})")
assert abs(again["accuracy"] - committed["after"]["accuracy"]) <= 1 / len(heldout) + 1e-12
assert abs(again["loss"] - committed["after"]["loss"]) <= 1e-4 * abs(committed["after"]["loss"])
for key, value in committed["before"].items():  # the base model scores the held-out set as it did
    assert abs(history[0]["eval"][key] - value) <= 1e-6 * abs(value), (key, history[0]["eval"][key], value)

# %% [markdown]
# ## 9.6 Where IA³ wins and where it loses
#
# Read off the committed results; each sentence below is checked by the cell after it.
#
# * **Style (drama_style), at this budget of 100 steps:** IA³ gets most of full fine-tuning's
#   loss drop (over 90 %) with well under 0.1 % of its parameters, and beats the two variants of
#   similar size (BitFit, LoRA r1 on c_attn). But every larger LoRA beats it, and LoRA on all four
#   linears beats even full fine-tuning: rescaling channels the model already has is not the same
#   as adding new low-rank directions.
# * **Multiple choice (review_sentiment):** IA³ is as good as the best LoRA (within the spread of
#   the seeds: at least the median of every LoRA on c_attn, within 0.05 of LoRA r16 on all four)
#   and clearly behind full fine-tuning (by more than 0.1).
# * **Learning rate:** IA³'s best rate is 10× LoRA r4's and at least 300× full fine-tuning's, on
#   both tasks — as PEFT's benchmark reports (10–50× LoRA's).
# * **Cost:** the IA³ file is the size of LoRA r1's and over 1,000× smaller than a full copy; a
#   step takes about as long as a LoRA step (within 10 %) and clearly less than a full one
#   (more than 1.3× less); but its peak memory is no lower than LoRA's (and within 20 % of it) —
#   the activations dominate, which is also PEFT's finding — while full fine-tuning's (weights,
#   gradients, two Adam moments) is about twice it (1.7–2.3×).

# %%
def q(name, task):
    return summary[name][task]["quality"]["median"]


def cost(name, measure):
    return summary[name][measure]["median"] if isinstance(summary[name][measure], dict) else summary[name][measure]


D, R = "drama_style", "review_sentiment"
LORAS = [n for n in summary if settings["variants"][n]["method"] == "lora"]
share = q("IA³", D) / q("full", D)
print(f"{D}: IA³ {q('IA³', D):.3f} nats = {share:.0%} of full fine-tuning's {q('full', D):.3f}, with "
      f"{summary['IA³']['percent']:.3f} % of the parameters; BitFit {q('BitFit', D):.3f}, LoRA r1 c_attn "
      f"{q('LoRA r1 c_attn', D):.3f}; larger LoRAs " + ", ".join(f"{n} {q(n, D):.3f}" for n in LORAS[1:]))
assert share > 0.9 and summary["IA³"]["percent"] < 0.1
assert q("IA³", D) > q("BitFit", D) and q("IA³", D) > q("LoRA r1 c_attn", D)
assert all(q(n, D) > q("IA³", D) for n in LORAS if n != "LoRA r1 c_attn")
assert all(q(n, D) > q("full", D) for n in LORAS if n.endswith(" all"))

print(f"{R}: IA³ {q('IA³', R):.3f}; " + ", ".join(f"{n} {q(n, R):.3f}" for n in LORAS) + f"; full {q('full', R):.3f}")
assert all(q("IA³", R) >= q(n, R) for n in LORAS if n.endswith("c_attn"))
assert max(q(n, R) for n in LORAS) - q("IA³", R) <= 0.05
assert q("full", R) - q("IA³", R) > 0.1

for task in (D, R):
    to_lora, to_full = best["IA³"][task] / best["LoRA r4 c_attn"][task], best["IA³"][task] / best["full"][task]
    print(f"{task}: IA³'s best rate {best['IA³'][task]:.0e} = {to_lora:.0f}x LoRA r4's, {to_full:.0f}x full fine-tuning's")
    assert abs(to_lora - 10) < 1e-6 and to_full >= 300

ratios = {"file, full / IA³": cost("full", "file_bytes") / cost("IA³", "file_bytes"),
          "file, IA³ / LoRA r1 c_attn": cost("IA³", "file_bytes") / cost("LoRA r1 c_attn", "file_bytes"),
          "step, IA³ / LoRA r4 c_attn": cost("IA³", "step_seconds") / cost("LoRA r4 c_attn", "step_seconds"),
          "step, full / IA³": cost("full", "step_seconds") / cost("IA³", "step_seconds"),
          "peak RSS, IA³ / LoRA r4 c_attn": cost("IA³", "peak_rss_mb") / cost("LoRA r4 c_attn", "peak_rss_mb"),
          "peak RSS, full / IA³": cost("full", "peak_rss_mb") / cost("IA³", "peak_rss_mb")}
for what, ratio in ratios.items():
    print(f"  {what:<32} {ratio:8.2f}")
assert ratios["file, full / IA³"] > 1000 and 1 <= ratios["file, IA³ / LoRA r1 c_attn"] < 2
assert abs(ratios["step, IA³ / LoRA r4 c_attn"] - 1) < 0.1 and ratios["step, full / IA³"] > 1.3
assert 1.0 <= ratios["peak RSS, IA³ / LoRA r4 c_attn"] < 1.2 and 1.7 < ratios["peak RSS, full / IA³"] < 2.3

# The summary's figures.
bigger_loras = [n for n in LORAS if n != "LoRA r1 c_attn"]
smallest_file = min(cost(n, "file_bytes") for n in bigger_loras) / cost("IA³", "file_bytes")
print(f"IA³: {summary['IA³']['trainable']:,} numbers, file {cost('IA³', 'file_bytes') / 1024:.1f} KiB; the smallest "
      f"LoRA that beats it on {D} has a file {smallest_file:.2f}x IA³'s")
assert summary["IA³"]["trainable"] == 6_912 and round(cost("IA³", "file_bytes") / 1024) == 27 and smallest_file < 3

# The caveats of the next cell, from the same results.
print(f"model: {total / 1e6:.1f} M parameters; steps {settings['steps']}")
assert round(total / 1e6, 1) == 12.4 and settings["steps"] == {D: 100, R: 200}
spreads = {n: summary[n][R]["quality"]["max"] - summary[n][R]["quality"]["min"] for n in summary}
print(f"{R}: spread of the seeds, max - min, per variant: " + ", ".join(f"{n} {v:.3f}" for n, v in spreads.items()))
assert sum(v >= 2 / len(reviews) for v in spreads.values()) >= len(spreads) // 2  # several points, often
r16 = sorted(summary["LoRA r16 c_attn"][R]["quality"]["all"])
assert r16[0] == r16[1] == 0.5 and r16[2] > 0.75  # at chance in two seeds, right in one

# %% [markdown]
# **What this does and does not show.** Two small tasks, one small model (12.4M parameters),
# 100 and 200 steps: the T-Few result (IA³ ahead of LoRA and of full fine-tuning on T0-3B, after
# 1,000 steps, with vectors pre-trained on a multitask mixture) is not reproduced here, and the
# PEFT result (IA³ behind LoRA) is reproduced on the style task only. On the multiple-choice task
# the seeds spread by several points (one review is 1.4 points), so differences of that size are
# noise (two points or more for at least half the variants, printed above); LoRA r16 on c_attn
# at its best rate is right in one seed (above 0.75) and exactly at chance in two — the rate
# that is best for one seed is not safe for all. The learning rate was chosen on the held-out set
# that is reported, the same mild optimism for every variant.
#
# ## Summary
#
# * One engine, ten parameter sets, the same loop: the comparison is of methods, each at its own
#   best rate, not of implementations or of one shared rate.
# * IA³ is the smallest adapter that works well: a few thousand numbers (6,912), a 27 KiB file,
#   and on the multiple-choice task as good as any LoRA (within 0.05 of the best).
# * It is not free and not always enough: where the task needs new directions (a register's
#   vocabulary), every LoRA larger than r1 on c_attn lowers the loss more, the smallest of them
#   with a file under 3× IA³'s; and a step costs about the time and the memory of a LoRA step,
#   because the activations, not the parameters, fill memory.
#
# ## Exercises
#
# 1. Run `python benchmarks/compare_methods.py --quick` and read `out/methods/quick.txt`. Then add
#    a variant to `VARIANTS` in that script — IA³ on values and FFN only, no keys (hint: train
#    `TrainConfig(method="ia3")` and set `l_k`'s gradient to zero in a custom loop, or write a
#    parameter set with `sites` returning only `l_v` and `l_ff`) — and place it on the figure.
# 2. LoRA's alpha was 2r here, so its update is scaled by 2 at every rank. Train LoRA r16 on
#    c_attn with alpha 16 (scaling 1) at 1e-2 and 3e-3, three seeds each, on review_sentiment:
#    is its collapse to chance a matter of the scaling, the rate, or both?
# 3. Predict, from 9.1's formula, the share of GPT-2 small's parameters (L = 12, C = 768,
#    F = 3072, V = 50257) that IA³ and LoRA r4 on all four linears train. Check with
#    `tinyia3.load_model("gpt2")` if you have it, or with `GPT2Config()` and the formula.
# 4. The figure's x axis counts parameters. Redraw it against the adapter file's bytes and against
#    the measured peak RSS (both are in `data/measured/methods.json`): which method's advantage
#    survives each change of axis?
# 5. Checked: `tinyia3 check lora_backward` — LoRA's dA, dB (and dx) through scaling · (x A) B.
