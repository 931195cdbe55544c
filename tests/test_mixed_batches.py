"""Mixed-task batches: one IA³ adapter per sequence gives, row by row, what separate runs give
(float64), and its gradients are the separate runs' gradients weighted by their tokens,
checked by finite differences too."""

import numpy as np
import pytest

import tinyia3
from tinyia3 import ops
from tinyia3.errors import ArgumentError, ArgumentTypeError
from tinyia3.generate import generate_ids
from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, numerical_vjp, rel_error
from tinyia3.losses import target_weights
from tinyia3.mixed import PerSequence

from conftest import tiny_model

EXACT_F64 = 1e-12  # float64: the same products in another grouping


@pytest.fixture
def two(tiny):
    return tinyia3.IA3.random(tiny, std=0.3, seed=1), tinyia3.IA3.random(tiny, std=0.3, seed=2)


def test_per_sequence_scale_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, l, dout = rng.standard_normal((3, 4, 5)), 1 + 0.3 * rng.standard_normal((3, 1, 5)), rng.standard_normal((3, 4, 5))
    _, cache = ops.ia3_scale_forward(x, l)
    dx, dl = ops.ia3_scale_backward(dout, cache)
    f = lambda: ops.ia3_scale_forward(x, l, cache=False)[0]  # noqa: E731
    assert dl.shape == l.shape
    assert rel_error(dl, numerical_vjp(f, l, dout)) < TOLERANCE_F64
    assert rel_error(dx, numerical_vjp(f, x, dout)) < TOLERANCE_F64


def test_mixed_logits_equal_separate_runs_row_by_row(tiny, two, batch):
    a, b = two
    ids, _, attention_mask = batch
    mixed = tiny.logits(ids, [a, b, a], attention_mask)
    for r, adapter in enumerate([a, b, a]):
        alone = tiny.logits(ids[r], adapter, attention_mask[r])[0]
        keep = attention_mask[r].astype(bool)  # padding positions are not outputs of anything
        assert rel_error(mixed[r][keep], alone[keep]) < EXACT_F64, r


def test_a_none_row_is_the_bare_model_and_one_adapter_repeated_is_that_adapter(tiny, two, batch):
    a, _ = two
    ids, _, attention_mask = batch
    assert rel_error(tiny.logits(ids, [a, None, a], attention_mask)[1], tiny.logits(ids, None, attention_mask)[1]) < EXACT_F64
    assert rel_error(tiny.logits(ids, [a, a, a], attention_mask), tiny.logits(ids, a, attention_mask)) < EXACT_F64


def _separate(model, adapters, ids, loss_mask, attention_mask):
    """Each distinct adapter's loss and gradient on its own rows, and its number of targets."""
    out = []
    for adapter in PerSequence(adapters).adapters:
        rows = [r for r, x in enumerate(adapters) if x is adapter]
        n = int(target_weights(ids[rows], loss_mask[rows], attention_mask[rows]).sum())
        loss, grads = tinyia3.loss_and_grad(model, adapter, ids[rows], loss_mask[rows], attention_mask[rows])
        out.append((loss, grads, n))
    return out


def test_mixed_loss_and_gradients_equal_separate_runs_weighted_by_their_tokens(tiny, two, batch, no_weight_gradients):
    """The batch's loss is the mean over all its targets, so task j's share is n_j / n of its own
    run's mean, and so is its gradient."""
    a, b = two
    ids, loss_mask, attention_mask = batch
    adapters = [a, b, a]
    loss, grads = tinyia3.loss_and_grad(tiny, adapters, ids, loss_mask, attention_mask)
    separate = _separate(tiny, adapters, ids, loss_mask, attention_mask)
    n = sum(count for _, _, count in separate)
    assert isinstance(grads, list) and len(grads) == 2 and all(isinstance(g, tinyia3.IA3) for g in grads)
    assert abs(loss * n - sum(l * count for l, _, count in separate)) < EXACT_F64 * n * loss
    for g, (_, alone, count) in zip(grads, separate):
        for name, vector in g.named().items():
            assert rel_error(vector * n, alone.named()[name] * count) < EXACT_F64, name


def test_mixed_gradients_match_finite_differences(tiny, two, batch):
    a, b = two
    ids, loss_mask, attention_mask = batch
    adapters = [b, a, b]
    _, (db, da) = tinyia3.loss_and_grad(tiny, adapters, ids, loss_mask, attention_mask)  # in order of first appearance
    rng = np.random.default_rng(3)
    for adapter, grads in ((a, da), (b, db)):
        for name, vector in adapter.named().items():
            index = rng.choice(vector.size, 5, replace=False)
            numeric = numerical_gradient(lambda: tinyia3.loss(tiny, adapters, ids, loss_mask, attention_mask), vector, index)
            assert rel_error(grads.named()[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_an_adapter_with_queries_mixes_with_one_without(tiny, two, batch):
    """PEFT's placement (l_q) in one row: the other rows get ones there, and no l_q gradient."""
    a, _ = two
    ids, loss_mask, attention_mask = batch
    q = tinyia3.IA3.random(tiny, std=0.3, seed=4)
    q.l_q = 1 + 0.3 * np.random.default_rng(5).standard_normal(q.l_k.shape)
    mixed = tiny.logits(ids, [q, a, q], attention_mask)
    assert rel_error(mixed[1], tiny.logits(ids[1], a, attention_mask[1])[0]) < EXACT_F64
    _, (dq, da) = tinyia3.loss_and_grad(tiny, [q, a, q], ids, loss_mask, attention_mask)
    assert dq.l_q is not None and da.l_q is None


def test_mixed_batches_on_a_quantized_model_equal_separate_runs(two, batch):
    a, b = two
    ids, _, attention_mask = batch
    q = tinyia3.quantize(tiny_model())
    mixed = q.logits(ids, [a, b, b], attention_mask)
    assert rel_error(mixed[2], q.logits(ids[2], b, attention_mask[2])[0]) < EXACT_F64


def test_generation_takes_a_one_adapter_list(tiny, two):
    a, _ = two
    prompt = np.array([1, 2, 3])
    np.testing.assert_array_equal(generate_ids(tiny, prompt, 6, temperature=0, adapter=[a]),
                                  generate_ids(tiny, prompt, 6, temperature=0, adapter=a))


def test_one_adapter_per_sequence_is_checked(tiny, two, batch):
    a, b = two
    ids = batch[0]
    with pytest.raises(ArgumentError, match="2 adapters, one per sequence, for a batch of 3 sequences"):
        tiny.logits(ids, [a, b])
    with pytest.raises(ArgumentError, match="empty list"):
        tiny.logits(ids, [])
    with pytest.raises(ArgumentTypeError, match="sequence 1 has a LoRA"):
        tiny.logits(ids, [a, tinyia3.LoRA.init(tiny), a])
    with pytest.raises(ArgumentError, match="shape"):
        tiny.logits(ids, [a, tinyia3.IA3.ones(tiny_model(n_layer=3)), a])
