"""What a mixed-task batch costs against separate runs: one batch of B sequences from k tasks.

    python benchmarks/mixed_batches.py                     # GPT-2-small shape, 8×128, k = 1, 2, 4, 8
    python benchmarks/mixed_batches.py --layers 2 --embd 64 --heads 2 --seq 16 --repeats 1   # smoke test

For each number of tasks k (sequence b belongs to task b mod k), three ways to get the same
numbers, each timed for inference (model.logits) and training (loss_and_grad to the IA³ vectors):

    single    one adapter for the whole batch: the cost with no mixing at all (the floor)
    mixed     one call, one adapter per sequence: model.logits(ids, [a, b, a, ...])
    separate  one call per task on that task's sequences, k calls of B / k sequences

The mixed and separate results are checked equal (float32, to 1e-4 relative) before timing.
Times are medians of --repeats after a warm-up; on a loaded machine they are not measurements
(the load average at the start is printed and saved). Random weights: speed does not depend on
their values. Writes --out .json and .txt (default benchmarks/mixed_batches.*).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from results_files import write_results

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import tinyia3  # noqa: E402
from tinyia3.config import GPT2Config  # noqa: E402
from tinyia3.gradcheck import rel_error  # noqa: E402
from tinyia3.model import GPT2, init_params  # noqa: E402


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ways(model, adapters, ids, what):
    """The three ways (single, mixed, separate) as functions, for logits or loss_and_grad."""
    k = len(adapters)
    per_row = [adapters[b % k] for b in range(len(ids))]
    groups = [np.arange(j, len(ids), k) for j in range(k)]
    if what == "logits":
        return {"single": lambda: model.logits(ids, adapters[0]),
                "mixed": lambda: model.logits(ids, per_row),
                "separate": lambda: [model.logits(ids[g], adapters[j]) for j, g in enumerate(groups)]}
    return {"single": lambda: tinyia3.loss_and_grad(model, adapters[0], ids),
            "mixed": lambda: tinyia3.loss_and_grad(model, per_row, ids),
            "separate": lambda: [tinyia3.loss_and_grad(model, adapters[j], ids[g]) for j, g in enumerate(groups)]}


def check_equal(model, adapters, ids):
    k = len(adapters)
    mixed = model.logits(ids, [adapters[b % k] for b in range(len(ids))])
    for j in range(k):
        rows = np.arange(j, len(ids), k)
        error = rel_error(mixed[rows], model.logits(ids[rows], adapters[j]))
        if error > 1e-4:
            raise AssertionError(f"mixed batch differs from task {j}'s separate run: relative error {error:.1e}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--embd", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--tasks", default="1,2,4,8", help="numbers of tasks in the batch (each at most --batch)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=HERE / "mixed_batches")
    args = p.parse_args(argv)
    config = GPT2Config(n_layer=args.layers, n_embd=args.embd, n_head=args.heads)
    model = GPT2(config, init_params(config, seed=0, dtype=np.float32), source="random")
    ids = np.random.default_rng(0).integers(0, config.vocab_size, (args.batch, args.seq))
    load = os.getloadavg()
    print(f"{model}\n{args.batch}x{args.seq}; load average at the start {load[0]:.2f} on {os.cpu_count()} CPUs "
          "(times on a loaded machine are not measurements)\n")
    rows = []
    for k in [int(t) for t in args.tasks.split(",")]:
        if not 1 <= k <= args.batch:
            raise SystemExit(f"--tasks: {k} tasks cannot share a batch of {args.batch}")
        adapters = [tinyia3.IA3.random(model, std=0.1, seed=j) for j in range(k)]
        check_equal(model, adapters, ids)
        for what in ("logits", "loss_and_grad"):
            row = {"tasks": k, "what": what, **{w: timed(fn, args.repeats) for w, fn in ways(model, adapters, ids, what).items()}}
            rows.append(row)
            print(f"k={k} {what:<13} single {row['single']:.3f} s  mixed {row['mixed']:.3f} s  separate {row['separate']:.3f} s",
                  flush=True)
    lines = [f"mixed-task batch of {args.batch}x{args.seq} on {model!r}: median seconds",
             f"{'tasks':>5} {'call':<13} {'single':>8} {'mixed':>8} {'separate':>9} {'mixed/single':>12} {'mixed/separate':>14}"]
    lines.append("-" * len(lines[1]))
    for r in rows:
        lines.append(f"{r['tasks']:>5} {r['what']:<13} {r['single']:>8.3f} {r['mixed']:>8.3f} {r['separate']:>9.3f} "
                     f"{r['mixed'] / r['single']:>12.2f} {r['mixed'] / r['separate']:>14.2f}")
    lines.append(f"load average at the start {load[0]:.2f} on {os.cpu_count()} CPUs")
    text = "\n".join(lines)
    print("\n" + text)
    meta = {"model": repr(model), "batch": args.batch, "seq": args.seq, "repeats": args.repeats, "load_average": load,
            "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    write_results(args.out, meta, rows, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
