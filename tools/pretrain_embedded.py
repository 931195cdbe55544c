"""Pre-train the small GPT-2 that ships as tinyia3's "embedded" model, with tinyia3 itself.

Every step is tinyia3's own hand-written forward and backward (trainable="all") and its own
AdamW: no framework is involved. The corpus is text derived from the World English Bible
(public domain), built from the Debian package sword-text-web by tools/corpus.py and never
committed.

    python tools/corpus.py                       # once: writes ~/.cache/tinyia3/corpus/web/
    python tools/pretrain_embedded.py            # ~1 hour on 2 cores; resumable
    python tools/pretrain_embedded.py --resume   # continue after an interruption

The run checkpoints to --work every --save-every steps (atomically), and at the end writes
data/embedded/ (config.json, model.safetensors in float16, hub layout) and metrics.json, the
numbers the model card quotes.
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
from tinyia3.losses import loss, loss_and_grad  # noqa: E402
from tinyia3.model import GPT2, init_params  # noqa: E402
from tinyia3.optim import AdamW, clip_by_global_norm, warmup_linear_lr  # noqa: E402
from tinyia3.tokenizer import gpt2_tokenizer  # noqa: E402

CORPUS = Path.home() / ".cache" / "tinyia3" / "corpus" / "web"
WORK = Path.home() / ".cache" / "tinyia3" / "pretrain"
CONFIG = GPT2Config(vocab_size=50257, n_positions=256, n_embd=128, n_layer=4, n_head=4)


def tokens(corpus: Path, split: str) -> np.ndarray:
    """The split as GPT-2 token ids (uint16), tokenized once and cached next to the text."""
    cached = corpus / f"{split}.gpt2.npy"
    text_path = corpus / f"{split}.txt"
    if not text_path.exists():
        sys.exit(f"No {text_path}: build the corpus first with `python tools/corpus.py --out {corpus}`.")
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


def batch(data: np.ndarray, rng, B: int, T: int) -> np.ndarray:
    """B random windows of T tokens."""
    starts = rng.integers(0, len(data) - T, size=B)
    return np.stack([data[s:s + T] for s in starts]).astype(np.int64)


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


def save_state(path: Path, model: GPT2, opt: AdamW, step: int, rng) -> None:
    from safetensors.numpy import save_file

    tensors = {f"param.{k}": v for k, v in model.params.items()}
    tensors.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    meta = {"step": str(step), "rng": json.dumps(rng.bit_generator.state)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: save_file(tensors, str(p), metadata=meta))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--work", type=Path, default=WORK, help="checkpoints and logs")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "embedded")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--eval-windows", type=int, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    train, heldout = tokens(args.corpus, "train"), tokens(args.corpus, "heldout")
    print(f"corpus: {len(train):,} train tokens, {len(heldout):,} held-out tokens")
    held = eval_windows(heldout, args.seq, args.eval_windows)

    model = GPT2(CONFIG, init_params(CONFIG, seed=args.seed, dtype=np.float32), source="pre-training")
    opt = AdamW(model.params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    start, t_offset = 0, 0.0
    state_path = args.work / "state.safetensors"
    log_path = args.work / "log.jsonl"
    if args.resume:
        if not state_path.exists():
            sys.exit(f"--resume: no checkpoint at {state_path}. Start without --resume.")
        tensors, meta = read_safetensors(state_path)
        for k in model.params:
            model.params[k][...] = tensors[f"param.{k}"]
        opt.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("opt.")})
        rng.bit_generator.state = json.loads(meta["rng"])
        start = int(meta["step"])
        t_offset = json.loads(open(log_path).readlines()[start - 1])["seconds"] if log_path.exists() else 0.0
        print(f"resumed at step {start}")
    elif log_path.exists():
        log_path.unlink()
    args.work.mkdir(parents=True, exist_ok=True)

    decayed = [k for k in model.params if decay_mask(k)]
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="pre-training", unit="step")
    t0 = time.time()
    for step in bar:
        ids = batch(train, rng, args.batch, args.seq)
        loss_value, grads = loss_and_grad(model, None, ids, trainable="all")
        if not math.isfinite(loss_value):
            sys.exit(f"loss became {loss_value} at step {step}; the last good state is in {state_path}.")
        norm = clip_by_global_norm(grads, args.clip)
        lr = warmup_linear_lr(step, args.steps, args.lr, args.warmup)
        for k in decayed:  # decoupled weight decay on matrices only
            model.params[k] *= 1.0 - lr * args.weight_decay
        opt.step(grads, lr)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", gnorm=f"{norm:.2f}")
        record = {"step": step + 1, "loss": loss_value, "lr": lr, "grad_norm": norm,
                  "seconds": t_offset + time.time() - t0}
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            record["heldout_loss"] = mean_loss(model, held)
            bar.write(f"step {step + 1}: train {loss_value:.3f}  held-out {record['heldout_loss']:.3f} "
                      f"(ppl {math.exp(record['heldout_loss']):.1f})")
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
            save_state(state_path, model, opt, step + 1, rng)

    # Ship in float16, then measure the model exactly as users will load it.
    save_model(model, args.out, dtype=np.float16)
    from tinyia3 import load_model

    shipped = load_model(args.out)
    all_held = eval_windows(heldout, args.seq, len(heldout) // args.seq)  # ~all of held-out
    train_sample = eval_windows(train, args.seq, len(all_held))
    log = [json.loads(line) for line in open(log_path)]
    metrics = {
        "config": CONFIG.to_dict(),
        "parameters": shipped.num_parameters(),
        "steps": args.steps,
        "batch": args.batch,
        "seq": args.seq,
        "tokens_seen": args.steps * args.batch * args.seq,
        "train_tokens": int(len(train)),
        "heldout_tokens": int(len(heldout)),
        "epochs": args.steps * args.batch * args.seq / len(train),
        "lr": args.lr, "warmup": args.warmup, "weight_decay": args.weight_decay, "clip": args.clip,
        "seed": args.seed,
        "train_loss": mean_loss(shipped, train_sample),
        "heldout_loss": mean_loss(shipped, all_held),
        "heldout_windows": len(all_held),
        "unigram_heldout_loss": unigram_loss(train, heldout, CONFIG.vocab_size),
        "training_seconds": log[-1]["seconds"],
    }
    metrics["train_ppl"] = math.exp(metrics["train_loss"])
    metrics["heldout_ppl"] = math.exp(metrics["heldout_loss"])
    metrics["unigram_heldout_ppl"] = math.exp(metrics["unigram_heldout_loss"])
    text = json.dumps(metrics, indent=2) + "\n"
    write_atomic(args.out / "metrics.json", lambda p: p.write_text(text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
