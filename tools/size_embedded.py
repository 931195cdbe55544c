#!/usr/bin/env python3
"""Choose the embedded model's shape by measurement: training speed against torch, and
held-out loss after a short run, for each candidate shape.

For every shape, in one run:

1. full-parameter training throughput (8 x 256-token batches, float32, 2 cores) of tinyia3
   (forward + backward to every weight + AdamW) and of torch + transformers'
   GPT2LMHeadModel at the same shape, each measurement in a fresh process, the two engines
   and all shapes interleaved round after round; median and range over the rounds;
2. the held-out loss per register after a short pre-training run with
   tools/pretrain_embedded.py (the same recipe as the real run, shorter schedule);
3. the projected time of the planned token budget at the measured tinyia3 rate.

    python tools/size_embedded.py --peer-python /path/to/python-with-torch-transformers

Writes a JSON and a Markdown table (the model card's shape table) to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ("4x128", "4x192", "6x192", "6x256")
B, T, VOCAB, HEAD_WIDTH = 8, 256, 50257, 32


def child_tinyia3(shape: str, steps: int, warmup: int) -> float:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tools"))
    from pretrain_embedded import shape_config
    from tinyia3.full import FullFineTune
    from tinyia3.losses import loss_and_grad
    from tinyia3.model import GPT2, init_params
    from tinyia3.optim import AdamW, clip_by_global_norm

    config = shape_config(shape)
    model = GPT2(config, init_params(config, seed=0, dtype=np.float32))
    opt = AdamW(model.params, lr=1e-3, betas=(0.9, 0.95))
    full = FullFineTune.of(model, copy=False)
    rng = np.random.default_rng(0)
    times = []
    for i in range(warmup + steps):
        ids = rng.integers(0, VOCAB, size=(B, T))
        t0 = time.perf_counter()
        _, grads = loss_and_grad(model, full, ids)
        grads = grads.named()
        clip_by_global_norm(grads, 1.0)
        opt.step(grads)
        times.append(time.perf_counter() - t0)
    return B * T / statistics.median(times[warmup:])


def child_torch(shape: str, steps: int, warmup: int) -> float:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_num_threads(2)
    n_layer, n_embd = (int(v) for v in shape.split("x"))
    config = GPT2Config(vocab_size=VOCAB, n_positions=T, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_embd // HEAD_WIDTH, attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0)
    model = GPT2LMHeadModel(config).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        ids = torch.randint(0, VOCAB, (B, T), generator=gen)
        t0 = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    return B * T / statistics.median(times[warmup:])


def measure(python: str, engine: str, shape: str, steps: int, warmup: int) -> float:
    cmd = [python, __file__, "--child", engine, "--shape", shape, "--steps", str(steps), "--warmup", str(warmup)]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{engine} at {shape} failed:\n{r.stderr[-3000:]}")
    return float(r.stdout.strip().splitlines()[-1])


def short_run(shape: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tinyia3-size-") as work:
        cmd = [sys.executable, str(ROOT / "tools" / "pretrain_embedded.py"), "--shape", shape, "--steps", str(steps),
               "--warmup", str(max(1, steps // 10)), "--eval-every", str(steps), "--save-every", str(steps),
               "--work", work, "--no-ship"]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"short run at {shape} failed:\n{r.stderr[-3000:]}")
        last = json.loads(Path(work, "log.jsonl").read_text().splitlines()[-1])
        return {"seconds": time.time() - t0, "heldout_loss": last["heldout_loss"]}


def parameters(shape: str) -> int:
    sys.path.insert(0, str(ROOT / "tools"))
    from pretrain_embedded import shape_config

    return shape_config(shape).num_parameters()


def table(results: dict, budget: int) -> str:
    regs = list(next(iter(results.values()))["short_run"]["heldout_loss"])
    head = ("| shape | parameters | fp16 file | tinyia3 tokens/s | torch tokens/s | tinyia3 / torch | "
            f"projected time for {budget / 1e6:.1f} M tokens | " + " | ".join(f"{r} loss" for r in regs) + " | mean |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for shape, r in results.items():
        ours, peer = r["tinyia3"], r["torch"]
        losses = r["short_run"]["heldout_loss"]
        lines.append(
            f"| {shape} | {r['parameters']:,} | {r['parameters'] * 2 / 2**20:.1f} MiB | "
            f"{ours['median']:,.0f} ({ours['min']:,.0f}–{ours['max']:,.0f}) | "
            f"{peer['median']:,.0f} ({peer['min']:,.0f}–{peer['max']:,.0f}) | {ours['median'] / peer['median']:.2f} | "
            f"{budget / ours['median'] / 60:.0f} min | " + " | ".join(f"{losses[k]:.3f}" for k in regs) +
            f" | {statistics.mean(losses.values()):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", choices=["tinyia3", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--shape", help=argparse.SUPPRESS)
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--peer-python", help="a Python with torch and transformers")
    p.add_argument("--rounds", type=int, default=5, help="throughput measurements per engine and shape")
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement (median taken)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--short-steps", type=int, default=100, help="steps of the short pre-training run")
    p.add_argument("--budget", type=int, default=4000 * B * T, help="planned tokens of the real run")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "embedded" / "sizing")
    args = p.parse_args(argv)
    if args.child:
        rate = (child_tinyia3 if args.child == "tinyia3" else child_torch)(args.shape, args.steps, args.warmup)
        print(rate)
        return 0
    if not args.peer_python:
        p.error("--peer-python is required: a Python with torch and transformers, for the side-by-side rate")
    shapes = args.shapes.split(",")
    rates = {s: {"tinyia3": [], "torch": []} for s in shapes}
    for rnd in range(args.rounds):
        for s in shapes:
            for engine, python in (("tinyia3", sys.executable), ("torch", args.peer_python)):
                rates[s][engine].append(measure(python, engine, s, args.steps, args.warmup))
            print(f"round {rnd + 1}: {s} tinyia3 {rates[s]['tinyia3'][-1]:,.0f}  torch {rates[s]['torch'][-1]:,.0f} tokens/s",
                  flush=True)
    results = {}
    for s in shapes:
        results[s] = {"parameters": parameters(s),
                      **{e: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}
                         for e, v in rates[s].items()}}
        results[s]["short_run"] = short_run(s, args.short_steps)
        print(s, results[s]["short_run"], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"batch": B, "seq": T, "rounds": args.rounds, "timed_steps": args.steps, "short_steps": args.short_steps,
            "budget_tokens": args.budget, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (args.out / "sizing.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = table(results, args.budget)
    (args.out / "sizing.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
