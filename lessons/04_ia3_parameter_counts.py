# %% [markdown]
# # Lesson 4: How small is IA³? Parameters, bytes and memory
#
# IA³ learns three vectors per block and nothing else. This lesson counts what that means, for
# the embedded model and for every GPT-2 size, against the two usual alternatives:
#
# * **full fine-tuning**: every weight is trained;
# * **LoRA** (Hu et al. 2021): each adapted weight matrix $W \in \mathbb{R}^{n_\text{in}\times n_\text{out}}$
#   gets a low-rank update $W + A B$ with $A \in \mathbb{R}^{n_\text{in}\times r}$,
#   $B \in \mathbb{R}^{r\times n_\text{out}}$: $r\,(n_\text{in} + n_\text{out})$ trainable numbers per matrix.
#
# Only configurations are needed (no weights are downloaded): a GPT-2's shapes are fixed by
# `n_layer`, `n_embd`, `n_head`, `n_inner`, `n_positions` and `vocab_size`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import GPT2Config, IA3, lesson
from tinyia3.checkpoint import expected_shapes, read_safetensors

args = lesson.setup(4, "How small is IA³? Parameters, bytes and memory")
model = tinyia3.load_model(args.model)
print(model)

# %% [markdown]
# ## 4.1 IA³ on one model, layer by layer
#
# Each block has $l_k, l_v \in \mathbb{R}^{C}$ and $l_{ff} \in \mathbb{R}^{F}$, so
#
# $$ N_\text{IA³} = L\,(2C + F), $$
#
# with $L$ blocks, width $C$ = `n_embd` and feed-forward width $F$ = `n_inner` (4C in GPT-2).

# %%
config = model.config
ia3 = IA3.ones(config)
L, C, F = config.n_layer, config.n_embd, config.n_inner
print(f"{'block':<7} {'l_k':>7} {'l_v':>7} {'l_ff':>7} {'total':>8}")
for i in range(L):
    vectors = ia3.layer(i)  # {"l_k": (C,), "l_v": (C,), "l_ff": (F,)}
    sizes = [vectors[name].size for name in ("l_k", "l_v", "l_ff")]
    print(f"{i:<7} {sizes[0]:>7,} {sizes[1]:>7,} {sizes[2]:>7,} {sum(sizes):>8,}")
print(f"{'all':<7} {L * C:>7,} {L * C:>7,} {L * F:>7,} {ia3.num_parameters:>8,}")

total = model.num_parameters()
assert ia3.num_parameters == L * (2 * C + F)
assert total == config.num_parameters()  # the formula agrees with the weights actually loaded
print(f"\nmodel: {total:,} parameters; IA³: {ia3.num_parameters:,} = {100 * ia3.num_parameters / total:.4f} % of it")

# %% [markdown]
# ## 4.2 The GPT-2 family
#
# The same count for every published GPT-2 size, from configurations alone. GPT-2 small is
# `GPT2Config()` with its defaults: 124,439,808 parameters, of which 38.6 M are the token
# embedding `wte` (the LM head is tied to it and counted once).

# %%
family = {
    "distilgpt2": GPT2Config(n_layer=6, n_embd=768, n_head=12),
    "gpt2": GPT2Config(),
    "gpt2-medium": GPT2Config(n_layer=24, n_embd=1024, n_head=16),
    "gpt2-large": GPT2Config(n_layer=36, n_embd=1280, n_head=20),
    "gpt2-xl": GPT2Config(n_layer=48, n_embd=1600, n_head=25),
}
this_model = os.path.basename(str(args.model).rstrip("/\\"))  # "embedded", "gpt2" or a folder's name
models = dict(family)
if not any(config == c for c in family.values()):
    models = {this_model: config, **family}  # the model this lesson runs on, first

# Published totals of the Hugging Face checkpoints: the formula must reproduce them.
published = {"distilgpt2": 81_912_576, "gpt2": 124_439_808, "gpt2-medium": 354_823_168,
             "gpt2-large": 774_030_080, "gpt2-xl": 1_557_611_200}
for name, n in published.items():
    assert family[name].num_parameters() == n, (name, family[name].num_parameters())
    assert sum(int(np.prod(s)) for s in expected_shapes(family[name]).values()) == n
assert IA3.ones(family["gpt2"]).num_parameters == 55_296  # 12 × (768 + 768 + 3072)

# %% [markdown]
# ## 4.3 Against full fine-tuning and LoRA
#
# LoRA's count depends on which matrices it adapts, so we state it. Two common choices for
# GPT-2, both at rank $r = 8$:
#
# * **LoRA on `c_attn`** (the fused q|k|v projection, $C \times 3C$): the usual GPT-2 setting
#   (PEFT's default target for GPT-2). Per block $r\,(C + 3C)$.
# * **LoRA on `c_attn` and `mlp.c_proj`** ($F \times C$): the same two modules that PEFT's IA³
#   targets on GPT-2, for a like-for-like comparison. Per block $r\,(C + 3C) + r\,(F + C)$.
#
# The shapes come from the checkpoint layout (`checkpoint.expected_shapes`), not from a formula
# typed here. We also list **PEFT's IA³**, which scales the whole `c_attn` output, queries
# included: $L\,(3C + F)$, 64,512 on GPT-2 small.

# %%
RANK = 8


def lora_count(config, modules, r=RANK):
    """Trainable numbers of rank-r LoRA on the given weight matrices of every block: r (in + out) each."""
    shapes = expected_shapes(config)
    return sum(r * sum(shapes[f"h.{i}.{m}.weight"]) for i in range(config.n_layer) for m in modules)


METHODS = {  # short column name -> what it means (figure legend)
    "full FT": "full fine-tuning (every weight)",
    "LoRA qkv+ff": f"LoRA r={RANK} on c_attn + mlp.c_proj",
    "LoRA qkv": f"LoRA r={RANK} on c_attn only",
    "IA³ PEFT": "IA³ as in PEFT (l_q, l_k, l_v, l_ff)",
    "IA³": "IA³ as in the paper (l_k, l_v, l_ff)",
}


def counts(config):
    """Trainable parameters of each method on a model of this shape."""
    return {
        "full FT": config.num_parameters(),
        "LoRA qkv+ff": lora_count(config, ["attn.c_attn", "mlp.c_proj"]),
        "LoRA qkv": lora_count(config, ["attn.c_attn"]),
        "IA³ PEFT": config.n_layer * (3 * config.n_embd + config.n_inner),
        "IA³": IA3.ones(config).num_parameters,
    }


table = {name: counts(c) for name, c in models.items()}
assert table["gpt2"]["LoRA qkv"] == 294_912  # 12 × 8 × (768 + 2304)
assert table["gpt2"]["LoRA qkv+ff"] == 663_552  # + 12 × 8 × (3072 + 768)
assert table["gpt2"]["IA³ PEFT"] == 64_512  # 12 × (2304 + 3072)

for short, long in METHODS.items():
    print(f"{short:<12} {long}")
print(f"\n{'model':<14} {'L x C':>10} " + " ".join(f"{m:>14}" for m in METHODS) + "   IA³ share")
for name, row in table.items():
    c = models[name]
    print(f"{name:<14} {f'{c.n_layer} x {c.n_embd}':>10} " + " ".join(f"{n:>14,}" for n in row.values())
          + f"   {100 * row['IA³'] / row['full FT']:.4f} %")

# %% [markdown]
# ## 4.4 Memory for training, and bytes on disk
#
# Every method keeps the frozen weights in memory (4 bytes each in float32). What differs is
# the *training state* of the trainable numbers: a gradient and Adam's two moments, three more
# float32 per trainable number,
#
# $$ \text{extra memory} = 3 \times N_\text{trainable} \times 4\ \text{bytes}. $$
#
# (Activations saved for the backward pass come on top for every method and depend on batch and
# sequence length: section 4.5 measures them.) On disk, a fine-tuned model is a full copy of the
# weights, while an adapter holds only its trainable numbers.

# %%
def human(n_bytes):
    """Bytes as a short readable string, in powers of 1024."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024


print(f"{'model':<14} {'weights fp32':>13}   training state (gradient + Adam m, v):")
print(f"{'':<14} {'':>13} " + " ".join(f"{m:>12}" for m in METHODS))
gpt2_row = table["gpt2"]  # the summary's figures for GPT-2 small, as it states them
assert round(family["gpt2"].vocab_size * family["gpt2"].n_embd / 1e6, 1) == 38.6  # wte: 38.6 M
assert round(100 * gpt2_row["IA³"] / gpt2_row["full FT"], 3) == 0.044  # 0.044 %
assert [round(gpt2_row[m] / gpt2_row["IA³"]) for m in ("LoRA qkv", "LoRA qkv+ff")] == [5, 12]  # about 5×, 12×
assert round(gpt2_row["full FT"] / gpt2_row["IA³"], -1) == 2250  # about 2,250×
assert round(3 * 4 * gpt2_row["IA³"] / 2**20, 1) == 0.6 and round(3 * 4 * gpt2_row["full FT"] / 2**30, 1) == 1.4
for name, row in table.items():
    weights = 4 * row["full FT"]
    print(f"{name:<14} {human(weights):>13} " + " ".join(f"{human(3 * 4 * n):>12}" for n in row.values()))

# %% [markdown]
# Now an actual adapter on disk. `IA3.save` writes one safetensors file: a small JSON header
# (names, shapes, the base model's shape) and the float32 numbers; `IA3.save_peft` writes the
# folder Hugging Face PEFT reads. We measure both for GPT-2 small (no weights needed: the adapter
# only needs the configuration) and for the model of this lesson.

# %%
adapters = {}
for name, c in [("gpt2", family["gpt2"]), (this_model, config)]:
    vectors = IA3.ones(c)
    path = vectors.save(args.out / f"ia3_{name}.safetensors")
    size = os.path.getsize(path)
    adapters[name] = (vectors.num_parameters, size)
    print(f"{name:<14} {vectors.num_parameters:>8,} numbers x 4 bytes = {4 * vectors.num_parameters:>9,} bytes; "
          f"file {size:>9,} bytes ({human(size)}): header {size - 4 * vectors.num_parameters:,} bytes")
    assert 4 * vectors.num_parameters < size < 4 * vectors.num_parameters + 16_384  # data + a small header
assert adapters["gpt2"][0] == 55_296 and 216 * 1024 < adapters["gpt2"][1] < 232 * 1024  # ≈ 216 KiB

peft_folder = IA3.ones(family["gpt2"]).save_peft(args.out / "ia3_gpt2_peft", "gpt2")
tensors, _ = read_safetensors(peft_folder / "adapter_model.safetensors")
peft_numbers = sum(t.size for t in tensors.values())
peft_size = os.path.getsize(peft_folder / "adapter_model.safetensors")
print(f"PEFT folder for gpt2: {len(tensors)} tensors, {peft_numbers:,} numbers, {peft_size:,} bytes "
      f"(the q slice adds {peft_numbers - 55_296:,} ones)")
assert peft_numbers == 64_512 == table["gpt2"]["IA³ PEFT"]
full_size = 4 * family["gpt2"].num_parameters()
print(f"a fine-tuned GPT-2 small in fp32: {human(full_size)}, {full_size / adapters['gpt2'][1]:,.0f} times the IA³ file")

# %% [markdown]
# ## 4.5 Activations: what the forward keeps for the backward
#
# The forward pass keeps an *activation record* (`ForwardCache`, a `BlockCache` per block) with
# what the backward reads. A linear layer's input is needed only for its weight gradient, so
# the record keeps it only when the adapter trains that weight: full fine-tuning keeps the
# inputs of `c_attn`, `attn.c_proj` and `mlp.c_fc` (the layer-norm output $a$, the merged heads
# $y$, the layer-norm output $m$: $3C$ numbers per token and block), IA³ does not. Nor does IA³
# keep what it scaled twice: its backward needs the unscaled keys and values and the GELU output
# $a$ (for $\bar l = \sum \bar y \odot x$), and the attention backward the scaled $l_k \odot k$,
# $l_v \odot v$. The record keeps the unscaled ones (views of `c_attn`'s output, kept anyway) and
# GELU's input and $\tanh$, and the backward rebuilds $l_k \odot k$, $l_v \odot v$ and
# $a = \tfrac12 x (1 + \tanh u)$ from them, bit for bit (`tests/test_activation_record.py`).
# Full fine-tuning keeps $a$ as `mlp.c_proj`'s input. Counting every buffer of the record
# (`ForwardCache.activation_nbytes`; a view counts its whole buffer, weights are left out), per
# token and block in numbers:
#
# $$ \text{full FT: } 8C + 3F + 2 + H\,T, \qquad \text{IA³: } 5C + 2F + 2 + H\,T, $$
#
# where the common part is: two layer norms' $\hat x$ and $1/\sigma$ ($2C + 2$), the fused
# q|k|v output ($3C$, of which the attention keeps views), the attention weights ($H\,T$ per
# query), and GELU's input and its $\tanh$ ($2F$); $\mathrm{ln_f}$ adds $C + 1$ per token. IA³'s
# record is exactly the bare model's (the inference record): IA³ adds no activation memory, and
# saves $3C + F$ per token and block against full fine-tuning, about a third, measured
# below, next to the factor of thousands it saves on the training state of 4.4.

# %%
B_act, T_act = (2, 64) if args.quick else (4, min(128, config.n_positions))
ids = np.random.default_rng(args.seed).integers(0, config.vocab_size, (B_act, T_act))  # (B, T)
variants = {"full FT": tinyia3.FullFineTune.of(model), "IA³": IA3.ones(model),
            f"LoRA r={RANK} on c_attn": tinyia3.LoRA.init(model, r=RANK, alpha=2 * RANK, targets=("attn.c_attn",)),
            "no adapter (inference)": None}
record_bytes = {}
for name, adapter in variants.items():
    _, record, _ = model.forward(ids, adapter, cache=True)
    record_bytes[name] = record.activation_nbytes(model.params.values())
H, item = config.n_head, np.dtype(model.dtype).itemsize
per_token = {"full FT": 8 * C + 3 * F + 2 + H * T_act, "IA³": 5 * C + 2 * F + 2 + H * T_act}
print(f"activation record of a ({B_act}, {T_act}) batch, {np.dtype(model.dtype).name}:")
for name, n in record_bytes.items():
    print(f"  {name:<24} {human(n):>10}   {n / record_bytes['full FT']:.3f} of full FT")
for name, numbers in per_token.items():  # the formula above, to the byte
    assert record_bytes[name] == item * B_act * T_act * (L * numbers + C + 1), name
ia3_share = record_bytes["IA³"] / record_bytes["full FT"]
assert record_bytes["IA³"] == record_bytes["no adapter (inference)"]  # IA³ adds nothing to the record
assert 0.6 < ia3_share < 0.75, ia3_share  # about a third less than full fine-tuning
print(f"IA³ keeps {100 * (1 - ia3_share):.1f} % less than full fine-tuning; "
      f"the training state of 4.4 is {table.get(this_model, table['gpt2'])['full FT'] // ia3.num_parameters:,}× smaller")

# %%
names = list(table)
colors = dict(zip(METHODS, ["tab:gray", "tab:purple", "tab:blue", "tab:olive", "tab:red"]))
width = 0.8 / len(METHODS)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5.4), layout="constrained")
for j, method in enumerate(METHODS):
    xs = np.arange(len(names)) + (j - (len(METHODS) - 1) / 2) * width
    values = np.array([table[n][method] for n in names], dtype=float)
    ax.bar(xs, values, width, color=colors[method], label=METHODS[method])
    ax2.bar(xs, 3 * 4 * values / 2**20, width, color=colors[method], label=METHODS[method])
for j, n in enumerate(names):  # the IA³ count written above its bar
    x = j + (len(METHODS) - 1) / 2 * width
    ax.text(x, table[n]["IA³"] * 1.3, f"{table[n]['IA³']:,}", ha="center", va="bottom", fontsize=7,
            rotation=90, color="tab:red")
ax.set_yscale("log")
ax.set_ylabel("trainable parameters (log scale)")
ax.set_title("Trainable parameters")
ax2.set_yscale("log")
ax2.set_ylabel("gradient + Adam m, v in float32 (MiB, log scale)")
ax2.set_title("Extra memory to train them: 3 × trainable × 4 bytes")
for y, label in [(1, "1 MiB"), (1024, "1 GiB")]:
    ax2.axhline(y, color="black", linewidth=0.6, linestyle=":")
    ax2.text(-0.45, y * 1.1, label, ha="left", va="bottom", fontsize=8)
for a in (ax, ax2):
    a.set_xticks(range(len(names)), [f"{n}\n{models[n].n_layer} × {models[n].n_embd}" for n in names], fontsize=8)
    a.set_xlabel("model (blocks × width)")
ax.legend(fontsize=8, loc="upper left")
fig.suptitle(f"Full fine-tuning vs LoRA (rank {RANK}) vs IA³ across GPT-2 sizes")
lesson.save(fig, args, "trainable_parameters")

# %% [markdown]
# ## Summary
#
# * IA³ trains $L\,(2C + F)$ numbers: 55,296 on GPT-2 small, 0.044 % of its 124,439,808
#   parameters, a 216 KiB float32 file. PEFT's variant also scales queries: 64,512.
# * Rank-8 LoRA on `c_attn` alone trains about 5× more (294,912), on `c_attn` and `mlp.c_proj`
#   12× more (663,552); full fine-tuning about 2,250× more.
# * With Adam, each trainable number costs three more float32 during training: about 0.6 MiB for
#   IA³ on GPT-2 small against about 1.4 GiB for full fine-tuning. The frozen weights are needed
#   by all three methods alike. IA³'s activation record is the bare model's, about a third
#   smaller than full fine-tuning's (it keeps neither the $3C$ frozen layers' inputs per token
#   and block nor the $F$-wide GELU output, which its backward rebuilds), measured to the byte
#   in 4.5.
#
# ## Exercises
#
# 1. For which rank $r$ does LoRA on `c_attn` alone have as many trainable numbers as IA³ on
#    GPT-2 small? Is there such an integer $r$ for every GPT-2 size?
# 2. GPT-2's `wte` is 38.6 M of GPT-2 small's 124 M parameters. How much smaller would the full
#    fine-tuning state be if the embedding stayed frozen? Does that change the picture?
# 3. Save the adapter in float16 (`ia3.astype(np.float16)` before saving, then load it back with
#    `IA3.load`): how large is the file, and how far from the float32 values are the loaded scales?
#    Is that error small compared with how far training typically moves a scale from 1?
# 4. Checked: `tinyia3 check adapter_sizes` — IA³'s and LoRA-on-c_attn's trainable numbers from
#    a config.
