"""What the activation record of a training forward keeps, byte for byte
(ForwardCache.activation_nbytes), and that what it leaves out (gelu's output under l_ff, the keys
and values after l_k, l_v) is rebuilt bit for bit.

Per token and block, in numbers: full fine-tuning keeps 8C + 3F + 2 + H·T, IA³ (and the bare
model, and BitFit) 5C + 2F + 2 + H·T; ln_f adds C + 1. Lesson 4 states these formulas."""

import numpy as np
import pytest

import tinyia3
from tinyia3 import ops
from tinyia3.config import GPT2Config
from tinyia3.model import GPT2, init_params

from conftest import tiny_model

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
    assert record.activation_nbytes() == record_bytes(block_floats(C if queries else 0))


def test_ia3_keeps_no_more_than_the_bare_model_and_lora_adds_its_inputs(model, ids):
    bare = model.forward(ids, None, cache=True)[1].activation_nbytes()
    assert bare == record_bytes(block_floats())
    for adapter in (tinyia3.IA3.random(model, seed=1), tinyia3.BitFit.of(model)):
        assert model.forward(ids, adapter, cache=True)[1].activation_nbytes() == bare
    # LoRA r=8 on c_attn keeps its input ln_1(x) (B·T·C) and x A (B·T·r) in every block
    lora = model.forward(ids, tinyia3.LoRA.init(model, r=8), cache=True)[1].activation_nbytes()
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


def nbytes_of(model, adapter, ids):
    _, record, _ = model.forward(ids, adapter, cache=True)
    return record.activation_nbytes(model.params.values())


def test_record_bytes_match_the_per_token_formula():
    model = tiny_model(np.float32)
    c = model.config
    B, T = 2, 5
    ids = np.random.default_rng(0).integers(0, c.vocab_size, (B, T))
    C, F, H, L = c.n_embd, c.n_inner, c.n_head, c.n_layer
    expected = {"full": 8 * C + 3 * F + 2 + H * T, "ia3": 5 * C + 2 * F + 2 + H * T}
    got = {"full": nbytes_of(model, tinyia3.FullFineTune.of(model), ids),
           "ia3": nbytes_of(model, tinyia3.IA3.random(model, std=0.3, seed=0), ids)}
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
