"""LoRA against the peer (torch + transformers + PEFT's LoraConfig, fan_in_fan_out): logits,
loss and dA, dB at random non-zero A and B on all four linears, in float64 and float32; and
PEFT's own saved folder imported by tinyia3. References: tests/fixtures/lora_reference.safetensors,
written by `python tools/make_peer_fixtures.py --only lora`."""

import os

import numpy as np
import pytest
from safetensors.numpy import load_file

import tinyia3
from tinyia3.gradcheck import rel_error
from tinyia3.lora import LoRA

from conftest import FIXTURES

PATH = os.path.join(FIXTURES, "lora_reference.safetensors")
REF = load_file(PATH)
BATCH = load_file(os.path.join(FIXTURES, "reference.safetensors"))
TOL = {np.float64: 1e-9, np.float32: 1e-4}  # relative error, by the model's dtype
TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def reference_lora(model) -> LoRA:
    L = model.config.n_layer
    a = {t: np.stack([REF[f"lora_A.h.{i}.{t}"] for i in range(L)]) for t in TARGETS}
    b = {t: np.stack([REF[f"lora_B.h.{i}.{t}"] for i in range(L)]) for t in TARGETS}
    return LoRA(a, b, alpha=8.0).astype(model.dtype)


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["f64", "f32"])
def computed(request):
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=request.param)
    lora = reference_lora(model)
    assert lora.r == 4 and lora.scaling == 2.0
    loss, grads = tinyia3.loss_and_grad(model, lora, BATCH["ia3_ids"], BATCH["ia3_loss_mask"], BATCH["ia3_attention_mask"])
    tag = "f64" if request.param == np.float64 else "f32"
    return request.param, tag, model, lora, loss, grads


def test_logits_equal_peft_s(computed):
    dtype, tag, model, lora, _, _ = computed
    logits = model.logits(BATCH["ia3_ids"], lora, BATCH["ia3_attention_mask"])
    real = BATCH["ia3_attention_mask"].astype(bool)
    assert rel_error(logits[real], REF[f"lora_logits_{tag}"][real]) < TOL[dtype]


def test_loss_and_gradients_equal_peft_s(computed):
    dtype, tag, model, _, loss, grads = computed
    assert rel_error(np.array([loss]), REF[f"lora_loss_{tag}"]) < TOL[dtype]
    for t in TARGETS:
        for i in range(model.config.n_layer):
            assert rel_error(grads.a[t][i], REF[f"lora_dA_{tag}.h.{i}.{t}"]) < TOL[dtype], (t, i, "A")
            assert rel_error(grads.b[t][i], REF[f"lora_dB_{tag}.h.{i}.{t}"]) < TOL[dtype], (t, i, "B")


def test_peft_s_own_folder_imports_with_equal_logits():
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)
    imported = tinyia3.load_adapter(os.path.join(FIXTURES, "peft_lora_tiny"), model)
    assert isinstance(imported, LoRA) and imported.r == 4 and imported.alpha == 8.0
    assert set(imported.targets) == set(TARGETS)
    logits = model.logits(BATCH["ia3_ids"], imported, BATCH["ia3_attention_mask"])
    real = BATCH["ia3_attention_mask"].astype(bool)
    # the folder holds the float32-exact values both references used: compare with float64
    assert rel_error(logits[real], REF["lora_logits_f64"][real]) < TOL[np.float64]
