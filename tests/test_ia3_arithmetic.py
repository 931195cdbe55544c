"""IA³ arithmetic: composition is the product of scales (two merges in a row), PEFT's weighted
sum is the sum of vectors (ones become the sum of the weights)."""

import numpy as np
import pytest

import tinyia3
from tinyia3.errors import ArgumentError, ArgumentTypeError
from tinyia3.gradcheck import rel_error
from tinyia3.ia3_arithmetic import compose, weighted_sum


@pytest.fixture
def two(tiny):
    return tinyia3.IA3.random(tiny, std=0.3, seed=1), tinyia3.IA3.random(tiny, std=0.3, seed=2)


def test_compose_is_the_product_of_scales(two):
    a, b = two
    c = compose(a, b)
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_array_equal(c.named()[name], a.named()[name] * b.named()[name])
    assert c.l_q is None


def test_compose_equals_merging_one_after_the_other_float64(tiny, two, batch):
    a, b = two
    ids, _, attention_mask = batch
    twice = tinyia3.merge(tinyia3.merge(tiny, a), b)
    assert rel_error(twice.logits(ids, None, attention_mask), tiny.logits(ids, compose(a, b), attention_mask)) < 1e-12
    assert rel_error(tinyia3.merge(tiny, a).logits(ids, b, attention_mask), twice.logits(ids, None, attention_mask)) < 1e-12


def test_compose_treats_a_missing_l_q_as_ones(tiny, two):
    a, b = two
    b.l_q = 1 + 0.3 * np.random.default_rng(3).standard_normal(b.l_k.shape)
    np.testing.assert_array_equal(compose(a, b).l_q, b.l_q)


def test_weighted_sum_is_peft_s_sum_of_vectors(tiny, two):
    a, b = two
    s = weighted_sum([a, b], [0.7, 0.3])
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_allclose(s.named()[name], 0.7 * a.named()[name] + 0.3 * b.named()[name], rtol=1e-15)
    ones = tinyia3.IA3.ones(tiny)
    doubled = weighted_sum([ones, ones], [1.0, 1.0])
    assert np.all(doubled.l_ff == 2.0)  # untouched channels are amplified: the cost of summing scales
    assert s.dtype == a.dtype


def test_arithmetic_refuses_what_it_cannot_combine(tiny, two):
    a, b = two
    with pytest.raises(ArgumentError, match="one finite weight per adapter"):
        weighted_sum([a, b], [1.0])
    with pytest.raises(ArgumentTypeError, match="IA3 adapters"):
        compose(a, tinyia3.LoRA.init(tiny))
    from conftest import tiny_model

    with pytest.raises(ArgumentError, match="different models"):
        compose(a, tinyia3.IA3.ones(tiny_model(n_layer=3)))
