# %% [markdown]
# # Lesson 6: Inhibit and amplify
#
# IA³ stands for *Infused Adapter by Inhibiting and Amplifying Inner Activations*. Each of its
# vectors multiplies one activation channel by one learned number:
#
# $$ \mathrm{softmax}\!\left(\frac{Q\,(l_k \odot K)^\top}{\sqrt{d_\text{head}}}\right)(l_v \odot V),
#    \qquad (l_{ff} \odot \mathrm{gelu}(x W_1 + b_1))\,W_2 + b_2 .$$
#
# A scale below 1 **inhibits** its channel, above 1 **amplifies** it, and 1 leaves it alone.
# The three vectors act in different places, so they do different things:
#
# * `l_k` rescales key channels, so it changes the attention *scores*: **where** a head looks.
# * `l_v` rescales value channels: **what** a head carries once it has looked.
# * `l_ff` rescales FFN hidden units ("neurons"): **which features** are written back into the
#   residual stream, and through it, which tokens become likelier.
#
# In this lesson we train an adapter, then open it up: how many channels go each way, what it
# does to the held-out loss of every register the model knows, what happens to the activations
# on real text, to attention, and to the tokens that the most amplified and most inhibited
# neurons promote.

# %%
import re
import time

import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.data import Dataset, lm_batch, load_dataset, load_groups
from tinyia3.plots import (plot_activation_change, plot_attention_pair, plot_ia3_heatmaps, plot_neuron_tokens,
                           plot_scale_histograms)
from tinyia3.train import TrainConfig, evaluate, train

args = lesson.setup(6, "Inhibit and amplify")
start = time.perf_counter()

model = tinyia3.load_model(args.model)
tokenizer = tinyia3.load_tokenizer(args.model)
c = model.config
L_last = c.n_layer - 1
print(model)

# %% [markdown]
# ## 6.1 An adapter to look at
#
# The drama-style task of lesson 5, trained again (nothing is cached between lessons): 100 Adam
# steps at batch 8 (40 at batch 4 in quick mode) at lr 1e-1. The embedded model was pre-trained
# on four registers of English (scripture, drama, technical documentation, plain dictionary
# English); the adapter sees only drama. Remember that Adam moves every scale at about the same
# speed at first, so the *direction* each scale took (below or above 1) tells us more than its
# exact size.

# %%
DATA = lesson.ROOT / "data" / "datasets"
train_set = load_dataset(DATA / "drama_style_train.jsonl", tokenizer, c.n_positions)
heldout = load_dataset(DATA / "drama_style_heldout.jsonl", tokenizer, c.n_positions)
steps, batch_size = (40, 4) if args.quick else (100, 8)
eval_set = Dataset(heldout.kind, heldout.examples[:8], heldout.source)
config = TrainConfig(steps=steps, batch_size=batch_size, lr=1e-1, eval_every=steps, save_every=steps, seed=args.seed)
history = train(model, train_set, eval_set, args.out / "run", config, progress=False, overwrite=True)
ia3 = tinyia3.IA3.load(args.out / "run" / "adapter.safetensors", model)
print(ia3)
print(f"held-out loss {history[0]['eval']['loss']:.4f} -> {history[-1]['eval']['loss']:.4f}")

# %% [markdown]
# ## 6.2 How many channels go each way
#
# `ia3.summary(tol)` counts, per vector and layer, the channels below 1 − tol (inhibited) and
# above 1 + tol (amplified). The histograms show the whole distribution, with a dashed line at 1.

# %%
tol = 0.01
print(f"{'vector':<6}{'layer':>6}{'inhibited':>11}{'amplified':>11}{'unchanged':>11}{'min':>8}{'max':>8}")
for r in ia3.summary(tol):
    n = r["channels"]
    down, up = 100 * r["inhibited"] / n, 100 * r["amplified"] / n
    print(f"{r['vector']:<6}{r['layer']:>6}{down:>10.1f}%{up:>10.1f}%{100 - down - up:>10.1f}%"
          f"{r['min']:>8.3f}{r['max']:>8.3f}")

path = plot_scale_histograms(ia3, args.out / "scale_histograms.png", tol=tol,
                             title=f"IA³ scales after {steps} steps on drama_style: "
                                   "blue inhibited (<1), red amplified (>1)")
print(f"[figure] {path}")
path = plot_ia3_heatmaps(ia3, args.out / "scale_heatmaps.png",
                         title="IA³ scales by layer and channel (blue < 1 inhibited, red > 1 amplified)")
print(f"[figure] {path}")

# %% [markdown]
# **Check.** Every channel is counted exactly once, and training moved the scales away from
# their starting value of 1. At this rate some scales cross 0: those channels are sign-flipped,
# not damped — more than "inhibit" means. We count them.

# %%
for r in ia3.summary(tol):
    assert r["inhibited"] + r["amplified"] <= r["channels"]
moved = max(float(np.abs(v - 1).max()) for v in ia3.named().values())
assert moved > tol, "training left every scale at 1"
negative = {name: int((v < 0).sum()) for name, v in ia3.named().items()}
print(f"largest |l − 1| = {moved:.3f}; scales below 0: {negative} of {ia3.num_parameters:,}")

# %% [markdown]
# ## 6.3 Inhibit and amplify, register by register
#
# The adapter was trained on drama only. What did it do to the other three kinds of English the
# model knows? The held-out loss of every register (40 held-out windows of each, 10 in quick
# mode), before and after.

# %%
groups = load_groups(DATA / "registers_heldout.jsonl", tokenizer, c.n_positions)
register_change = {}
for name, group in groups.items():
    group = Dataset(group.kind, group.examples[:10] if args.quick else group.examples, group.source)
    b, a = evaluate(model, None, group)["loss"], evaluate(model, ia3, group)["loss"]
    register_change[name] = a - b
    print(f"{name:<10} {b:.3f} -> {a:.3f} nats per token ({a - b:+.3f})")

# %% [markdown]
# **Check.** The drama loss falls by more than 0.1 nats and every other register's rises by more
# than 0.05: the adapter amplifies the register it was trained on at the others' expense.

# %%
assert register_change["drama"] < -0.1, register_change
assert all(v > 0.05 for r, v in register_change.items() if r != "drama"), register_change

# %% [markdown]
# ## 6.4 What the scaling does to activations on real text
#
# The forward pass keeps a record of every block's activations by name (`record.blocks[i]`,
# a `BlockCache`). For an IA³ vector, `record.blocks[i].sites` holds the pair *(activation before scaling,
# the vector)*: `l_k` holds (k, l_k), `l_v` holds (v, l_v), `l_ff` holds (gelu output, l_ff).
# The base model is the adapter at all ones, so `IA3.ones(model)` gives a record of the same
# shape with nothing changed.
#
# For each channel j we average |activation| over every real token of a few held-out passages:
# before = the base model's, after = the adapted model's *after* its scaling. If only the
# scaling mattered, after / before would equal |l_j| exactly (a magnitude: a scale below 0 also
# flips the sign). That is true where nothing
# upstream changed, in layer 0's keys and values; deeper down every earlier scale has already
# changed the input, so the ratios scatter around the scale.

# %%
texts = heldout.examples[8:16] if not args.quick else heldout.examples[8:12]
ids, attention_mask, _ = lm_batch(texts)
real = attention_mask.astype(bool)  # (B, T): padding is not text
_, base_record, _ = model.forward(ids, tinyia3.IA3.ones(model), attention_mask, cache=True)
hidden_ia3, ia3_record, _ = model.forward(ids, ia3, attention_mask, cache=True)  # hidden after ln_f (B, T, C)
print(f"{int(real.sum())} tokens of held-out examples, batch {ids.shape}")


def magnitude(record, layer, name):
    """Mean |activation| per channel after the scaling, over real tokens: (channels,)."""
    x, l = record.blocks[layer].sites[name]  # (B, T, channels), (channels,)
    return np.abs(x * l)[real].mean(axis=0)


panels, correlation = {}, {}
for layer in (0, L_last):
    for name in ("l_k", "l_v", "l_ff"):
        scale = np.abs(ia3.named()[name][layer])  # (channels,): |l|, what a magnitude sees
        before, after = magnitude(base_record, layer, name), magnitude(ia3_record, layer, name)
        panels[f"layer {layer}: {name}"] = (before, after, scale)
        r = correlation[layer, name] = np.corrcoef(np.log(after / before), np.log(scale))[0, 1]
        print(f"layer {layer} {name:<5} correlation of log(after/before) with log|scale|: {r:.3f}")
path = plot_activation_change(panels, args.out / "activation_change.png",
                              title="Mean |activation| per channel on held-out text, base model vs with IA³")
print(f"[figure] {path}")

# %% [markdown]
# **Check.** Nothing below layer 0's keys and values is adapted, so there the activations
# *before* scaling are identical with and without the adapter, and after / before is exactly
# |l|. Elsewhere the ratios scatter, but log(after / before) still follows log |l| closely:
# correlation above 0.9 in every panel.

# %%
for name in ("l_k", "l_v"):
    x_base, _ = base_record.blocks[0].sites[name]
    x_ia3, l = ia3_record.blocks[0].sites[name]
    assert np.array_equal(x_base, x_ia3), f"layer 0 {name}: the input to the scaling changed"
    before, after, _ = panels[f"layer 0: {name}"]
    assert np.allclose(after / before, np.abs(l), rtol=1e-5)
assert min(correlation.values()) > 0.9, correlation
print("layer 0: k and v before scaling are identical; after/before = |l_k|, |l_v| to float32 precision")

# %% [markdown]
# ## 6.5 Where a head looks
#
# A key channel scaled by l_k changes every score q·k that uses it, so `l_k` redraws the
# attention pattern; `l_v` cannot (it acts after the softmax). The record's `attn` entry holds
# (q, k, v, att) with att (B, H, T, T). We find the head whose pattern changed most, on average
# over the examples, and draw it for the first one, with the base model on the same colour scale.

# %%
change = np.zeros((c.n_layer, c.n_head))
for layer in range(c.n_layer):
    att_base, att_ia3 = base_record.blocks[layer].attn.att, ia3_record.blocks[layer].attn.att  # (B, H, T, T)
    rows_changed = np.abs(att_ia3 - att_base).sum(axis=-1)  # (B, H, T): L1 change of each query's row
    change[layer] = rows_changed.transpose(0, 2, 1)[real].mean(axis=0)  # (H,), over real queries
print("mean L1 change of an attention row (0 = same pattern, 2 = disjoint), layer × head:")
print(np.array2string(change, precision=3))
layer, head = np.unravel_index(np.argmax(change), change.shape)
n_show = min(int(real[0].sum()), 40)
tokens = [tokenizer.decode([t]) for t in ids[0, :n_show]]
att_base = base_record.blocks[layer].attn.att[0, head, :n_show, :n_show]
att_ia3 = ia3_record.blocks[layer].attn.att[0, head, :n_show, :n_show]
path = plot_attention_pair(att_base, att_ia3, tokens, args.out / "attention_pair.png",
                           title=f"Layer {layer}, head {head} (the most changed) on the first {n_show} tokens "
                                 "of a held-out passage")
print(f"[figure] layer {layer}, head {head}: {path}")

# %% [markdown]
# **Check.** Both patterns are probability distributions over earlier tokens (rows sum to 1,
# nothing above the diagonal). And `l_v` cannot move the attention of its own layer: an adapter
# with only the trained `l_v` (l_k = l_ff = 1) leaves layer 0's attention bit-for-bit unchanged.
# In the layers above it is another matter: layer 0's rescaled values change the residual
# stream, so every later layer's queries and keys change too. We measure how much, as a share
# of the full adapter's change in the same layer.

# %%
for att in (att_base, att_ia3):
    assert np.allclose(att.sum(axis=-1), 1, atol=1e-5) and np.all(np.triu(att, 1) == 0)
only_v = tinyia3.IA3.ones(model)
only_v.l_v[...] = ia3.l_v
_, only_v_record, _ = model.forward(ids, only_v, attention_mask, cache=True)
assert np.array_equal(only_v_record.blocks[0].attn.att, base_record.blocks[0].attn.att)
change_v = np.zeros(c.n_layer)
for layer in range(c.n_layer):
    rows_v = np.abs(only_v_record.blocks[layer].attn.att - base_record.blocks[layer].attn.att).sum(axis=-1)
    change_v[layer] = rows_v.transpose(0, 2, 1)[real].mean()
share_v = change_v[1:] / change[1:].mean(axis=1)  # (L-1,): l_v alone / the full adapter, per layer
print("attention rows sum to 1; l_v alone leaves layer 0's attention unchanged")
print("mean L1 change of an attention row, l_v alone as a share of the full adapter's, layers 1..:",
      np.array2string(share_v, precision=2))
assert share_v.min() > 0.05, f"l_v alone barely moves the attention of later layers: {share_v}"

# %% [markdown]
# ## 6.6 Which tokens a neuron pushes: the logit lens
#
# FFN unit i of layer L adds h_i · W2[i] to the residual stream, where W2[i] is row i of
# `mlp.c_proj.weight` and h_i = l_ff[i] · gelu(…)_i. In the last layer nothing but the final
# layer norm stands between that row and the logits. The layer norm removes the mean over
# channels, divides by the standard deviation σ of the whole residual vector (one positive
# number per position, the same for every token of the vocabulary) and multiplies by its gain
# g = `ln_f.weight`. The logits are `wte @ ln_f(x)` (the LM head is tied to the embedding).
# So, if we ignore that σ itself moves a little (the check below comes back to this), one unit
# of activation of neuron i changes the logits by
#
# $$ \Delta z \approx \frac{1}{\sigma}\; W_{te}\,\big(g \odot (W_2[i] - \overline{W_2[i]})\big). $$
#
# The vector `wte @ (g * (w - w.mean()))` ranks the vocabulary: the tokens this neuron
# promotes when it fires (top) and those it suppresses (bottom). Amplifying the neuron
# (l_ff > 1) strengthens both; inhibiting it weakens both.
#
# Which units are the "most amplified"? Ranking by l_ff alone would rank near-ties: after
# lr·steps of Adam updates of one sign many scales sit close together, and a unit that is
# nearly silent on drama changes nothing however large its scale. So we rank by what the scale
# changes: s_i = (l_ff[i] − 1) × the unit's mean activation on the held-out passages (before
# scaling), the change of its average push along its lens. s > 0: the unit pushes its top
# tokens harder (amplified in effect); s < 0: less hard, or the other way if l_ff < 0
# (inhibited in effect).

# %%
W2 = model.params[f"h.{L_last}.mlp.c_proj.weight"]  # (F, C)
g = model.params["ln_f.weight"]  # (C,)
wte = model.params["wte.weight"]  # (V, C)
l_ff = ia3.l_ff[L_last]
mean_act = base_record.blocks[L_last].sites["l_ff"].x[real].mean(axis=0)  # (F,) before scaling
push = (l_ff - 1) * mean_act  # (F,) s_i: the change of each unit's mean push along its lens
by_push = np.argsort(push)  # most inhibited in effect first
n_each = 2
chosen = list(by_push[::-1][:n_each]) + list(by_push[:n_each])  # most amplified, most inhibited
k = 8


def logit_lens(i):
    w = W2[i] - W2[i].mean()  # the layer norm removes the mean over channels
    return wte @ (g * w)  # (V,)


def shown(t):
    return repr(tokenizer.decode([int(t)]))


neurons = []
print(f"layer {L_last}: the {n_each} most amplified and the {n_each} most inhibited FFN units\n")
print(f"{'unit':>5} {'l_ff':>6} {'s':>7}  {'pushes up (top ' + str(k) + ')':<62}  pushes down")
for i in chosen:
    lens = logit_lens(i)
    top, bottom = np.argsort(lens)[::-1][:k], np.argsort(lens)[:k]
    print(f"{i:>5} {l_ff[i]:>6.3f} {push[i]:>+7.3f}  {' '.join(shown(t) for t in top):<62}  "
          f"{' '.join(shown(t) for t in bottom)}")
    kind = "amplified" if push[i] > 0 else "inhibited"
    neurons.append({"label": f"layer {L_last}, unit {i}: l_ff = {l_ff[i]:.2f} ({kind})",
                    "top": [(tokenizer.decode([int(t)]), float(lens[t])) for t in top],
                    "bottom": [(tokenizer.decode([int(t)]), float(lens[t])) for t in bottom]})
path = plot_neuron_tokens(neurons, args.out / "neuron_tokens.png",
                          title=f"Logit lens of the most amplified and most inhibited FFN units of layer {L_last}",
                          xlabel="σ × logit change per unit of activation")
print(f"[figure] {path}")

# %% [markdown]
# **Check.** The lens is a first-order prediction, and it leaves something out: test it against
# the model. Switch unit i off with the adapter itself (l_ff[i] = 0, the extreme of inhibition):
# the residual stream at token t changes by δ_t = −h_i(t) W2[i]. The layer norm's exact first-order
# response to δ has *two* terms (x̂ is the normalised residual, P removes the mean):
#
# $$ \mathrm{ln_f}(x + \delta) - \mathrm{ln_f}(x) \approx \frac{g}{\sigma} \odot
#    \Big(P\delta \;-\; \hat x \,\frac{\hat x \cdot P\delta}{C}\Big). $$
#
# The first term, through `wte`, is the lens. The second moves each token's logits along its
# own x̂, i.e. in proportion to the logits it already had, like a small change of temperature:
# it says nothing about *which* tokens the unit favours, but it can dominate the average change
# when the unit carries much of the vector's norm. The logits are linear in the final hidden
# state, so the measured mean change is `wte @ mean(Δhidden)`; the sum of both terms must
# predict it. The ln_f record holds x̂ and 1/σ for every token.

# %%
xhat, rstd, _ = ia3_record.ln_f  # (B, T, C), (B, T, 1)
rstd = rstd[..., 0]  # (B, T)
C = c.n_embd
for i, neuron in zip(chosen, neurons):
    off = ia3.copy()
    off.l_ff[L_last, i] = 0.0
    hidden_off, _, _ = model.forward(ids, off, attention_mask)
    measured = wte @ (hidden_off - hidden_ia3)[real].mean(axis=0)  # (V,) mean change of the logits
    h_i = ia3_record.blocks[L_last].sites["l_ff"].x[..., i] * l_ff[i]  # (B, T) the unit's scaled activation
    w = W2[i] - W2[i].mean()  # P W2[i]
    lens_term = -logit_lens(i) * (h_i * rstd)[real].mean()  # (V,)
    along_xhat = ((h_i * rstd * (xhat @ w) / C)[..., None] * xhat)[real].mean(axis=0)  # (C,) −(second term)
    predicted = lens_term + wte @ (g * along_xhat)  # (V,)
    r_full = np.corrcoef(measured, predicted)[0, 1]
    r_lens = np.corrcoef(measured, lens_term)[0, 1]
    print(f"unit {i:>4}: measured vs first order (both terms) r = {r_full:.4f};  vs the lens term alone r = {r_lens:+.3f}")
    assert r_full > 0.95, f"unit {i}: the first-order layer-norm formula does not predict the ablation (r = {r_full:.3f})"

# %% [markdown]
# ## 6.7 Are those tokens typical of a register? Measured over many units
#
# Four units prove nothing: look at many. For the K = 100 units with the largest s (amplified in
# effect) and the 100 with the smallest (inhibited in effect), take each unit's top 20 lens
# tokens, and ask how typical they are of each register: the log-odds that a token of that
# register's held-out text (registers_heldout.jsonl, the held-out splits of the pre-training
# corpora) is one of them, minus the same for the other three registers' text together (add ½
# to every count). Positive: the tokens are commoner in that register than elsewhere. Subword
# noise is filtered by a rule fixed in advance: a token counts only if it is a whole word, a
# space and two or more ASCII letters (" thou", " lord"), not a fragment (" scapego", "ingly").
# The medians over the 100 units of each group, and over all units as the baseline:

# %%
K, n_top = 100, 20
vocab_words = np.array([bool(re.fullmatch(r" [A-Za-z]{2,}", tokenizer.decode([t]))) for t in range(c.vocab_size)])
counts = {}
for name, group in groups.items():
    counts[name] = np.bincount(np.concatenate([e.ids for e in group.examples]), minlength=c.vocab_size)
lens_all = (W2 - W2.mean(axis=1, keepdims=True)) * g @ wte.T  # (F, V): every unit's lens


def log_odds(units):
    """(units, registers): log-odds of each unit's top whole-word lens tokens, register vs the rest."""
    out = np.zeros((len(units), len(counts)))
    total = sum(counts.values())
    for row, i in enumerate(units):
        top = np.argsort(np.where(vocab_words, lens_all[i], -np.inf))[::-1][:n_top]
        for col, name in enumerate(counts):
            inside, rest = counts[name][top].sum(), total[top].sum() - counts[name][top].sum()
            n_in, n_rest = counts[name].sum(), total.sum() - counts[name].sum()
            out[row, col] = np.log((inside + 0.5) / (n_in - inside + 0.5)) - np.log((rest + 0.5) / (n_rest - rest + 0.5))
    return out


medians = {label: np.median(log_odds(units), axis=0) for label, units in
           [("amplified", by_push[::-1][:K]), ("inhibited", by_push[:K]), ("all units", np.arange(c.n_inner))]}
print(f"median log-odds over units, top {n_top} whole-word lens tokens; {' '.join(f'{r:>10}' for r in counts)}")
for label, m in medians.items():
    print(f"{label:<12}{' ' * 44}{' '.join(f'{v:>+10.2f}' for v in m)}")
ranks = l_ff[by_push[::-1][:K]]
print(f"l_ff of the {K} most amplified in effect: {ranks.min():.3f} to {ranks.max():.3f}; "
      f"units whose l_ff is within 0.01 of the {K}th largest l_ff: "
      f"{int(np.sum(np.abs(l_ff - np.sort(l_ff)[::-1][K - 1]) < 0.01))}")

# %% [markdown]
# **What this measures, and what it does not.** A tidy story would have the amplified units push
# drama's tokens and the inhibited ones push the other registers'. The table does not show it:
# in every register the two groups' medians differ by less than 0.4 in log-odds (a factor of
# 1.5; exercise 4 asks whether the drama difference keeps its sign over longer runs). Every row is highest in the scripture
# column, the baseline row of all units included: scripture's held-out text is made of few,
# common words, so any set of common whole words is commoner there — a bias of the measure,
# not of the adapter, which is why the groups are compared with each other and not with 0. So
# the lens of single last-layer units does not name the register the adapter amplifies; what
# moves the registers' losses (6.3) is spread over many channels and layers, and runs through
# paths the direct lens leaves out (the layers above, the layer norm's scale of 6.6).

# %%
diffs = medians["amplified"] - medians["inhibited"]  # (registers,)
print("amplified − inhibited, per register:", dict(zip(counts, np.round(diffs, 2))))
assert np.all(np.abs(diffs) < 0.4), f"the two groups differ by 0.4 or more somewhere: {dict(zip(counts, diffs))}"
scripture = list(counts).index("scripture")
assert all(int(np.argmax(m)) == scripture for m in medians.values()), medians

# %% [markdown]
# ## Summary
#
# * A trained IA³ adapter is a map of channels turned down (< 1) and up (> 1); the histograms
#   and heatmaps show how many, and where.
# * On real text, a channel's magnitude changes by its scale exactly where nothing upstream
#   changed (layer 0's keys and values); deeper, the changes compound, but the magnitude still
#   follows |l| closely (correlation of the logs above 0.9).
# * `l_k` redraws attention patterns; `l_v` leaves its own layer's attention alone and changes
#   what is carried — but only in layer 0 is attention untouched: above it, the rescaled values
#   change the residual stream, and the later layers' patterns move too (measured above as a
#   share of the full adapter's change).
# * Trained on drama alone, the adapter lowers the drama loss and raises every other
#   register's: it amplifies one register at the others' expense.
# * The logit lens, `wte @ (ln_f.weight * centred W2[i])`, names the tokens an FFN unit of the
#   last layer promotes and suppresses. Switching the unit off moves the logits exactly as the
#   first-order layer-norm formula says: the lens term, plus a temperature-like term along x̂.
# * Measured over the 100 units most amplified and the 100 most inhibited in effect, their
#   lens tokens are about equally typical of every register (medians within 0.4 in log-odds):
#   single last-layer units do not name the register the adapter amplifies.
# * IA³ turns such units up or down: that is all it can do. Lesson 5 measures that it is enough
#   to change what the model writes (the greedy drama form, before and after).
#
# ## Exercises
#
# 1. Repeat the logit-lens table and the ablation check for layer L − 2. Why does the
#    first-order formula stop predicting the measured change there? (What stands between that
#    layer and the logits?)
# 2. The histograms of a short run pile up at the edges. Train for 4× as many steps at a 4×
#    smaller rate and compare: which channels still move furthest?
# 3. Build an adapter by hand that inhibits only the unit whose lens pushes up a token you
#    choose (l_ff = 0.2 for it, ones elsewhere), and measure the token's probability on the
#    held-out passages with and without it.
# 4. Run 6.7 on adapters trained for 100, 300 and 600 steps. Does the amplified group's drama
#    column pull ahead of the inhibited group's, and does ranking by l_ff instead of s change
#    the table?
# 5. Checked: `tinyia3 check logit_lens` — the logit lens of a last-layer FFN unit.

# %%
print(f"\nlesson 6 done in {time.perf_counter() - start:.1f} s")
