# %% [markdown]
# # Lesson 11: Data quality
#
# An adapter learns what its training set says, including what the set says by mistake. A
# fine-tuning file can be wrong in ways no loader refuses: the same example twice, a label
# that says the opposite of the text, a held-out example copied into training (so the score
# you report measures memory, not skill), an answer that is empty, two identical choices,
# one label far more common than the others, a text longer than the model can read.
#
# This lesson does two things:
#
# 1. runs `tinyia3 data check` (tinyia3/data_check.py), which finds those problems and names
#    each at its `file:line`, on a file made bad on purpose and on the shipped datasets;
# 2. measures what bad data costs and what cleaning gives back, on a task the embedded model
#    learns with IA³ — review_sentiment, the multiple-choice task of lesson 9 — trained at that
#    lesson's setting (lr 1e-1, 200 steps, batch 8) on corrupted copies of its training set:
#    labels flipped, records repeated, held-out records leaked in; three seeds each.
#
# The measurement (33 training runs) takes most of an hour on two cores, so it is not
# rerun here: `python benchmarks/data_quality.py` wrote `data/measured/data_quality.json`, which
# this lesson reads. The lesson rebuilds the corrupted sets and reruns the data check on them,
# and it reruns one of the training runs, to show the committed numbers still hold.

# %%
import json
import time

import matplotlib.pyplot as plt
import numpy as np

import tinyia3
from tinyia3 import lesson
from tinyia3.data import load_dataset
from tinyia3.data_check import NEAR, check_data, write_cleaned
from tinyia3.data_corruption import corrupted_sets, heldout_halves, read_records, write_records
from tinyia3.train import TrainConfig, evaluate, train

args = lesson.setup(11, "Data quality")
DATA = lesson.ROOT / "data" / "datasets"
RESULTS = lesson.ROOT / "data" / "measured" / "data_quality.json"
measured = json.loads(RESULTS.read_text())
results, machine = measured["results"], measured["machine"]
settings, summary = results["settings"], results["summary"]
model_name = settings["model"]  # the committed runs' model: the rerun must use it too
model = tinyia3.load_model(model_name)
tokenizer = tinyia3.load_tokenizer(model_name)
c = model.config
print(f"{RESULTS}: {len(results['runs'])} training runs, measured {machine['date']} on {machine['cpus']} CPUs")
print(f"model {model_name}: context {c.n_positions} tokens")

# %% [markdown]
# ## 11.1 What `tinyia3 data check` finds
#
# A small multiple-choice file with one problem of each kind the check knows (and four good
# records). Near duplicates are decided on normalised text (lower case, punctuation gone): two
# records are near when that text is the same, or when their sets of overlapping 3-word runs
# ("shingles") have a Jaccard similarity |A ∩ B| / |A ∪ B| of at least 0.8. To stay fast on a
# large file, candidates come from MinHash signatures cut into bands (the module's docstring
# says how), not from comparing every pair. Lengths are counted with the model's tokenizer.
# Label imbalance is a rule over the whole file (reported at its first record): among the
# records with the usual number of choices k, and only when there are at least 2k of them, a
# label that is never the answer, or one answer more than 1.5× as common as the rarest. Here
# " good" is the answer 8 times in 10.

# %%
def mc(prompt, label, choices=(" good", " bad")):
    return json.dumps({"prompt": f"Review: {prompt}\nSentiment:", "choices": list(choices), "label": label})


long_review = ("We came for the garden and stayed for the food: the bread was warm, the soup was rich, the staff "
               "brought us tea without being asked, and the cake was the best we had all year.")
lines = [mc("The soup was hot and the bread was fresh.", 0),                  # 1  good
         mc("The waiter was rude and the fish was cold.", 1),                 # 2  good
         mc(long_review, 0),                                                  # 3  good
         mc("The room smelled of smoke all night long.", 1),                  # 4  good
         mc("The soup was hot and the bread was fresh.", 0),                  # 5  = line 1
         mc("The waiter was rude and the fish was cold.", 0),                 # 6  line 2, other label
         mc(long_review.replace("all year", "all summer"), 0),                # 7  near line 3
         mc("Lovely view.", 0, (" good", " good")),                           # 8  two equal choices
         mc("The tea was fine.", 0, (" good", "  ")),                         # 9  a blank choice
         json.dumps({"prompt": "Write a review:", "completion": " Nice."}),   # 10 another kind
         '{"prompt": "Review: caf\xe9 au lait', # 11 not UTF-8 (written below as latin-1)
         mc("It was good. " * 70, 0)]                                         # 12 too long
bad = args.out / "bad_reviews.jsonl"
bad.write_bytes(b"".join(line.encode("latin-1" if i == 10 else "utf-8") + b"\n" for i, line in enumerate(lines)))
report = check_data(bad, tokenizer=tokenizer, n_positions=c.n_positions)
assert NEAR == 0.8  # the threshold named above
print(report.text())
expected = {(1, "label-imbalance"), (5, "duplicate"), (6, "conflicting-labels"), (7, "near-duplicate"), (8, "duplicate-choices"),
            (9, "empty"), (10, "mixed-kinds"), (11, "not-utf8"), (12, "too-long")}
assert {(f.line, f.kind) for f in report.findings} == expected, report.text()

# %% [markdown]
# **The shipped datasets.** Each training set is checked against its held-out set. Three pass
# clean; support_desk has four near duplicates: its replies are written from one template per
# problem, so two customers with the same problem get the same reply, and a few of the prompts
# differ only in the name. They are genuine findings (the model sees those replies twice), left
# as they are because the committed measurements of the README and lesson 5 were made on them.

# %%
shipped = {}
for task in ("bible_names", "drama_style", "review_sentiment", "support_desk"):
    r = check_data(DATA / f"{task}_train.jsonl", DATA / f"{task}_heldout.jsonl",
                   tokenizer=tokenizer, n_positions=c.n_positions)
    shipped[task] = r
    print(f"{task:17} {r.summary().split(' in ')[0]}")
assert all(not shipped[t].findings for t in ("bible_names", "drama_style", "review_sentiment"))
assert {f.kind for f in shipped["support_desk"].findings} == {"near-duplicate"} and len(shipped["support_desk"].findings) == 4
first = shipped["support_desk"].findings[0]
support = read_records(DATA / "support_desk_train.jsonl")
earlier = int(first.message.split("near line ")[1].split()[0])
for n in (earlier, first.line):
    print(f"  line {n}: {support[n - 1]['prompt'][:90]!r}")

# %% [markdown]
# ## 11.2 The experiment
#
# review_sentiment: 330 training reviews, 70 held-out, two choices (" good", " bad"), about
# half of each. The corruptions, each drawn by the seed (which also orders the batches):
#
# * **flip P %**: the labels of P = 0, 10, 25, 50 % of the training reviews, chosen at random,
#   swapped. At 50 % the labels say nothing about the text.
# * **duplicates**: 10 % of the reviews, chosen at random, repeated 5 more times each (495 lines).
# * **leak**: half of the held-out set (a fixed half of 35 reviews, "leaked") inserted into the
#   training set; the other 35 ("unseen") stay out. A leaked run reports its accuracy on the
#   whole held-out set, as it would if nobody noticed; the unseen half says what it really learned.
#
# Every run is scored on the whole held-out set and on both halves (for the runs without a leak
# the halves are just two halves). One review is 1.4 points of the whole set, 2.9 of a half.

# %%
print(f"IA³ on {settings['task']}: lr {settings['lr']:g}, {settings['steps']} steps, batch {settings['batch']}, "
      f"seeds {settings['seeds']}")
PARTS = ("heldout", "leaked", "unseen")


def acc(config, part="heldout", stat="median"):
    return summary[config][part][stat]


print(f"{'training set':<22}{'examples':>9}   " + "".join(f"{p + ' (median [min, max])':>30}" for p in PARTS))
for config, row in summary.items():
    cells = [f"{row[p]['median']:.3f} [{row[p]['min']:.3f}, {row[p]['max']:.3f}]" for p in PARTS]
    print(f"{config:<22}{int(np.median(row['train_examples'])):>9}   " + "".join(f"{cell:>30}" for cell in cells))
    for p in PARTS:
        assert len(row[p]["all"]) == len(settings["seeds"]) >= 3 and row[p]["min"] <= row[p]["median"] <= row[p]["max"]

# %% [markdown]
# The clean runs are lesson 9's IA³ runs on this task (the same settings and seeds): the same
# accuracies, within one review.

# %%
methods = json.loads((lesson.ROOT / "data" / "measured" / "methods.json").read_text())
lesson9 = sorted((r for r in methods["runs"] if r["task"] == settings["task"] and r["variant"] == "IA³"
                  and r["lr"] == settings["lr"] and r["steps"] == settings["steps"]), key=lambda r: r["seed"])
print("clean, per seed:", summary["clean"]["heldout"]["all"], " lesson 9:", [r["quality"] for r in lesson9])
assert [r["seed"] for r in lesson9] == settings["seeds"]
assert all(abs(a - r["quality"]) <= 1 / settings["heldout"] + 1e-12
           for a, r in zip(summary["clean"]["heldout"]["all"], lesson9))

# %% [markdown]
# ## 11.3 Wrong labels
#
# Read off the committed runs; each sentence is checked by the cell below.
#
# * **10 % flipped costs nothing measurable here**: the median held-out accuracy is the clean
#   one's (within one review). With 90 % of the labels right, the majority still teaches the task.
# * **25 % flipped costs more than a tenth of the accuracy** (over 0.1 below the clean median),
#   and every seed is at or below the worst clean seed.
# * **50 % flipped is chance**: every seed between 0.4 and 0.55, because the labels then say
#   nothing about the text.
# * `tinyia3 data check` finds **nothing** in any flipped set (11.5): a wrong label is a
#   well-formed record. Cleaning them needs another signal. The green line tries the simplest:
#   train on the noisy set, drop the training records the trained model contradicts, retrain.
#   Its precision (the share of dropped records that really were flipped) is above the flip
#   rate at 10 % and 25 %, so better than dropping at random, and at 50 % within 0.05 of it (a
#   model at chance cannot tell); below 0.55 at every level: most of what it drops are right
#   labels it had not learned, and the retrained model is no better (its median at most one
#   review above the unfiltered one).

# %%
FLIP_CONFIGS = [name for name in summary if name == "clean" or (name.startswith("flip") and "," not in name)]
shares = [0.0 if n == "clean" else float(n.split()[1].rstrip("%")) / 100 for n in FLIP_CONFIGS]


def band(ax, xs, configs, part, label, **style):
    med = [acc(n, part) for n in configs]
    ax.plot(xs, med, marker="o", label=label, **style)
    ax.fill_between(xs, [acc(n, part, "min") for n in configs], [acc(n, part, "max") for n in configs], alpha=0.2,
                    color=style.get("color"))


fig, ax = plt.subplots(figsize=(6.4, 4.2))
band(ax, [100 * s for s in shares], FLIP_CONFIGS, "heldout", "trained on the flipped set", color="C0")
filtered = [n + ", filtered" for n in FLIP_CONFIGS[1:] if n + ", filtered" in summary]
if filtered:
    band(ax, [100 * s for s in shares[1:]], filtered, "heldout", "… after dropping what the model contradicts",
         color="C2", ls="--")
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
ax.text(1, 0.505, "chance", color="grey", fontsize=8)
ax.set_xlabel("training labels flipped (%)")
ax.set_ylabel("held-out accuracy (median; band: min–max)")
ax.set_title(f"IA³ on {settings['task']}: {len(settings['seeds'])} seeds per point")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
lesson.save(fig, args, "label_flips")

one = 1 / settings["heldout"] + 1e-12  # one review of the held-out set
clean = acc("clean")
print(f"clean {clean:.3f}; " + ", ".join(f"{n} {acc(n):.3f} [{acc(n, stat='min'):.3f}, {acc(n, stat='max'):.3f}]"
                                         for n in FLIP_CONFIGS[1:]))
assert abs(acc("flip 10%") - clean) <= one
assert clean - acc("flip 25%") > 0.1 and acc("flip 25%", stat="max") <= acc("clean", stat="min")
assert all(0.4 <= a <= 0.55 for a in summary["flip 50%"]["heldout"]["all"])
for name in FLIP_CONFIGS[1:]:
    share = float(name.split()[1].rstrip("%")) / 100
    f = [results["filters"][f"{name}|{seed}"] for seed in settings["seeds"]]
    print(f"{name}: the filter drops {[x['dropped'] for x in f]} records, precision "
          f"{[round(x['precision'], 2) for x in f]}, recall {[round(x['recall'], 2) for x in f]}; retrained "
          f"{acc(name + ', filtered'):.3f} (unfiltered {acc(name):.3f})")
    assert all((share < x["precision"] if share < 0.5 else abs(x["precision"] - share) <= 0.05)
               and x["precision"] < 0.55 for x in f)
    assert acc(name + ", filtered") <= acc(name) + one

# %% [markdown]
# ## 11.4 Duplicates and a leaked held-out set
#
# * **Duplicates**: a third of the 495 lines repeating 33 reviews changes the median held-out
#   accuracy by at most one review, and removing them (what `data check` flags) does not change
#   it beyond the seeds' spread either (the ranges overlap). At this size, repetition only
#   re-weights a few reviews; what it does cost is time (50 % more lines per epoch).
# * **A leak inflates the score that gets reported**: every leaked run scores above every clean
#   run on the whole held-out set. Not all of that is memory: the unseen half rises too, because
#   the 35 leaked reviews are 35 more correctly labelled examples of the same task. The memory
#   shows in the T-Few loss: on the leaked half it falls more than twice as much as on the
#   unseen half (medians). Which part of a leaked score is real cannot be told from the leaked
#   score; only a held-out set that stayed out can tell.
# * **Cleaning the leak** gives back the clean training file byte for byte (the leaked lines
#   are exactly what `data check` flags), so its runs are the clean runs, number for number.

# %%
GROUPS = [n for n in ("clean", "duplicates", "duplicates, cleaned", "leak", "leak, cleaned") if n in summary]
fig, ax = plt.subplots(figsize=(8.4, 4.2))
width = 0.26
for k, part in enumerate(PARTS):
    xs = np.arange(len(GROUPS)) + (k - 1) * width
    med = np.array([acc(n, part) for n in GROUPS])
    err = np.array([[m - acc(n, part, "min"), acc(n, part, "max") - m] for n, m in zip(GROUPS, med)]).T
    ax.bar(xs, med, width, yerr=err, capsize=3, label={"heldout": "whole held-out set (70)",
                                                       "leaked": "the leaked half (35)", "unseen": "the unseen half (35)"}[part])
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
ax.set_xticks(np.arange(len(GROUPS)), GROUPS, fontsize=8)
ax.set_ylim(0.3, 1.0)
ax.set_ylabel("accuracy (median; bars: min–max over seeds)")
ax.set_title("Duplicates and a leak, before and after `tinyia3 data check` cleaning")
ax.legend(fontsize=8, loc="upper left")
lesson.save(fig, args, "duplicates_and_leak")

print(f"duplicates {acc('duplicates'):.3f}, cleaned {acc('duplicates, cleaned'):.3f}, clean {clean:.3f}")
assert abs(acc("duplicates") - clean) <= one
assert acc("duplicates, cleaned", stat="max") >= acc("clean", stat="min")
assert acc("duplicates, cleaned", stat="min") <= acc("clean", stat="max")
assert acc("leak", stat="min") > acc("clean", stat="max")
assert acc("leak", "unseen") > acc("clean", "unseen")
loss = lambda n, part: summary[n]["loss"][part]["median"]  # noqa: E731
drop_leaked, drop_unseen = loss("clean", "leaked") - loss("leak", "leaked"), loss("clean", "unseen") - loss("leak", "unseen")
print(f"leak: reported {acc('leak'):.3f} (clean {clean:.3f}); leaked half {acc('leak', 'leaked'):.3f} (clean "
      f"{acc('clean', 'leaked'):.3f}), unseen half {acc('leak', 'unseen'):.3f} (clean {acc('clean', 'unseen'):.3f}); "
      f"T-Few loss falls by {drop_leaked:.2f} on the leaked half, {drop_unseen:.2f} on the unseen half")
assert drop_leaked > 2 * drop_unseen > 0
runs = {(r["config"], r["seed"]): r for r in results["runs"]}
for seed in settings["seeds"]:
    same, restored = runs["clean", seed], runs["leak, cleaned", seed]
    assert restored["train_sha"] == same["train_sha"] and restored["after"] == same["after"]

# %% [markdown]
# ## 11.5 What the data check sees in the corrupted sets
#
# The corrupted sets are rebuilt here from the seeds (tinyia3/data_corruption.py) and checked
# against the held-out set: the findings must be the committed ones. `write_cleaned` drops the
# lines flagged as duplicates or held-out overlap.

# %%
train_records = read_records(DATA / f"{settings['task']}_train.jsonl")
heldout_path = DATA / f"{settings['task']}_heldout.jsonl"
leaked, unseen = heldout_halves(read_records(heldout_path))
assert (len(leaked), len(unseen)) == (settings["leaked"], settings["unseen"])
rebuilt = {}
for seed in settings["seeds"]:
    for name, (records, flipped) in corrupted_sets(train_records, leaked, seed, settings["flips"]).items():
        path = write_records(args.out / "sets" / f"{name.replace(' ', '_').replace('%', 'pc')}_s{seed}.jsonl", records)
        r = check_data(path, heldout_path, tokenizer=tokenizer, n_positions=c.n_positions)
        committed = results["sets"][f"{name}|{seed}"]
        assert dict(r.counts()) == committed["data_check"] and flipped == committed["flipped"], (name, seed)
        rebuilt[name, seed] = (path, records, r)
for name in dict.fromkeys(n for n, _ in rebuilt):
    counts = [dict(rebuilt[name, s][2].counts()) for s in settings["seeds"]]
    print(f"{name:12} findings per seed: {counts}")

for seed in settings["seeds"]:
    assert not any(rebuilt[n, seed][2].findings for n in FLIP_CONFIGS)  # wrong labels leave no trace
    for name, kind, n_flagged in (("duplicates", "duplicate", 33 * 5), ("leak", "heldout-exact", settings["leaked"])):
        path, records, r = rebuilt[name, seed]
        assert dict(r.counts()) == {kind: n_flagged}
        cleaned = args.out / "sets" / f"{name}_s{seed}_cleaned.jsonl"
        assert write_cleaned(path, r, cleaned) == n_flagged
        kept = read_records(cleaned)
        assert sorted(map(json.dumps, kept)) == sorted(map(json.dumps, train_records))  # the clean set again
        if name == "leak":
            assert kept == train_records  # in its order too: the same file
print("data check flags every repeated line and every leaked line, and nothing in the flipped sets; "
      "the cleaned files hold exactly the clean set")

# %% [markdown]
# ## 11.6 The committed numbers still hold
#
# Every run is a function of its settings (the seeded corruption, the seeded batch order, no
# other randomness), so one can be run again and must give the same numbers. The committed runs
# used one BLAS thread; this one may use more, which can change the last bits of float32 sums:
# hence at most one review of difference on accuracy, and 1e-4 relative on the T-Few loss.

# %%
RERUN = dict(config="flip 25%", seed=0)
committed = next(r for r in results["runs"] if r["config"] == RERUN["config"] and r["seed"] == RERUN["seed"])
path = rebuilt[RERUN["config"], RERUN["seed"]][0]
train_set = load_dataset(path, tokenizer, c.n_positions)
evals = {"heldout": load_dataset(heldout_path, tokenizer, c.n_positions),
         "leaked": load_dataset(write_records(args.out / "sets" / "leaked.jsonl", leaked), tokenizer, c.n_positions)}
config = TrainConfig(steps=settings["steps"], batch_size=settings["batch"], lr=settings["lr"], seed=RERUN["seed"],
                     eval_every=settings["steps"], save_every=settings["steps"])
t0 = time.perf_counter()
history = train(model, train_set, evals["heldout"], args.out / "rerun", config, progress=False, overwrite=True)
adapter = tinyia3.load_adapter(args.out / "rerun" / "adapter.safetensors", model)
print(f"rerun of {RERUN} ({settings['steps']} steps) in {time.perf_counter() - t0:.0f} s:")
for part, dataset in evals.items():
    again, then = evaluate(model, adapter, dataset), committed["after"][part]
    print(f"  {part:8} accuracy {again['accuracy']:.4f} (committed {then['accuracy']:.4f}), "
          f"T-Few loss {again['loss']:.5f} (committed {then['loss']:.5f})")
    assert abs(again["accuracy"] - then["accuracy"]) <= 1 / len(dataset) + 1e-12
    assert abs(again["loss"] - then["loss"]) <= 1e-4 * abs(then["loss"])

# %% [markdown]
# **What this does and does not show.** One small model, one easy two-way task of 330 reviews,
# 200 steps of IA³ (6,912 numbers), three seeds: the seeds spread by several points (one review
# is 1.4 points), so only differences larger than that are read as effects. A larger adapter or
# longer training memorises more, which makes duplicates and leaks costlier than here; noisier
# labels hurt sooner when the task is harder than this one.
#
# ## Summary
#
# * `tinyia3 data check TRAIN --heldout HELD` finds what a loader accepts but a model learns:
#   duplicates, near duplicates, conflicting labels, held-out overlap, blank fields, duplicate
#   choices, label imbalance, too-long records, mixed kinds, bad bytes. `tinyia3 train` runs it
#   first and warns.
# * Measured here: a few wrong labels are absorbed, a quarter of them costs a tenth of the
#   accuracy, half of them leaves chance. No file check sees a wrong label, and the model's own
#   disagreement is a poor detector of them.
# * A leak makes the reported number a mix of skill and memory; the only remedy is a held-out set
#   kept out, and the check finds an exact leak at once.
#
# ## Exercises
#
# 1. Run `tinyia3 data check support_desk_train --heldout support_desk_heldout` and open lines 38
#    and 45: why does the near-duplicate rule fire? Change `NEAR` in tinyia3/data_check.py to 0.7
#    and 0.9: how many findings at each, and which are real?
# 2. The filter of 11.3 drops what the model contradicts after training on the noisy set. Try
#    scoring the training records with the model trained on the *other half* of the training
#    set (two adapters, each scoring the half it did not see): is its precision higher?
# 3. Make the duplicates one-sided (repeat only reviews labelled " good") and run `data check`:
#    which finding appears besides the duplicates, and what does the held-out accuracy do?
# 4. Checked: `tinyia3 check find_duplicates` — exact and near duplicates, and train/held-out
#    overlap.
