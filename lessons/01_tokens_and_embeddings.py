# %% [markdown]
# # Lesson 1: Tokens and embeddings
#
# A language model never reads text. It reads a list of integers, the *token ids*, and the
# first thing it does with an id is to look up one row of a matrix. This lesson follows text
# through those two steps:
#
# 1. the GPT-2 tokenizer: text → ids → text, by byte-level BPE;
# 2. the embedding: each id selects a row of `wte`, each position a row of `wpe`, and their
#    sum is the first activation of the network.
#
# Run it as a script (`python lessons/01_tokens_and_embeddings.py`, options `--model gpt2`,
# `--quick`, `--out DIR`) or open it as a notebook: every `# %%` line starts a cell.
# The figures are written to the folder printed below.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import lesson, ops

args = lesson.setup(1, "Tokens and embeddings")
tokenizer = tinyia3.load_tokenizer(args.model)
model = tinyia3.load_model(args.model)
config = model.config
print(tokenizer)
print(model)

# %% [markdown]
# ## 1.1 Text to ids and back
#
# GPT-2's tokenizer works on **bytes**, not characters: the text is encoded as UTF-8, and
# 50,000 *merges*, learned once by OpenAI and applied in a fixed order, glue frequent byte
# sequences into longer pieces (byte-pair encoding, BPE). Its vocabulary is therefore
#
# $$ |V| = \underbrace{256}_{\text{single bytes}} + \underbrace{50\,000}_{\text{merges}}
#          + \underbrace{1}_{\texttt{<|endoftext|>}} = 50\,257 . $$
#
# Because every byte is a token, *any* string can be encoded, and decoding gives it back
# exactly: $\mathrm{decode}(\mathrm{encode}(s)) = s$.

# %%
ids = tokenizer.encode("Hello world")
print("'Hello world'   ->", ids, "->", repr(tokenizer.decode(ids)))
ids_bang = tokenizer.encode(" Hello world!")
print("' Hello world!' ->", ids_bang)

# The published test vectors of the GPT-2 tokenizer.
assert ids == [15496, 995], ids
assert ids_bang == [18435, 995, 0], ids_bang
assert tokenizer.encode("The meaning of life is") == [464, 3616, 286, 1204, 318]
assert tokenizer.vocab_size == 256 + 50_000 + 1
for text in ["Hello world", "naïve café 🙂", "  two spaces\tand a tab\n", "<|endoftext|> starts a document"]:
    assert tokenizer.decode(tokenizer.encode(text)) == text, text
print("round trip exact on every test string; vocabulary:", tokenizer.vocab_size, "ids")

# %% [markdown]
# "Hello" at the start of a text and " Hello" after a space are **different tokens**
# (15496 and 18435): a space is part of the token that follows it. The tokenizer's own
# spelling shows the space as `Ġ` (byte 0x20 drawn as a printable character).
#
# ## 1.2 Pieces: what each id stands for
#
# `tokenizer.decode([i])` turns a single id back into its text. Frequent words are one token,
# rare words several, and a character outside ASCII may be split across tokens, each of which
# alone is not valid UTF-8 (it decodes to the replacement character `�`).

# %%
def show_pieces(text):
    """Print each token of text: its id, the text it decodes to, and the tokenizer's spelling."""
    ids = tokenizer.encode(text)
    print(f"{text!r}: {len(text)} characters -> {len(ids)} tokens")
    for i in ids:
        print(f"   {i:>6}  {tokenizer.decode([i])!r:<18} {tokenizer.backend.id_to_token(i)!r}")
    return ids


for text in [" Jerusalem", " Nebuchadnezzar", "naïve café 🙂", "def f(x): return x**2"]:
    pieces = show_pieces(text)
    assert tokenizer.decode(pieces) == text
    if text.isascii():  # one byte per character: the pieces, joined, are the text again
        assert "".join(tokenizer.decode([i]) for i in pieces) == text

# A 4-byte emoji on its own: pieces of one character cannot be decoded one at a time.
emoji = tokenizer.encode("🙂")
print("'🙂' ->", emoji, [tokenizer.decode([i]) for i in emoji], "bytes:", "🙂".encode("utf-8"))
assert len("🙂".encode("utf-8")) == 4
assert len(emoji) > 1 and all(set(tokenizer.decode([i])) == {"\ufffd"} for i in emoji)  # no piece is valid UTF-8 alone

# %% [markdown]
# ## 1.3 The last merge and the special token
#
# Merges are applied in the order they were learned. The very last one, number 50,000, glues
# `Ġg` and `azed` into id 50255, so `" gazed"` is **one** token. A tokenizer that drops the last
# line of `merges.txt` (an easy off-by-one) still works on almost every text, but gives two ids
# here: that is why this string is a test vector.
#
# Id 50256 is `<|endoftext|>`: not text but a marker GPT-2 saw between documents during
# training. It is the last id, and the model's end-of-sequence token.

# %%
gazed = tokenizer.encode(" gazed")
print("' gazed' ->", gazed, "   without the last merge it would be", [308, 13865],
      [tokenizer.decode([308]), tokenizer.decode([13865])])
assert gazed == [50255], gazed
# The last merge's two halves are the ids printed above: without it, " gazed" would be exactly them.
assert [tokenizer.backend.id_to_token(i) for i in (308, 13865, 50255)] == ["Ġg", "azed", "Ġgazed"]
eot = tokenizer.encode("<|endoftext|>")
print("'<|endoftext|>' ->", eot, "  eos_token_id:", tokenizer.eos_token_id, "  config:", config.eos_token_id)
assert eot == [50256] == [tokenizer.eos_token_id] == [config.eos_token_id] == [tokenizer.vocab_size - 1]

# %% [markdown]
# **How long is a token?** GPT-2's merges were learned on English web text, so ordinary
# English prose costs about 4 characters per token (4.4 on the paragraph below), while rare
# names and code are cut into shorter pieces (2.7). The histogram counts the characters of every
# token of the two paragraphs.

# %%
PROSE = (
    "In the beginning, God created the heavens and the earth. The earth was formless and empty. "
    "Darkness was on the surface of the deep and God's Spirit was hovering over the surface of "
    "the waters. God said, \"Let there be light,\" and there was light. God saw the light, and saw "
    "that it was good. God divided the light from the darkness."
)  # Genesis 1:1-4, World English Bible (public domain): one of the embedded model's four registers
RARE = (
    "Nebuchadnezzar, Zerubbabel and Mephibosheth met in Tiglath-pileser's courtyard; "
    "meanwhile `np.einsum('bhtd,bhsd->bhts', q, k)` computes attention scores, and "
    "photosynthesis converts CO2 into C6H12O6 at 0.5-2% efficiency."
)
lengths, per_token = {}, {}
for label, text in [("English prose (Genesis 1:1-4)", PROSE), ("rare names, code, formulas", RARE)]:
    pieces = tokenizer.encode(text)
    lengths[label] = np.array([len(tokenizer.decode([i])) for i in pieces])
    per_token[label] = len(text) / len(pieces)
    print(f"{label:<32} {len(text):>4} characters, {len(pieces):>3} tokens, "
          f"{len(text) / len(pieces):.2f} characters per token")
    assert lengths[label].sum() == len(text)  # ASCII text: the pieces' lengths add up to the text's
assert lengths["English prose (Genesis 1:1-4)"].mean() > lengths["rare names, code, formulas"].mean()
assert 3.5 < per_token["English prose (Genesis 1:1-4)"] < 5.0  # "about 4"
assert per_token["rare names, code, formulas"] < 0.75 * per_token["English prose (Genesis 1:1-4)"]
assert [round(v, 1) for v in per_token.values()] == [4.4, 2.7]  # the tokenizer's, any model: as the text says

fig, ax = plt.subplots(figsize=(7.5, 3.8))
bins = np.arange(0.5, max(v.max() for v in lengths.values()) + 1.5)
ax.hist(list(lengths.values()), bins=bins, color=["tab:blue", "tab:orange"],
        label=[f"{label}: {len(v)} tokens, mean {v.mean():.2f} chars/token" for label, v in lengths.items()])
ax.set_xlabel("token length (characters, leading space included)")
ax.set_ylabel("number of tokens")
ax.set_title("GPT-2 tokens are longer on ordinary English than on rare words and code")
ax.set_xticks(bins[:-1] + 0.5)
ax.legend(fontsize=8)
lesson.save(fig, args, "token_lengths")

# %% [markdown]
# ## 1.4 An id selects a row of `wte`; a position a row of `wpe`
#
# The model has two embedding tables: `wte` $\in \mathbb{R}^{V\times C}$, one row per token
# id, and `wpe` $\in \mathbb{R}^{P\times C}$, one row per position $0\ldots P-1$
# (`n_positions`). The input of the first block at position $t$ is
#
# $$ x_t = \mathrm{wte}[\mathrm{id}_t] + \mathrm{wpe}[t]
#        = e_{\mathrm{id}_t}^\top\,\mathrm{wte} + e_t^\top\,\mathrm{wpe}, $$
#
# where $e_i$ is a one-hot vector: indexing a row *is* multiplying by a one-hot vector, only
# $V$ times cheaper. GPT-2 has no other notion of word order than `wpe`.

# %%
wte = model.params["wte.weight"]  # (V, C)
wpe = model.params["wpe.weight"]  # (P, C)
V, C, P = config.vocab_size, config.n_embd, config.n_positions
print(f"wte {wte.shape} = (vocab_size, n_embd);  wpe {wpe.shape} = (n_positions, n_embd)")
assert wte.shape == (V, C) and wpe.shape == (P, C)

sentence = "In the beginning, God created the heavens and the earth."
ids = np.array(tokenizer.encode(sentence))[None, :]  # (B=1, T)
T = ids.shape[1]
pos = np.arange(T)[None, :]  # (1, T): positions 0 … T-1
x = ops.embedding_forward(ids, pos, wte, wpe)  # (1, T, C)
print(f"ids {ids.shape} -> x {x.shape}")
assert x.shape == (1, T, C)

# The same thing, spelled out: row lookups, and one-hot products.
assert np.array_equal(x[0, 3], wte[ids[0, 3]] + wpe[3])
onehot = np.zeros((T, V), dtype=wte.dtype)  # (T, V)
onehot[np.arange(T), ids[0]] = 1.0  # a single 1 per row, in the id's column
assert np.allclose(onehot @ wte + wpe[:T], x[0], atol=1e-6)
print("x[t] = wte[id_t] + wpe[t] = onehot(id_t) @ wte + wpe[t]  (checked for all", T, "tokens)")

# The same token at two positions gets the same wte row but different inputs.
the = tokenizer.encode(" the")[0]
where = np.flatnonzero(ids[0] == the)
print(f"' the' (id {the}) appears at positions {where.tolist()}")
assert len(where) >= 2 and not np.allclose(x[0, where[0]], x[0, where[1]])

# %% [markdown]
# The heat map shows a few of these rows side by side. Token rows and position rows are
# vectors of the same width $C$, added channel by channel. (For wide models only the first
# 64 channels are drawn.)

# %%
show = min(C, 64)
words = [" God", " earth", " light", " the", ",", "."]
word_ids = [tokenizer.encode(w)[0] for w in words]
rows = np.concatenate([wte[word_ids, :show], wpe[:6, :show]])  # (12, show)
labels = [f"wte[{repr(w)}]" for w in words] + [f"wpe[{t}]" for t in range(6)]
limit = float(np.abs(rows).max())

fig, ax = plt.subplots(figsize=(10, 4.2))
image = ax.imshow(rows, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
ax.axhline(len(words) - 0.5, color="black", linewidth=1.5)
ax.set_yticks(range(len(labels)), labels, fontsize=8)
ax.set_xlabel(f"channel (first {show} of n_embd = {C})")
ax.set_title("Embedding rows: tokens (top, rows of wte) and positions (bottom, rows of wpe)")
fig.colorbar(image, ax=ax, label="weight value (dimensionless)")
lesson.save(fig, args, "embedding_rows")

# %% [markdown]
# ## 1.5 Neighbours in embedding space
#
# GPT-2 reuses `wte` as its output layer: the logits are $h\,\mathrm{wte}^\top$, one dot
# product per vocabulary row. Training therefore pushes tokens that can follow the same
# contexts towards similar rows. We measure that with the cosine similarity
#
# $$ \cos(a, b) = \frac{a \cdot b}{\lVert a\rVert\,\lVert b\rVert} \in [-1, 1] . $$
#
# Below are the six nearest rows of a few tokens: judge for yourself whether they are tokens of
# the same kind (names near names, verbs near verbs). The group matrix after them measures it.

# %%
unit = wte / np.linalg.norm(wte, axis=1, keepdims=True)  # (V, C), every row of length 1
queries = [" God", " king", " said", " Egypt", " three", " gold"][: 3 if args.quick else 6]
for word in queries:
    (i,) = tokenizer.encode(word)  # a single token, or this line fails
    cos = unit @ unit[i]  # (V,)
    order = np.argsort(-cos)
    assert order[0] == i and abs(cos[i] - 1) < 1e-5  # a vector is its own nearest neighbour
    top = [(tokenizer.decode([j]), round(float(cos[j]), 2)) for j in order[1:7]]
    print(f"{word!r:>10} ->", top)

# %% [markdown]
# The matrix below compares groups of words with each other: names, verbs of speech and
# movement, numbers, and materials. If the model has learned that words of a group are used
# alike, the diagonal blocks (same group) are warmer than the rest: the mean cosine within groups
# is printed and checked against the mean across groups below the figure.

# %%
groups = {
    "names": [" Israel", " Egypt", " Moses", " David"],
    "verbs": [" said", " came", " went", " spoke"],
    "numbers": [" one", " two", " three", " seven"],
    "materials": [" gold", " silver", " bread", " water"],
}
words = [w for ws in groups.values() for w in ws]
word_ids = []
for w in words:
    pieces = tokenizer.encode(w)
    assert len(pieces) == 1, f"{w!r} is {len(pieces)} tokens; pick single-token words"
    word_ids.append(pieces[0])
similarity = unit[word_ids] @ unit[word_ids].T  # (16, 16)
assert np.allclose(similarity, similarity.T, atol=1e-6) and np.allclose(np.diag(similarity), 1, atol=1e-5)

n = len(words)
fig, ax = plt.subplots(figsize=(7.5, 6.5))
image = ax.imshow(similarity, cmap="RdBu_r", vmin=-1, vmax=1)
ax.set_xticks(range(n), [repr(w) for w in words], rotation=90, fontsize=8)
ax.set_yticks(range(n), [repr(w) for w in words], fontsize=8)
for k in range(1, len(groups)):
    ax.axhline(4 * k - 0.5, color="black", linewidth=1)
    ax.axvline(4 * k - 0.5, color="black", linewidth=1)
for r in range(n):
    for c in range(n):
        ax.text(c, r, f"{similarity[r, c]:.1f}", ha="center", va="center", fontsize=6)
ax.set_title(f"Cosine similarity of token embeddings (rows of wte), {config.n_layer}-layer model")
fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity (1 = same direction)")
lesson.save(fig, args, "cosine_similarity")

mean_in = np.mean([similarity[4 * g:4 * g + 4, 4 * g:4 * g + 4][~np.eye(4, dtype=bool)].mean() for g in range(4)])
mean_out = similarity[np.kron(1 - np.eye(4), np.ones((4, 4))).astype(bool)].mean()
print(f"mean cosine within groups {mean_in:.3f}, across groups {mean_out:.3f}")
assert mean_in > mean_out + 0.1, (mean_in, mean_out)  # the diagonal blocks are warmer

# %% [markdown]
# Positions have embeddings too. In GPT-2, the learned vectors of nearby positions end up
# similar: the similarity of `wpe[t]` and `wpe[t + k]` is high for small offsets $k$ and decays
# with distance. Is that so in this model, and is it learned? We compare with the start of
# training: rows drawn from $\mathcal N(0, 0.02^2)$, GPT-2's initialisation, are nearly
# orthogonal in $C$ dimensions (mean cosine near 0 at every offset). A trained `wpe` also has a
# part every position shares, its mean row $\bar w = \frac1P\sum_t \mathrm{wpe}[t]$: that part
# alone makes all rows similar, whatever the offset. So we also measure the similarity of the
# rows with the mean row removed, $\mathrm{wpe}[t] - \bar w$, which shows only what differs
# from position to position.

# %%
P_show = min(P, 256 if args.quick else P)
unit_pos = wpe[:P_show] / np.linalg.norm(wpe[:P_show], axis=1, keepdims=True)  # (P_show, C)
pos_similarity = unit_pos @ unit_pos.T  # (P_show, P_show)
assert pos_similarity.shape == (P_show, P_show)
offsets = np.arange(1, P_show // 2)
by_offset = np.array([np.diagonal(pos_similarity, k).mean() for k in offsets])  # mean over t, per offset k
print(f"mean cos(wpe[t], wpe[t+k]): k=1 {by_offset[0]:.3f}, k=8 {by_offset[7]:.3f}, "
      f"k={offsets[-1]} {by_offset[-1]:.3f}")


def cos_by_offset(rows):
    """(P, C) -> (len(offsets),): mean over t of cos(rows[t], rows[t + k]) for each offset k."""
    u = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    s = u @ u.T
    return np.array([np.diagonal(s, k).mean() for k in offsets])


wpe_show = wpe[:P_show].astype(np.float64)
random_start = np.random.default_rng(args.seed).normal(0.0, 0.02, wpe_show.shape)  # GPT-2's init
by_offset_random = cos_by_offset(random_start)
mean_row = wpe_show.mean(axis=0)  # (C,) the part every position shares
mean_share = float(np.linalg.norm(mean_row) / np.linalg.norm(wpe_show, axis=1).mean())
by_offset_centred = cos_by_offset(wpe_show - mean_row)
far = len(offsets) // 2  # the far half of the offsets
print(f"random N(0, 0.02) rows:  mean cos over all offsets {by_offset_random.mean():+.3f}, "
      f"largest |mean cos| {np.abs(by_offset_random).max():.3f}")
print(f"the mean row's norm is {100 * mean_share:.0f} % of the average row norm")
print(f"mean row removed: k=1 {by_offset_centred[0]:+.3f}, k=8 {by_offset_centred[7]:+.3f}, "
      f"far offsets (k >= {offsets[far]}) {by_offset_centred[far:].mean():+.3f}")
# The claims of the next cell, measured: random rows are unrelated, the model's are not; the
# shared mean row is a large part of every row; without it, near positions are still more
# alike than far ones.
assert np.abs(by_offset_random).max() < 0.05
assert by_offset[:8].min() > 0.1 and by_offset[:8].min() > 5 * np.abs(by_offset_random).max()
assert 0.2 < mean_share < 0.6, mean_share
if args.model == "embedded":
    assert abs(mean_share - 0.41) < 0.02, mean_share  # the summary's figure for the embedded model
assert by_offset_centred[:8].mean() > by_offset_centred[far:].mean() + 0.1

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.8), layout="constrained")
image = ax.imshow(pos_similarity, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
ax.set_xlabel("position s (token index)")
ax.set_ylabel("position t (token index)")
ax.set_title(f"cos(wpe[t], wpe[s]), first {P_show} of {P} positions")
fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
ax2.plot(offsets, by_offset, color="tab:blue", label="mean over t of cos(wpe[t], wpe[t+k])")
ax2.plot(offsets, by_offset_centred, color="tab:green", label="the same, mean row removed")
ax2.plot(offsets, by_offset_random, color="tab:gray", label="random N(0, 0.02) rows (the start of training)")
ax2.axhline(0, color="gray", linewidth=0.8, linestyle=":", label="0: unrelated directions")
ax2.set_xscale("log")
ax2.set_ylim(min(-0.1, float(by_offset.min()) - 0.05), 1.0)  # the full scale: 1 = same direction
ax2.set_xlabel("offset k between positions (tokens, log scale)")
ax2.set_ylabel("mean cosine similarity")
ax2.set_title("Similarity of position embeddings vs distance")
ax2.legend(fontsize=8)
fig.suptitle(f"Position embeddings (wpe) of the {config.n_layer}-layer, width-{C} model")
lesson.save(fig, args, "position_similarity")

# %% [markdown]
# ## Summary
#
# * The GPT-2 tokenizer is byte-level BPE: 256 byte tokens, 50,000 merges applied in order, and
#   `<|endoftext|>` = 50256. Every string round-trips exactly; a leading space belongs to the
#   token after it.
# * An id is nothing but the index of a row of `wte` (V × C); a position is the index of a row of
#   `wpe` (P × C). The first activation is their sum, `ops.embedding_forward(ids, pos, wte, wpe)`,
#   of shape (B, T, C).
# * `wte` is also the output layer, so tokens used alike get similar rows: in this model words of
#   the same group are more alike than words of different groups (mean cosine 0.1 or more
#   higher; the values are printed).
# * `wpe` is far from its random start: random rows are orthogonal (|mean cos| < 0.05 at every
#   offset) while the model's are not (> 0.1 up to offset 8); its rows share a mean row (20–60 %
#   of a row's norm: 41 % on the embedded model), and with it removed, positions up to 8 apart
#   are still more alike than far ones, by 0.1 or more.
#
# ## Exercises
#
# 1. Find an English word of at least 10 letters that is a single GPT-2 token, and one of at most
#    6 letters that takes three tokens. What do their pieces tell you about the text GPT-2's
#    merges were learned on?
# 2. Encode `"Hello"`, `" Hello"`, `"hello"` and `"HELLO"`. Which ids are related? Then explain why
#    a prompt that ends with a space (`"The answer is "`) can make a model's next token unusual.
# 3. `ops.embedding_backward_weights` returns the gradients of `wte` and `wpe`. For the sentence
#    above with a random upstream gradient `dx`, check that the row of `' the'` in `dwte` is the sum
#    of `dx` at every position where `' the'` occurs, and that all rows of unused tokens are zero.
# 4. Checked: `tinyia3 check embed` — build the first residual stream from ids, wte and wpe
#    (`exercises/embed.py`; `--hint` gives hints in tiers).
