"""What quantizing the embedded model costs in quality, and what merging into it keeps.

    python benchmarks/quantized_quality.py            # writes benchmarks/quantized_quality.{json,txt}
    python benchmarks/quantized_quality.py --quick    # fewer windows, prompts and LoRA steps (a smoke test)

For each variant of tinyia3.quantize against the float32 model:
  * weights as held (MB) and their ratio to float32;
  * logit error on the held-out register windows (data/datasets/registers_heldout.jsonl):
    max |Δz| / max |z| and ||Δz|| / ||z|| over every position;
  * held-out loss per register (nats per token) and its change;
  * greedy agreement: 32-token greedy continuations of the 30 drama_style prompts, the share of
    tokens equal to float32's at the same position and of continuations equal throughout.
Then merging:
  * IA³ (random, 1 + 0.1·N(0, 1), queries too) merged into each quantized model: are the codes
    unchanged bit for bit, and how far is the merged forward from the unmerged one (float32);
  * a LoRA (r 8 on c_attn, trained briefly on drama_style) cannot merge into int8 weights
    (tinyia3 refuses); what re-quantizing W + (alpha/r)·A·B would cost is measured: how much of
    the LoRA's effect on the logits survives, and the held-out drama loss of each.
Quality numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from results_files import write_results

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import tinyia3  # noqa: E402
from tinyia3.data import Dataset, lm_batch, load_dataset, load_groups  # noqa: E402
from tinyia3.generate import generate_ids  # noqa: E402
from tinyia3.quantized import QuantizedWeight, dequantize, weight_bytes  # noqa: E402
from tinyia3.train import TrainConfig, evaluate, train  # noqa: E402

DATA = ROOT / "data" / "datasets"
VARIANTS = {
    "int8": dict(bits=8),
    "int8, mlp.c_proj per column": dict(bits=8, per={"mlp.c_proj": "column"}),
    "int8 linears, float wte": dict(bits=8, wte_bits=None),
    "4-bit (64), wte int8": dict(bits=4),
    "4-bit (64), wte 4-bit": dict(bits=4, wte_bits=4),
}


def logit_errors(model, reference, batches):
    worst, num, den, peak = 0.0, 0.0, 0.0, 0.0
    for ids, attention_mask, _ in batches:
        z, z_ref = model.logits(ids, None, attention_mask), reference.logits(ids, None, attention_mask)
        keep = attention_mask.astype(bool)
        dz, z_ref = (z - z_ref)[keep].astype(np.float64), z_ref[keep].astype(np.float64)
        worst, peak = max(worst, float(np.abs(dz).max())), max(peak, float(np.abs(z_ref).max()))
        num, den = num + float((dz ** 2).sum()), den + float((z_ref ** 2).sum())
    return {"max_rel": worst / peak, "rms_rel": (num / den) ** 0.5}


def greedy(model, prompts, new_tokens, adapter=None):
    return [generate_ids(model, np.array(p), max_new_tokens=new_tokens, temperature=0, adapter=adapter) for p in prompts]


def agreement(runs, reference):
    same = [np.mean(a[:len(b)] == b[:len(a)]) if len(a) and len(b) else float(len(a) == len(b)) for a, b in zip(runs, reference)]
    whole = [len(a) == len(b) and np.array_equal(a, b) for a, b in zip(runs, reference)]
    return {"tokens": float(np.mean(same)), "continuations": float(np.mean(whole))}


def register_losses(model, groups, adapter=None):
    return {name: evaluate(model, adapter, group)["loss"] for name, group in groups.items()}


def merge_check(q, ia3, batches):
    merged = tinyia3.merge(q, ia3)
    same = all(merged.params[k].codes.tobytes() == v.codes.tobytes()
               for k, v in q.params.items() if isinstance(v, QuantizedWeight))
    worst = 0.0
    for ids, attention_mask, _ in batches:
        a, b = merged.logits(ids, None, attention_mask), q.logits(ids, ia3, attention_mask)
        worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
    return {"codes_unchanged": bool(same), "max_rel_logit_difference": worst}


def lora_requantized(model, q, lora, batches, drama, options):
    """LoRA kept beside the quantized weights (exact) against re-quantizing W + s·A·B."""
    requant = tinyia3.quantize(tinyia3.merge(dequantize(q), lora), **options)
    effect, lost = 0.0, 0.0
    for ids, attention_mask, _ in batches:
        base = q.logits(ids, None, attention_mask)
        with_lora = q.logits(ids, lora, attention_mask)
        merged = requant.logits(ids, None, attention_mask)
        keep = attention_mask.astype(bool)
        effect += float(((with_lora - base)[keep].astype(np.float64) ** 2).sum())
        lost += float(((merged - with_lora)[keep].astype(np.float64) ** 2).sum())
    # ΔW entries smaller than half a quantization step are rounded away entirely.
    name = "h.0.attn.c_attn.weight"
    delta = lora.scaling * (lora.a["attn.c_attn"][0] @ lora.b["attn.c_attn"][0])
    step = np.broadcast_to(q.params[name].scales, delta.shape) if options.get("bits", 8) == 8 else None
    below = float(np.mean(np.abs(delta) < step / 2)) if step is not None else None
    return {"effect_lost": (lost / effect) ** 0.5, "delta_below_half_step_block0": below,
            "drama_loss": {"float + LoRA": evaluate(model, lora, drama)["loss"],
                           "quantized + LoRA (unmerged)": evaluate(q, lora, drama)["loss"],
                           "re-quantized merge": evaluate(requant, None, drama)["loss"],
                           "quantized, no LoRA": evaluate(q, None, drama)["loss"]}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--quick", action="store_true", help="a few windows, prompts and LoRA steps")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "measured" / "quantized_quality")
    args = p.parse_args(argv)
    start = time.perf_counter()
    model, tokenizer = tinyia3.load_model(args.model), tinyia3.load_tokenizer(args.model)
    n = model.config.n_positions
    groups = load_groups(DATA / "registers_heldout.jsonl", tokenizer, n)
    if args.quick:
        groups = {k: Dataset(g.kind, g.examples[:2], g.source) for k, g in groups.items()}
    windows = [e for g in groups.values() for e in g.examples]
    batches = [lm_batch(windows[i:i + 8]) for i in range(0, len(windows), 8)]
    prompts = [tokenizer.encode(json.loads(line)["prompt"]) for line in open(DATA / "drama_style_prompts.jsonl")]
    prompts, new_tokens = (prompts[:4], 8) if args.quick else (prompts, 32)
    reference_text = greedy(model, prompts, new_tokens)
    float_losses = register_losses(model, groups)
    float_mb = weight_bytes(model) / 2**20
    ia3 = tinyia3.IA3.random(model, std=0.1, seed=0)
    ia3.l_q = (1.0 + 0.1 * np.random.default_rng(1).standard_normal(ia3.l_k.shape)).astype(np.float32)

    drama_train = load_dataset(DATA / "drama_style_train.jsonl", tokenizer, n)
    drama = load_dataset(DATA / "drama_style_heldout.jsonl", tokenizer, n)
    if args.quick:
        drama = Dataset(drama.kind, drama.examples[:8], drama.source)
    steps = 4 if args.quick else 60
    with tempfile.TemporaryDirectory() as run:
        train(model, drama_train, None, run, TrainConfig(steps=steps, batch_size=8, lr=3e-3, method="lora", rank=8,
                                                          alpha=16), progress=False, overwrite=True, log=lambda *a: None)
        lora = tinyia3.LoRA.load(Path(run) / "adapter.safetensors", model)

    results = {"float32": {"weights_mb": float_mb, "register_loss": float_losses}}
    print(f"{args.model}: {model}\nfloat32 weights {float_mb:.1f} MB; held-out loss per register "
          + ", ".join(f"{k} {v:.4f}" for k, v in float_losses.items()))
    for name, options in VARIANTS.items():
        q = tinyia3.quantize(model, **options)
        losses = register_losses(q, groups)
        row = {"options": {k: v for k, v in options.items()}, "weights_mb": weight_bytes(q) / 2**20,
               "logits": logit_errors(q, model, batches), "register_loss": losses,
               "register_loss_change": {k: losses[k] - float_losses[k] for k in losses},
               "greedy_agreement": agreement(greedy(q, prompts, new_tokens), reference_text)}
        if "per" not in options:
            row["ia3_merge"] = merge_check(q, ia3, batches)
            row["lora_merge"] = lora_requantized(model, q, lora, batches, drama, options)
        results[name] = row
        print(f"{name}: done", flush=True)
    text = _table(results, args, time.perf_counter() - start)
    print("\n" + text)
    meta = {"model": args.model, "quick": args.quick, "windows": len(windows), "prompts": len(prompts),
            "new_tokens": new_tokens, "lora_steps": steps, "date": time.strftime("%Y-%m-%d")}
    write_results(args.out, meta, results, text, header_key="settings")
    return 0


def _table(results, args, seconds) -> str:
    registers = list(results["float32"]["register_loss"])
    lines = [f"Quantizing the {args.model} model{' (--quick)' if args.quick else ''}: quality against float32",
             f"{'variant':<28} {'MB':>6} {'ratio':>5} {'max|Δz|/max|z|':>14} {'‖Δz‖/‖z‖':>9} "
             + " ".join(f"{'Δloss ' + r[:6]:>12}" for r in registers) + f" {'greedy tok':>10} {'whole':>5}"]
    lines.append("-" * len(lines[1]))
    base = results["float32"]
    lines.append(f"{'float32':<28} {base['weights_mb']:>6.1f} {1:>5.2f} {'':>14} {'':>9} "
                 + " ".join(f"{base['register_loss'][r]:>12.4f}" for r in registers) + f" {'':>10} {'':>5}")
    for name, r in results.items():
        if name == "float32":
            continue
        lines.append(f"{name:<28} {r['weights_mb']:>6.1f} {r['weights_mb'] / base['weights_mb']:>5.2f} "
                     f"{r['logits']['max_rel']:>14.4f} {r['logits']['rms_rel']:>9.4f} "
                     + " ".join(f"{r['register_loss_change'][g]:>+12.4f}" for g in registers)
                     + f" {r['greedy_agreement']['tokens']:>10.1%} {r['greedy_agreement']['continuations']:>5.0%}")
    lines.append("float32 row: held-out loss per register (nats per token); other rows: its change. greedy: tokens equal "
                 "to float32's at the same position, and whole continuations equal.")
    lines.append("")
    lines.append("Merging into the quantized model")
    for name, r in results.items():
        if "ia3_merge" not in r:
            continue
        m, lo = r["ia3_merge"], r["lora_merge"]
        dl = lo["drama_loss"]
        below = "" if lo["delta_below_half_step_block0"] is None else \
            f", {lo['delta_below_half_step_block0']:.0%} of block 0's ΔW below half a step"
        lines.append(f"{name:<28} IA³: codes unchanged {m['codes_unchanged']}, merged vs unmerged max rel "
                     f"{m['max_rel_logit_difference']:.1e} (float32)")
        lines.append(f"{'':<28} LoRA re-quantized: {lo['effect_lost']:.0%} of its effect on the logits lost{below}; "
                     f"drama loss float+LoRA {dl['float + LoRA']:.4f}, quantized+LoRA {dl['quantized + LoRA (unmerged)']:.4f}, "
                     f"re-quantized {dl['re-quantized merge']:.4f}, no LoRA {dl['quantized, no LoRA']:.4f}")
    lines.append(f"({seconds:.0f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
