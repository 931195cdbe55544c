"""IA³ adapter arithmetic on two tasks: composition (product of scales) against PEFT's weighted sum.

    python benchmarks/adapter_arithmetic.py            # writes benchmarks/adapter_arithmetic.{json,txt}
    python benchmarks/adapter_arithmetic.py --quick    # a few steps and examples (a smoke test)

Trains two IA³ adapters on the embedded model with tinyia3.train.train:
    a  review_sentiment   multiple choice (" good" / " bad"), T-Few losses, 300 steps at lr 3e-2
    b  drama_style        language modelling of Shakespeare's speeches, 200 steps at lr 3e-2
and evaluates on both held-out sets every combination:
    base, a, b, compose(a, b) (= merging a then b), weighted_sum([a, b], [1, 1]) (PEFT's
    add_weighted_adapter with weights 1, 1), weighted_sum([a, b], [0.5, 0.5]) (their mean).
A mixed-task batch needs no combination: each sequence uses its own task's adapter, so each task
gets exactly its own adapter's numbers (the a row on sentiment, the b row on drama; tested to
1e-12 in float64 by tests/test_mixed_batches.py). Quality numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from results_files import write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import tinyia3  # noqa: E402
from tinyia3.data import Dataset, load_dataset  # noqa: E402
from tinyia3.ia3_arithmetic import compose, weighted_sum  # noqa: E402
from tinyia3.train import TrainConfig, evaluate, train  # noqa: E402

DATA = ROOT / "data" / "datasets"
TASKS = {"sentiment": ("review_sentiment", 300, 3e-2), "drama": ("drama_style", 200, 3e-2)}


def train_adapter(model, tokenizer, name, steps, lr, quick, folder):
    n = model.config.n_positions
    train_set = load_dataset(DATA / f"{name}_train.jsonl", tokenizer, n)
    heldout = load_dataset(DATA / f"{name}_heldout.jsonl", tokenizer, n)
    if quick:
        heldout = Dataset(heldout.kind, heldout.examples[:8], heldout.source)
    steps = 3 if quick else steps
    train(model, train_set, None, folder / name, TrainConfig(steps=steps, batch_size=8, lr=lr, seed=0),
          progress=False, log=lambda *a: None)
    return tinyia3.IA3.load(folder / name / "adapter.safetensors", model), heldout, steps


def combinations(a, b):
    return {"base": None, "a (sentiment)": a, "b (drama)": b, "compose(a, b)": compose(a, b),
            "weighted_sum 1, 1 (PEFT)": weighted_sum([a, b], [1.0, 1.0]),
            "weighted_sum 0.5, 0.5": weighted_sum([a, b], [0.5, 0.5])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "measured" / "adapter_arithmetic")
    p.add_argument("--save", type=Path, help="also keep the two trained adapters in this folder")
    args = p.parse_args(argv)
    start = time.perf_counter()
    model, tokenizer = tinyia3.load_model(args.model), tinyia3.load_tokenizer(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.save or Path(tmp)
        a, sentiment, steps_a = train_adapter(model, tokenizer, *TASKS["sentiment"], args.quick, folder)
        b, drama, steps_b = train_adapter(model, tokenizer, *TASKS["drama"], args.quick, folder)
    results = {}
    for name, adapter in combinations(a, b).items():
        s, d = evaluate(model, adapter, sentiment), evaluate(model, adapter, drama)
        results[name] = {"sentiment_accuracy": s["accuracy"], "sentiment_loss": s["loss"], "drama_loss": d["loss"],
                         "mean_l_ff": None if adapter is None else float(adapter.l_ff.mean())}
        print(f"{name}: done", flush=True)
    lines = [f"IA³ arithmetic on {args.model}{' (--quick)' if args.quick else ''}: a = review_sentiment ({steps_a} steps), "
             f"b = drama_style ({steps_b} steps)",
             f"{'adapter':<26} {'sentiment acc':>13} {'sentiment loss':>14} {'drama loss':>10} {'mean l_ff':>9}"]
    lines.append("-" * len(lines[1]))
    for name, r in results.items():
        mean = "" if r["mean_l_ff"] is None else f"{r['mean_l_ff']:.3f}"
        lines.append(f"{name:<26} {r['sentiment_accuracy']:>13.3f} {r['sentiment_loss']:>14.4f} {r['drama_loss']:>10.4f} "
                     f"{mean:>9}")
    lines.append(f"held-out: {len(sentiment)} sentiment items (rank classification, T-Few loss), {len(drama)} drama "
                 "passages (nats per token). A mixed batch gives each task its own row: a on sentiment, b on drama.")
    lines.append(f"({time.perf_counter() - start:.0f} s)")
    text = "\n".join(lines)
    print("\n" + text)
    meta = {"model": args.model, "quick": args.quick, "steps": {"a": steps_a, "b": steps_b},
            "tasks": {k: v[0] for k, v in TASKS.items()}, "date": time.strftime("%Y-%m-%d")}
    write_results(args.out, meta, results, text, header_key="settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
