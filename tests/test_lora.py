"""LoRA by hand: the op against finite differences, the model's dA and dB, identities that tie
them to full fine-tuning's dW, no weight gradient formed, the backward stopping early,
initialisation, merging, and the files (tinyia3's and PEFT's)."""

import json

import numpy as np
import pytest

import tinyia3
from tinyia3 import ops
from tinyia3.adapter_files import load_adapter
from tinyia3.full import FullFineTune
from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, rel_error
from tinyia3.losses import loss, loss_and_grad
from tinyia3.lora import TARGETS, LoRA

from conftest import tiny_model


def numerical_vjp(f, x, dout, h=1e-6):
    """Σ dout ⊙ ∂f/∂x by central differences, entry by entry (float64)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = (f() * dout).sum()
        x[index] = old - h
        minus = (f() * dout).sum()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def test_lora_op_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, a, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((5, 2)), rng.standard_normal((2, 4))
    dout = rng.standard_normal((2, 3, 4))
    _, cache = ops.lora_forward(x, a, b, 1.5)
    dx, da, db = ops.lora_backward(dout, cache)
    f = lambda: ops.lora_forward(x, a, b, 1.5, cache=False)[0]  # noqa: E731
    for analytic, wrt in ((dx, x), (da, a), (db, b)):
        assert rel_error(analytic, numerical_vjp(f, wrt, dout)) < TOLERANCE_F64


def test_lora_op_is_scaling_times_x_a_b():
    rng = np.random.default_rng(1)
    x, a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal((3, 5))
    out, _ = ops.lora_forward(x, a, b, 0.25)
    np.testing.assert_allclose(out, 0.25 * x @ a @ b, rtol=1e-13)


@pytest.mark.parametrize("targets", [("attn.c_attn",), TARGETS])
def test_model_lora_gradients_match_finite_differences(tiny, batch, targets):
    ids, loss_mask, attention_mask = batch
    lora = LoRA.random(tiny, r=3, alpha=6, targets=targets, std=0.3, seed=2)
    _, grads = loss_and_grad(tiny, lora, ids, loss_mask, attention_mask)
    assert isinstance(grads, LoRA) and grads.targets == lora.targets
    rng = np.random.default_rng(5)
    for name, value in lora.named().items():
        index = rng.choice(value.size, 6, replace=False)
        numeric = numerical_gradient(lambda: loss(tiny, lora, ids, loss_mask, attention_mask), value, index)
        assert rel_error(grads.named()[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_lora_gradients_are_full_fine_tunings_dw_projected(tiny, batch):
    """y = x (W + s A B): with dW = xᵀ dy the gradient of the merged weight,
    dA = s · dW Bᵀ and dB = s · Aᵀ dW, exactly."""
    ids, loss_mask, attention_mask = batch
    lora = LoRA.random(tiny, r=2, alpha=3, targets=TARGETS, std=0.3, seed=4)
    _, g = loss_and_grad(tiny, lora, ids, loss_mask, attention_mask)
    merged = tinyia3.merge(tiny, lora)
    _, full = loss_and_grad(merged, FullFineTune.of(merged), ids, loss_mask, attention_mask)
    s = lora.scaling
    for t in TARGETS:
        for i in range(tiny.config.n_layer):
            dw = full.named()[f"h.{i}.{t}.weight"]
            np.testing.assert_allclose(g.a[t][i], s * dw @ lora.b[t][i].T, rtol=1e-9, atol=1e-14)
            np.testing.assert_allclose(g.b[t][i], s * lora.a[t][i].T @ dw, rtol=1e-9, atol=1e-14)


def test_a_lora_step_forms_no_weight_gradient(tiny, batch, no_weight_gradients):
    ids, loss_mask, attention_mask = batch
    loss_and_grad(tiny, LoRA.random(tiny, targets=TARGETS, seed=1), ids, loss_mask, attention_mask)


def count_calls(monkeypatch, name):
    calls = []
    original = getattr(ops, name)
    monkeypatch.setattr(ops, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_the_backward_stops_at_the_lowest_lora_site(tiny, batch, monkeypatch):
    """LoRA on mlp.c_fc only: block 0's attention and its ln_1 are never differentiated; on
    c_attn, block 0's ln_1 is not (nothing below c_attn trains)."""
    ids, _, attention_mask = batch
    L = tiny.config.n_layer
    attention = count_calls(monkeypatch, "attention_backward")
    norms = count_calls(monkeypatch, "layer_norm_backward")
    loss_and_grad(tiny, LoRA.random(tiny, targets=("mlp.c_fc",), seed=1), ids, attention_mask=attention_mask)
    assert len(attention) == L - 1
    assert len(norms) == 1 + 2 * (L - 1)  # ln_f, and ln_2 + ln_1 of every block above block 0
    attention.clear(), norms.clear()
    loss_and_grad(tiny, LoRA.random(tiny, targets=("attn.c_attn",), seed=1), ids, attention_mask=attention_mask)
    assert len(attention) == L and len(norms) == 1 + 2 * L - 1  # all but block 0's ln_1


def test_init_is_peft_s_and_leaves_the_model_unchanged(tiny, batch):
    ids, _, attention_mask = batch
    lora = LoRA.init(tiny, r=4, alpha=16, targets=TARGETS, seed=0)
    assert lora.scaling == 4.0 and isinstance(lora.scaling, float)
    for t in TARGETS:
        n_in = lora.a[t].shape[1]
        assert np.abs(lora.a[t]).max() <= 1 / np.sqrt(n_in) and np.abs(lora.a[t]).max() > 0.8 / np.sqrt(n_in)
        assert not lora.b[t].any()
    np.testing.assert_array_equal(tiny.logits(ids, lora, attention_mask), tiny.logits(ids, None, attention_mask))


def test_merge_gives_the_same_logits(tiny, batch):
    ids, _, attention_mask = batch
    lora = LoRA.random(tiny, r=3, alpha=5, targets=TARGETS, std=0.3, seed=3)
    merged = tinyia3.merge(tiny, lora)
    assert rel_error(merged.logits(ids, None, attention_mask), tiny.logits(ids, lora, attention_mask)) < 1e-12
    assert merged.params["h.0.ln_1.weight"] is tiny.params["h.0.ln_1.weight"]  # only targets change


def test_file_and_peft_folder_round_trip_exactly(tiny, tmp_path):
    lora = LoRA.random(tiny, r=3, alpha=5, targets=("attn.c_attn", "mlp.c_proj"), seed=3)
    lora.base_model = "tiny"
    for path in (lora.save(tmp_path / "lora.safetensors"), lora.save_peft(tmp_path / "peft")):
        back = load_adapter(path)
        assert isinstance(back, LoRA) and back.targets == lora.targets and back.alpha == lora.alpha
        assert back.dtype == np.float64  # the file's dtype is kept
        for name, value in lora.named().items():
            np.testing.assert_array_equal(back.named()[name], value)
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 3 and config["lora_alpha"] == 5.0
    assert config["fan_in_fan_out"] is True and config["target_modules"] == ["attn.c_attn", "mlp.c_proj"]
    from safetensors.numpy import load_file

    tensors = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    key = "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"
    assert tensors[key].shape == (3, tiny.config.n_embd)  # PEFT's (r, in)
    assert tensors[key.replace("lora_A", "lora_B")].shape == (3 * tiny.config.n_embd, 3)  # (out, r)


def test_a_lora_for_another_shape_or_bad_options_is_refused(tiny):
    other = tiny_model(n_embd=8, n_head=2)
    with pytest.raises(ValueError, match="LoRA on attn.c_attn has A"):
        tiny.logits(np.array([1, 2]), LoRA.init(other))
    with pytest.raises(ValueError, match="'c_attn' is PEFT's short name: write attn.c_attn"):
        LoRA.init(tiny, targets=("c_attn",))
    with pytest.raises(ValueError, match="rank r must be a positive integer"):
        LoRA.init(tiny, r=0)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        LoRA.init(tiny, alpha=float("nan"))


def test_load_adapter_tells_ia3_from_lora(tiny, tmp_path):
    ia3 = tinyia3.IA3.random(tiny, seed=1)
    assert isinstance(load_adapter(ia3.save(tmp_path / "ia3.safetensors")), tinyia3.IA3)
    assert isinstance(load_adapter(ia3.save_peft(tmp_path / "ia3_peft")), tinyia3.IA3)
    with pytest.raises(ValueError, match="not LoRA"):
        LoRA.load(tmp_path / "ia3.safetensors")


def test_a_float64_peft_ia3_adapter_keeps_its_dtype(tiny, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = tinyia3.IA3.random(tiny, seed=2).save_peft(tmp_path / "peft")
    weights = folder / "adapter_model.safetensors"
    tensors = {k: v.astype(np.float64) for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights))
    back = tinyia3.IA3.load(folder)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back.l_ff[0], tensors["base_model.model.transformer.h.0.mlp.c_proj.ia3_l"][0])
