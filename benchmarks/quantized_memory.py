"""Peak memory and time of an IA³ training step on a float32, int8 and 4-bit GPT-2-shaped model.

    python benchmarks/quantized_memory.py                       # gpt2-large shape, 1×128
    python benchmarks/quantized_memory.py --size xl --repeats 3
    python benchmarks/quantized_memory.py --layers 2 --embd 64 --heads 2 --seq 16   # a smoke test

Each variant runs in its own fresh process, so that its peak resident memory (VmHWM) is its
own: build the model, one warm-up step, then --repeats timed steps (loss_and_grad to the IA³
vectors + an Adam update). With --rounds N the variants take turns N times, each time in a
fresh process; the table gives the highest peak RSS and the median and range of all steps. The variants:

    float32        the weights as they are
    int8           tinyia3.quantize(model): int8 linears and wte, scales per channel
    int8-linears   int8 linears, wte kept in float32 (wte is 8 % of gpt2-large's weights)
    4-bit          tinyia3.quantize(model, bits=4): 4-bit blocks of 64, wte int8

The weights are random, drawn tensor by tensor with init_params's distribution (N(0, 0.02),
residual projections scaled by 1/sqrt(2·n_layer), zero biases, unit layer norms) but directly
in float32, and each linear is quantized as soon as it is drawn (quantize_params): the
quantized process never holds the float model, as when quantizing a memory-mapped checkpoint
tensor by tensor. Peak RSS is a valid measurement on a busy machine; times are not (the load
average at the start is printed and saved beside them).
Writes --out .json and .txt (default data/measured/quantized_memory.*).
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

from results_files import peak_rss_mb, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = {"small": (12, 768, 12), "medium": (24, 1024, 16), "large": (36, 1280, 20), "xl": (48, 1600, 25)}
VARIANTS = {"float32": None, "int8": dict(bits=8), "int8-linears": dict(bits=8, wte_bits=None),
            "4-bit": dict(bits=4)}


def random_tensors(config, seed=0):
    """(name, float32 array) pairs of a random GPT-2, one tensor at a time (see the docstring)."""
    import numpy as np

    from tinyia3.checkpoint import expected_shapes

    rng = np.random.default_rng(seed)
    residual_std = 0.02 / np.sqrt(2 * config.n_layer)
    for name, shape in expected_shapes(config).items():
        if ".ln_" in name or name.startswith("ln_"):
            yield name, (np.ones if name.endswith(".weight") else np.zeros)(shape, np.float32)
        elif name.endswith(".bias"):
            yield name, np.zeros(shape, np.float32)
        else:
            w = rng.standard_normal(shape, dtype=np.float32)
            w *= residual_std if name.endswith("c_proj.weight") else 0.02
            yield name, w


def worker(variant, layers, embd, heads, B, T, repeats):
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import tinyia3
    from tinyia3.config import GPT2Config
    from tinyia3.model import GPT2
    from tinyia3.optim import AdamW
    from tinyia3.quantized import quantize_params, weight_bytes

    config = GPT2Config(n_layer=layers, n_embd=embd, n_head=heads)
    t0 = time.perf_counter()
    options = VARIANTS[variant]
    tensors = random_tensors(config)
    params = dict(tensors) if options is None else quantize_params(tensors, **options)
    model = GPT2(config, params, source=f"random, {variant}")
    build_s, built_mb = time.perf_counter() - t0, peak_rss_mb()
    ia3 = tinyia3.IA3.random(model, std=0.1, seed=0)
    opt = AdamW(ia3.named(), lr=3e-3)
    ids = np.random.default_rng(1).integers(0, config.vocab_size, (B, T))
    times, losses = [], []
    for i in range(repeats + 1):  # the first step is the warm-up
        t = time.perf_counter()
        loss, grads = tinyia3.loss_and_grad(model, ia3, ids)
        opt.step(grads.named())
        if i:
            times.append(time.perf_counter() - t)
        losses.append(loss)
    return {"variant": variant, "weights_mb": weight_bytes(model) / 2**20, "built_rss_mb": built_mb,
            "peak_rss_mb": peak_rss_mb(), "build_s": build_s, "step_s": times, "losses": losses}


def run_worker(variant, args):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--layers", str(args.layers),
           "--embd", str(args.embd), "--heads", str(args.heads), "--batch", str(args.batch), "--seq", str(args.seq),
           "--repeats", str(args.repeats)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def merged(runs):
    """One row per variant from its rounds: the highest peak RSS, every timed step."""
    out = {}
    for r in runs:
        row = out.setdefault(r["variant"], {**r, "step_s": [], "peak_rss_mb": 0.0, "rounds": 0})
        row["step_s"] += r["step_s"]
        row["peak_rss_mb"] = max(row["peak_rss_mb"], r["peak_rss_mb"])
        row["rounds"] += 1
    return list(out.values())


def table(rows, shape) -> str:
    base = rows[0]
    lines = [f"IA³ step at {shape}: peak RSS of each process (highest over rounds; weights as held), step time "
             f"(median and range of {len(base['step_s'])} steps in {base['rounds']} interleaved rounds)",
             f"{'variant':<13} {'weights MB':>10} {'peak RSS MB':>11} {'RSS ratio':>9} {'step s':>8} {'range s':>13} "
             f"{'time ratio':>10}",
             "-" * 80]
    for r in rows:
        step = statistics.median(r["step_s"])
        spread = f"{min(r['step_s']):.2f}–{max(r['step_s']):.2f}"
        lines.append(f"{r['variant']:<13} {r['weights_mb']:>10.0f} {r['peak_rss_mb']:>11.0f} "
                     f"{r['peak_rss_mb'] / base['peak_rss_mb']:>9.3f} {step:>8.2f} {spread:>13} "
                     f"{step / statistics.median(base['step_s']):>10.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=SIZES, default="large", help="a GPT-2 size (default large); or give the three below")
    p.add_argument("--layers", type=int)
    p.add_argument("--embd", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2, help="timed steps after the warm-up, per process (default 2)")
    p.add_argument("--rounds", type=int, default=1,
                   help="fresh processes per variant, the variants taking turns round by round (default 1)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", type=Path, default=ROOT / "data" / "measured" / "quantized_memory")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    size = SIZES[args.size]
    args.layers, args.embd, args.heads = (args.layers or size[0], args.embd or size[1], args.heads or size[2])

    if args.worker:
        print(json.dumps(worker(args.worker, args.layers, args.embd, args.heads, args.batch, args.seq, args.repeats)))
        return 0

    variants = args.variants.split(",")
    if variants[0] != "float32":
        raise SystemExit("--variants must start with float32: the ratios are taken of it")
    load = os.getloadavg()
    shape = f"{args.batch}x{args.seq}, GPT-2 with n_layer={args.layers}, n_embd={args.embd}, n_head={args.heads}"
    print(f"load average at the start: {load[0]:.2f} on {os.cpu_count()} CPUs (times on a loaded machine are not "
          "measurements; peak RSS is)")
    runs = []
    for round_ in range(args.rounds):  # interleaved: every variant sees the same machine state
        for variant in variants:
            runs.append(run_worker(variant, args))
            r = runs[-1]
            print(f"round {round_ + 1}: {variant:<13} weights {r['weights_mb']:7.0f} MB  peak RSS "
                  f"{r['peak_rss_mb']:7.0f} MB  step {statistics.median(r['step_s']):.2f} s  (built in "
                  f"{r['build_s']:.1f} s)", flush=True)
    rows = merged(runs)
    text = table(rows, shape) + f"\nload average at the start {load[0]:.2f} on {os.cpu_count()} CPUs"
    print("\n" + text)
    meta = {"shape": shape, "load_average": load, "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    write_results(args.out, meta, rows, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
