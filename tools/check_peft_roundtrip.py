"""Dev-only: does real peft load an adapter folder written by tinyia3, and agree with it?

    /work/tools-venv/bin/python tools/check_peft_roundtrip.py   (torch + transformers + peft; see tools/README.md)

Writes random tinyia3 adapters for tests/fixtures/tiny_hub with save_peft: IA³ (with and
without a query slice) and LoRA (on c_attn, and on all four linears), loads each with
peft.PeftModel.from_pretrained onto GPT2LMHeadModel, and compares peft's logits with tinyia3's
in float64. Prints the relative errors.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from transformers import GPT2LMHeadModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tinyia3  # noqa: E402
from tinyia3.gradcheck import rel_error  # noqa: E402

BASE = ROOT / "tests" / "fixtures" / "tiny_hub"


def main() -> int:
    model = tinyia3.load_model(BASE, dtype=np.float64)
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 10))
    worst = 0.0
    for with_q in (False, True):
        ia3 = tinyia3.IA3.random(model, std=0.3, seed=7)
        if with_q:
            ia3.l_q = 1 + 0.3 * np.random.default_rng(8).standard_normal(ia3.l_k.shape)
        ia3 = ia3.astype(np.float32)  # PEFT stores float32; compare like with like
        with tempfile.TemporaryDirectory() as folder:
            ia3.save_peft(folder, base_model_name_or_path=str(BASE))
            base = GPT2LMHeadModel.from_pretrained(BASE, attn_implementation="eager").double()
            peft_model = PeftModel.from_pretrained(base, folder).eval()
            with torch.no_grad():
                theirs = peft_model(torch.from_numpy(ids)).logits.numpy()
        ours = model.logits(ids, ia3.astype(np.float64))
        error = rel_error(ours, theirs)
        worst = max(worst, error)
        print(f"IA³, l_q {'present' if with_q else 'absent '}: peft loaded the tinyia3 folder; "
              f"logits rel. error {error:.2e} (float64)")
    for targets in (("attn.c_attn",), ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")):
        lora = tinyia3.LoRA.random(model, r=4, alpha=8, targets=targets, std=0.3, seed=9)
        error = rel_error(model.logits(ids, lora), peft_logits(lora, ids))
        worst = max(worst, error)
        print(f"LoRA r=4 on {', '.join(targets)}: peft loaded the tinyia3 folder; logits rel. error {error:.2e} (float64)")
    return 0 if worst <= 1e-9 else 1


def peft_logits(adapter, ids) -> np.ndarray:
    """Logits of PEFT's model with the adapter folder tinyia3 wrote (float64)."""
    with tempfile.TemporaryDirectory() as folder:
        adapter.save_peft(folder, base_model_name_or_path=str(BASE))
        base = GPT2LMHeadModel.from_pretrained(BASE, attn_implementation="eager").double()
        peft_model = PeftModel.from_pretrained(base, folder).eval()
        with torch.no_grad():
            return peft_model(torch.from_numpy(ids)).logits.numpy()


if __name__ == "__main__":
    sys.exit(main())
