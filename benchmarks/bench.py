"""Speed and memory of tinyia3 on a GPT-2-small-shaped model, side by side with torch + peft.

    python benchmarks/bench.py                          # tinyia3 only
    python benchmarks/bench.py --peer-python /work/tools-venv/bin/python   # and the peer

For each shape (batch × tokens) it measures, each in a fresh process so that peak memory is
the task's own:
  forward   logits of the batch, no activation record (inference);
  step      one IA³ training step: forward with record, backward to the IA³ vectors, Adam;
  lora-step one LoRA training step (r = 8 on attn.c_attn, alpha 16): backward to A and B, Adam;
  generate  tokens per second of greedy decoding with a KV cache (prompt 16, 64 new tokens).
Times are medians over --repeats runs; the two implementations alternate run by run so that
both see the same machine state. GFLOP/s counts the matrix products a step needs, and is also
given as a share of the sgemm rate NumPy reaches on this machine in the same run (measured at
the start and again in every tinyia3 process; the median counts). Writes a compact table, benchmarks/results.json and benchmarks/results.png.

The weights are random (GPT-2 small's 124M parameters cannot be downloaded here): speed does
not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_files import peak_rss_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAPES = [(1, 128), (8, 128), (4, 512)]
TASKS = ["forward", "step", "lora-step", "generate"]
LORA = dict(r=8, alpha=16, targets=("attn.c_attn",))
PROMPT, NEW_TOKENS = 16, 64


# -- arithmetic ------------------------------------------------------------------------------------


def matmul_flops(task: str, B: int, T: int, L=12, C=768, V=50257) -> float:
    """Floating-point operations of the matrix products (2 per multiply-add).

    Per token, a forward does 24·C² per block (c_attn 3C², attn.c_proj C², c_fc and mlp.c_proj
    4C² each) plus 4·T·C for attention (q kᵀ and att v, the full T × T square) and 2·C·V for
    the LM head. The IA³ backward repeats every input-gradient product once (no weight
    gradients) and attention's four products instead of two: about two forwards in all.
    """
    per_token_blocks = L * (24 * C * C + 4 * T * C)
    head = 2 * C * V
    if task == "forward":
        return B * T * (per_token_blocks + head)
    if task in ("step", "lora-step"):  # LoRA's r = 8 products add < 1 %: not counted
        backward = L * (24 * C * C + 8 * T * C) + head
        return B * T * (per_token_blocks + head + backward)
    raise ValueError(task)


# -- workers: one measurement each, in their own process -------------------------------------------


def worker_tinyia3(task, B, T, repeats):
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import tinyia3
    from tinyia3.config import GPT2Config
    from tinyia3.generate import generate_ids
    from tinyia3.model import GPT2, init_params
    from tinyia3.optim import AdamW

    config = GPT2Config()
    model = GPT2(config, init_params(config, seed=0, dtype=np.float32))
    ia3 = tinyia3.IA3.random(model, std=0.1, seed=0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config.vocab_size, (B, T))
    times = []
    if task == "forward":
        model.logits(ids, ia3)  # warm-up at full size: first-touch page faults, BLAS threads
        for _ in range(repeats):
            t = time.perf_counter()
            model.logits(ids, ia3)
            times.append(time.perf_counter() - t)
    elif task in ("step", "lora-step"):
        adapter = ia3 if task == "step" else tinyia3.LoRA.init(model, LORA["r"], LORA["alpha"], LORA["targets"])
        opt = AdamW(adapter.named(), lr=3e-3)
        for i in range(repeats + 1):  # the first step is the warm-up
            t = time.perf_counter()
            _, grads = tinyia3.loss_and_grad(model, adapter, ids)
            opt.step(grads.named())
            if i:
                times.append(time.perf_counter() - t)
    elif task == "generate":
        prompt = ids[0, :PROMPT]
        generate_ids(model, prompt, max_new_tokens=8, temperature=0, adapter=ia3)
        for _ in range(repeats):
            t = time.perf_counter()
            generate_ids(model, prompt, max_new_tokens=NEW_TOKENS, temperature=0, adapter=ia3)
            times.append(time.perf_counter() - t)
    return times


def worker_peer(task, B, T, repeats):
    import torch
    from peft import IA3Config, LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="sdpa")).float()
    if task == "lora-step":
        config = LoraConfig(task_type="CAUSAL_LM", r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                            target_modules=list(LORA["targets"]), fan_in_fan_out=True)
    else:
        config = IA3Config(task_type="CAUSAL_LM", target_modules=["c_attn", "mlp.c_proj"],
                           feedforward_modules=["mlp.c_proj"])
    model = get_peft_model(model, config)
    ids = torch.randint(0, 50257, (B, T))
    times = []
    if task == "forward":
        model.eval()
        with torch.no_grad():
            model(ids)  # warm-up at full size
            for _ in range(repeats):
                t = time.perf_counter()
                model(ids).logits
                times.append(time.perf_counter() - t)
    elif task in ("step", "lora-step"):
        model.train()
        for module in model.modules():  # same maths as tinyia3: no dropout
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0.0)
        for i in range(repeats + 1):
            t = time.perf_counter()
            loss = model(ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i:
                times.append(time.perf_counter() - t)
    elif task == "generate":
        model.eval()
        prompt = ids[:1, :PROMPT]
        with torch.no_grad():
            model.generate(input_ids=prompt, max_new_tokens=8, do_sample=False, pad_token_id=50256)
            for _ in range(repeats):
                t = time.perf_counter()
                out = model.generate(input_ids=prompt, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                     do_sample=False, pad_token_id=50256)
                times.append(time.perf_counter() - t)
                assert out.shape[1] == PROMPT + NEW_TOKENS
    return times


def sgemm_rate(n=2048, repeats=5) -> float:
    """NumPy's float32 matrix-product rate on this machine, GFLOP/s (best of repeats)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# -- orchestration ---------------------------------------------------------------------------------


def run_worker(python, impl, task, B, T, repeats):
    cmd = [python, str(Path(__file__).resolve()), "--worker", impl, "--task", task,
           "--batch", str(B), "--seq", str(T), "--repeats", str(repeats)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{impl} {task} {B}x{T} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", help="a Python with torch, transformers and peft (the peer); omit for tinyia3 only")
    p.add_argument("--repeats", type=int, default=3, help="measurements per task, alternating implementations")
    p.add_argument("--shapes", default=",".join(f"{b}x{t}" for b, t in SHAPES), help="e.g. 8x128,4x512")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--task", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:  # one measurement in this fresh process
        fn = worker_tinyia3 if args.worker == "tinyia3" else worker_peer
        times = fn(args.task, args.batch, args.seq, args.repeats)
        peak = peak_rss_mb()  # before the sgemm probe, whose arrays are not the task's
        # Every tinyia3 worker also measures sgemm (best of 5): the run's rate is the median of all
        # of them, as the times are medians, so that one slow or fast moment of a shared machine
        # does not move the ceiling the shares are taken of.
        rate = sgemm_rate() if args.worker == "tinyia3" else None
        print(json.dumps({"times": times, "peak_rss_mb": peak, "sgemm_gflop_per_s": rate}))
        return 0

    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    tasks = args.tasks.split(",")
    impls = [("tinyia3", sys.executable)] + ([("peer", args.peer_python)] if args.peer_python else [])
    rates = [sgemm_rate()]
    print(f"NumPy sgemm rate on this machine: {rates[0]:.0f} GFLOP/s (float32, 2048³, best of 5; "
          "measured again in every tinyia3 process; the median counts)\n")
    results = []
    for B, T in shapes:
        for task in tasks:
            if task == "generate" and (B, T) != shapes[0]:
                continue  # decoding speed does not depend on the training shape
            runs = {name: {"times": [], "peak_rss_mb": 0.0} for name, _ in impls}
            for _ in range(args.repeats):  # alternate: tinyia3, peer, tinyia3, peer, ...
                for name, python in impls:
                    r = run_worker(python, name, task, B, T, 2)  # 2 timed runs after a warm-up
                    runs[name]["times"] += r["times"]
                    if r["sgemm_gflop_per_s"]:
                        rates.append(r["sgemm_gflop_per_s"])
                    runs[name]["peak_rss_mb"] = max(runs[name]["peak_rss_mb"], r["peak_rss_mb"])
            for name, _ in impls:
                median = statistics.median(runs[name]["times"])
                row = {"impl": name, "task": task, "batch": B, "seq": T, "seconds": median,
                       "all_seconds": runs[name]["times"], "peak_rss_mb": runs[name]["peak_rss_mb"]}
                if task == "generate":
                    row["tokens_per_s"] = NEW_TOKENS / median
                else:
                    row["gflop"] = matmul_flops(task, B, T) / 1e9
                    row["gflop_per_s"] = row["gflop"] / median
                results.append(row)
                print(_line(row), flush=True)
    rate = statistics.median(rates)
    for row in results:
        if "gflop_per_s" in row:
            row["share_of_sgemm"] = row["gflop_per_s"] / rate
    print(f"\nsgemm rate of this run (median of {len(rates)} measurements, {min(rates):.0f}-{max(rates):.0f}): "
          f"{rate:.0f} GFLOP/s")
    summary = _table(results, rate, len(rates))
    print("\n" + summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"sgemm_gflop_per_s": rate, "sgemm_measurements": rates, "cpu_count": os.cpu_count(),
            "repeats": args.repeats}
    Path(f"{args.out}.json").write_text(json.dumps({"machine": meta, "results": results}, indent=2) + "\n")
    Path(f"{args.out}.txt").write_text(summary + "\n")
    _plot(results, Path(f"{args.out}.png"))
    print(f"\nwrote {args.out}.json, {args.out}.txt, {args.out}.png")
    return 0


def _line(r) -> str:
    what = (f"{r['tokens_per_s']:7.1f} tok/s" if "tokens_per_s" in r
            else f"{r['seconds']:7.3f} s  {r['gflop_per_s']:6.1f} GFLOP/s")
    return f"{r['impl']:<8} {r['task']:<9} {r['batch']}x{r['seq']:<4} {what}  peak RSS {r['peak_rss_mb']:6.0f} MB"


def _table(results, sgemm, n_sgemm) -> str:
    by = {(r["impl"], r["task"], r["batch"], r["seq"]): r for r in results}
    lines = [f"{'task':<9} {'shape':>6} | {'tinyia3':>10} {'GFLOP/s':>8} {'sgemm%':>6} {'RSS MB':>7} | "
             f"{'peer':>10} {'RSS MB':>7} | {'time ratio':>10} {'RSS ratio':>9}"]
    lines.append("-" * len(lines[0]))
    for (impl, task, B, T), r in by.items():
        if impl != "tinyia3":
            continue
        peer = by.get(("peer", task, B, T))
        value = f"{r['tokens_per_s']:.1f} tok/s" if task == "generate" else f"{r['seconds']:.3f} s"
        rate = "" if task == "generate" else f"{r['gflop_per_s']:.0f}"
        share = "" if task == "generate" else f"{100 * r['share_of_sgemm']:.0f}"
        line = f"{task:<9} {f'{B}x{T}':>6} | {value:>10} {rate:>8} {share:>6} {r['peak_rss_mb']:>7.0f} | "
        if peer:
            pvalue = f"{peer['tokens_per_s']:.1f} tok/s" if task == "generate" else f"{peer['seconds']:.3f} s"
            # time ratio < 1: tinyia3 is faster; for generation the ratio is of tokens/s (> 1: faster)
            ratio = (r["tokens_per_s"] / peer["tokens_per_s"]) if task == "generate" else r["seconds"] / peer["seconds"]
            line += f"{pvalue:>10} {peer['peak_rss_mb']:>7.0f} | {ratio:>9.2f}{'*' if task == 'generate' else ' '} " \
                    f"{r['peak_rss_mb'] / peer['peak_rss_mb']:>9.2f}"
        lines.append(line)
    lines.append("time ratio = tinyia3 / peer seconds (lower is faster); * for generate: tinyia3 / peer tokens per second "
                 "(higher is faster). RSS = peak resident memory of the process.")
    lines.append(f"sgemm% = share of NumPy's sgemm rate, {sgemm:.0f} GFLOP/s (median of {n_sgemm} measurements in this run).")
    return "\n".join(lines)


def _plot(results, path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in results if r["task"] != "generate"]
    generated = [r for r in results if r["task"] == "generate"]
    labels = sorted({f"{r['task']}\n{r['batch']}x{r['seq']}" for r in timed}, key=lambda s: (s.split()[0], s))
    impls = sorted({r["impl"] for r in results}, key=lambda s: s != "tinyia3")
    fig, axes = plt.subplots(1, 2 if generated else 1, figsize=(12 if generated else 6.5, 4), squeeze=False)
    axes = axes[0]
    width = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        by_label = {f"{r['task']}\n{r['batch']}x{r['seq']}": r for r in timed if r["impl"] == impl}
        found = [(i, by_label[label]) for i, label in enumerate(labels) if label in by_label]
        x = [i + k * width for i, _ in found]
        medians = [r["seconds"] for _, r in found]
        # The spread of the single measurements, from the fastest to the slowest.
        spread = [[r["seconds"] - min(r.get("all_seconds", [r["seconds"]])) for _, r in found],
                  [max(r.get("all_seconds", [r["seconds"]])) - r["seconds"] for _, r in found]]
        axes[0].bar(x, medians, width, yerr=spread, capsize=3, label=impl)
        gen = [r for r in generated if r["impl"] == impl]
        if gen:
            axes[1].bar(k, gen[0]["tokens_per_s"], 0.6, label=impl)
    axes[0].set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
    axes[0].set_ylabel("seconds (median, bars: fastest to slowest run)")
    tasks = sorted({r["task"] for r in timed}, key=TASKS.index)
    axes[0].set_title(f"{', '.join(tasks)}: GPT-2 small shape (lower is better)")
    axes[0].legend()
    if generated:
        axes[1].set_xticks(range(len(impls)), impls)
        axes[1].set_ylabel("tokens per second (higher is better)")
        axes[1].set_title(f"Greedy generation with KV cache ({NEW_TOKENS} tokens)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
