# %% [markdown]
# # Lesson 7: Merging an adapter into the weights
#
# An IA³ vector multiplies a channel *right after* a linear layer produced it (keys and values:
# outputs of `c_attn`) or *right before* a linear layer reads it (FFN hidden units: inputs of
# `mlp.c_proj`). A per-channel scale next to a linear map can be moved into the map:
#
# $$ l \odot (xW + b) = x\,\big(W \operatorname{diag}(l)\big) + l \odot b
#    \qquad \text{(keys, values: scale the columns of } W \text{ and the bias)} $$
#
# $$ (l \odot h)\,W_2 = h\,\big(\operatorname{diag}(l)\, W_2\big)
#    \qquad \text{(FFN: scale the rows of } W_2 \text{; its bias is untouched)} $$
#
# `tinyia3.merge(model, ia3)` does exactly this and returns a new model with ordinary GPT-2
# weights. The merged model computes the same function as model + adapter, with no extra
# multiplication at inference time: IA³ costs nothing once it is merged. The price: a merged
# model serves one task, whereas one base model can switch between many small adapter files.

# %%
import json
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.checkpoint import read_safetensors
from tinyia3.gradcheck import rel_error
from tinyia3.plots import plot_merge_scaling

args = lesson.setup(7, "Merging")
start = time.perf_counter()

model = tinyia3.load_model(args.model, dtype=np.float64)  # float64: equalities we can check to 1e-12
tokenizer = tinyia3.load_tokenizer(args.model)
c = model.config
print(model)

# %% [markdown]
# ## 7.1 An adapter to merge
#
# Merging is algebra: it must hold for *any* vectors, so we do not need a trained adapter.
# We use `IA3.random` (1 + 0.2·N(0, 1)), which is a stricter test than all ones, where a
# mistake such as scaling the wrong block would go unnoticed.

# %%
ia3 = tinyia3.IA3.random(model, std=0.2, seed=args.seed)
print(ia3)
merged = tinyia3.merge(model, ia3)
print(merged)

# %% [markdown]
# ## 7.2 The equations, weight by weight
#
# `c_attn.weight` is (C, 3C): its columns are the q | k | v outputs. Merging multiplies the k
# columns by l_k, the v columns by l_v, and leaves q alone (the paper does not scale queries).
# The bias gets the same treatment. `mlp.c_proj.weight` is (F, C): row j reads hidden unit j,
# so row j is multiplied by l_ff[j].

# %%
C = c.n_embd
for i in range(c.n_layer):
    W, b = model.params[f"h.{i}.attn.c_attn.weight"], model.params[f"h.{i}.attn.c_attn.bias"]
    Wm, bm = merged.params[f"h.{i}.attn.c_attn.weight"], merged.params[f"h.{i}.attn.c_attn.bias"]
    assert np.array_equal(Wm[:, :C], W[:, :C]) and np.array_equal(bm[:C], b[:C])  # q untouched
    assert np.array_equal(Wm[:, C:2 * C], W[:, C:2 * C] * ia3.l_k[i])  # k columns · l_k
    assert np.array_equal(Wm[:, 2 * C:], W[:, 2 * C:] * ia3.l_v[i])  # v columns · l_v
    assert np.array_equal(bm[C:], b[C:] * np.concatenate([ia3.l_k[i], ia3.l_v[i]]))
    W2, W2m = model.params[f"h.{i}.mlp.c_proj.weight"], merged.params[f"h.{i}.mlp.c_proj.weight"]
    assert np.array_equal(W2m, ia3.l_ff[i][:, None] * W2)  # rows · l_ff
    assert np.array_equal(merged.params[f"h.{i}.mlp.c_proj.bias"], model.params[f"h.{i}.mlp.c_proj.bias"])
changed = [name for name in model.params if merged.params[name] is not model.params[name]]
print(f"{len(changed)} of {len(model.params)} weight arrays changed: {changed[:3]} ...")
print("every other array is shared with the base model, not copied")
assert sorted(changed) == sorted(f"h.{i}.{n}" for i in range(c.n_layer)
                                 for n in ("attn.c_attn.weight", "attn.c_attn.bias", "mlp.c_proj.weight"))

path = plot_merge_scaling(model.params, merged.params, 0, args.out / "merge_scaling.png")
print(f"[figure] {path}")

# %% [markdown]
# ## 7.3 Same function: the logits agree
#
# On real text, in float64, the model with the adapter and the merged model must give the
# same logits up to rounding. We measure the largest difference relative to the logits'
# scale, `rel_error(a, b) = max|a − b| / max(|a|, |b|)`.

# %%
texts = [
    "Customer: Hello, my notes will not sync between my phone and my laptop.\nAgent:",
    "In the beginning God created the heavens and the earth.",
]
ids = [np.array(tokenizer.encode(t)) for t in texts]
print(f"{'text':<44}{'tokens':>7}{'adapter vs merged':>19}{'adapter vs base':>17}")
for text, x in zip(texts, ids):
    with_adapter = model.logits(x, ia3)  # (1, T, V)
    from_merged = merged.logits(x)
    from_base = model.logits(x)
    err = rel_error(with_adapter, from_merged)
    print(f"{text[:42]!r:<44}{len(x):>7}{err:>19.2e}{rel_error(with_adapter, from_base):>17.2e}")
    # The two compute the same products in a different order: only rounding can differ.
    assert err <= 1e-12, f"merged logits differ from the adapter's: relative error {err:.2e}"
    assert rel_error(with_adapter, from_base) > 1e-3  # the adapter does change the function
print("\nmerged == model + adapter to float64 rounding; the base model alone is far from both")

# %% [markdown]
# ## 7.4 It costs nothing at inference
#
# We time the forward pass through the blocks (`model.forward`, without the LM head, which is
# identical in all three cases) in float32, the dtype you would serve in. "With the adapter"
# adds three element-wise multiplications per block; the merged model runs the base model's
# code on arrays of the same shapes (checked below), so it does exactly the base model's work.
#
# A timing on a shared machine is noisy, so we measure it as a comparison: the three variants
# run one after another in each repeat (interleaved, so a busy moment hits all three), and each
# repeat gives the ratios *merged / base* and *with adapter / base*. The figure shows every
# repeat, the median and the range. What the lesson asserts is only what survives the noise:
# the extra work of the adapter is a tiny fraction of the forward's, and the merged forward
# costs what the base forward costs, within a factor of 1.5 either way (median over the
# repeats). Whether the unmerged adapter is measurably slower depends on the machine: the
# ratio is printed with its range, not asserted.

# %%
model32 = tinyia3.load_model(args.model)
ia3_32 = ia3.astype(np.float32)
merged32 = tinyia3.merge(model32, ia3_32)
B, T = (2, 64) if args.quick else (4, min(128, c.n_positions))
batch = np.random.default_rng(args.seed).integers(0, c.vocab_size, (B, T))
repeats = 7 if args.quick else 20
assert all(merged32.params[n].shape == w.shape and merged32.params[n].dtype == w.dtype
           for n, w in model32.params.items())  # the merged model: the base model's arrays, new values
runs = {
    "base model": lambda: model32.forward(batch),
    "with adapter": lambda: model32.forward(batch, ia3_32),
    "merged": lambda: merged32.forward(batch),
}
times = {name: [] for name in runs}
for fn in runs.values():
    fn()  # warm-up: first-call costs are not the forward's
for _ in range(repeats):
    for name, fn in runs.items():  # interleaved, so a busy moment of the machine hits all three
        t0 = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - t0)
times = {name: 1000 * np.array(t) for name, t in times.items()}  # ms, one entry per repeat
print(f"forward of a ({B}, {T}) batch through {c.n_layer} blocks, float32, {repeats} interleaved repeats:")
print(f"  {'':<13} {'median':>9} {'min':>9} {'max':>9}")
for name, t in times.items():
    print(f"  {name:<13} {np.median(t):6.2f} ms {t.min():6.2f} ms {t.max():6.2f} ms")
ratios = {name: times[name] / times["base model"] for name in ("with adapter", "merged")}  # per repeat
for name, r in ratios.items():
    print(f"  {name} / base: median {np.median(r):.3f}, range {r.min():.3f}-{r.max():.3f}")
assert 1 / 1.5 < np.median(ratios["merged"]) < 1.5, "merged forward should cost what the base forward costs"
t0 = time.perf_counter()
tinyia3.merge(model32, ia3_32)
print(f"merging itself takes {1000 * (time.perf_counter() - t0):.2f} ms, once")
block_weights = sum(w.size for name, w in model32.params.items() if name.startswith("h."))
extra, matmul = B * T * c.n_layer * (2 * c.n_embd + c.n_inner), B * T * block_weights
print(f"the adapter's extra work: {extra:,} multiplications per forward, next to {matmul:,} multiply-adds "
      f"in the blocks' matmuls ({100 * extra / matmul:.2f} %)")
assert extra < 0.01 * matmul  # under 1 % of the arithmetic

# Extra storage per task: the float32 adapter file as written, against a float32 model copy.
adapter32_path = ia3_32.save(args.out / "adapter_float32.safetensors")
adapter32_bytes = os.path.getsize(adapter32_path)
model_copy_bytes = sum(w.nbytes for w in model32.params.values())

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
for j, (name, t) in enumerate(times.items()):
    ax.plot(np.full(len(t), j) + np.linspace(-0.15, 0.15, len(t)), t, ".", color="tab:gray", alpha=0.6,
            label="one repeat" if j == 0 else None)
    ax.errorbar(j, np.median(t), yerr=[[np.median(t) - t.min()], [t.max() - np.median(t)]], fmt="o",
                color="tab:blue", capsize=6, label="median, min-max" if j == 0 else None)
    ax.text(j + 0.22, np.median(t), f"{np.median(t):.1f} ms", va="center", fontsize=8)
ax.set_xticks(range(len(times)), list(times))
ax.set_xlim(-0.5, len(times) - 0.2)
ax.set_ylabel("time per forward (ms)")
ax.set_title(f"Forward through the blocks, ({B}, {T}) tokens, {repeats} interleaved repeats\n"
             f"adapter/base {np.median(ratios['with adapter']):.2f} "
             f"[{ratios['with adapter'].min():.2f}-{ratios['with adapter'].max():.2f}], "
             f"merged/base {np.median(ratios['merged']):.2f} "
             f"[{ratios['merged'].min():.2f}-{ratios['merged'].max():.2f}]", fontsize=9)
ax.legend(fontsize=8)
storage = {"adapter file": adapter32_bytes / 1024, "merged model copy": model_copy_bytes / 1024}
bars = ax2.bar(list(storage), list(storage.values()), color=["tab:red", "tab:gray"])
ax2.bar_label(bars, labels=[f"{v:,.1f} KiB" for v in storage.values()], fontsize=8)
ax2.set_yscale("log")
ax2.set_ylabel("KiB on disk / in memory, float32 (log scale)")
ax2.set_title("Extra storage per task", fontsize=9)
fig.suptitle(f"Inference cost of IA³: separate adapter vs merged ({args.model})")
lesson.save(fig, args, "timing")

# %% [markdown]
# ## 7.5 Saving the adapter: tinyia3's file and PEFT's folder
#
# Before (or instead of) merging, the adapter is worth keeping as a file of its own: it is
# tiny. `ia3.save(path)` writes one safetensors file with the vectors by name and metadata
# (the base model and its shape, so loading onto a different model is refused).
# `ia3.save_peft(folder)` writes what Hugging Face PEFT reads: `adapter_config.json` and
# `adapter_model.safetensors`, with PEFT's layout. PEFT scales the fused q|k|v output of
# `c_attn` with one (3C, 1) vector; the paper scales only k and v, so the q slice is all ones.

# %%
own = ia3.save(args.out / "adapter.safetensors")
peft = ia3.save_peft(args.out / "adapter_peft", base_model_name_or_path=args.model)
for p in [own, *sorted(peft.iterdir())]:
    print(f"{p.stat().st_size:>10,} bytes  {p.relative_to(args.out)}")

tensors, metadata = read_safetensors(own)
print("\ntinyia3 file:", {k: list(v.shape) for k, v in tensors.items()}, metadata)
tensors, _ = read_safetensors(peft / "adapter_model.safetensors")
print("\nPEFT folder, first tensors:")
for key in sorted(tensors)[:2]:
    print(f"  {key}  {list(tensors[key].shape)}  {tensors[key].dtype}")
print("adapter_config.json:", json.dumps(json.loads((peft / "adapter_config.json").read_text())))

# %% [markdown]
# **Check.** Both load back to the same vectors: tinyia3's file exactly, PEFT's up to its float32
# storage, with an all-ones q slice read back as "no query scaling" (`l_q is None`).

# %%
back = tinyia3.IA3.load(own, model)
assert all(np.array_equal(back.named()[n], v) for n, v in ia3.named().items())
back_peft = tinyia3.IA3.load(peft, model)
assert back_peft.l_q is None
assert all(np.array_equal(back_peft.named()[n], v.astype(np.float32).astype(np.float64)) for n, v in ia3.named().items())
# The file holds the vectors in their own dtype: this lesson's adapter is float64 (it was made
# for the float64 model), so its file is twice the float32 one written in 7.4.
dtypes = {str(t.dtype) for t in read_safetensors(own)[0].values()}
own_bytes, data_bytes = os.path.getsize(own), sum(v.nbytes for v in ia3.named().values())
print(f"round trips exact; {ia3.num_parameters:,} numbers in {'/'.join(sorted(dtypes))}: file {own_bytes:,} bytes "
      f"({own_bytes / 1024:.1f} KiB, of which {data_bytes:,} bytes of numbers); the float32 adapter file of 7.4: "
      f"{adapter32_bytes:,} bytes; the float32 model: {model_copy_bytes / 2**20:.1f} MiB")
assert dtypes == {str(ia3.dtype)} == {"float64"} and data_bytes == 8 * ia3.num_parameters
assert data_bytes < own_bytes < data_bytes + 16_384  # the numbers and a small JSON header
assert 4 * ia3.num_parameters < adapter32_bytes < 4 * ia3.num_parameters + 16_384
assert adapter32_bytes < 0.01 * model_copy_bytes  # "tiny": under 1 % of a model copy

# %% [markdown]
# ## Summary
#
# * A per-channel scale next to a linear map folds into it: k and v scales into the columns
#   (and bias) of `c_attn`, FFN scales into the rows of `mlp.c_proj`.
# * `tinyia3.merge` returns a model that computes the same logits as model + adapter to
#   float64 rounding, and does exactly the base model's work (the same arrays and code); its
#   measured time is the base model's within a factor of 1.5 (median of interleaved repeats).
#   The unmerged adapter adds under 1 % of the arithmetic; its measured ratio is printed with
#   its range.
# * The adapter file is under 1 % of a model copy (in float32 here: the sizes are printed) and
#   can be exchanged in PEFT's format; merge only when one task is all you serve.
#
# ## Exercises
#
# 1. Write `unmerge(merged, ia3)` that recovers the base weights by dividing. Which scales
#    make it fail, and how large is the float32 error after merge + unmerge?
# 2. Merge in float16: cast the merged weights with `.astype(np.float16).astype(np.float32)`
#    and compare logits with model + adapter in float32. Is merging still free?
# 3. Two adapters trained on different tasks: is `merge(merge(model, a), b)` the same model as
#    merging the element-wise product `a · b`? Check it with `rel_error`.
# 4. Checked: `tinyia3 check merge` — fold an IA³ adapter into the weights.

# %%
print(f"\nlesson 7 done in {time.perf_counter() - start:.1f} s")
