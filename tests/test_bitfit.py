"""BitFit, the seam's proof: a parameter set added in one file (tinyia3/bitfit.py) plus its
export, with gradients checked by finite differences and against full fine-tuning."""

import numpy as np
import pytest

import tinyia3
from tinyia3 import BitFit, FullFineTune
from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, rel_error
from tinyia3.losses import loss, loss_and_grad


def test_bitfit_gradients_match_finite_differences(tiny, batch):
    ids, loss_mask, attention_mask = batch
    bitfit = BitFit.of(tiny)
    rng = np.random.default_rng(3)
    for v in bitfit.named().values():  # away from the model's own biases
        v += 0.2 * rng.standard_normal(v.shape)
    _, grads = loss_and_grad(tiny, bitfit, ids, loss_mask, attention_mask)
    assert isinstance(grads, BitFit) and set(grads.named()) == set(bitfit.named())
    for name, value in bitfit.named().items():
        index = rng.choice(value.size, min(5, value.size), replace=False)
        numeric = numerical_gradient(lambda: loss(tiny, bitfit, ids, loss_mask, attention_mask), value, index)
        assert rel_error(grads.named()[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_bitfit_gradients_equal_full_fine_tunings_bias_gradients(tiny, batch):
    ids, loss_mask, attention_mask = batch
    _, bias_grads = loss_and_grad(tiny, BitFit.of(tiny), ids, loss_mask, attention_mask)
    _, all_grads = loss_and_grad(tiny, FullFineTune.of(tiny), ids, loss_mask, attention_mask)
    for name, g in bias_grads.named().items():
        np.testing.assert_allclose(g, all_grads.named()[name], rtol=1e-12, atol=1e-15)


def test_a_bitfit_step_forms_no_weight_gradient(tiny, batch, no_weight_gradients):
    ids, loss_mask, attention_mask = batch
    loss_and_grad(tiny, BitFit.of(tiny), ids, loss_mask, attention_mask)


def test_bitfit_starts_unchanged_and_merges_exactly(tiny, batch):
    ids, _, attention_mask = batch
    bitfit = BitFit.of(tiny)
    np.testing.assert_array_equal(tiny.logits(ids, bitfit, attention_mask), tiny.logits(ids, None, attention_mask))
    bitfit.named()["h.1.mlp.c_fc.bias"] += 0.5
    merged = tinyia3.merge(tiny, bitfit)
    np.testing.assert_array_equal(merged.logits(ids, None, attention_mask), tiny.logits(ids, bitfit, attention_mask))


def test_bitfit_for_another_shape_is_refused(tiny):
    from conftest import tiny_model

    with pytest.raises(ValueError, match="is not a weight of this model.s shape"):
        tiny.logits(np.array([1, 2]), BitFit.of(tiny_model(n_embd=8, n_head=2)))
