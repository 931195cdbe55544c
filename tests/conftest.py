"""Shared test set-up. No test may touch the network: the hub is forced offline for all."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere

import numpy as np
import pytest

from tinyia3.config import GPT2Config
from tinyia3.model import GPT2, init_params

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def tiny_model(dtype=np.float64, seed=1, **overrides) -> GPT2:
    """A small random GPT-2 whose weights are large enough that every path matters."""
    fields = dict(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    fields.update(overrides)
    config = GPT2Config(**fields)
    params = init_params(config, seed=seed, dtype=dtype, std=0.3)
    rng = np.random.default_rng(seed + 100)
    for name, value in params.items():  # non-trivial biases and layer-norm gains
        if name.endswith(".bias") or ".ln_" in name or name.startswith("ln_"):
            value += (0.1 * rng.standard_normal(value.shape)).astype(dtype)
    return GPT2(config, params, source="tests: tiny random model")


@pytest.fixture
def no_weight_gradients(monkeypatch):
    """Make every weight-gradient function of ops raise: a step of IA³, LoRA or BitFit must not call one."""
    from tinyia3 import ops

    def forbidden(*args, **kwargs):
        raise AssertionError("a weight gradient was computed in a step that trains no weight")

    for name in ("linear_backward_weights", "layer_norm_backward_weights", "embedding_backward_weights"):
        monkeypatch.setattr(ops, name, forbidden)


@pytest.fixture
def tiny():
    return tiny_model()


@pytest.fixture
def batch():
    """ids (3, 9) with a right-padded row, a left-padded row and a partial loss mask."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, (3, 9))
    attention_mask = np.ones((3, 9), dtype=np.int64)
    attention_mask[1, 6:] = 0  # right padding
    attention_mask[2, :3] = 0  # left padding
    loss_mask = np.ones((3, 9), dtype=np.int64)
    loss_mask[0, 2:5] = 0  # a partial loss mask
    return ids, loss_mask, attention_mask
