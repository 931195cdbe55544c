# %% [markdown]
# # Lesson 2: GPT-2's forward pass, op by op
#
# Lesson 1 turned text into a (B, T, C) array of embeddings. This lesson takes that array
# through the whole network using nothing but the functions of `tinyia3.ops` on the model's
# own weights, printing the shape after every step, and checks that the result is exactly what
# `model.forward` computes. Then it puts IA³'s three vectors into the block and shows which
# arrays they change, and which they cannot.
#
# Shapes: B batch, T tokens, C = `n_embd`, H = `n_head`, D = C / H, F = `n_inner`, V = vocabulary.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import lesson, ops
from tinyia3.model import block_forward

args = lesson.setup(2, "GPT-2's forward pass, op by op")
model = tinyia3.load_model(args.model)
tokenizer = tinyia3.load_tokenizer(args.model)
config = model.config
C, H, F, L = config.n_embd, config.n_head, config.n_inner, config.n_layer
print(model)
print(f"C = {C}, H = {H}, D = C/H = {config.d_head}, F = {F}, L = {L} blocks")

sentence = "In the beginning, God created the heavens and the earth. God saw the light, and God said"
if args.quick:
    sentence = "In the beginning, God created the heavens and the earth. God said"
ids = np.array(tokenizer.encode(sentence))[None, :]  # (B=1, T)
B, T = ids.shape
tokens = [tokenizer.decode([i]) for i in ids[0]]
print(f"{T} tokens:", tokens)

# %% [markdown]
# ## 2.1 One block, the pre-LN equations
#
# GPT-2 is a stack of $L$ identical blocks. Each one reads the *residual stream* $x$
# (B, T, C) and adds two things to it, each computed from a layer-normalised copy:
#
# $$
# \begin{aligned}
# a &= \mathrm{ln\_1}(x), \qquad [q\,|\,k\,|\,v] = a\,W_\text{c\_attn} + b_\text{c\_attn} \\
# x &\leftarrow x + \mathrm{c\_proj}\Big(\mathrm{softmax}\big(\tfrac{q k^\top}{\sqrt{D}} + \text{mask}\big)\,v\Big)
#    \quad\text{(per head)} \\
# m &= \mathrm{ln\_2}(x), \qquad u = m\,W_\text{c\_fc} + b_\text{c\_fc} \\
# x &\leftarrow x + \mathrm{gelu}(u)\,W_\text{mlp.c\_proj} + b_\text{mlp.c\_proj}
# \end{aligned}
# $$
#
# Every line is one call to `tinyia3.ops`. The function below is those lines in order. It keeps
# each intermediate array in `acts`, by name, so that we can print and compare them. The IA³
# vectors `l` are optional: without them the block is plain GPT-2.

# %%
def block_by_hand(x, w, l=None, acts=None):
    """One GPT-2 block from tinyia3.ops. x (B, T, C) -> (B, T, C).

    w: the block's weights by checkpoint name (model.blocks[i]); l: optional IA³ vectors
    {"l_k": (C,), "l_v": (C,), "l_ff": (F,)}; acts: a dict that receives every intermediate."""
    acts = {} if acts is None else acts
    eps, T = config.layer_norm_epsilon, x.shape[1]
    acts["x (block input)"] = x  # (B, T, C)

    # --- attention -------------------------------------------------------------------------
    a, _ = ops.layer_norm_forward(x, w["ln_1.weight"], w["ln_1.bias"], eps, cache=False)  # (B, T, C)
    acts["a = ln_1(x)"] = a
    qkv, _ = ops.linear_forward(a, w["attn.c_attn.weight"], w["attn.c_attn.bias"], cache=False)  # (B, T, 3C)
    acts["qkv = c_attn(a)"] = qkv
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]  # (B, T, C) each
    acts["q"], acts["k"], acts["v"] = q, k, v
    if l is not None:  # IA³: one scale per key channel and per value channel
        k, _ = ops.ia3_scale_forward(k, l["l_k"], cache=False)  # (B, T, C) * (C,)
        v, _ = ops.ia3_scale_forward(v, l["l_v"], cache=False)  # (B, T, C) * (C,)
    acts["l_k ⊙ k"], acts["l_v ⊙ v"] = k, v
    qh, kh, vh = ops.split_heads(q, H), ops.split_heads(k, H), ops.split_heads(v, H)  # (B, H, T, D)
    allowed = ops.attention_mask(None, T, T)  # (1, 1, T, T): query t sees keys s <= t
    yh, (_, _, _, att) = ops.attention_forward(qh, kh, vh, allowed)  # (B, H, T, D); att (B, H, T, T)
    acts["att = softmax(q kᵀ/√D)"], acts["att v (per head)"] = att, yh
    y = ops.merge_heads(yh)  # (B, H, T, D) -> (B, T, C)
    y, _ = ops.linear_forward(y, w["attn.c_proj.weight"], w["attn.c_proj.bias"], cache=False)  # (B, T, C)
    acts["attn.c_proj(att v)"] = y
    x = x + y  # residual
    acts["x + attention"] = x

    # --- feed-forward (MLP) ----------------------------------------------------------------
    m, _ = ops.layer_norm_forward(x, w["ln_2.weight"], w["ln_2.bias"], eps, cache=False)  # (B, T, C)
    acts["m = ln_2(x)"] = m
    u, _ = ops.linear_forward(m, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"], cache=False)  # (B, T, F)
    acts["u = c_fc(m)"] = u
    g, _ = ops.gelu_forward(u, cache=False)  # (B, T, F)
    acts["gelu(u)"] = g
    if l is not None:  # IA³: one scale per hidden unit, after the non-linearity
        g, _ = ops.ia3_scale_forward(g, l["l_ff"], cache=False)  # (B, T, F) * (F,)
    acts["l_ff ⊙ gelu(u)"] = g
    h, _ = ops.linear_forward(g, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"], cache=False)  # (B, T, C)
    acts["mlp.c_proj(...)"] = h
    x = x + h  # residual
    acts["x (block output)"] = x
    return x


# %% [markdown]
# ## 2.2 Block 0 on a sentence
#
# The input of block 0 is the embedding of lesson 1, $x_t = \mathrm{wte}[\mathrm{id}_t] +
# \mathrm{wpe}[t]$. The table lists every intermediate with its shape and its root mean square
# (RMS), a sense of scale: layer norm brings its normalised $\hat x$ to RMS 1, so its output has
# about the RMS of its gain (within 20 %, checked for `ln_1` and `ln_2` below), and each residual
# addition makes the stream larger.

# %%
pos = np.arange(T)[None, :]  # (1, T)
x0 = ops.embedding_forward(ids, pos, model.params["wte.weight"], model.params["wpe.weight"])  # (B, T, C)
acts0 = {}
x1 = block_by_hand(x0, model.blocks[0], acts=acts0)  # (B, T, C)

print(f"{'block 0 step':<26} {'shape':<18} {'RMS':>8}")
for name, value in acts0.items():
    print(f"{name:<26} {str(value.shape):<18} {np.sqrt(np.mean(value.astype(np.float64) ** 2)):>8.3f}")

assert acts0["qkv = c_attn(a)"].shape == (B, T, 3 * C)
assert acts0["att = softmax(q kᵀ/√D)"].shape == (B, H, T, T)
assert acts0["u = c_fc(m)"].shape == (B, T, F)
assert x1.shape == x0.shape == (B, T, C)
att0 = acts0["att = softmax(q kᵀ/√D)"]
assert np.allclose(att0.sum(axis=-1), 1, atol=1e-5)  # each query's weights are a distribution
assert np.all(np.triu(att0[0, 0], k=1) == 0)  # causal: no weight on later tokens


def rms_of(a):
    return float(np.sqrt(np.mean(np.asarray(a, dtype=np.float64) ** 2)))


for out, gain in [("a = ln_1(x)", "ln_1.weight"), ("m = ln_2(x)", "ln_2.weight")]:
    ratio = rms_of(acts0[out]) / rms_of(model.blocks[0][gain])
    print(f"RMS of {out} / RMS of its gain {gain}: {ratio:.2f}")
    assert 0.8 < ratio < 1.2, (out, ratio)
stream_rms = [rms_of(acts0[n]) for n in ("x (block input)", "x + attention", "x (block output)")]
assert stream_rms[0] < stream_rms[1] < stream_rms[2]  # each residual addition makes it larger

# The package's own block does the same.
x1_package, _, _ = block_forward(x0, model.blocks[0], None, ops.attention_mask(None, T, T), config, cache=False)
print("max |by hand - tinyia3.model.block_forward| =", float(np.abs(x1 - x1_package).max()))
assert np.allclose(x1, x1_package, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## 2.3 All blocks, the final layer norm and the LM head
#
# After the last block comes one more layer norm, `ln_f`, and the language-model head. GPT-2's
# head is *tied* to the token embedding: the logit of token $j$ is the dot product of the final
# hidden state with row $j$ of `wte`,
#
# $$ \text{logits} = \mathrm{ln\_f}(x_L)\;\mathrm{wte}^\top \in \mathbb{R}^{B\times T\times V}. $$
#
# The whole model by hand must give what `model.forward` gives.

# %%
x = x0
records = []  # one acts dict per block
stream = [x0]  # the residual stream: the embedding, then the output of every block
for i in range(L):
    records.append({})
    x = block_by_hand(x, model.blocks[i], acts=records[-1])  # (B, T, C)
    stream.append(x)
hidden, _ = ops.layer_norm_forward(x, model.params["ln_f.weight"], model.params["ln_f.bias"],
                                   config.layer_norm_epsilon, cache=False)  # (B, T, C)
logits = hidden @ model.params["wte.weight"].T  # (B, T, C) @ (C, V) -> (B, T, V)
print(f"hidden {hidden.shape} -> logits {logits.shape}")

hidden_model, _, _ = model.forward(ids)  # (B, T, C)
print("max |by hand - model.forward| =", float(np.abs(hidden - hidden_model).max()))
assert logits.shape == (B, T, config.vocab_size)
assert np.allclose(hidden, hidden_model, rtol=1e-4, atol=1e-4)
assert np.allclose(logits, model.logits(ids), rtol=1e-4, atol=1e-3)

# What does the model expect after the sentence? log_softmax turns logits into log-probabilities.
logp = ops.log_softmax(logits[0, -1:].astype(np.float64))[0]  # (V,)
assert abs(np.exp(logp).sum() - 1) < 1e-9
print(f"after {sentence[-30:]!r} the model expects:")
for j in np.argsort(-logp)[:5]:
    print(f"   {tokenizer.decode([j])!r:<14} p = {np.exp(logp[j]):.3f}")

# %% [markdown]
# **Attention patterns.** Row $t$ of `att` is how query token $t$ spreads its attention over
# tokens $0 \ldots t$ (the mask makes the upper triangle exactly 0). In GPT-2 heads specialise:
# some look at the previous token, some at the first token (a common "resting place"). Do they
# here? For every head we measure the mean weight on the previous token and on the first token,
# against what uniform attention would give (query $t$ spreads $1/(t+1)$ over its keys). In this
# small model no head is a clean previous-token head (the largest mean weight is printed, far
# below 1), but some heads put more than twice the uniform weight on the first token.

# %%
queries = np.arange(1, T)  # query t >= 1 has a previous token
uniform = float(np.mean(1.0 / (queries + 1)))
on_prev = np.array([[records[i]["att = softmax(q kᵀ/√D)"][0][h, queries, queries - 1].mean() for h in range(H)]
                    for i in range(L)])  # (L, H)
on_first = np.array([[records[i]["att = softmax(q kᵀ/√D)"][0][h, queries, 0].mean() for h in range(H)]
                     for i in range(L)])  # (L, H)
for what, table in [("previous token", on_prev), ("first token", on_first)]:
    i, h = np.unravel_index(np.argmax(table), table.shape)
    print(f"mean weight on the {what:<14}: largest {table.max():.2f} (block {i}, head {h}); uniform {uniform:.2f}")
assert on_prev.max() < 0.5  # no clean previous-token head in this model
assert on_first.max() > 2 * uniform  # but first-token heads, yes

n_show = min(H, 4)
fig, axes = plt.subplots(2, n_show, figsize=(3.3 * n_show + 1, 7.4), squeeze=False, layout="constrained")
for row, layer in enumerate([0, L - 1]):
    att = records[layer]["att = softmax(q kᵀ/√D)"][0]  # (H, T, T)
    for head in range(n_show):
        ax = axes[row, head]
        image = ax.imshow(att[head], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"layer {layer}, head {head}", fontsize=10)
        ax.set_xticks(range(T), [repr(t)[1:-1] for t in tokens], rotation=90, fontsize=6)
        ax.set_yticks(range(T), [repr(t)[1:-1] for t in tokens], fontsize=6)
        if head == 0:
            ax.set_ylabel("query token (attends from)")
        if row == 1:
            ax.set_xlabel("key token (attends to)")
fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight (each row sums to 1)")
fig.suptitle(f"Attention weights of the first {n_show} heads in the first and last block ({L} blocks)")
lesson.save(fig, args, "attention_patterns")

# %% [markdown]
# **GELU.** The feed-forward non-linearity is GPT-2's tanh approximation of GELU,
#
# $$ \mathrm{gelu}(u) = \tfrac12\,u\,\Big(1 + \tanh\big(\sqrt{2/\pi}\,(u + 0.044715\,u^3)\big)\Big), $$
#
# close to ReLU for large $|u|$ but smooth, and slightly negative for $u < 0$ (its minimum is
# about −0.17 at $u \approx -0.75$). The grey histogram shows where block 0's actual
# pre-activations $u$ fall on this sentence.

# %%
grid = np.linspace(-5, 5, 1001)
gelu, gelu_cache = ops.gelu_forward(grid)
slope = ops.gelu_backward(np.ones_like(grid), gelu_cache)  # d gelu / du, from the op's backward
assert np.allclose(gelu[grid > 4], grid[grid > 4], atol=1e-3) and np.all(np.abs(gelu[grid < -4]) < 1e-3)
assert -0.18 < gelu.min() < -0.16 and abs(grid[np.argmin(gelu)] + 0.75) < 0.02

fig, ax = plt.subplots(figsize=(7.5, 4.5))
ax.plot(grid, gelu, color="tab:blue", linewidth=2, label="gelu(u), tanh approximation")
ax.plot(grid, np.maximum(grid, 0), color="gray", linestyle="--", label="relu(u) = max(u, 0)")
ax.plot(grid, slope, color="tab:orange", label="d gelu / du (ops.gelu_backward)")
ax.axhline(0, color="black", linewidth=0.6)
ax.set_xlabel("pre-activation u (dimensionless)")
ax.set_ylabel("output (dimensionless)")
ax.set_ylim(-0.6, 5)
hist_ax = ax.twinx()
u0 = acts0["u = c_fc(m)"].ravel()
hist_ax.hist(np.clip(u0, -5, 5), bins=100, color="gray", alpha=0.25,
             label=f"block 0 pre-activations ({u0.size:,} values)")
hist_ax.set_ylabel("count of block 0 pre-activations")
lines = ax.get_legend_handles_labels()
bars = hist_ax.get_legend_handles_labels()
ax.legend(lines[0] + bars[0], lines[1] + bars[1], fontsize=8, loc="upper left")
ax.set_zorder(hist_ax.get_zorder() + 1)
ax.patch.set_visible(False)
ax.set_title("GELU, the feed-forward non-linearity, and where its inputs fall")
lesson.save(fig, args, "gelu")

# %% [markdown]
# ## 2.4 Where IA³ acts
#
# IA³ (Liu et al. 2022) freezes every weight above and learns three vectors per block that
# rescale activations channel by channel:
#
# $$ \mathrm{softmax}\Big(\frac{q\,(l_k \odot k)^\top}{\sqrt{D}}\Big)(l_v \odot v),
#    \qquad (l_{ff} \odot \mathrm{gelu}(u))\,W_\text{mlp.c\_proj} + b_\text{mlp.c\_proj} . $$
#
# * $l_k, l_v \in \mathbb{R}^C$ act on $k$ and $v$ right after `c_attn`'s output is split, before
#   the heads are separated. Head $h$ therefore has its own slice `l_k[h*D:(h+1)*D]`: the
#   vector is per channel *across* heads.
# * $l_{ff} \in \mathbb{R}^F$ acts after GELU, before `mlp.c_proj`.
# * Queries are not scaled, and nothing before `c_attn` changes in the block itself.
#
# At $l = 1$ the model is unchanged. We run block 0 with a random adapter
# $l = 1 + 0.3\,\varepsilon$ (`IA3.random(model, std=0.3)`) and compare every intermediate with
# the run without an adapter.

# %%
ia3 = tinyia3.IA3.random(model, std=0.3, seed=args.seed)  # l_k, l_v (L, C); l_ff (L, F)
print(ia3)
acts_ia3 = {}
block_by_hand(x0, model.blocks[0], l=ia3.layer(0), acts=acts_ia3)

changes = {}
print(f"\n{'block 0 step':<26} {'shape':<16} {'relative change':>16}")
for name, before in acts0.items():
    after = acts_ia3[name]
    changes[name] = float(np.linalg.norm(after - before) / np.linalg.norm(before))
    print(f"{name:<26} {str(before.shape):<16} {changes[name]:>16.3g}"
          f"{'' if changes[name] else '   unchanged'}")

# Everything before the split, and the queries, are untouched; the scaled arrays change.
for name in ["x (block input)", "a = ln_1(x)", "qkv = c_attn(a)", "q", "k", "v"]:
    assert changes[name] == 0.0, name
for name in ["l_k ⊙ k", "l_v ⊙ v", "l_ff ⊙ gelu(u)"]:  # scaled by 1 + 0.3·N(0, 1): about 30 % change
    assert 0.2 < changes[name] < 0.4, (name, changes[name])
names_after_k = list(acts0)[list(acts0).index("l_k ⊙ k"):]
assert all(changes[name] > 0 for name in names_after_k)  # everything downstream moves, if only a little
assert np.array_equal(acts_ia3["l_k ⊙ k"], acts0["k"] * ia3.l_k[0])

# Per channel across heads: scaling k then splitting = splitting then scaling head h by its slice.
D = config.d_head
k_heads = ops.split_heads(acts0["k"], H)  # (B, H, T, D)
assert np.allclose(ops.split_heads(acts_ia3["l_k ⊙ k"], H), k_heads * ia3.l_k[0].reshape(1, H, 1, D))
print(f"\nl_k of block 0 as (H, D) = ({H}, {D}): head h scales its keys by l_k[h*{D}:(h+1)*{D}]")

# At l = 1 nothing changes at all, exactly.
acts_ones = {}
block_by_hand(x0, model.blocks[0], l=tinyia3.IA3.ones(model).layer(0), acts=acts_ones)
assert all(np.array_equal(acts_ones[name], acts0[name]) for name in acts0)

# The whole model by hand, with the adapter, agrees with model.forward(ids, ia3).
x = x0
for i in range(L):
    x = block_by_hand(x, model.blocks[i], l=ia3.layer(i))
hidden_ia3, _ = ops.layer_norm_forward(x, model.params["ln_f.weight"], model.params["ln_f.bias"],
                                       config.layer_norm_epsilon, cache=False)
assert np.allclose(hidden_ia3, model.forward(ids, ia3)[0], rtol=1e-4, atol=1e-4)

# Because each scale multiplies a linear layer's output channel (or input row), it folds into the
# weights: tinyia3.merge gives a plain GPT-2 with the same outputs and no adapter.
merged = tinyia3.merge(model, ia3)
assert np.allclose(merged.forward(ids)[0], hidden_ia3, rtol=1e-4, atol=1e-4)
print("by hand with IA³ == model.forward(ids, ia3) == merge(model, ia3).forward(ids)")

# %%
names = list(changes)
values = np.array([changes[n] for n in names])
colors = ["tab:gray" if v == 0 else ("tab:red" if n.startswith("l_") else "tab:blue") for n, v in zip(names, values)]
fig, ax = plt.subplots(figsize=(8, 6))
ax.barh(range(len(names)), values, color=colors)
for y, v in enumerate(values):
    if v == 0:
        ax.text(0.005, y, "0 (unchanged)", va="center", fontsize=8, color="tab:gray")
ax.set_yticks(range(len(names)), names, fontsize=9)
ax.invert_yaxis()  # the block's order, top to bottom
ax.set_xlabel("relative change ‖with IA³ − without‖ / ‖without‖  (dimensionless)")
ax.set_title("Block 0 with a random IA³ adapter (l = 1 + 0.3·N(0,1)): what changes")
ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in ["tab:red", "tab:blue", "tab:gray"]],
          labels=["scaled by an IA³ vector", "changed downstream of a scale", "unchanged"], fontsize=8,
          loc="lower right")
lesson.save(fig, args, "ia3_changes_block0")

# %% [markdown]
# **The residual stream through the network.** The left panel shows the RMS of $x$ per token
# after each block: blocks add to the stream, so it grows (its mean over tokens rises at every
# block, checked). The right panel shows how far the
# random adapter moves the stream, relative to its size: the change starts in block 0 and is
# carried up through every block above (each also adds its own).

# %%
stream_ia3 = [x0]
x = x0
for i in range(L):
    x = block_by_hand(x, model.blocks[i], l=ia3.layer(i))
    stream_ia3.append(x)
stream, stream_ia3 = np.stack(stream)[:, 0], np.stack(stream_ia3)[:, 0]  # (L + 1, T, C)
rms = np.sqrt(np.mean(stream.astype(np.float64) ** 2, axis=-1))  # (L + 1, T)
moved = np.linalg.norm(stream_ia3 - stream, axis=-1) / np.linalg.norm(stream, axis=-1)  # (L + 1, T)
assert rms.shape == moved.shape == (L + 1, T)
assert np.all(moved[0] == 0) and np.all(moved[1:] > 0)  # the embedding has no adapter; every block does
assert np.all(np.diff(rms.mean(axis=1)) > 0)  # the stream grows at every block

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
depth = np.arange(L + 1)
depth_labels = ["embedding"] + [f"block {i}" for i in range(L)]
ax.plot(depth, rms.mean(axis=1), "o-", color="tab:blue", label="mean over tokens")
ax.fill_between(depth, rms.min(axis=1), rms.max(axis=1), color="tab:blue", alpha=0.15, label="range over tokens")
ax.set_ylabel("RMS of the residual stream x (dimensionless)")
ax.set_yscale("log")
ax.set_title("Size of the residual stream (no adapter)")
ax2.plot(depth, 100 * moved.mean(axis=1), "s-", color="tab:red", label="mean over tokens")
ax2.fill_between(depth, 100 * moved.min(axis=1), 100 * moved.max(axis=1), color="tab:red", alpha=0.15,
                 label="range over tokens")
ax2.set_ylabel("‖x with IA³ − x without‖ / ‖x without‖  (%)")
ax2.set_title("How far a random IA³ adapter (std 0.3) moves it")
for a in (ax, ax2):
    a.set_xticks(depth, depth_labels, rotation=30 if L > 6 else 0, fontsize=8 if L > 6 else 10)
    a.set_xlabel("depth: output of the embedding or of block i")
    a.legend(fontsize=8)
fig.suptitle(f"The residual stream through the {L} blocks, on a {T}-token sentence")
lesson.save(fig, args, "residual_stream")

# %% [markdown]
# ## Summary
#
# * A GPT-2 block is these ops in order: `layer_norm`, `linear` (c_attn), split into q, k, v and heads,
#   `attention` (scores, causal mask, softmax, weighted sum), `linear` (c_proj) plus the residual;
#   `layer_norm`, `linear` (c_fc), `gelu`, `linear` (mlp.c_proj) plus the residual. After the last
#   block, `ln_f` and the tied head $\cdot\,\mathrm{wte}^\top$ give the logits (B, T, V).
# * Composed by hand from `tinyia3.ops`, they reproduce `model.forward` to float32 rounding.
# * IA³ multiplies exactly three arrays per block: the keys and values after `c_attn`'s split
#   (per channel, so each head has its own slice) and the GELU output before `mlp.c_proj`.
#   Everything upstream in the block is untouched; everything downstream changes. At $l = 1$ the
#   model is unchanged, and any $l$ can be folded into the weights (`tinyia3.merge`).
#
# ## Exercises
#
# 1. `on_prev` above holds the mean of `att[h, t, t-1]` over t for every block and head. Draw it
#    as an (L, H) heat map next to `on_first`. Which blocks hold the first-token heads? With
#    `--model gpt2` (if it is in your Hugging Face cache), is there a head whose weight mostly
#    (above 0.5) sits on the previous token?
# 2. Show that $q \cdot (l \odot k) = (l \odot q) \cdot k$: scaling the queries by a vector
#    changes the attention scores exactly as scaling the keys by the same vector does. Check it with
#    `ops.attention_forward` on block 0's q, k, v. What does this say about the extra query slice
#    that Hugging Face PEFT's IA³ learns on GPT-2 (lesson 4)?
# 3. Set `l_v` of block 0 to zeros. Which arrays of block 0 become zero, which do not, and why
#    does the model still produce sensible text? (Look at the residual connection.)
# 4. Checked: `tinyia3 check causal_attention` — one causal attention forward: scores, mask,
#    softmax, values.
