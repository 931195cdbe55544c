"""Training data quality, measured: wrong labels, duplicates, held-out leaks, and what cleaning recovers.

    OPENBLAS_NUM_THREADS=1 nice -n 19 python benchmarks/data_quality.py   # the grid (~40 runs, resumable)
    python benchmarks/data_quality.py --quick                           # the machinery, 4 steps (a minute)

One task the embedded model learns with IA³ — review_sentiment (multiple choice, rank
classification), at the method comparison's setting for IA³ on it (lr 1e-1, 200 steps, batch 8;
data/measured/methods.json) — trained on corrupted copies of its training set, three seeds each
(the seed draws both the corruption and the batch order):

  flip P      the labels of P = 0, 10, 25, 50 % of the training records, chosen at random, flipped
  duplicates  10 % of the records, chosen at random, repeated 5 more times each, at random places
  leak        half of the held-out records (a fixed half: "leaked") inserted into the training set;
              the other half ("unseen") stays out

Every run is scored on the whole held-out set and on each half of it. Then `tinyia3 data check`
(tinyia3/data_check.py) runs on each corrupted set against the held-out set; the lines it flags
(duplicates, held-out overlap) are dropped (write_cleaned) and the model retrained on what is
left. A label flip leaves no trace a file check can see, so for the flips a second cleaning is
measured too: the model trained on the noisy set predicts every training record, the records it
contradicts are dropped, and it is retrained ("filtered"); the precision and recall of that filter
against the truly flipped records are recorded.

Runs go two at a time, one BLAS thread each, each in its own process (their times are not
measurements); each finished run is appended to out/data_quality/runs.jsonl and found there
again by its settings and the SHA-256 of its training file, so an interrupted grid continues
where it stopped. Writes data/measured/data_quality.json (every run, the data-check findings,
the summary; lesson 11 reads it) and data_quality.txt (the table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import compare_methods  # noqa: E402  (its task table, batch size, seeds, worker processes and spreads)
from results_files import write_results  # noqa: E402

from tinyia3.data_corruption import (DUP_COPIES, DUP_SHARE, FLIPS, LEAK_SPLIT_SEED, corrupted_sets,  # noqa: E402
                                     flip_name, heldout_halves, read_records, write_records)

TASK = "review_sentiment"
DATA = ROOT / "data" / "datasets"
TRAIN, HELDOUT = (DATA / compare_methods.TASKS[TASK][k] for k in ("train", "heldout"))
LR = 1e-1  # IA³'s best rate on this task in the method comparison (checked against methods.json below)
STEPS, BATCH, SEEDS = compare_methods.TASKS[TASK]["steps"], compare_methods.BATCH, compare_methods.SEEDS
OUT = ROOT / "out" / "data_quality"
RUNS = OUT / "runs.jsonl"
RESULTS = ROOT / "data" / "measured" / "data_quality"
QUICK = dict(steps=4, seeds=(0,), flips=(0.0, 0.5))


# -- the runs ----------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- one run, in its own process ---------------------------------------------------------------------


def run_one(job: dict) -> dict:
    """Train IA³ on job["train"]; accuracy on each evaluation file; optionally which training
    records the trained model contradicts (their 0-based index in the file)."""
    import tinyia3
    from tinyia3.data import load_dataset, mc_batch
    from tinyia3.losses import predict, tfew_loss_and_scores
    from tinyia3.train import TrainConfig, evaluate, train

    model, tokenizer = tinyia3.load_model(job["model"]), tinyia3.load_tokenizer(job["model"])
    load = lambda p: load_dataset(p, tokenizer, model.config.n_positions)  # noqa: E731
    train_set, evals = load(job["train"]), {k: load(p) for k, p in job["evals"].items()}
    config = TrainConfig(steps=job["steps"], batch_size=BATCH, lr=job["lr"], seed=job["seed"], method="ia3",
                         eval_every=job["steps"], save_every=job["steps"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        history = train(model, train_set, evals["heldout"], Path(out) / "run", config, progress=False,
                        log=lambda *a: None)
        adapter = tinyia3.load_adapter(Path(out) / "run" / "adapter.safetensors", model)
    result = {**job, "before": history[0]["eval"], "final_train_loss": history[-1]["loss"],
              "after": {k: evaluate(model, adapter, d) for k, d in evals.items()}}
    if job.get("score_train"):
        contradicted = []
        for first in range(0, len(train_set), 16):
            batch = mc_batch(train_set.examples[first:first + 16])
            wrong = predict(tfew_loss_and_scores(model, adapter, batch)[1], batch) != batch.labels
            contradicted += [first + int(i) for i in np.flatnonzero(wrong)]
        result["contradicted"] = contradicted
    return {**result, "seconds_busy": time.perf_counter() - start}


# -- the grid ----------------------------------------------------------------------------------------


def _key(job: dict) -> tuple:
    return job["config"], job["seed"], job["steps"], job["lr"], job["train_sha"], job["model"]


def run_all(jobs: list[dict], done: dict, workers: int, log) -> None:
    todo = [j for j in jobs if _key(j) not in done]
    log(f"{len(jobs) - len(todo)} of {len(jobs)} runs already done; running {len(todo)}, {workers} at a time")
    with ThreadPoolExecutor(workers) as pool:
        for result in pool.map(lambda j: compare_methods._in_process("quality", j, 1, script=__file__), todo):
            done[_key(result)] = result
            RUNS.parent.mkdir(parents=True, exist_ok=True)
            with open(RUNS, "a") as f:
                f.write(json.dumps(result) + "\n")
            log(f"  {result['config']:22} seed {result['seed']}: held-out accuracy "
                f"{result['after']['heldout']['accuracy']:.3f} (leaked half {result['after']['leaked']['accuracy']:.3f}, "
                f"unseen half {result['after']['unseen']['accuracy']:.3f})")


def data_check_of(path: Path, heldout: Path) -> dict:
    """What `tinyia3 data check path --heldout heldout` finds: counts by kind, and the report."""
    from tinyia3.data_check import check_data

    report = check_data(path, heldout)
    return {"counts": dict(report.counts()), "summary": report.summary(), "report": report}


def build_jobs(model: str, seeds, flips, steps: int, evals: dict, log) -> tuple[list[dict], dict]:
    """The first round's jobs (every corrupted set, and each one data check cleaned) and, per set,
    what data check found and the flipped records."""
    train = read_records(TRAIN)
    leaked = heldout_halves(read_records(HELDOUT))[0]
    jobs, sets = [], {}
    for seed in seeds:
        for name, (records, flipped) in corrupted_sets(train, leaked, seed, flips).items():
            path = write_records(OUT / "sets" / f"{name.replace(' ', '_').replace('%', 'pc')}_s{seed}.jsonl", records)
            check = data_check_of(path, HELDOUT)
            sets[name, seed] = dict(path=str(path), n=len(records), flipped=flipped, data_check=check["counts"],
                                    data_check_summary=check["summary"])
            jobs.append(job(model, name, seed, steps, path, evals, score_train=bool(flipped)))
            if check["report"].lines_to_drop(path):
                from tinyia3.data_check import write_cleaned

                cleaned = path.with_name(path.stem + "_cleaned.jsonl")
                dropped = write_cleaned(path, check["report"], cleaned)
                sets[name, seed]["cleaned_dropped"] = dropped
                jobs.append(job(model, f"{name}, cleaned", seed, steps, cleaned, evals))
        log(f"seed {seed}: data check on each set: " + "; ".join(
            f"{n}: {sum(s['data_check'].values())} findings" for (n, s_), s in sets.items() if s_ == seed))
    return jobs, sets


def job(model, config, seed, steps, path: Path, evals, score_train=False) -> dict:
    return dict(model=model, config=config, seed=seed, steps=steps, lr=LR, train=str(path), train_sha=sha256(path),
                evals=evals, score_train=score_train)


def filter_jobs(model, sets: dict, done: dict, steps: int, evals: dict) -> tuple[list[dict], dict]:
    """The second round: each flipped set without the records its own trained model contradicts."""
    jobs, filters = [], {}
    for (name, seed), s in sets.items():
        if not s["flipped"]:
            continue
        first = next(r for r in done.values() if r["config"] == name and r["seed"] == seed and r["steps"] == steps
                     and r["train_sha"] == sha256(Path(s["path"])))
        records = read_records(Path(s["path"]))
        drop = set(first["contradicted"])
        path = write_records(Path(s["path"]).with_name(Path(s["path"]).stem + "_filtered.jsonl"),
                             [r for i, r in enumerate(records) if i not in drop])
        flipped = set(s["flipped"])
        filters[name, seed] = dict(dropped=len(drop), flipped=len(flipped), dropped_flipped=len(drop & flipped),
                                   precision=len(drop & flipped) / len(drop) if drop else float("nan"),
                                   recall=len(drop & flipped) / len(flipped))
        jobs.append(job(model, f"{name}, filtered", seed, steps, path, evals))
    return jobs, filters


# -- summary -----------------------------------------------------------------------------------------


def summarise(done: dict, seeds, steps: int) -> dict:
    configs = sorted({r["config"] for r in done.values() if r["steps"] == steps}, key=_order)
    rows = {}
    for config in configs:
        runs = [r for r in done.values() if r["config"] == config and r["steps"] == steps and r["seed"] in seeds]
        if {r["seed"] for r in runs} != set(seeds):
            continue  # not finished for every seed: left out of the summary, kept in "runs"
        runs = sorted(runs, key=lambda r: r["seed"])
        rows[config] = {part: compare_methods._spread([r["after"][part]["accuracy"] for r in runs])
                        for part in ("heldout", "leaked", "unseen")}
        rows[config]["loss"] = {part: compare_methods._spread([r["after"][part]["loss"] for r in runs])
                                for part in ("heldout", "leaked", "unseen")}
        rows[config]["train_examples"] = [_n_lines(r["train"]) for r in runs]
    return rows


def _n_lines(path: str) -> int:
    return sum(1 for line in Path(path).read_text().splitlines() if line.strip())


def _order(config: str) -> tuple:
    base = config.split(",")[0]
    names = [flip_name(s) for s in FLIPS] + ["duplicates", "leak"]
    return names.index(base) if base in names else len(names), config


def table(rows: dict, sets: dict, filters: dict, seeds) -> str:
    lines = [f"{'training set':24} {'examples':>9} | held-out accuracy (median [min-max] over seeds {list(seeds)}) "
             f"| leaked half | unseen half"]
    lines.append("-" * len(lines[0]))
    for config, r in rows.items():
        cells = [f"{r[p]['median']:.3f} [{r[p]['min']:.3f}-{r[p]['max']:.3f}]" for p in ("heldout", "leaked", "unseen")]
        lines.append(f"{config:24} {int(np.median(r['train_examples'])):>9} | {cells[0]:>44} | {cells[1]:>19} | {cells[2]:>19}")
    lines.append("\ndata check on each corrupted set (against the held-out set), findings per seed:")
    for (name, seed), s in sets.items():
        extra = f"; cleaning drops {s['cleaned_dropped']} lines" if "cleaned_dropped" in s else "; nothing to drop"
        lines.append(f"  {name:12} seed {seed}: {s['data_check_summary'].split(' in ')[0]}{extra}")
    if filters:
        lines.append("\nmodel filter on the flipped sets (drop the training records the trained model contradicts):")
        for (name, seed), f in filters.items():
            lines.append(f"  {name:12} seed {seed}: dropped {f['dropped']}, of them flipped {f['dropped_flipped']} "
                         f"(precision {f['precision']:.2f}), {f['dropped_flipped']} of {f['flipped']} flips found "
                         f"(recall {f['recall']:.2f})")
    return "\n".join(lines)


# -- entry point -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--quick", action="store_true", help="two flips, one seed, four steps: the machinery only")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2, one BLAS thread each)")
    p.add_argument("--out", type=Path, default=None, help="writes OUT.json and OUT.txt (default "
                   "data/measured/data_quality; --quick: out/data_quality/quick)")
    p.add_argument("--worker", choices=("quality",), help=argparse.SUPPRESS)
    p.add_argument("--job", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(run_one(json.loads(args.job))))
        return 0
    global RUNS, OUT
    if args.quick:  # never mixed with the real runs, and always afresh
        OUT = OUT / "quick"
        RUNS = OUT / "runs.jsonl"
        RUNS.unlink(missing_ok=True)
        args.out = args.out or OUT / "results"
    args.out = args.out or RESULTS
    steps, seeds, flips = (QUICK["steps"], QUICK["seeds"], QUICK["flips"]) if args.quick else (STEPS, SEEDS, FLIPS)
    if not args.quick:
        methods = json.loads((ROOT / "data" / "measured" / "methods.json").read_text())["summary"]["IA³"][TASK]
        assert methods["lr"] == LR, f"methods.json's best IA³ rate on {TASK} is {methods['lr']}, not {LR}"
    log = lambda s: print(s, flush=True)  # noqa: E731
    leaked, unseen = heldout_halves(read_records(HELDOUT))
    evals = {"heldout": str(HELDOUT), "leaked": str(write_records(OUT / "sets" / "heldout_leaked_half.jsonl", leaked)),
             "unseen": str(write_records(OUT / "sets" / "heldout_unseen_half.jsonl", unseen))}
    done = {_key(r): r for r in map(json.loads, RUNS.read_text().splitlines())} if RUNS.exists() else {}
    jobs, sets = build_jobs(args.model, seeds, flips, steps, evals, log)
    run_all(jobs, done, args.workers, log)
    second, filters = filter_jobs(args.model, sets, done, steps, evals)
    run_all(second, done, args.workers, log)
    rows = summarise(done, seeds, steps)
    text = table(rows, sets, filters, seeds)
    print(text)
    settings = dict(model=args.model, task=TASK, lr=LR, steps=steps, batch=BATCH, seeds=list(seeds), flips=list(flips),
                    dup_share=DUP_SHARE, dup_copies=DUP_COPIES, leak_split_seed=LEAK_SPLIT_SEED, quick=args.quick,
                    heldout=len(leaked) + len(unseen), leaked=len(leaked), unseen=len(unseen))
    relative = lambda path: os.path.relpath(path, ROOT)  # noqa: E731
    runs = [{**r, "train": relative(r["train"]), "evals": {k: relative(v) for k, v in r["evals"].items()}}
            for r in done.values() if r["steps"] == steps]
    results = dict(settings=settings, summary=rows, runs=runs,
                   sets={f"{n}|{s}": {**v, "path": relative(v["path"])} for (n, s), v in sets.items()},
                   filters={f"{n}|{s}": v for (n, s), v in filters.items()})
    write_results(args.out, compare_methods.machine(), results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
