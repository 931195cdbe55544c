"""The LM head (losses.head_nll) takes the softmax a few rows at a time inside each chunk of rows:
whatever the chunk and block sizes, its values and gradients are the whole-array ones (float64)."""

import numpy as np
import pytest

from conftest import tiny_model
from tinyia3 import losses, ops


@pytest.mark.parametrize("chunk, rows", [(5, 3), (4, 4), (13, 1), (512, 4)])
def test_head_nll_in_blocks_equals_the_whole_softmax(monkeypatch, chunk, rows):
    model = tiny_model()
    rng = np.random.default_rng(0)
    N, V = 13, model.config.vocab_size
    hidden = rng.standard_normal((N, model.config.n_embd))
    targets = rng.integers(0, V, N)
    dnll = rng.standard_normal(N)
    wte = model.params["wte.weight"]
    nll_whole, cache = ops.nll_forward(hidden @ wte.T, targets)
    dhidden_whole = ops.nll_backward(dnll, cache) @ wte

    monkeypatch.setattr(losses, "HEAD_CHUNK", chunk)
    monkeypatch.setattr(losses, "SOFTMAX_ROWS", rows)
    nll, dhidden, _ = losses.head_nll(model, hidden, targets, dnll)
    np.testing.assert_allclose(nll, nll_whole, rtol=1e-13)
    np.testing.assert_allclose(dhidden, dhidden_whole, rtol=1e-12, atol=1e-15)
    nll_forward_only, _, _ = losses.head_nll(model, hidden, targets)
    np.testing.assert_array_equal(nll_forward_only, nll)
    nll_twice, dhidden_twice, _ = losses.head_nll(model, hidden, targets, lambda nll: dnll)
    np.testing.assert_array_equal(nll_twice, nll)
    np.testing.assert_array_equal(dhidden_twice, dhidden)
