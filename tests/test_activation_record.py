"""The activation record's size (ForwardCache.activation_nbytes) matches a count of its buffers.

Per token and block, in numbers: full fine-tuning keeps 8C + 3F + 2 + H·T, IA³ 7C + 3F + 2 + H·T
(it drops the three frozen linear layers' inputs, 3C, and keeps its unscaled keys and values,
2C); ln_f adds C + 1. Lesson 4 states these formulas; this test holds them to the byte.
"""

import numpy as np

import tinyia3

from conftest import tiny_model


def record_bytes(model, adapter, ids):
    _, record, _ = model.forward(ids, adapter, cache=True)
    return record.activation_nbytes(model.params.values())


def test_record_bytes_match_the_per_token_formula():
    model = tiny_model(np.float32)
    c = model.config
    B, T = 2, 5
    ids = np.random.default_rng(0).integers(0, c.vocab_size, (B, T))
    C, F, H, L = c.n_embd, c.n_inner, c.n_head, c.n_layer
    expected = {"full": 8 * C + 3 * F + 2 + H * T, "ia3": 7 * C + 3 * F + 2 + H * T}
    got = {"full": record_bytes(model, tinyia3.FullFineTune.of(model), ids),
           "ia3": record_bytes(model, tinyia3.IA3.random(model, std=0.3, seed=0), ids)}
    for name, numbers in expected.items():
        assert got[name] == 4 * B * T * (L * numbers + C + 1), name


def test_weights_are_not_counted_as_activations():
    model = tiny_model(np.float32)
    ids = np.zeros((1, 3), dtype=np.int64)
    full = tinyia3.FullFineTune.of(model)
    _, record, _ = model.forward(ids, full, cache=True)
    weight_bytes = sum(w.nbytes for w in model.params.values())
    counted = record.activation_nbytes(model.params.values())
    # The record holds every (copied) weight of full fine-tuning: counting them would exceed this.
    assert counted < weight_bytes
    assert record.activation_nbytes([]) == counted  # the adapter's own weights are left out by the record itself
