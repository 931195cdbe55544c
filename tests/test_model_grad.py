"""Whole-model gradients against finite differences (float64, tiny random model).

IA³ vectors are checked at 1 + 0.3·randn, never only at ones, where a backward that forgets
to multiply by l still passes. Relative error must be below 1e-7 (float64).
"""

import numpy as np
import pytest

import tinyia3
from tinyia3.full import FullFineTune
from tinyia3 import ops
from tinyia3.gradcheck import TOLERANCE_F64, check_ia3_gradients, numerical_gradient, rel_error
from tinyia3.losses import loss, loss_and_grad

from conftest import tiny_model


@pytest.mark.parametrize("masks", ["none", "loss_mask", "padded"])
def test_ia3_gradients_match_finite_differences(tiny, batch, masks):
    ids, loss_mask, attention_mask = batch
    if masks == "none":
        loss_mask = attention_mask = None
    elif masks == "loss_mask":
        attention_mask = None
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=3)
    report = check_ia3_gradients(tiny, ia3, ids, loss_mask, attention_mask, coords_per_vector=6, seed=1)
    assert report.passed, report.table()
    assert max(row.error for row in report.rows) < TOLERANCE_F64


def test_ia3_gradients_every_coordinate(tiny, batch):
    """All coordinates of every vector, not a sample: the tiny model has only 2·(16+16+64)."""
    ids, loss_mask, attention_mask = batch
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=4)
    _, grads = loss_and_grad(tiny, ia3, ids, loss_mask, attention_mask)
    for name, vec in ia3.named().items():
        numeric = numerical_gradient(lambda: loss(tiny, ia3, ids, loss_mask, attention_mask), vec)
        assert rel_error(getattr(grads, name).ravel(), numeric) < TOLERANCE_F64, name


def test_query_scale_from_peft_has_checked_gradient(tiny, batch):
    ids, loss_mask, attention_mask = batch
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=5)
    ia3.l_q = 1 + 0.3 * np.random.default_rng(6).standard_normal(ia3.l_k.shape)
    report = check_ia3_gradients(tiny, ia3, ids, loss_mask, attention_mask, seed=2)
    assert report.passed, report.table()
    assert any(row.what.startswith("dl_q") for row in report.rows)


def test_gradcheck_catches_a_wrong_gradient(tiny, batch):
    ids, loss_mask, attention_mask = batch
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=7)
    _, grads = loss_and_grad(tiny, ia3, ids, loss_mask, attention_mask)
    wrong = grads.copy()
    wrong.l_ff[1] *= 1.01  # a 1 % error in one layer's l_ff gradient
    report = check_ia3_gradients(tiny, ia3, ids, loss_mask, attention_mask, grads=wrong,
                                 coords_per_vector=64)
    assert not report.passed
    failed = [row.what for row in report.rows if row.error >= TOLERANCE_F64]
    assert "dl_ff layer 1 (64 coords)" in failed and "dl_k layer 0 (6 coords)" not in failed
    assert "WRONG" in report.table()


def test_gradient_at_ones_is_not_enough():
    """Why we check away from ones: a backward that forgets l in dx agrees with the truth at l = 1."""
    x, l = np.random.default_rng(0).standard_normal((3, 4)), np.ones(4)
    dout = np.random.default_rng(1).standard_normal((3, 4))
    forgetful_dx = dout  # should be dout * l
    assert rel_error(forgetful_dx, ops.ia3_scale_backward(dout, (x, l))[0]) == 0.0
    l = 1 + 0.3 * np.random.default_rng(2).standard_normal(4)
    assert rel_error(forgetful_dx, ops.ia3_scale_backward(dout, (x, l))[0]) > 1e-2


def test_ia3_step_does_no_weight_gradient_work(tiny, batch, no_weight_gradients):
    ids, loss_mask, attention_mask = batch
    loss_value, grads = loss_and_grad(tiny, tinyia3.IA3.random(tiny, seed=1), ids, loss_mask, attention_mask)
    assert np.isfinite(loss_value) and isinstance(grads, tinyia3.IA3)


def test_ia3_backward_stops_at_block_0_keys_and_values(tiny, batch, monkeypatch):
    """Nothing below the lowest IA³ vector: block 0's c_attn input and ln_1 get no backward."""
    calls = {"layer_norm_backward": 0, "linear_backward": 0}
    for name in calls:
        original = getattr(ops, name)

        def counted(*args, _original=original, _name=name):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(ops, name, counted)
    ids, loss_mask, attention_mask = batch
    loss_and_grad(tiny, tinyia3.IA3.random(tiny, seed=1), ids, loss_mask, attention_mask)
    L = tiny.config.n_layer
    assert calls["layer_norm_backward"] == 1 + L + (L - 1)  # ln_f, every ln_2, ln_1 above block 0
    assert calls["linear_backward"] == 3 * L + (L - 1)  # mlp.c_proj, c_fc, attn.c_proj; c_attn above 0


def test_loss_is_mean_over_counted_targets(tiny, batch):
    ids, loss_mask, attention_mask = batch
    logits = tiny.logits(ids, attention_mask=attention_mask)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        for t in range(1, ids.shape[1]):
            if loss_mask[b, t] and attention_mask[b, t]:
                total -= logp[b, t - 1, ids[b, t]]
                count += 1
    assert loss(tiny, None, ids, loss_mask, attention_mask) == pytest.approx(total / count, rel=1e-12)


def test_no_target_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="No target counts"):
        loss_and_grad(tiny, tinyia3.IA3.ones(tiny), np.array([[1, 2, 3]]), loss_mask=np.zeros((1, 3)))


def test_float32_gradients_agree_with_float64(batch):
    ids, loss_mask, attention_mask = batch
    m64, m32 = tiny_model(np.float64), tiny_model(np.float32)
    ia3 = tinyia3.IA3.random(m64, std=0.3, seed=8)
    l64, g64 = loss_and_grad(m64, ia3, ids, loss_mask, attention_mask)
    l32, g32 = loss_and_grad(m32, ia3.astype(np.float32), ids, loss_mask, attention_mask)
    assert g32.dtype == np.float32
    assert abs(l32 - l64) / abs(l64) < 1e-5  # float32: ~1e-7 per op, a few dozen ops deep
    for name in ("l_k", "l_v", "l_ff"):
        assert rel_error(getattr(g32, name), getattr(g64, name)) < 1e-4, name


# -- full-parameter gradients (FullFineTune) ---------------------------------------------------


@pytest.mark.parametrize("masks", ["none", "padded"])
def test_all_weight_gradients_match_finite_differences(tiny, batch, masks):
    ids, loss_mask, attention_mask = batch
    if masks == "none":
        loss_mask = attention_mask = None
    _, grads = loss_and_grad(tiny, FullFineTune.of(tiny), ids, loss_mask, attention_mask)
    grads = grads.named()
    assert set(grads) == set(tiny.params)
    rng = np.random.default_rng(9)
    for name, weight in tiny.params.items():
        index = rng.choice(weight.size, size=min(6, weight.size), replace=False)
        # a token never seen has zero gradient; include seen rows of wte so the check is not empty
        if name == "wte.weight":
            index[:3] = ids[0, 1] * weight.shape[1] + np.arange(3)
        numeric = numerical_gradient(lambda: loss(tiny, None, ids, loss_mask, attention_mask), weight, index)
        assert rel_error(grads[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_ia3_l_ff_gradient_is_the_full_gradients_rowwise_product_with_the_weight(tiny, batch):
    """Two adapters, one backward each, tied by an identity: h = l_ff ⊙ g feeds W2, so
    d W2 = hᵀ dy and d l_ff[j] = Σ_n g[n, j] (dy W2ᵀ)[n, j] = Σ_c W2[j, c] d W2[j, c] / l_ff[j]."""
    ids, loss_mask, attention_mask = batch
    ia3 = tinyia3.IA3.random(tiny, std=0.3, seed=10)
    _, g_ia3 = loss_and_grad(tiny, ia3, ids, loss_mask, attention_mask)
    merged = FullFineTune.of(tinyia3.merge(tiny, ia3))  # the same function, as plain weights
    _, g_full = loss_and_grad(tiny, merged, ids, loss_mask, attention_mask)
    for i in range(tiny.config.n_layer):
        w2 = tiny.params[f"h.{i}.mlp.c_proj.weight"]
        dw2 = g_full.named()[f"h.{i}.mlp.c_proj.weight"]  # of the merged weight l_ff ⊙ W2 rows
        np.testing.assert_allclose((w2 * dw2).sum(axis=1), g_ia3.l_ff[i], rtol=1e-9)


def test_float32_forward_has_no_silent_upcast(batch):
    """Every activation the record keeps is float32 in a float32 model: no NumPy promotion to
    float64 by a stray constant (which would also make the step ~3× slower)."""
    ids, loss_mask, attention_mask = batch
    model = tiny_model(np.float32)
    hidden, record, _ = model.forward(ids, tinyia3.IA3.random(model, seed=1), attention_mask, cache=True)
    assert hidden.dtype == np.float32
    for i, block in enumerate(record.blocks):
        caches = {**block._asdict(), **block.sites}
        caches.pop("sites")
        assert {"l_k", "l_v", "l_ff"} <= set(caches)
        for name, op_cache in caches.items():
            for item in op_cache or ():
                if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                    assert item.dtype == np.float32, f"block {i} {name}: {item.dtype}"
