"""IA³ against LoRA, BitFit and full fine-tuning, in one engine: quality and cost.

    python benchmarks/compare_methods.py                 # everything (1.5 hours on 2 cores)
    python benchmarks/compare_methods.py --quick         # the machinery on a tiny budget (a minute)
    python benchmarks/compare_methods.py --model gpt2    # the same on gpt2 (needs the hub once)

Every variant trains with tinyia3's own loop (tinyia3.train, AdamW, warm-up + linear decay, the
same batches for the same seed) on the same tasks, for the same number of steps:

  quality  for each task and variant, a learning-rate sweep (4 rates, seed 0; one more rate is
           added beyond the grid's edge while the best rate sits on it), then seeds 1 and 2 at
           the best rate. Reported: median and range over the 3 seeds. The rate is chosen on the
           held-out set the quality is reported on (the same, mild optimism for every variant).
  cost     trainable numbers (and % of the model), adapter-file bytes, optimiser-state bytes,
           and, each variant in its own process so that peak memory is its own: one training
           step's time and the process's peak RSS. Variants are interleaved round by round
           (5 rounds); median and range. Run it on a quiet machine.

Quality runs go two at a time, one BLAS thread each (their times are not measurements); each
finished run is appended to out/methods/runs.jsonl, so an interrupted comparison continues where
it stopped, and a second invocation reuses every finished run and measures only the costs again.
Writes data/measured/methods.json (every run, the summary, the machine; lesson 09 reads it),
methods.txt (the table) and methods.png (the T-Few paper's Figure 2 shape: quality against % of
parameters updated, log axis).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = ROOT / "out" / "methods" / "runs.jsonl"
RESULTS = ROOT / "data" / "measured" / "methods"  # .json, .png, .txt: committed, read by lesson 09

# name -> TrainConfig settings. LoRA's alpha is 2r, so its update is scaled by 2 at every rank.
VARIANTS = {
    "IA³": dict(method="ia3"),
    "IA³ + q": dict(method="ia3", queries=True),
    **{f"LoRA r{r} c_attn": dict(method="lora", rank=r, alpha=2.0 * r, targets=("attn.c_attn",)) for r in (1, 4, 16)},
    **{f"LoRA r{r} all": dict(method="lora", rank=r, alpha=2.0 * r,
                             targets=("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")) for r in (1, 4, 16)},
    "BitFit": dict(method="bitfit"),
    "full": dict(method="full"),
}
# Each method's grid: IA³ is known to want ~10-50x LoRA's rate (PEFT's benchmark, axolotl#601).
RATES = {"ia3": (3e-3, 1e-2, 3e-2, 1e-1), "lora": (3e-4, 1e-3, 3e-3, 1e-2),
         "bitfit": (1e-3, 3e-3, 1e-2, 3e-2), "full": (3e-5, 1e-4, 3e-4, 1e-3)}
GRID_STEP = 10 ** 0.5  # one more rate beyond an edge is this factor further out
# task -> data and budget. quality: higher is better (accuracy; held-out loss drop for a style).
TASKS = {
    "drama_style": dict(train="drama_style_train.jsonl", heldout="drama_style_heldout.jsonl", steps=100),
    "review_sentiment": dict(train="review_sentiment_train.jsonl", heldout="review_sentiment_heldout.jsonl", steps=200),
}
BATCH, SEEDS, COST_ROUNDS, COST_STEPS = 8, (0, 1, 2), 5, 3
QUICK = dict(variants=("IA³", "LoRA r4 c_attn"), steps=4, rates=2, seeds=(0, 1), rounds=2)


# -- one run, in its own process --------------------------------------------------------------------


def _setup(model_name: str, task: str):
    sys.path.insert(0, str(ROOT))
    import tinyia3
    from tinyia3.data import load_dataset

    model = tinyia3.load_model(model_name)
    tokenizer = tinyia3.load_tokenizer(model_name)
    data = ROOT / "data" / "datasets"
    spec = TASKS[task]
    return model, *(load_dataset(data / spec[k], tokenizer, model.config.n_positions) for k in ("train", "heldout"))


def quality(history: list[dict]) -> float:
    """Accuracy for multiple choice; for language modelling the held-out loss drop (nats)."""
    before, after = history[0]["eval"], history[-1]["eval"]
    return after["accuracy"] if "accuracy" in after else before["loss"] - after["loss"]


def run_one(job: dict) -> dict:
    """Train one variant at one rate and seed; the held-out numbers before and after."""
    from tinyia3.train import TrainConfig, train

    model, train_set, heldout = _setup(job["model"], job["task"])
    config = TrainConfig(steps=job["steps"], batch_size=BATCH, lr=job["lr"], seed=job["seed"],
                         **VARIANTS[job["variant"]])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        history = train(model, train_set, heldout, Path(out) / "run", config, progress=False, log=lambda *a: None)
    return {**job, "quality": quality(history), "before": history[0]["eval"], "after": history[-1]["eval"],
            "final_train_loss": history[-1]["loss"], "seconds_busy": time.perf_counter() - start}


def cost_one(job: dict) -> dict:
    """Sizes of a variant, and the time and peak RSS of its training steps (this process only)."""
    sys.path.insert(0, str(HERE))
    from results_files import peak_rss_mb
    from safetensors.numpy import save_file

    from tinyia3.optim import AdamW
    from tinyia3.train import TrainConfig, batch_indices, step_loss_and_grad

    model, train_set, _ = _setup(job["model"], job["task"])
    config = TrainConfig(steps=COST_STEPS + 1, batch_size=BATCH, **VARIANTS[job["variant"]])
    adapter = config.make_adapter(model)
    params = adapter.named()
    opt = AdamW(params, lr=1e-4)
    times = []
    for step in range(COST_STEPS + 1):  # the first is the warm-up
        start = time.perf_counter()
        _, grads = step_loss_and_grad(model, adapter, train_set, batch_indices(len(train_set), step, BATCH, 0))
        opt.step(grads, 1e-4)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adapter.safetensors"
        adapter.save(path) if hasattr(adapter, "save") else save_file(params, str(path))
        file_bytes = path.stat().st_size
    n = adapter.num_parameters
    return {**job, "step_seconds": statistics.median(times[1:]), "peak_rss_mb": peak_rss_mb(),
            "trainable": n, "percent": 100.0 * n / model.num_parameters(), "file_bytes": file_bytes,
            "optimizer_bytes": sum(a.nbytes for a in (*opt.m.values(), *opt.v.values()))}  # Adam's m and v


def _in_process(kind: str, job: dict, threads: int, script: str = __file__) -> dict:
    """`script --worker kind --job JSON` in a fresh process with `threads` BLAS threads: its last
    stdout line, as JSON (benchmarks/data_quality.py runs its own workers through this too)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    run = subprocess.run([sys.executable, str(script), "--worker", kind, "--job", json.dumps(job)],
                         capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"{kind} {job} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# -- the sweep, the seeds, the costs ----------------------------------------------------------------


def _key(r: dict) -> tuple:
    return r["model"], r["task"], r["variant"], r["lr"], r["seed"], r["steps"]


def _run_all(jobs: list[dict], done: dict, workers: int, log) -> None:
    todo = [j for j in jobs if _key(j) not in done]
    with ThreadPoolExecutor(workers) as pool:
        for result in pool.map(lambda j: _in_process("quality", j, 1), todo):
            done[_key(result)] = result
            RUNS.parent.mkdir(parents=True, exist_ok=True)
            with open(RUNS, "a") as f:
                f.write(json.dumps(result) + "\n")
            log(f"  {result['task']:17} {result['variant']:15} lr {result['lr']:.1e} seed {result['seed']}: "
                f"quality {result['quality']:.4f}")


def _best_rate(done: dict, model: str, task: str, variant: str, steps: int) -> float:
    """The rate with the best seed-0 quality (ties: the lower held-out loss)."""
    runs = [r for k, r in done.items() if k[:3] == (model, task, variant) and k[4] == 0 and k[5] == steps]
    return max(runs, key=lambda r: (r["quality"], -r["after"]["loss"]))["lr"]


def sweep(model: str, variants, rates_of, steps_of, workers: int, log, max_extensions=2) -> dict:
    done = {_key(r): r for r in map(json.loads, RUNS.read_text().splitlines())} if RUNS.exists() else {}
    grids = {(t, v): list(rates_of(VARIANTS[v]["method"])) for t in TASKS for v in variants}
    for extension in range(max_extensions + 1):
        _run_all([dict(model=model, task=t, variant=v, lr=lr, seed=0, steps=steps_of(t))
                  for (t, v), grid in grids.items() for lr in grid], done, workers, log)
        grew = False
        for (t, v), grid in grids.items():
            best = _best_rate(done, model, t, v, steps_of(t))
            if extension < max_extensions and best in (grid[0], grid[-1]) and len(grid) > 1:
                grid.insert(0, grid[0] / GRID_STEP) if best == grid[0] else grid.append(grid[-1] * GRID_STEP)
                grew = True
        if not grew:
            break
    return done, grids


def seeds(model, variants, steps_of, seed_list, done, grids, workers, log) -> dict:
    best = {(t, v): _best_rate(done, model, t, v, steps_of(t)) for (t, v) in grids}
    _run_all([dict(model=model, task=t, variant=v, lr=best[t, v], seed=s, steps=steps_of(t))
              for (t, v) in grids for s in seed_list], done, workers, log)
    return best


def costs(model: str, variants, rounds: int, log) -> dict:
    """Interleaved: every variant once per round, each in a fresh process using both cores."""
    per = {v: [] for v in variants}
    for i in range(rounds):
        for v in variants:
            per[v].append(_in_process("cost", dict(model=model, task="drama_style", variant=v), 2))
        log(f"  cost round {i + 1} of {rounds} done")
    return per


# -- summary, table, figure -------------------------------------------------------------------------


def _spread(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": list(values)}


def summarise(model, variants, steps_of, seed_list, done, grids, best, cost_runs) -> dict:
    rows = {}
    for v in variants:
        c = cost_runs[v]
        row = {k: c[0][k] for k in ("trainable", "percent", "file_bytes", "optimizer_bytes")}
        row.update(step_seconds=_spread([r["step_seconds"] for r in c]), peak_rss_mb=_spread([r["peak_rss_mb"] for r in c]))
        for t in TASKS:
            runs = [done[(model, t, v, best[t, v], s, steps_of(t))] for s in seed_list]
            row[t] = dict(lr=best[t, v], grid=grids[t, v], quality=_spread([r["quality"] for r in runs]),
                          heldout_loss=_spread([r["after"]["loss"] for r in runs]),
                          at_edge=best[t, v] in (min(grids[t, v]), max(grids[t, v])),
                          sweep={str(lr): done[(model, t, v, lr, 0, steps_of(t))]["quality"] for lr in grids[t, v]})
        rows[v] = row
    return rows


def table(rows: dict) -> str:
    head = (f"{'variant':15} {'trainable':>10} {'%':>8} {'file KB':>8} {'Adam KB':>9} {'step s':>7} {'RSS MB':>7} | "
            + " | ".join(f"{t} (lr, median [min-max])" for t in TASKS))
    lines = [head, "-" * len(head)]
    for v, r in rows.items():
        cells = [f"{r[t]['lr']:.0e}{'*' if r[t]['at_edge'] else ' '} {r[t]['quality']['median']:.3f} "
                 f"[{r[t]['quality']['min']:.3f}-{r[t]['quality']['max']:.3f}]" for t in TASKS]
        lines.append(f"{v:15} {r['trainable']:>10,} {r['percent']:>8.3f} {r['file_bytes'] / 1024:>8.1f} "
                     f"{r['optimizer_bytes'] / 1024:>9.1f} {r['step_seconds']['median']:>7.3f} "
                     f"{r['peak_rss_mb']['median']:>7.0f} | " + " | ".join(cells))
    lines.append("quality: drama_style = held-out loss drop (nats, higher is better); review_sentiment = held-out "
                 "accuracy. * the best rate is at the edge of its grid after the extensions.")
    return "\n".join(lines)


QUALITY = {"drama_style": "held-out loss drop (nats)", "review_sentiment": "held-out accuracy"}


def figure_panels(rows: dict) -> dict:
    """The summary as tinyia3.plots.plot_quality_vs_parameters wants it (also used by lesson 09)."""
    return {task: {"ylabel": QUALITY[task], "points": {
        v: dict(percent=r["percent"], method=VARIANTS[v]["method"],
                **{k: r[task]["quality"][k] for k in ("median", "min", "max")}) for v, r in rows.items()}}
        for task in TASKS}


def plot(rows: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from tinyia3.plots import plot_quality_vs_parameters

    plot_quality_vs_parameters(figure_panels(rows), path,
                               title + "  (median of 3 seeds at each variant's best rate; bars: min-max)")


def machine() -> dict:
    """Where and when results were measured (benchmarks/data_quality.py records the same)."""
    return dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
                date=time.strftime("%Y-%m-%d"))


# -- entry point ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded", help="embedded (default) or a hub name such as gpt2")
    p.add_argument("--quick", action="store_true", help="two variants, four steps: checks the machinery only")
    p.add_argument("--workers", type=int, default=2, help="quality runs at a time (default 2, one thread each)")
    p.add_argument("--out", type=Path, default=None,
                   help="writes OUT.json, OUT.png, OUT.txt (default data/measured/methods, which lesson 09 "
                        "reads; --quick: out/methods/quick)")
    p.add_argument("--worker", choices=("quality", "cost"), help=argparse.SUPPRESS)
    p.add_argument("--job", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps((run_one if args.worker == "quality" else cost_one)(json.loads(args.job))))
        return 0
    global RUNS
    if args.quick:  # never mixed with the real runs, and always afresh
        args.out = args.out or ROOT / "out" / "methods" / "quick"
        RUNS = args.out.parent / f".{args.out.name}-runs.jsonl"
        RUNS.unlink(missing_ok=True)
    args.out = args.out or RESULTS
    variants = QUICK["variants"] if args.quick else tuple(VARIANTS)
    rates_of = (lambda m: RATES[m][1:1 + QUICK["rates"]]) if args.quick else (lambda m: RATES[m])
    steps_of = (lambda t: QUICK["steps"]) if args.quick else (lambda t: TASKS[t]["steps"])
    seed_list = QUICK["seeds"] if args.quick else SEEDS
    log = lambda s: print(s, flush=True)  # noqa: E731
    log(f"quality: {len(variants)} variants x {len(TASKS)} tasks, sweep then seeds ({args.workers} at a time)")
    done, grids = sweep(args.model, variants, rates_of, steps_of, args.workers, log, 0 if args.quick else 2)
    best = seeds(args.model, variants, steps_of, seed_list, done, grids, args.workers, log)
    log("cost: each variant in its own process, interleaved")
    cost_runs = costs(args.model, variants, QUICK["rounds"] if args.quick else COST_ROUNDS, log)
    rows = summarise(args.model, variants, steps_of, seed_list, done, grids, best, cost_runs)
    text = table(rows)
    print(text)
    settings = dict(model=args.model, batch=BATCH, steps={t: steps_of(t) for t in TASKS}, seeds=list(seed_list),
                    quick=args.quick, variants={v: VARIANTS[v] for v in variants})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(dict(machine=machine(), settings=settings, summary=rows,
                                                        figure=figure_panels(rows), runs=list(done.values())),
                                                   indent=1) + "\n")
    Path(f"{args.out}.txt").write_text(text + "\n")
    plot(rows, Path(f"{args.out}.png"), f"{args.model}: IA³, LoRA, BitFit, full fine-tuning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
