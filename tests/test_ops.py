"""Every op's backward against central finite differences, float64, at random inputs.

Each test checks a vector-Jacobian product against a random upstream gradient; the relative
error (tinyia3.gradcheck.rel_error) must be below 1e-7 in float64.
"""

import numpy as np
import pytest

from tinyia3 import ops
from tinyia3.gradcheck import TOLERANCE_F64, numerical_vjp, rel_error

rng = np.random.default_rng(42)


def randn(*shape):
    return rng.standard_normal(shape)


def test_layer_norm_backward_matches_finite_differences():
    x, g, b = randn(2, 3, 8), 1 + 0.3 * randn(8), randn(8)
    dout = randn(2, 3, 8)
    out, cache = ops.layer_norm_forward(x, g, b, 1e-5)
    dx = ops.layer_norm_backward(dout, cache)
    dg, db = ops.layer_norm_backward_weights(dout, cache)
    f = lambda: ops.layer_norm_forward(x, g, b, 1e-5, cache=False)[0]  # noqa: E731
    assert rel_error(dx, numerical_vjp(f, x, dout)) < TOLERANCE_F64
    assert rel_error(dg, numerical_vjp(f, g, dout)) < TOLERANCE_F64
    assert rel_error(db, numerical_vjp(f, b, dout)) < TOLERANCE_F64


def test_layer_norm_forward_normalises():
    x = randn(4, 16) * 5 + 3
    out, _ = ops.layer_norm_forward(x, np.ones(16), np.zeros(16), 1e-5)
    np.testing.assert_allclose(out.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(-1), 1, rtol=1e-5)  # eps shifts it by ~1e-5 / var


def test_linear_backward_matches_finite_differences():
    x, w, b = randn(2, 3, 5), randn(5, 7), randn(7)
    dout = randn(2, 3, 7)
    _, cache = ops.linear_forward(x, w, b)
    dx = ops.linear_backward(dout, cache)
    dw, db = ops.linear_backward_weights(dout, cache)
    f = lambda: ops.linear_forward(x, w, b, cache=False)[0]  # noqa: E731
    assert rel_error(dx, numerical_vjp(f, x, dout)) < TOLERANCE_F64
    assert rel_error(dw, numerical_vjp(f, w, dout)) < TOLERANCE_F64
    assert rel_error(db, numerical_vjp(f, b, dout)) < TOLERANCE_F64


def test_gelu_backward_matches_finite_differences():
    x = 3 * randn(4, 6)  # wide range: both tails and the bend
    dout = randn(4, 6)
    _, cache = ops.gelu_forward(x)
    f = lambda: ops.gelu_forward(x, cache=False)[0]  # noqa: E731
    assert rel_error(ops.gelu_backward(dout, cache), numerical_vjp(f, x, dout)) < TOLERANCE_F64


def test_gelu_is_the_tanh_approximation():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(ops.gelu_forward(x, cache=False)[0], expected, rtol=1e-15)


def test_float32_stays_float32():
    x = randn(2, 3, 8).astype(np.float32)
    g, b = np.ones(8, np.float32), np.zeros(8, np.float32)
    assert ops.gelu_forward(x)[0].dtype == np.float32
    assert ops.layer_norm_forward(x, g, b, 1e-5)[0].dtype == np.float32
    q = randn(1, 2, 3, 4).astype(np.float32)
    y, _ = ops.attention_forward(q, q, q, ops.attention_mask(None, 3, 3))
    assert y.dtype == np.float32


def test_ia3_scale_backward_matches_finite_differences():
    x, l = randn(2, 5, 6), 1 + 0.3 * randn(6)
    dout = randn(2, 5, 6)
    _, cache = ops.ia3_scale_forward(x, l)
    dx, dl = ops.ia3_scale_backward(dout, cache)
    f = lambda: ops.ia3_scale_forward(x, l, cache=False)[0]  # noqa: E731
    assert rel_error(dx, numerical_vjp(f, x, dout)) < TOLERANCE_F64
    assert rel_error(dl, numerical_vjp(f, l, dout)) < TOLERANCE_F64


@pytest.mark.parametrize("padding", ["none", "left", "right"])
def test_attention_backward_matches_finite_differences(padding):
    B, H, T, D = 2, 3, 6, 4
    q, k, v = randn(B, H, T, D), randn(B, H, T, D), randn(B, H, T, D)
    mask = np.ones((B, T), dtype=np.int64)
    if padding == "left":
        mask[1, :3] = 0
    elif padding == "right":
        mask[1, 4:] = 0
    allowed = ops.attention_mask(None if padding == "none" else mask, T, T)
    dy = randn(B, H, T, D)
    _, cache = ops.attention_forward(q, k, v, allowed)
    dq, dk, dv = ops.attention_backward(dy, cache)
    f = lambda: ops.attention_forward(q, k, v, allowed, cache=False)[0]  # noqa: E731
    for x, analytic in ((q, dq), (k, dk), (v, dv)):
        assert rel_error(analytic, numerical_vjp(f, x, dy)) < TOLERANCE_F64


def test_attention_is_causal_and_ignores_padding():
    B, H, T, D = 1, 1, 5, 2
    q, k, v = randn(B, H, T, D), randn(B, H, T, D), randn(B, H, T, D)
    y, cache = ops.attention_forward(q, k, v, ops.attention_mask(np.array([[0, 1, 1, 1, 1]]), T, T))
    att = cache[3][0, 0]
    assert np.all(np.triu(att, k=1) == 0), "a query attended to a later key"
    assert np.all(att[:, 0] == 0), "a query attended to a padding key"
    assert np.all(att[0] == 0), "a padding query with no visible key must attend to nothing"
    np.testing.assert_allclose(att[1:].sum(-1), 1.0, rtol=1e-12)
    # changing the future must not change the past
    v2 = v.copy()
    v2[..., 4, :] += 10
    y2, _ = ops.attention_forward(q, k, v2, ops.attention_mask(np.array([[0, 1, 1, 1, 1]]), T, T))
    np.testing.assert_array_equal(y[..., :4, :], y2[..., :4, :])


def test_attention_backward_can_skip_dq():
    q = randn(1, 2, 4, 3)
    _, cache = ops.attention_forward(q, q + 1, q - 1, ops.attention_mask(None, 4, 4))
    dq, dk, dv = ops.attention_backward(randn(1, 2, 4, 3), cache, need_dq=False)
    assert dq is None and dk.shape == dv.shape == q.shape


def test_split_and_merge_heads_are_inverse():
    x = randn(2, 5, 12)
    heads = ops.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(heads[:, 1], x[..., 4:8])  # head h holds channels h·D..(h+1)·D
    np.testing.assert_array_equal(ops.merge_heads(heads), x)


def test_nll_backward_matches_finite_differences():
    logits, targets = 3 * randn(5, 7), rng.integers(0, 7, 5)
    dnll = np.array([1.0, 0.0, -2.0, 0.5, 1.5])  # any upstream gradient, negative ones included
    nll, cache = ops.nll_forward(logits, targets)
    dlogits = ops.nll_backward(dnll, cache)
    f = lambda: ops.nll_forward(logits, targets, cache=False)[0]  # noqa: E731
    assert rel_error(dlogits, numerical_vjp(f, logits, dnll)) < TOLERANCE_F64
    assert np.all(dlogits[1] == 0), "a row with upstream gradient 0 must get no gradient"


def test_nll_value_and_stability():
    logits = np.array([[1000.0, 0.0, -1000.0]])  # naive exp() would overflow
    nll, _ = ops.nll_forward(logits, np.array([1]), cache=False)
    assert nll[0] == pytest.approx(1000.0, rel=1e-12)
    nll, _ = ops.nll_forward(np.zeros((1, 4)), np.array([2]), cache=False)
    assert nll[0] == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(ops.log_softmax(logits)[0], [0.0, -1000.0, -2000.0], atol=1e-9)


def test_embedding_backward_weights_matches_finite_differences():
    wte, wpe = randn(7, 4), randn(5, 4)
    ids = np.array([[1, 3, 1], [6, 1, 0]])  # token 1 repeated: its gradients must add up
    pos = np.array([[0, 1, 2], [0, 1, 2]])
    dout = randn(2, 3, 4)
    dwte, dwpe = ops.embedding_backward_weights(dout, ids, pos, wte.shape, wpe.shape)
    f = lambda: ops.embedding_forward(ids, pos, wte, wpe)  # noqa: E731
    assert rel_error(dwte, numerical_vjp(f, wte, dout)) < TOLERANCE_F64
    assert rel_error(dwpe, numerical_vjp(f, wpe, dout)) < TOLERANCE_F64


def test_nll_in_place_variants_give_the_same_numbers():
    logits, targets = 3 * randn(4, 9), rng.integers(0, 9, 4)
    dnll = randn(4)
    nll, cache = ops.nll_forward(logits, targets)
    expected = ops.nll_backward(dnll, cache)
    buffer = logits.copy()
    nll2, cache2 = ops.nll_forward(buffer, targets, overwrite=True)
    got = ops.nll_backward(dnll, cache2, overwrite=True)
    np.testing.assert_array_equal(nll2, nll)
    np.testing.assert_array_equal(got, expected)
    assert got is buffer  # one buffer served as logits, softmax and dlogits


def test_gelu_in_row_blocks_is_the_whole_array_bit_for_bit(monkeypatch):
    # Blocks of 3 rows over 10 (a ragged last block) and a non-contiguous input (a transpose):
    # every entry must come out of the same operations as on the whole array at once.
    x = 3 * randn(6, 10).T  # (10, 6), not C-contiguous
    dout = randn(10, 6)
    t_whole = np.empty(x.shape)
    ops._tanh_u(x, out=t_whole)
    dx_whole = np.empty(x.shape)
    ops._gelu_backward_rows(x, t_whole, dout, out=dx_whole)
    monkeypatch.setattr(ops, "BLOCK_BYTES", 3 * 6 * 8)
    y, cache = ops.gelu_forward(x)
    np.testing.assert_array_equal(cache.t, t_whole)
    np.testing.assert_array_equal(y, 0.5 * x * (1.0 + t_whole))  # exact: 0.5 is a power of two
    np.testing.assert_array_equal(ops.gelu_backward(dout, cache), dx_whole)


def test_gelu_backward_factored_form_equals_the_sum_as_written():
    # d gelu/dx = 0.5 (1 + t) + 0.5 x (1 − t²) du/dx, which gelu_backward computes as
    # (1 + t)(0.5 + 0.5 x (1 − t) du/dx): the same function, to rounding (float64).
    x, dout = 4 * randn(5, 7), randn(5, 7)
    _, cache = ops.gelu_forward(x)
    t = cache.t
    du = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x**2)
    expected = dout * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du)
    np.testing.assert_allclose(ops.gelu_backward(dout, cache), expected, rtol=1e-13, atol=1e-15)
