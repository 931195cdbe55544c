"""Where the time of one IA³ (or LoRA) training step goes, op by op, on a GPT-2-small-shaped model.

    python benchmarks/profile_step.py                  # IA³, batch 8 x 128 tokens
    python benchmarks/profile_step.py 4x512
    python benchmarks/profile_step.py --method lora    # LoRA r = 8 on attn.c_attn, as bench.py's lora-step

Every function of tinyia3.ops (and the LM head loop, losses.head_nll) is wrapped with a timer
that records its *self* time: the time inside it minus the time of the wrapped ops it calls,
so that the rows add up to the step. Matrix products are counted in FLOPs, which turns their
time into a rate to set against NumPy's sgemm rate measured in the same run. The last lines say
what share of the sgemm rate the step could reach if its matrix products ran at that rate and
everything else took the time it takes now: the ceiling set by element-wise work.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinyia3  # noqa: E402
from tinyia3 import losses, ops  # noqa: E402
from tinyia3.config import GPT2Config  # noqa: E402
from tinyia3.model import GPT2, init_params  # noqa: E402
from tinyia3.optim import AdamW  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import matmul_flops, sgemm_rate  # noqa: E402

self_time: dict[str, float] = {}
calls: dict[str, int] = {}
flops: dict[str, float] = {}
_child_time = [0.0]  # a stack of "time spent in wrapped callees" accumulators


def timed(name, fn, count_flops=None):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _child_time.append(0.0)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            children = _child_time.pop()
            self_time[name] = self_time.get(name, 0.0) + elapsed - children
            calls[name] = calls.get(name, 0) + 1
            _child_time[-1] += elapsed
            if count_flops:
                flops[name] = flops.get(name, 0.0) + count_flops(*args)
    return wrapper


def _matmul_2d_flops(x, w):
    return 2.0 * x.size * w.shape[-1]  # (N, in) @ (in, out): 2·N·in·out


def _head_flops(model, hidden_rows, targets, dnll=None, *rest):
    # The product head_nll does itself: d hidden = d logits @ wte, (N, V) @ (V, C), when a gradient is asked for.
    return 0.0 if dnll is None else 2.0 * hidden_rows.size * model.config.vocab_size


def instrument():
    for name in dir(ops):
        fn = getattr(ops, name)
        # The ops, not their cache classes; helpers that run part of an op (in_row_blocks and the
        # per-block steps) count in the op's own self time.
        if inspect.isfunction(fn) and fn.__module__ == ops.__name__ and not name.startswith("_") \
                and name != "in_row_blocks":
            setattr(ops, name, timed(name, fn, _matmul_2d_flops if name == "matmul_2d" else None))
    losses.head_nll = timed("head_nll (d logits @ wte, bookkeeping)", losses.head_nll, _head_flops)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("shape", nargs="?", default="8x128", help="batch x tokens, e.g. 4x512 (default 8x128)")
    p.add_argument("--method", choices=("ia3", "lora"), default="ia3",
                   help="the adapter trained: IA³ (default) or LoRA r = 8, alpha 16 on attn.c_attn")
    args = p.parse_args(argv)
    shape = args.shape
    try:
        B, T = (int(v) for v in shape.split("x"))
    except ValueError:
        p.error(f"shape: expected BATCHxTOKENS such as 8x128, found {shape!r}")
    config = GPT2Config()
    model = GPT2(config, init_params(config, seed=0, dtype=np.float32))
    if args.method == "ia3":
        adapter = tinyia3.IA3.random(model, std=0.1, seed=0)
    else:
        adapter = tinyia3.LoRA.init(model, r=8, alpha=16, targets=("attn.c_attn",), seed=0)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, (B, T))
    opt = AdamW(adapter.named(), lr=3e-3)

    def step():
        _, grads = tinyia3.loss_and_grad(model, adapter, ids)
        opt.step(grads.named())

    rate = sgemm_rate()
    step()  # warm-up: first-touch memory, BLAS threads
    instrument()
    start = time.perf_counter()
    step()
    total = time.perf_counter() - start
    rate = max(rate, sgemm_rate())  # before and after: a slow moment must not lower the ceiling

    print(f"One {'IA³' if args.method == 'ia3' else 'LoRA'} training step at {B}x{T}: {total:.3f} s; NumPy sgemm {rate:.0f} GFLOP/s in this run.\n")
    print(f"{'op (self time)':<40} {'calls':>5} {'seconds':>8} {'share':>6} {'GFLOP/s':>8} {'sgemm%':>6}")
    rows = sorted(self_time, key=self_time.get, reverse=True)
    for name in rows:
        line = f"{name:<40} {calls[name]:>5} {self_time[name]:>8.3f} {100 * self_time[name] / total:>5.1f}%"
        if flops.get(name):
            achieved = flops[name] / self_time[name] / 1e9
            line += f" {achieved:>8.0f} {100 * achieved / rate:>5.0f}%"
        print(line)
    other = total - sum(self_time.values())
    print(f"{'(outside ops: Python, Adam, indexing)':<40} {'':>5} {other:>8.3f} {100 * other / total:>5.1f}%")

    big_products = sum(self_time[name] for name in flops)
    rest = total - big_products
    step_flops = matmul_flops("step", B, T)
    print(f"\nLarge matrix products: {big_products:.2f} s for {sum(flops.values()) / 1e9:.0f} GFLOP "
          f"({sum(flops.values()) / big_products / 1e9:.0f} GFLOP/s); everything else: {rest:.2f} s.")
    print(f"The step does {step_flops / 1e9:.0f} GFLOP of matrix products: {step_flops / total / 1e9:.0f} GFLOP/s "
          f"= {100 * step_flops / total / 1e9 / rate:.0f} % of sgemm.")
    ceiling = step_flops / (sum(flops.values()) / rate / 1e9 + rest) / 1e9
    print(f"With every large product at the full sgemm rate and the rest as it is: "
          f"{100 * ceiling / rate:.0f} % of sgemm at best.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
