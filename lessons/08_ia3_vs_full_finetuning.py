# %% [markdown]
# # Lesson 8: IA³ versus full fine-tuning
#
# IA³ trains L·(2·d_model + d_ff) scales and freezes everything else. Full fine-tuning trains
# every weight. Which costs what, and what does each buy? We run both on the same task, in the
# same engine, with the same batches, and measure:
#
# * **trainable parameters**: what the optimiser updates;
# * **optimiser memory**: Adam keeps two moments (m and v) per trainable number;
# * **step time**: forward + backward + update, measured;
# * **held-out quality**: the support-desk held-out loss after the same number of steps;
# * **what you store per task**: an adapter file, or a whole copy of the model.
#
# `TrainConfig(method="full")` makes `tinyia3.train.train` fine-tune a private copy of
# every weight (the model you pass in is never changed). The backward pass is the same code;
# with `method="full"` it also forms each weight's gradient.

# %%
import time

import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.data import Dataset, load_dataset
from tinyia3.full import FullFineTune
from tinyia3.optim import AdamW, clip_by_global_norm
from tinyia3.plots import plot_bar_panels, plot_loss_curves
from tinyia3.train import TrainConfig, batch_indices, evaluate, step_loss_and_grad, train

args = lesson.setup(8, "IA³ vs full fine-tuning")
start = time.perf_counter()

model = tinyia3.load_model(args.model)
tokenizer = tinyia3.load_tokenizer(args.model)
c = model.config
print(model)

DATA = lesson.ROOT / "data" / "datasets"
train_set = load_dataset(DATA / "support_desk_train.jsonl", tokenizer, c.n_positions)
heldout = load_dataset(DATA / "support_desk_heldout.jsonl", tokenizer, c.n_positions)

# %% [markdown]
# ## 8.1 Counting before running
#
# For IA³ the count is L·(2C + F). For full fine-tuning it is every weight of the model,
# including the token embedding `wte` (V × C), which is also the LM head. Adam's moments
# have the shape of what they track, so its memory is 2 × (trainable numbers) × 4 bytes in
# float32. Full fine-tuning also holds a gradient of the same size; IA³'s gradient is tiny.
# We build the two optimisers and add up the bytes of their moments.

# %%
ia3_params = tinyia3.IA3.ones(model).named()
full_params = model.params
opt_ia3, opt_full = AdamW(ia3_params), AdamW(full_params)  # moments only: no step is taken here


def moment_bytes(opt):
    return sum(a.nbytes for a in opt.m.values()) + sum(a.nbytes for a in opt.v.values())


counts = {"IA³": sum(p.size for p in ia3_params.values()), "full fine-tuning": sum(p.size for p in full_params.values())}
memory = {"IA³": moment_bytes(opt_ia3), "full fine-tuning": moment_bytes(opt_full)}
del opt_full
print(f"{'':<18}{'trainable':>12}{'Adam m + v':>14}")
for name in counts:
    print(f"{name:<18}{counts[name]:>12,}{memory[name] / 2**20:>11.3f} MiB")
print(f"IA³ trains {100 * counts['IA³'] / counts['full fine-tuning']:.3f} % of the weights; "
      f"wte alone is {c.vocab_size * c.n_embd:,} of them")

# %% [markdown]
# **Check.** The counts follow from the config alone, and Adam's memory is 8 bytes (two float32
# moments) per trainable number.

# %%
assert counts["IA³"] == c.n_layer * (2 * c.n_embd + c.n_inner)
assert counts["full fine-tuning"] == model.num_parameters()
assert all(memory[k] == 8 * counts[k] for k in counts)

# %% [markdown]
# ## 8.2 Training both
#
# Same data, same batches (same seed), same number of steps, same schedule. Only the learning
# rate differs, and it must: a scale of 1 moved by 3e-2 changes a channel by 3 %, whereas a
# weight of typical size 0.02–0.1 moved by 3e-2 is wrecked. Full fine-tuning gets 1e-3.

# %%
steps, batch_size, n_eval = (6, 4, 6) if args.quick else (20, 8, 12)
eval_set = Dataset(heldout.kind, heldout.examples[:n_eval], heldout.source)
lrs = {"IA³": 3e-2, "full fine-tuning": 1e-3}
histories, wall = {}, {}
for name, trainable in [("IA³", "ia3"), ("full fine-tuning", "full")]:
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lrs[name], eval_every=max(1, steps // 3),
                         save_every=steps, seed=args.seed, method=trainable)
    t0 = time.perf_counter()
    histories[name] = train(model, train_set, eval_set, args.out / f"run_{trainable}", config, progress=False, overwrite=True)
    wall[name] = time.perf_counter() - t0
    print(f"{name}: {steps} steps (with {sum('eval' in h for h in histories[name])} evaluations) "
          f"in {wall[name]:.1f} s\n")
final = {name: h[-1]["eval"]["loss"] for name, h in histories.items()}
initial = histories["IA³"][0]["eval"]["loss"]

path = plot_loss_curves({f"{name} (lr {lrs[name]:g})": h for name, h in histories.items()},
                        args.out / "loss_curves.png",
                        title=f"IA³ vs full fine-tuning on support_desk: {steps} steps, batch {batch_size}",
                        ylabel="cross-entropy (nats per completion token)")
print(f"[figure] {path}")

# %% [markdown]
# ## 8.3 Step time, taken apart
#
# `train` also evaluated and saved along the way, so its wall time is not a step time. A step
# is three calls, the same three that `train` makes: loss and gradients, clipping, the Adam
# update. We time them on a few batches for each method (full fine-tuning on a copy, so that
# `model` stays the pretrained one).

# %%
n_timed = 2 if args.quick else 3


def time_steps(trainable):
    adapter = tinyia3.IA3.ones(model) if trainable == "ia3" else FullFineTune.of(model)
    params = adapter.named()  # the optimiser updates the adapter's own arrays
    opt = AdamW(params, lr=lrs["IA³" if trainable == "ia3" else "full fine-tuning"])
    times = []
    for step in range(n_timed):
        index = batch_indices(len(train_set), step, batch_size, args.seed)
        t0 = time.perf_counter()
        _, grads = step_loss_and_grad(model, adapter, train_set, index)
        clip_by_global_norm(grads, 1.0)
        opt.step(grads)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), grads


step_time, grad_bytes = {}, {}
for name, trainable in [("IA³", "ia3"), ("full fine-tuning", "full")]:
    step_time[name], grads = time_steps(trainable)
    grad_bytes[name] = sum(g.nbytes for g in grads.values())
    print(f"{name:<18} {step_time[name]:.3f} s per step (median of {n_timed}), gradients {grad_bytes[name] / 2**20:.3f} MiB")
print(f"full fine-tuning step / IA³ step = {step_time['full fine-tuning'] / step_time['IA³']:.2f}")

# %% [markdown]
# Why is the ratio far from the ratio of trainable parameters? Both methods run the same
# forward pass and backpropagate through every block (IA³'s lowest vector sits in block 0),
# and both pay for the 50,257-wide LM head. Full fine-tuning adds the weight gradients
# (one more matmul per linear layer, and the V × C gradient of `wte`) and an Adam update of
# every weight.

# %% [markdown]
# ## 8.4 What is stored per task
#
# The IA³ result is the adapter file; the full fine-tuning result is a whole model folder.

# %%
adapter_file = args.out / "run_ia3" / "adapter.safetensors"
model_folder = args.out / "run_full" / "model"
stored = {"IA³": adapter_file.stat().st_size,
          "full fine-tuning": sum(p.stat().st_size for p in model_folder.iterdir() if p.is_file())}
for name, size in stored.items():
    print(f"{name:<18} {size:>12,} bytes")

path = plot_bar_panels([
    {"title": "trainable parameters", "ylabel": "count (log scale)", "values": counts, "log": True},
    {"title": "Adam moments (m + v)", "ylabel": "MiB (log scale)", "log": True,
     "values": {k: v / 2**20 for k, v in memory.items()}},
    {"title": "stored per task", "ylabel": "MiB (log scale)", "log": True,
     "values": {k: v / 2**20 for k, v in stored.items()}},
    {"title": "time per training step", "ylabel": f"seconds (batch {batch_size}, median)", "values": step_time},
    {"title": f"held-out loss after {steps} steps", "ylabel": "nats per completion token",
     "values": final, "reference": (initial, "before training")},
], args.out / "resources.png", title=f"IA³ vs full fine-tuning on support_desk ({args.model})")
print(f"[figure] {path}")

# %% [markdown]
# **Check.** Both methods learned something (held-out loss below where it started), the base
# model was not touched by either, and the saved adapter reproduces IA³'s final evaluation.

# %%
for name, loss_value in final.items():
    assert loss_value < initial, f"{name}: held-out loss did not go down ({initial:.4f} -> {loss_value:.4f})"
again = evaluate(model, tinyia3.IA3.load(adapter_file, model), eval_set)["loss"]
assert abs(again - final["IA³"]) < 1e-9, (again, final["IA³"])
print(f"held-out loss: before {initial:.4f}, IA³ {final['IA³']:.4f}, full fine-tuning {final['full fine-tuning']:.4f}")
gained = {name: initial - v for name, v in final.items()}
print(f"IA³ got {100 * gained['IA³'] / gained['full fine-tuning']:.0f} % of full fine-tuning's improvement with "
      f"{100 * counts['IA³'] / counts['full fine-tuning']:.3f} % of the trainable parameters")

# %% [markdown]
# ## Summary
#
# * Full fine-tuning moves every weight and usually lowers the loss faster per step; on a small
#   model and a few dozen steps it can be far ahead.
# * IA³ trains a few hundredths of a percent of the weights; its optimiser state and its result
#   are kilobytes, so one base model can serve many tasks, each an adapter.
# * The step time differs much less than the parameter count: both pay for the forward pass,
#   the backward through every block, and the LM head.
#
# ## Exercises
#
# 1. Freeze `wte` in full fine-tuning (zero its gradient before `opt.step`): how much of the
#    optimiser memory and of the step time goes away, and how much of the loss improvement?
# 2. Run both for 4× as many steps. Does full fine-tuning start to overfit the 330 training
#    examples (training loss falling, held-out loss rising) before IA³ does?
# 3. Compute, for GPT-2 small (L=12, C=768, F=3072, V=50257), the same five bars from the
#    config alone. Check your IA³ count against the paper's figure for T0-3B (540K).

# %%
print(f"\nlesson 8 done in {time.perf_counter() - start:.1f} s")
