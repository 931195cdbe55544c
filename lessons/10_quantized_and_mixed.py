# %% [markdown]
# # Lesson 10: IA³ where memory is scarce and tasks are many
#
# Two promises of IA³ are about infrastructure. The T-Few paper sells it for limited hardware,
# and names, in section 3.3, **mixed-task batches**: one batch in which every example carries
# its own task's vectors. This lesson makes both concrete:
#
# * **an 8-bit (or 4-bit) base.** `tinyia3.quantize(model)` stores each linear weight as integer
#   codes and one float scale per channel. We will see why an IA³ vector then *folds into the
#   scales* — the merged model keeps every code bit for bit — and why a LoRA update cannot;
# * **the memory table** for GPT-2's sizes, computed from their configs, and the peak memory of a
#   training step, measured;
# * **one batch serving two tasks**: two adapters trained on the same quantized base, a batch whose
#   sequences use one or the other, equal to running each task alone; and what is lost when the
#   two adapters are instead combined into one (a product, or PEFT's weighted sum).

# %%
import json
import time

import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.config import GPT2Config
from tinyia3.data import Dataset, lm_batch, load_dataset, load_groups
from tinyia3.errors import TinyIA3Error
from tinyia3.generate import generate_ids
from tinyia3.gradcheck import rel_error
from tinyia3.ia3_arithmetic import compose, weighted_sum
from tinyia3.plots import plot_bar_panels
from tinyia3.quantized import QuantizedWeight, dequantize, quantize_weight, weight_bytes, weight_bytes_for
from tinyia3.train import TrainConfig, evaluate, train

args = lesson.setup(10, "IA³ on a quantized base, and mixed-task batches")
start = time.perf_counter()
model = tinyia3.load_model(args.model)
tokenizer = tinyia3.load_tokenizer(args.model)
c = model.config
print(model)
DATA = lesson.ROOT / "data" / "datasets"
MEASURED = lesson.ROOT / "data" / "measured"  # what the benchmarks/ scripts measured, shipped with the lessons
n_eval = 12 if args.quick else 60

# %% [markdown]
# ## 10.1 One matrix in int8
#
# Symmetric absmax quantization keeps, for every output column j of a weight W (in × out), one
# float scale and one small integer per weight:
#
#     s_j = max_i |W_ij| / 127,      Q_ij = round(W_ij / s_j) ∈ [−127, 127],      W ≈ Q · s
#
# A weight then takes one byte instead of four, and the error of each is at most half a step,
# s_j / 2. We quantize block 0's c_attn and check both.

# %%
w = model.params["h.0.attn.c_attn.weight"]  # (C, 3C)
q = quantize_weight(w, "column", bits=8)
error = np.abs(np.asarray(q, np.float64) - w)
worst_in_steps = float((error / q.scales.astype(np.float64)).max())
print(f"W {w.shape} {w.dtype}: {w.nbytes:,} bytes; codes {q.codes.dtype} {q.codes.shape} + scales {q.scales.shape}: "
      f"{q.nbytes:,} bytes ({q.nbytes / w.nbytes:.3f} of float32)")
print(f"largest error: {worst_in_steps:.4f} of a step (a step is s_j; at most 0.5 by construction)")
assert q.codes.dtype == np.int8 and q.nbytes == w.size + 4 * w.shape[1]
assert worst_in_steps <= 0.5 + 1e-5  # float32 rounding of W / s

# %% [markdown]
# ## 10.2 Why an IA³ vector folds into a per-channel scale, and a LoRA update does not
#
# IA³ multiplies channels. For keys and values it multiplies *output columns* of c_attn, and a
# factor per column meets a scale per column:
#
#     (x (Q · s)) ⊙ l  =  x (Q · (s ⊙ l))
#
# Only the scales change; the codes Q stay as they are. The FFN vector l_ff multiplies the *input*
# of mlp.c_proj — its rows — so that layer is quantized with one scale per input row, and
# `(l ⊙ h)(Q · s) = h (Q · (l ⊙ s))`. That choice is tinyia3.quantized.LAYOUT: c_attn, attn.c_proj
# and mlp.c_fc per output column, mlp.c_proj per input row. We merge a random IA³ adapter
# (queries too: PEFT's placement) into the int8 model and check the three claims: every code is
# unchanged bit for bit, the scales are the old ones times the vector, and the merged model
# computes what the unmerged one does, to float32 rounding.

# %%
qmodel = tinyia3.quantize(model)
ia3 = tinyia3.IA3.random(model, std=0.1, seed=args.seed)
ia3.l_q = (1.0 + 0.1 * np.random.default_rng(args.seed).standard_normal(ia3.l_k.shape)).astype(np.float32)
merged = tinyia3.merge(qmodel, ia3)
quantized_names = [k for k, v in qmodel.params.items() if isinstance(v, QuantizedWeight)]
codes_kept = all(merged.params[k].codes.tobytes() == qmodel.params[k].codes.tobytes() for k in quantized_names)
l0 = ia3.layer(0)
scales_moved = np.array_equal(merged.params["h.0.attn.c_attn.weight"].scales,
                              qmodel.params["h.0.attn.c_attn.weight"].scales * np.concatenate([l0["l_q"], l0["l_k"], l0["l_v"]]))
rows_moved = np.array_equal(merged.params["h.0.mlp.c_proj.weight"].scales,
                            qmodel.params["h.0.mlp.c_proj.weight"].scales * l0["l_ff"][:, None])
heldout_text = load_dataset(DATA / "drama_style_heldout.jsonl", tokenizer, c.n_positions)
ids, attention_mask, _ = lm_batch(heldout_text.examples[:8])
fold_error = rel_error(merged.logits(ids, None, attention_mask), qmodel.logits(ids, ia3, attention_mask))
print(f"{len(quantized_names)} quantized weights; codes unchanged bit for bit: {codes_kept}")
print(f"c_attn scales = old × [l_q | l_k | l_v]: {scales_moved};  mlp.c_proj scales = old × l_ff (rows): {rows_moved}")
print(f"merged vs unmerged logits, max relative difference: {fold_error:.1e} (float32)")
assert codes_kept and scales_moved and rows_moved and fold_error < 1e-5

# %% [markdown]
# A LoRA update is different in kind. ΔW = (alpha / r) · A B has rank r, but it changes every weight
# by its own amount: it is not W times a factor per column, nor per row. How much of it *could* a
# per-channel factor express? The best factor for column j is c_j = ⟨W_j, W_j + ΔW_j⟩ / ⟨W_j, W_j⟩
# (least squares); what remains, ‖(W + ΔW) − W·diag(c)‖, is the part of the update no scale can
# hold. We train a small LoRA (rank 8 on c_attn, on the drama passages) and measure that share.
# tinyia3 refuses the merge rather than re-round silently; the way out is to merge into the float
# weights and quantize again, and we measure what that re-rounding costs.

# %%
drama_train = load_dataset(DATA / "drama_style_train.jsonl", tokenizer, c.n_positions)
lora_steps = 4 if args.quick else 30
train(model, drama_train, None, args.out / "run_lora",
      TrainConfig(steps=lora_steps, batch_size=8, lr=3e-3, method="lora", rank=8, alpha=16),
      progress=False, overwrite=True, log=lambda *a: None)
lora = tinyia3.LoRA.load(args.out / "run_lora" / "adapter.safetensors", model)
try:
    tinyia3.merge(qmodel, lora)
    refused = False
except TinyIA3Error as err:
    refused = True
    print(f"tinyia3.merge(qmodel, lora) refused: {str(err).split('. ')[0]}.")

W = np.asarray(qmodel.params["h.0.attn.c_attn.weight"], np.float64)
dW = lora.scaling * (lora.a["attn.c_attn"][0] @ lora.b["attn.c_attn"][0]).astype(np.float64)
shares = {}
for way, axis in (("per output column", 0), ("per input row", 1)):
    factor = (W * (W + dW)).sum(axis=axis, keepdims=True) / (W * W).sum(axis=axis, keepdims=True)
    shares[way] = float(np.linalg.norm(W + dW - W * factor) / np.linalg.norm(dW))
    print(f"LoRA's ΔW in block 0 that no factor {way} can express: {shares[way]:.1%}")


def effect_lost(base, exact, rounded):
    """‖rounded − exact‖ / ‖exact − base‖ over the held-out logits: 0 = the merge kept the LoRA exactly."""
    zb, ze, zr = (m.logits(ids, a, attention_mask) for m, a in ((base, None), (base, lora), (rounded, None)))
    return float(np.linalg.norm(zr - ze) / np.linalg.norm(ze - zb))


lost = {}
for label, options in (("int8", dict(bits=8)), ("4-bit", dict(bits=4))):
    qm = tinyia3.quantize(model, **options)
    requantized = tinyia3.quantize(tinyia3.merge(dequantize(qm), lora), **options)
    changed = float(np.mean(requantized.params["h.0.attn.c_attn.weight"].codes != qm.params["h.0.attn.c_attn.weight"].codes))
    lost[label] = effect_lost(qm, None, requantized)
    print(f"{label}: re-quantizing W + ΔW changes {changed:.1%} of block 0's c_attn codes and loses "
          f"{lost[label]:.1%} of the LoRA's effect on the logits")
assert refused and min(shares.values()) > 0.9 and lost["4-bit"] > lost["int8"] > 0
q4_codes = quantize_weight(w, "column", bits=4).codes  # packed two to a byte, each stored as code + 8
nibbles = np.concatenate([q4_codes & 15, q4_codes >> 4]).astype(np.int64) - 8
levels = {4: int(np.abs(nibbles).max()), 8: int(np.abs(q.codes).max())}
print(f"largest code magnitude: 4-bit {levels[4]}, int8 {levels[8]}")
assert levels == {4: 7, 8: 127}  # 7 levels on each side of zero against 127

# %% [markdown]
# So a per-channel factor can hold almost none of a LoRA update (the rest is spread over every
# weight), and re-quantizing loses part of it, more at 4 bits, whose codes have 7 levels on each
# side of zero against int8's 127. An IA³ adapter merges into either exactly, for free.
#
# ## 10.3 The memory table
#
# From the configs alone: float32 is 4 bytes a weight; int8 is one byte a weight of the linears
# and of wte plus a float scale per channel; 4-bit is half a byte plus a scale per block of 64
# (wte stays int8, since 4-bit token embeddings cost too much quality, see below). Biases, layer
# norms and wpe stay float. `weight_bytes_for` computes it; we check it against the embedded
# model's real arrays, and the float32 column against REFERENCE.md's figures.

# %%
SIZES = {"gpt2": GPT2Config(), "gpt2-medium": GPT2Config(n_layer=24, n_embd=1024, n_head=16),
         "gpt2-large": GPT2Config(n_layer=36, n_embd=1280, n_head=20),
         "gpt2-xl": GPT2Config(n_layer=48, n_embd=1600, n_head=25)}
table = {name: {"float32": weight_bytes_for(config, None) / 1e9, "int8": weight_bytes_for(config, 8) / 1e9,
                "4-bit": weight_bytes_for(config, 4) / 1e9} for name, config in SIZES.items()}
print(f"{'model':<12} {'float32 GB':>10} {'int8 GB':>8} {'4-bit GB':>9} {'int8/f32':>8} {'4-bit/f32':>9}")
for name, row in table.items():
    print(f"{name:<12} {row['float32']:>10.2f} {row['int8']:>8.2f} {row['4-bit']:>9.2f} "
          f"{row['int8'] / row['float32']:>8.3f} {row['4-bit'] / row['float32']:>9.3f}")
assert [round(r["float32"], 2) for r in table.values()] == [0.50, 1.42, 3.10, 6.23]  # REFERENCE.md
assert weight_bytes(qmodel) == weight_bytes_for(c, 8) and weight_bytes(model) == weight_bytes_for(c, None)
assert all(0.25 < r["int8"] / r["float32"] < 0.26 and 0.145 <= r["4-bit"] / r["float32"] < 0.185
           for r in table.values())  # "a quarter", "0.15 to 0.18"
fig_path = plot_bar_panels([{"title": name, "ylabel": "GB of weights", "values": row} for name, row in table.items()],
                           args.out / "memory_table.png", title="GPT-2's weights in float32, int8 and 4-bit (from the configs)")
print(f"[figure] {fig_path}")

# %% [markdown]
# Weights are not all a training step holds. `benchmarks/quantized_memory.py` measured the peak
# resident memory of one IA³ step at 1 × 128 tokens on a gpt2-large-shaped model, each variant in
# its own fresh process, the variants taking turns over several rounds (times: median and range
# of all steps). The step's activation record (lesson 4.5: every block keeps its layer norms'
# x̂ and 1/σ, c_attn's output, the attention weights and GELU's input and tanh) does not shrink
# with the weights: L·(5TC + 2TF + 2T + HT²) + TC + T floats. It and the step's temporaries
# set a floor under any quantized peak.

# %%
measured = json.loads((MEASURED / "quantized_memory.json").read_text())
rows = {r["variant"]: r for r in measured["results"]}
base = rows["float32"]
print(measured["machine"]["shape"])
for name, r in rows.items():
    print(f"  {name:<13} weights {r['weights_mb']:6.0f} MB   peak RSS {r['peak_rss_mb']:6.0f} MB   "
          f"ratio {r['peak_rss_mb'] / base['peak_rss_mb']:.3f}   step {np.median(r['step_s']):.2f} s "
          f"({min(r['step_s']):.2f}–{max(r['step_s']):.2f}, {len(r['step_s'])} steps)")
L, C, F, H, T = 36, 1280, 5120, 20, 128
record_mb = (L * (5 * T * C + 2 * T * F + 2 * T + H * T * T) + T * C + T) * 4 / 2**20
step_mb = base["peak_rss_mb"] - base["weights_mb"]  # everything but the float32 weights
ratio = {name: r["peak_rss_mb"] / base["peak_rss_mb"] for name, r in rows.items()}
time_ratio = {name: np.median(r["step_s"]) / np.median(base["step_s"]) for name, r in rows.items()}
print(f"activation record from the shapes: {record_mb:.0f} MB; the float32 step holds {step_mb:.0f} MB beyond its weights")
print(f"int8: {ratio['int8']:.3f} of the float32 peak, its step {time_ratio['int8']:.2f}× the time; "
      f"4-bit: {ratio['4-bit']:.3f}, {time_ratio['4-bit']:.2f}×")
assert 0.6 < record_mb / step_mb < 1.0  # the record is most of what the step holds
assert ratio["int8"] <= 0.35 and ratio["4-bit"] < ratio["int8"]
assert all(len(r["step_s"]) >= 5 for r in rows.values())  # times from >= 5 interleaved steps

# %% [markdown]
# What does the rounding cost? On a few held-out windows of each register we compare logits and
# losses of the float32, int8 and 4-bit models (the full measurement, with greedy agreement, is
# `benchmarks/quantized_quality.py`, read below).

# %%
groups = load_groups(DATA / "registers_heldout.jsonl", tokenizer, c.n_positions)
windows = [e for g in groups.values() for e in g.examples[:2 if args.quick else 10]]
few = Dataset("lm", windows, "registers_heldout (a few windows of each register)")
q4 = tinyia3.quantize(model, bits=4)
w_ids, w_mask, _ = lm_batch(windows)
z = model.logits(w_ids, None, w_mask)[w_mask.astype(bool)]
cost = {}
for label, m in (("int8", qmodel), ("4-bit", q4)):
    dz = m.logits(w_ids, None, w_mask)[w_mask.astype(bool)] - z
    cost[label] = {"rms": float(np.linalg.norm(dz) / np.linalg.norm(z)), "loss": evaluate(m, None, few)["loss"]}
base_loss = evaluate(model, None, few)["loss"]
print(f"held-out loss on {len(windows)} windows: float32 {base_loss:.4f}, " +
      ", ".join(f"{k} {v['loss']:.4f} (‖Δz‖/‖z‖ {v['rms']:.4f})" for k, v in cost.items()))
assert cost["int8"]["rms"] < cost["4-bit"]["rms"]

quality = json.loads((MEASURED / "quantized_quality.json").read_text())["results"]
for name, r in quality.items():
    if name != "float32":
        print(f"  {name:<28} ‖Δz‖/‖z‖ {r['logits']['rms_rel']:.4f}  greedy tokens equal {r['greedy_agreement']['tokens']:.0%}  "
              f"Δloss " + " ".join(f"{k} {v:+.3f}" for k, v in r["register_loss_change"].items()))
assert quality["int8"]["greedy_agreement"]["tokens"] >= quality["4-bit (64), wte int8"]["greedy_agreement"]["tokens"]
assert quality["4-bit (64), wte 4-bit"]["logits"]["rms_rel"] > quality["4-bit (64), wte int8"]["logits"]["rms_rel"]

# %% [markdown]
# ## 10.4 One quantized base, two tasks, one batch
#
# We train two IA³ adapters on the **int8** model — review sentiment (multiple choice, the T-Few
# losses) and the drama style (language modelling) — exactly as on a float model: the backward
# dequantizes each weight for its input gradient and forms no weight gradient.

# %%
steps = 6 if args.quick else 100
adapters, heldout = {}, {}
for task, name, lr in (("sentiment", "review_sentiment", 3e-2), ("drama", "drama_style", 3e-2)):
    train_set = load_dataset(DATA / f"{name}_train.jsonl", tokenizer, c.n_positions)
    full = load_dataset(DATA / f"{name}_heldout.jsonl", tokenizer, c.n_positions)
    heldout[task] = Dataset(full.kind, full.examples[:n_eval], full.source)
    train(qmodel, train_set, None, args.out / f"run_{task}", TrainConfig(steps=steps, batch_size=8, lr=lr, seed=args.seed),
          progress=False, overwrite=True, log=lambda *a: None)
    adapters[task] = tinyia3.IA3.load(args.out / f"run_{task}" / "adapter.safetensors", qmodel)
a, b = adapters["sentiment"], adapters["drama"]
before = {task: evaluate(qmodel, None, heldout[task])["loss"] for task in heldout}
after = {task: evaluate(qmodel, adapters[task], heldout[task])["loss"] for task in heldout}
for task in heldout:
    print(f"{task:<10} held-out loss on the int8 base: {before[task]:.4f} -> {after[task]:.4f} with its adapter ({steps} steps)")
assert all(after[t] < before[t] for t in heldout)

# %% [markdown]
# Now one batch: three review prompts for adapter a and three drama openings for adapter b,
# left-padded to one length. `qmodel.logits(ids, [a, a, a, b, b, b], mask)` gives each sequence
# its own task's vectors (l of shape (B, 1, C): one vector per sequence, broadcast over its
# tokens). We decode greedily for the whole batch at once and check every sequence against
# generating it alone with its adapter.

# %%
reviews = [e.prompt for e in load_dataset(DATA / "review_sentiment_heldout.jsonl", tokenizer, c.n_positions).examples[:3]]
openings = [e.ids[:6] for e in heldout["drama"].examples[:3]]
prompts, per_row = reviews + openings, [a, a, a, b, b, b]
width, new = max(map(len, prompts)), 8
batch = np.zeros((len(prompts), width + new), np.int64)
mask = np.zeros_like(batch)
for r, p in enumerate(prompts):  # left padding: every sequence ends at column `width`
    batch[r, width - len(p):width], mask[r, width - len(p):width] = p, 1
for step in range(new):
    logits = qmodel.logits(batch[:, :width + step], per_row, mask[:, :width + step])[:, -1]  # (B, V)
    batch[:, width + step], mask[:, width + step] = logits.argmax(axis=-1), 1
alone = [generate_ids(qmodel, np.array(p), new, temperature=0, adapter=ad) for p, ad in zip(prompts, per_row)]
good, bad = tokenizer.encode(" good")[0], tokenizer.encode(" bad")[0]
first = qmodel.logits(batch[:, :width], per_row, mask[:, :width])[:, -1]
for r, p in enumerate(prompts):
    task = "sentiment" if r < 3 else "drama"
    shown = (f"' good' {first[r, good]:.2f} vs ' bad' {first[r, bad]:.2f}" if r < 3
             else repr(tokenizer.decode(batch[r, width:].tolist())))
    print(f"[{task}] {tokenizer.decode(p)[-40:]!r:>44} -> {shown}")
same = all(np.array_equal(batch[r, width:width + len(x)], x) for r, x in enumerate(alone))
separate = np.stack([qmodel.logits(np.array(p), ad)[0, -1] for p, ad in zip(prompts, per_row)])
print(f"each sequence's greedy tokens equal its own run: {same}; first-step logits vs separate runs: "
      f"{rel_error(first, separate):.1e}")
assert same and rel_error(first, separate) < 1e-5

# %% [markdown]
# (`benchmarks/mixed_batches.py` times a mixed batch against one call per task; run it on a quiet
# machine for the figures.)
#
# ## 10.5 Combining two adapters instead of mixing them
#
# A mixed batch needs no compromise: each task keeps its own adapter. The alternative is one
# combined adapter for everything. Applying a and then b is their **composition**, the product of
# scales (two merges in a row); PEFT's `add_weighted_adapter` for IA³ instead **sums** the
# vectors, which with weights 1 and 1 doubles every channel neither task moved. We evaluate each
# on both held-out sets.

# %%
combos = {"a": a, "b": b, "a ⊙ b": compose(a, b), "a + b (PEFT)": weighted_sum([a, b], [1.0, 1.0]),
          "(a + b) / 2": weighted_sum([a, b], [0.5, 0.5])}
scores = {name: {task: evaluate(qmodel, ad, heldout[task])["loss"] for task in heldout} for name, ad in combos.items()}
print(f"{'adapter':<16} {'sentiment loss':>14} {'drama loss':>10}   (a ⊙ b = compose(a, b); sums: weighted_sum)")
for name, s in {"none": before, **scores}.items():
    print(f"{name:<16} {s['sentiment']:>14.4f} {s['drama']:>10.4f}")
twice = tinyia3.merge(tinyia3.merge(qmodel, a), b)
compose_error = rel_error(twice.logits(ids, None, attention_mask), qmodel.logits(ids, compose(a, b), attention_mask))
summed = combos["a + b (PEFT)"]
print(f"merging a then b = compose(a, b): max relative difference {compose_error:.1e}; "
      f"PEFT's sum 1, 1: mean l_ff {summed.l_ff.mean():.3f} (a: {a.l_ff.mean():.3f}, b: {b.l_ff.mean():.3f})")
assert compose_error < 1e-5 and np.array_equal(summed.l_ff, a.l_ff + b.l_ff) and abs(summed.l_ff.mean() - 2.0) < 0.1
path = plot_bar_panels([{"title": f"{task} held-out loss", "ylabel": "nats per token" if task == "drama" else "T-Few loss",
                         "values": {n: s[task] for n, s in scores.items()}, "reference": (before[task], "no adapter")}
                        for task in heldout], args.out / "combinations.png",
                       title=f"Two IA³ adapters on the int8 base: each alone and combined ({steps} steps each)")
print(f"[figure] {path}")

# %% [markdown]
# A few steps say little. The full measurement, `benchmarks/adapter_arithmetic.py` (300 steps of
# sentiment, 200 of drama, on the float model, the whole held-out sets), is read from its
# committed results. What it shows, and the cell checks: serving each task with its own adapter
# (what a mixed batch does) is best on both tasks, better than every combination; the sentiment
# adapter alone makes the drama loss *worse* than no adapter, and composition carries that harm
# along while keeping most of the sentiment accuracy; PEFT's sum with weights 1 and 1 loses the
# sentiment task entirely (accuracy at or below chance, 0.5), the mean keeps neither task's gain whole.

# %%
arithmetic = json.loads((MEASURED / "adapter_arithmetic.json").read_text())["results"]
for name, r in arithmetic.items():
    print(f"  {name:<26} sentiment accuracy {r['sentiment_accuracy']:.3f}, loss {r['sentiment_loss']:.4f}; "
          f"drama loss {r['drama_loss']:.4f}")
own_a, own_b, none = arithmetic["a (sentiment)"], arithmetic["b (drama)"], arithmetic["base"]
combined = {k: v for k, v in arithmetic.items() if k not in ("base", "a (sentiment)", "b (drama)")}
assert all(own_a["sentiment_loss"] < r["sentiment_loss"] and own_b["drama_loss"] < r["drama_loss"] for r in combined.values())
assert own_a["drama_loss"] > none["drama_loss"] and combined["compose(a, b)"]["drama_loss"] > none["drama_loss"]
assert combined["compose(a, b)"]["sentiment_accuracy"] > 0.9 * own_a["sentiment_accuracy"]
assert combined["weighted_sum 1, 1 (PEFT)"]["sentiment_accuracy"] <= 0.5 < own_a["sentiment_accuracy"]
assert combined["weighted_sum 0.5, 0.5"]["drama_loss"] > own_b["drama_loss"]
assert combined["weighted_sum 0.5, 0.5"]["sentiment_accuracy"] < own_a["sentiment_accuracy"]
assert abs(combined["weighted_sum 1, 1 (PEFT)"]["mean_l_ff"] - 2.0) < 0.1

# %% [markdown]
# ## Summary
#
# * An IA³ vector multiplies channels; a quantized weight keeps a float scale per channel. Choose
#   each layer's scale axis to run the way its IA³ vector does (c_attn per output column,
#   mlp.c_proj per input row) and merging is a multiplication of scales: every code stays bit
#   for bit, and the merged model is the unmerged one to float rounding.
# * A LoRA update changes each weight by its own amount; no scale holds it, and rounding
#   W + ΔW back to codes loses part of it, more at 4 bits (how much depends on the update: the
#   figures are printed in 10.2).
# * int8 weights are a quarter of float32 (plus the scales), 4-bit 0.15 to 0.18 (half a byte and a
#   scale per 64 weights, wte in int8); a training step also holds its activations, which
#   quantization does not shrink.
# * One batch can serve many tasks: a vector per sequence, and each sequence gets exactly its own
#   adapter's output. Combining adapters into one is a compromise; summing IA³ scales (PEFT)
#   also amplifies every channel neither task touched.
#
# ## Exercises
#
# 1. Quantize mlp.c_proj per output column (`tinyia3.quantize(model, per={"mlp.c_proj": "column"})`)
#    and try to merge an IA³ adapter. Which vector is refused, and why? What changes in quality?
# 2. At 4 bits, try block sizes 32, 64 and 192 (`block_size=`): memory and logit error of each.
# 3. Train both adapters in *one* run on mixed batches: half sentiment, half drama, each sequence
#    with its own adapter (`tinyia3.loss_and_grad(qmodel, [a, …, b, …], ids)` returns [d a, d b]).
#    Does each task reach the same held-out loss as training it alone?
# 4. Checked: `tinyia3 check per_sequence_scale_backward` — the IA³ backward with one vector per
#    sequence.

# %%
print(f"\nlesson 10 done in {time.perf_counter() - start:.1f} s")
