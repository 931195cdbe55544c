"""Dev-only: does transformers load a model folder written by `tinyia3 merge`, with the same logits?

    /work/peer/bin/python tools/check_merged_with_transformers.py   (torch + transformers; see tools/README.md)

For the embedded model and tests/fixtures/tiny_hub, and for an IA³ and a LoRA adapter (random,
away from the identity), runs `tinyia3 merge --model M --adapter A --out DIR`, loads DIR with
GPT2LMHeadModel.from_pretrained (eager attention, in float64) and compares its logits with
  (a) tinyia3's logits of M with the adapter, unmerged, in float64: what merging must keep;
  (b) tinyia3's logits of DIR in float64: that both read the same weights the same way.
The merged weights are stored in float32, so (a) is bounded by float32 rounding of the weights
(~1e-7 relative); (b) only by float64 arithmetic. Prints the largest absolute logit difference
and the relative error of each; exits with 1 if (a) exceeds 1e-5 or (b) 1e-9 in relative error.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import GPT2LMHeadModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tinyia3  # noqa: E402
from tinyia3.cli import main as tinyia3_main  # noqa: E402
from tinyia3.gradcheck import rel_error  # noqa: E402

MODELS = {"embedded": "embedded", "tiny_hub": str(ROOT / "tests" / "fixtures" / "tiny_hub")}


def adapters(model):
    yield "IA³", tinyia3.IA3.random(model, std=0.3, seed=7)
    yield "LoRA r=4 on c_attn, c_fc", tinyia3.LoRA.random(model, r=4, alpha=8, targets=("attn.c_attn", "mlp.c_fc"),
                                                          std=0.3, seed=9)


def transformers_logits(folder, ids) -> np.ndarray:
    model = GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager").double().eval()
    with torch.no_grad():
        return model(torch.from_numpy(ids)).logits.numpy()


def check(name, path, label, adapter, ids, folder) -> tuple[float, float]:
    adapter.save(Path(folder) / "adapter.safetensors")
    out = Path(folder) / "merged"
    assert tinyia3_main(["merge", "--model", path, "--adapter", str(Path(folder) / "adapter.safetensors"),
                         "--out", str(out)]) == 0
    theirs = transformers_logits(out, ids)
    model = tinyia3.load_model(path, dtype=np.float64)
    unmerged = model.logits(ids, adapter.astype(np.float64))
    merged = tinyia3.load_model(out, dtype=np.float64).logits(ids)
    a, b = rel_error(theirs, unmerged), rel_error(theirs, merged)
    print(f"{name:<9} {label:<26} (a) vs unmerged: max |Δ logit| {np.abs(theirs - unmerged).max():.2e}, rel {a:.2e}   "
          f"(b) vs tinyia3 on DIR: max |Δ logit| {np.abs(theirs - merged).max():.2e}, rel {b:.2e}")
    return a, b


def main() -> int:
    worst_a = worst_b = 0.0
    for name, path in MODELS.items():
        model = tinyia3.load_model(path)
        ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 16))
        for label, adapter in adapters(model):
            with tempfile.TemporaryDirectory() as folder:
                a, b = check(name, path, label, adapter, ids, folder)
            worst_a, worst_b = max(worst_a, a), max(worst_b, b)
    ok = worst_a <= 1e-5 and worst_b <= 1e-9
    print(f"{'PASSED' if ok else 'FAILED'}: worst relative error (a) {worst_a:.2e} (<= 1e-5), (b) {worst_b:.2e} (<= 1e-9)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
