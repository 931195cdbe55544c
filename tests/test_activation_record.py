"""What the activation record of a training forward keeps, byte for byte, and that what it leaves
out (gelu's output under l_ff, the keys and values after l_k, l_v) is rebuilt bit for bit."""

import numpy as np
import pytest

import tinyia3
from tinyia3 import ops
from tinyia3.config import GPT2Config
from tinyia3.model import GPT2, init_params

B, T, C, F, H, L = 2, 16, 64, 256, 4, 2


@pytest.fixture(scope="module")
def model():
    config = GPT2Config(n_layer=L, n_embd=C, n_head=H, n_positions=64, vocab_size=300)
    return GPT2(config, init_params(config, seed=3))


@pytest.fixture(scope="module")
def ids():
    return np.random.default_rng(0).integers(0, 300, (B, T))


def block_floats(extra_per_token=0):
    """float32 numbers one block keeps: ln_1, ln_2 (xhat B·T·C, rstd B·T), c_attn's output (q, k
    and v before IA³, 3·B·T·C), att (B·H·T·T), gelu's pre-activation and tanh (2·B·T·F)."""
    return 2 * (B * T * C + B * T) + 3 * B * T * C + B * H * T * T + 2 * B * T * F + extra_per_token * B * T


def record_bytes(per_block):
    return 4 * (L * per_block + B * T * C + B * T)  # + ln_f's xhat and rstd


@pytest.mark.parametrize("queries", [False, True])
def test_an_ia3_record_keeps_no_copy_of_scaled_or_gelu_activations(model, ids, queries):
    record = model.forward(ids, tinyia3.IA3.ones(model, queries=queries), cache=True)[1]
    # with l_q the scaled queries are one more (B, T, C) array: attention's backward reads them
    assert record.activation_bytes() == record_bytes(block_floats(C if queries else 0))


def test_ia3_keeps_no_more_than_the_bare_model_and_lora_adds_its_inputs(model, ids):
    bare = model.forward(ids, None, cache=True)[1].activation_bytes()
    assert bare == record_bytes(block_floats())
    for adapter in (tinyia3.IA3.random(model, seed=1), tinyia3.BitFit.of(model)):
        assert model.forward(ids, adapter, cache=True)[1].activation_bytes() == bare
    # LoRA r=8 on c_attn keeps its input ln_1(x) (B·T·C) and x A (B·T·r) in every block
    lora = model.forward(ids, tinyia3.LoRA.init(model, r=8), cache=True)[1].activation_bytes()
    assert lora == bare + 4 * L * (B * T * C + B * T * 8)


def test_the_rebuilt_activations_are_the_forwards_bit_for_bit(model, ids):
    ia3 = tinyia3.IA3.random(model, seed=2)
    block = model.forward(ids, ia3, cache=True)[1].blocks[1]
    a = ops.gelu_forward(block.gelu.x, cache=False)[0]
    assert np.array_equal(block.sites["l_ff"].x, a)
    x, l = block.sites["l_ff"]  # unpacks like a ScaleCache
    assert x.shape == (B, T, F) and l is block.sites["l_ff"].l
    assert block.attn.k is None and block.attn.v is None
    _, kv = None, model.forward(ids, ia3)[2][1]  # the inference pass's keys and values
    k_pre, l_k = block.sites["l_k"]
    assert np.array_equal(ops.split_heads(k_pre * l_k, H), kv[0])


def test_a_training_forward_returns_no_kv_cache(model, ids):
    assert model.forward(ids, tinyia3.IA3.ones(model), cache=True)[2] is None
    assert len(model.forward(ids, tinyia3.IA3.ones(model))[2]) == L
