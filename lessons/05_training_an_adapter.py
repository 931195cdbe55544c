# %% [markdown]
# # Lesson 5: Training an adapter
#
# Until now the IA³ vectors were all ones, or random numbers we made up. In this lesson we
# *learn* them. The model stays frozen; only the three vectors per block change:
#
# * `l_k` (n_embd) rescales the attention keys,
# * `l_v` (n_embd) rescales the attention values,
# * `l_ff` (n_inner) rescales the hidden units of the feed-forward network.
#
# We fine-tune on two small tasks that ship in `data/datasets/`:
#
# 1. **drama_style**: passages of Shakespeare's dialogue. The embedded model was pre-trained on
#    four kinds of English (scripture, drama, technical documentation, plain dictionary
#    English); the adapter should make it *write* drama — speaker lines such as `KING.`, "thou",
#    "hath" — even when the prompt opens a sentence of another register.
# 2. **bible_names**: a short sentence ending in a Bible name and "a", then one of two
#    answers, `" man"` or `" city"`, chosen by *rank classification*. The model has read
#    every name many times in pre-training but has never been asked this question.
#
# We call the package's training loop, `tinyia3.train.train`, and look at what it gives back.

# %%
import time

import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.data import Dataset, load_dataset, mc_batch
from tinyia3.forms import read_prompts, style_shift
from tinyia3.losses import choice_scores
from tinyia3.plots import plot_bar_panels, plot_loss_curves
from tinyia3.train import TrainConfig, evaluate, train

args = lesson.setup(5, "Training an adapter")
start = time.perf_counter()

model = tinyia3.load_model(args.model)
tokenizer = tinyia3.load_tokenizer(args.model)
c = model.config
print(model)
print(f"{c.n_layer} layers, n_embd={c.n_embd}, n_inner={c.n_inner}, context {c.n_positions} tokens")

# %% [markdown]
# ## 5.1 The data
#
# A dataset file is JSON Lines. `load_dataset` tokenizes it and recognises the task from the
# fields: `{"text"}` is language modelling on every token; `{"prompt", "completion"}` scores only
# the completion; `{"prompt", "choices", "label"}` is multiple choice.

# %%
DATA = lesson.ROOT / "data" / "datasets"
drama_train = load_dataset(DATA / "drama_style_train.jsonl", tokenizer, c.n_positions)
drama_heldout = load_dataset(DATA / "drama_style_heldout.jsonl", tokenizer, c.n_positions)
names_train = load_dataset(DATA / "bible_names_train.jsonl", tokenizer, c.n_positions)
names_heldout = load_dataset(DATA / "bible_names_heldout.jsonl", tokenizer, c.n_positions)
for name, d in [("drama_style train", drama_train), ("drama_style held-out", drama_heldout),
                ("bible_names train", names_train), ("bible_names held-out", names_heldout)]:
    print(f"{name:<26} {len(d):>4} examples, kind {d.kind!r}")

example = drama_train.examples[0]
print(f"\nFirst drama example: {len(example.ids)} tokens, every one scored:")
print(tokenizer.decode(example.ids))

# %% [markdown]
# ## 5.2 What is being minimised
#
# For the drama passages the loss is the mean next-token cross-entropy over their tokens S, with the pretrained weights θ frozen and only l = (l_k, l_v, l_ff) free:
#
# $$ \mathcal{L}(l) = -\frac{1}{|S|} \sum_{t \in S} \log p_{\theta, l}(y_t \mid y_{<t}). $$
#
# The optimiser is Adam. Its step for each scale is
# $l \leftarrow l - \eta_s \, \hat m / (\sqrt{\hat v} + \epsilon)$, with the learning rate η_s
# warmed up over the first 6 % of the steps and then decayed linearly to 0 (the T-Few recipe).
# There is no weight decay: decay pulls a parameter toward 0, and for a scale 0 means
# "switch the channel off", whereas "leave it alone" is 1.
#
# The paper trains 1,000 steps at η = 3e-3. A lesson has a minute or two, so we take 300 steps
# (100 at batch 4 in quick mode) at η = 1e-1, the rate the method comparison of lesson 9 found best for IA³
# on this task. Because Adam divides by √v̂, every scale moves by roughly η per step at first,
# whatever the size of its gradient: after N steps, no scale is further than about η·N/2 from 1
# — at this rate far enough for some scales to cross 0 (we count them below).

# %%
steps = 100 if args.quick else 300
batch_size = 4 if args.quick else 8
lr = 1e-1
# Evaluating all 60 held-out passages at every checkpoint would slow the lesson down; a fixed
# slice of them is enough to see the curve. Every evaluation uses the same slice.
n_eval = 16 if args.quick else 60
drama_eval = Dataset(drama_heldout.kind, drama_heldout.examples[:n_eval], drama_heldout.source)

ia3_count = tinyia3.IA3.ones(model).num_parameters
print(f"trainable: {ia3_count:,} scales = {c.n_layer} × ({c.n_embd} + {c.n_embd} + {c.n_inner}), "
      f"{100 * ia3_count / model.num_parameters():.3f} % of the model's {model.num_parameters():,} weights")

frozen = {name: w.copy() for name, w in model.params.items()}  # to check that training leaves them alone
config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, eval_every=max(1, steps // 4),
                     save_every=steps, seed=args.seed)
drama_history = train(model, drama_train, drama_eval, args.out / "drama_run", config, progress=False, overwrite=True)
drama_ia3 = tinyia3.IA3.load(args.out / "drama_run" / "adapter.safetensors", model)

# %% [markdown]
# `train` returned the history: one record per step (`loss`, `lr`, `grad_norm`) and an
# `eval` record at step 0 (before any training) and every `eval_every` steps. It also wrote
# the adapter to `adapter.safetensors` in the run folder, which we just loaded back.

# %%
evals = [(h["step"], h["eval"]["loss"]) for h in drama_history if "eval" in h]
print("held-out loss per token:")
for step, value in evals:
    print(f"  step {step:>3}: {value:.4f}")
before_loss, after_loss = evals[0][1], evals[-1][1]
print(f"perplexity {np.exp(before_loss):.1f} -> {np.exp(after_loss):.1f}")

path = plot_loss_curves({"IA³ on drama_style": drama_history}, args.out / "loss_curves.png",
                        title=f"IA³ fine-tuning on drama_style ({steps} steps, batch {batch_size}, lr {lr:g})",
                        ylabel="cross-entropy (nats per token)")
print(f"[figure] {path}")

# %% [markdown]
# **Check.** The held-out loss (passages from scenes the adapter never saw) must have gone down
# by a clear margin — 0.3 nats in quick mode, 0.45 in full —
# and the pretrained weights must be exactly as they were.

# %%
min_drop = 0.3 if args.quick else 0.45
assert before_loss - after_loss > min_drop, f"held-out loss fell by less than {min_drop}: {before_loss:.4f} -> {after_loss:.4f}"
assert all(np.array_equal(model.params[name], w) for name, w in frozen.items()), "a frozen weight changed"
print(f"held-out loss {before_loss:.4f} -> {after_loss:.4f} ({after_loss - before_loss:+.4f}); "
      "all pretrained weights unchanged")
del frozen

# %% [markdown]
# ## 5.3 Before and after: greedy generation
#
# Greedy decoding (temperature 0) always takes the likeliest next token, so the two texts
# differ only because of the adapter. The prompts are the first five words of held-out
# sentences of the *other* three registers ("He is the image of", "Return the smallest item
# in", …), drawn by a fixed rule (data/datasets/README.md): a continuation takes the drama form
# — a speaker line, or two early-modern words (`tinyia3/forms.py`) — only if the model leaves
# the prompt's register for the plays'.

# %%
prompts, form = read_prompts(DATA / "drama_style_prompts.jsonl")
if args.quick:
    prompts = prompts[::5]  # 12 prompts, 4 of each register
max_new = 32 if args.quick else 48
rows = style_shift(model, tokenizer, drama_ia3, prompts, form, max_new_tokens=max_new)
for r in rows[::len(rows) // 4]:
    print(f"PROMPT {r.prompt!r}\n  base model {'✓' if r.before_ok else '·'} {r.before[:110]!r}"
          f"\n  with IA³   {'✓' if r.after_ok else '·'} {r.after[:110]!r}\n")
share_before = np.mean([r.before_ok for r in rows])
share_after = np.mean([r.after_ok for r in rows])
print(f"greedy continuations that take the drama form: before {sum(r.before_ok for r in rows)}/{len(rows)} "
      f"({share_before:.0%}), after {sum(r.after_ok for r in rows)}/{len(rows)} ({share_after:.0%})")

# %% [markdown]
# **Check.** Before, at most 10 % of the continuations take the drama form; after, at least 80 %
# (measured on the 60 prompts: 4/60 → 51/60). Quick mode's 100 steps at batch 4 go less far: there
# the share must rise by at least 25 points.

# %%
assert share_before <= 0.1, f"the base model already writes drama on {share_before:.0%} of the prompts"
if args.quick:
    assert share_after - share_before >= 0.25, f"the drama form rose only {share_before:.0%} -> {share_after:.0%}"
else:
    assert share_after >= 0.8, f"only {share_after:.0%} of the adapted continuations take the drama form"

# %% [markdown]
# The price of the high rate: some scales end below 0. Those channels are sign-flipped, not
# damped, which is not what "inhibit or amplify" means (lesson 6 looks at what the adapter does
# to every register).

# %%
negative = sum(int((v < 0).sum()) for v in drama_ia3.named().values())
print(f"{negative} of the {drama_ia3.num_parameters:,} scales ended below 0")

# %% [markdown]
# ## 5.4 The second task: rank classification
#
# For a prompt x, each answer c ∈ {" man", " city"} is scored by its length-normalised
# log-likelihood, and the best-scoring answer is the prediction:
#
# $$ \beta(x, c) = \frac{1}{|c|} \sum_{t=1}^{|c|} \log p(c_t \mid x, c_{<t}), \qquad
#    \hat c = \arg\max_c \beta(x, c). $$
#
# Training uses T-Few's sum of three losses: L_LM (likelihood of the right answer), L_UL
# (unlikelihood of the wrong one) and L_LN (softmax over the β's). `train` picks it for a
# multiple-choice dataset, and `evaluate` returns the accuracy of the argmax. The held-out
# file uses names and sentence frames that never occur in training, so it can only be
# answered from what the model already knows about each name.
# Multiple-choice steps are cheap (prompts of a few tokens, one scored token per answer),
# so we can afford more of them.

# %%
mc_steps = 24 if args.quick else 100
mc_config = TrainConfig(steps=mc_steps, batch_size=8, lr=lr, eval_every=max(1, mc_steps // 4),
                        save_every=mc_steps, seed=args.seed)
names_history = train(model, names_train, names_heldout, args.out / "bible_names_run", mc_config, progress=False, overwrite=True)
names_before, names_after = names_history[0]["eval"], names_history[-1]["eval"]
names_ia3 = tinyia3.IA3.load(args.out / "bible_names_run" / "adapter.safetensors", model)
print(f"bible_names held-out ({len(names_heldout)} names, half men, half cities; one answer for all scores 50 %):")
print(f"  before: accuracy {100 * names_before['accuracy']:.1f} %, T-Few loss {names_before['loss']:.3f}")
print(f"  after:  accuracy {100 * names_after['accuracy']:.1f} %, T-Few loss {names_after['loss']:.3f}")

# %% [markdown]
# **Check.** The adapter file reproduces the last evaluation exactly, and the held-out T-Few
# loss fell by more than 1 nat.

# %%
again = evaluate(model, names_ia3, names_heldout)
assert abs(again["accuracy"] - names_after["accuracy"]) < 1e-12
assert names_before["loss"] - names_after["loss"] > 1.0, "the T-Few held-out loss fell by less than 1 nat"

# %% [markdown]
# Rank classification is right when the margin m(x) = β(x, " man") − β(x, " city") is
# positive for men and negative for cities. Loss and accuracy need not move together: L_LM and
# L_UL also reward making *both* answers likelier than the other 50,255 tokens, which shifts
# every margin alike. What the accuracy needs is a *gap* between the margins of men and of
# cities, wide enough to straddle 0.

# %%
def margins(ia3):
    """Margins β(" man") − β(" city") of the held-out names that are men, and of those that are cities."""
    batch = mc_batch(names_heldout.examples)
    E = len(batch.labels)
    assert np.array_equal(batch.example, np.repeat(np.arange(E), 2))  # rows: name 0 " man", name 0 " city", ...
    beta = choice_scores(model, ia3, batch).reshape(E, 2)  # (E, 2): β of " man", β of " city"
    margin = beta[:, 0] - beta[:, 1]  # (E,)
    return margin[batch.labels == 0], margin[batch.labels == 1]


print(f"{'':<11}{'mean margin: men':>18}{'cities':>9}{'gap':>8}{'answered man':>15}")
gaps, shares = {}, {}
for label, ia3 in [("before", None), ("after IA³", names_ia3)]:
    men, cities = margins(ia3)
    gaps[label], shares[label] = men.mean() - cities.mean(), np.mean(np.concatenate([men, cities]) > 0)
    print(f"{label:<11}{men.mean():>18.3f}{cities.mean():>9.3f}{gaps[label]:>8.3f}{100 * shares[label]:>14.0f}%")
if gaps["before"] > 0 and shares["before"] in (0.0, 1.0):
    print(f"Before training the margins of men and cities already differ by {gaps['before']:.2f} on average, but all "
          "lie on one side of 0, so every name gets the same answer: the model knew more than its answers showed.")

path = plot_loss_curves({"IA³ on bible_names": names_history}, args.out / "bible_names_curves.png",
                        title=f"IA³ on bible_names: T-Few loss ({mc_steps} steps, batch 8, lr {lr:g})",
                        ylabel="L_LM + L_UL + L_LN (nats per example)")
print(f"[figure] {path}")

# %%
path = plot_bar_panels([
    {"title": f"drama_style held-out loss ({n_eval} passages)", "ylabel": "nats per token",
     "values": {"before": before_loss, "after IA³": after_loss}},
    {"title": f"greedy drama form ({len(rows)} other-register prompts)", "ylabel": "% of continuations",
     "values": {"before": 100 * share_before, "after IA³": 100 * share_after}},
    {"title": "bible_names held-out accuracy", "ylabel": "% correct (50 % = chance)",
     "values": {"before": 100 * names_before["accuracy"], "after IA³": 100 * names_after["accuracy"]},
     "reference": (50, "chance (always one answer)")},
    {"title": "bible_names held-out T-Few loss", "ylabel": "L_LM + L_UL + L_LN (nats)",
     "values": {"before": names_before["loss"], "after IA³": names_after["loss"]}},
], args.out / "before_after.png", title=f"Held-out numbers before and after IA³ ({args.model})")
print(f"[figure] {path}")

# %% [markdown]
# ## Summary
#
# * `train(model, train_set, eval_set, out, TrainConfig(...))` learns the IA³ vectors and
#   nothing else; the pretrained weights are bit-for-bit unchanged.
# * The same loop handles both kinds of task: next-token cross-entropy on completions, and
#   T-Few's three losses for multiple choice, evaluated by rank classification.
# * 300 Adam steps on 6,912 scales make the model write drama after prompts of other registers
#   (the greedy drama form from at most 10 % to at least 80 % of the continuations, asserted);
#   the adapter is a small file that
#   `IA3.load` reads back and `generate(..., adapter=...)` uses.
#
# ## Exercises
#
# 1. Train the drama adapter at the paper's rate, `lr=3e-3`, for the same number of steps,
#    then at 3e-2. How far does the held-out loss get, and how many continuations take the
#    drama form? Using the remark about Adam above, predict the largest |l − 1| before you look
#    at `drama_ia3.summary()`. Then try `support_desk_*.jsonl` (its greedy replies do not take
#    the house shape on this model: data/datasets/README.md).
# 2. Train the bible_names adapter with `TrainConfig(terms=("lm",))`, then with `("ln",)`
#    only. Which term widens the gap between the margins, which only shifts them? Then try
#    `review_sentiment_*.jsonl` (" good" / " bad" after a short review; the data README
#    reports 0.50 → 0.70 held-out accuracy) and use `margins` to see how the gap opens.
# 3. Generate with the *bible_names* adapter on a drama prompt. Does an adapter trained for one
#    task damage the other? Measure it with `evaluate(model, names_ia3, drama_eval)`.
# 4. Checked: `tinyia3 check adam_step` — one Adam step on an IA³ vector, as `tinyia3.optim.AdamW`
#    takes it.

# %%
print(f"\nlesson 5 done in {time.perf_counter() - start:.1f} s")
