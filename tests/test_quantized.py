"""Quantized weights: absmax codes and scales, products equal to the dequantized float weight's,
a quantized model that forwards, generates and trains IA³ and LoRA unchanged, IA³ merged into
the scales with every code kept bit for bit, and a LoRA merge refused."""

import numpy as np
import pytest

import tinyia3
from tinyia3 import quantized
from tinyia3.errors import ArgumentError, ArgumentTypeError, TinyIA3Error
from tinyia3.full import FullFineTune
from tinyia3.generate import generate_ids
from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, rel_error
from tinyia3.quantized import (LAYOUT, QuantizedWeight, dequantize, quantize_weight, weight_bytes,
                               weight_bytes_for)

from conftest import tiny_model

LAYOUTS = [("column", 8, None), ("row", 8, None), ("column", 4, 8), ("row", 4, 8), ("column", 8, 4)]
Q4 = dict(bits=4, block_size=8)  # the tiny model's widths (16, 48, 64) are not multiples of 64


@pytest.fixture
def w():
    return np.random.default_rng(0).standard_normal((48, 32))


@pytest.fixture(params=[dict(), Q4], ids=["int8", "4-bit"])
def options(request):
    return request.param


# -- one weight --------------------------------------------------------------------------------------


def test_int8_per_column_is_absmax_over_each_column(w):
    q = quantize_weight(w, "column", 8)
    s = np.abs(w).max(axis=0) / 127.0
    np.testing.assert_array_equal(q.scales, s[None, :])
    np.testing.assert_array_equal(q.codes, np.rint(w / s).astype(np.int8))
    assert q.codes.dtype == np.int8 and np.abs(q.codes).max() == 127  # each column's largest weight is ±127
    assert np.all(np.abs(np.asarray(q) - w) <= s / 2 + 1e-15)  # rounding error at most half a step (float64)


def test_int8_per_row_is_absmax_over_each_row(w):
    q = quantize_weight(w, "row", 8)
    s = np.abs(w).max(axis=1) / 127.0
    np.testing.assert_array_equal(q.scales, s[:, None])
    assert np.all(np.abs(np.asarray(q) - w) <= s[:, None] / 2 + 1e-15)


@pytest.mark.parametrize("per", ["column", "row"])
def test_4bit_blocks_have_one_scale_each_and_pack_two_codes_a_byte(w, per):
    q = quantize_weight(w, per, 4, block_size=8)
    blocks = w.reshape(6, 8, 32).transpose(0, 2, 1) if per == "column" else w.reshape(48, 4, 8)  # (..., 8) each
    s = np.abs(blocks).max(axis=-1) / 7.0
    np.testing.assert_allclose(q.scales, s, rtol=0, atol=0)
    assert q.codes.dtype == np.uint8 and q.codes.shape == (48, 16) and q.nbytes == 48 * 16 + s.size * 8
    codes = np.asarray(q.with_scales(np.ones_like(q.scales)))  # the codes as numbers
    assert set(np.unique(codes)) <= set(range(-7, 8)) and np.abs(codes).max() == 7
    error = np.abs(np.asarray(q) - w)
    steps = np.repeat(q.scales, 8, axis=0) if per == "column" else np.repeat(q.scales, 8, axis=1)
    assert np.all(error <= steps / 2 + 1e-15)


def test_an_all_zero_column_codes_to_zeros(w):
    w[:, 3] = 0.0
    q = quantize_weight(w, "column", 8)
    assert q.scales[0, 3] == 1.0 and not q.codes[:, 3].any() and np.isfinite(np.asarray(q)).all()


@pytest.mark.parametrize("per, bits, block", LAYOUTS)
@pytest.mark.parametrize("chunk", [quantized.CHUNK_ELEMENTS, 100], ids=["one piece", "in pieces"])
def test_products_equal_those_of_the_dequantized_weight(w, per, bits, block, chunk, monkeypatch):
    """x @ W, x @ W.T, W @ h and W[ids]: what linear_forward, linear_backward, the LM head and the
    embedding use; in pieces of rows when the float copy would exceed CHUNK_ELEMENTS (float64)."""
    monkeypatch.setattr(quantized, "CHUNK_ELEMENTS", chunk)
    q = quantize_weight(w, per, bits, block)
    assert (len(q.pieces()) > 1) == (chunk == 100)
    d = np.asarray(q)
    rng = np.random.default_rng(1)
    x, y, ids = rng.standard_normal((5, 48)), rng.standard_normal((5, 32)), rng.integers(0, 48, (2, 3))
    for got, want in ((x @ q, x @ d), (y @ q.T, y @ d.T), (q @ y[0], d @ y[0]), (q @ y.T, d @ y.T), (q[ids], d[ids])):
        assert got.shape == want.shape and rel_error(got, want) < 1e-14


def test_a_float32_weight_stays_float32(w):
    q = quantize_weight(w.astype(np.float32), "column", 8)
    x = np.ones((2, 48), np.float32)
    assert q.dtype == np.float32 and (x @ q).dtype == np.float32 and (x[:, :32] @ q.T).dtype == np.float32


@pytest.mark.parametrize("bad, message", [
    (dict(bits=3), "bits must be one of"),
    (dict(per="diagonal"), "per must be one of"),
    (dict(block_size=5), "block_size must be a positive integer dividing the 48 rows"),
    (dict(block_size=0), "block_size must be"),
])
def test_bad_quantization_options_are_refused(w, bad, message):
    with pytest.raises(ArgumentError, match=message):
        quantize_weight(w, **bad)


# -- the quantized model -------------------------------------------------------------------------------


def test_quantize_replaces_the_linears_and_wte_only(options):
    model = tiny_model()
    q = tinyia3.quantize(model, **options)
    for name, value in q.params.items():
        linear = name.split(".", 2)[-1].removesuffix(".weight")
        if name == "wte.weight" or (linear in LAYOUT and name.endswith(".weight")):
            assert isinstance(value, QuantizedWeight), name
            assert value.per == ("row" if name == "wte.weight" else LAYOUT[linear])
            assert value.bits == (8 if name == "wte.weight" else options.get("bits", 8))
        else:
            assert value is model.params[name], name  # biases, layer norms, wpe: the very same arrays
    assert q.num_parameters() == model.num_parameters() and q.dtype == model.dtype
    assert weight_bytes(q) == weight_bytes_for(model.config, options.get("bits", 8), options.get("block_size"), dtype=np.float64)
    assert weight_bytes(model) == weight_bytes_for(model.config, None, dtype=np.float64)


def test_quantize_refuses_a_quantized_model_and_other_objects():
    q = tinyia3.quantize(tiny_model())
    with pytest.raises(ArgumentError, match="already quantized"):
        tinyia3.quantize(q)
    with pytest.raises(ArgumentTypeError, match="takes a tinyia3 model"):
        tinyia3.quantize({"wte.weight": np.ones((2, 2))})


def test_forward_is_the_dequantized_models_forward_and_close_to_the_float_one(batch, options):
    """The quantized model computes exactly what the float model with weights Q·s computes (float64)."""
    ids, _, attention_mask = batch
    model = tiny_model()
    q = tinyia3.quantize(model, **options)
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=1)
    got = q.logits(ids, ia3, attention_mask)
    assert rel_error(got, dequantize(q).logits(ids, ia3, attention_mask)) < 1e-13
    error = rel_error(got, model.logits(ids, ia3, attention_mask))
    assert 0 < error < (0.02 if options == {} else 0.3)  # the price of the rounding, measured on real models elsewhere


def test_ia3_gradients_on_a_quantized_model_match_finite_differences(batch, options, no_weight_gradients):
    ids, loss_mask, attention_mask = batch
    q = tinyia3.quantize(tiny_model(), **options)
    ia3 = tinyia3.IA3.random(q, std=0.3, seed=2)
    _, grads = tinyia3.loss_and_grad(q, ia3, ids, loss_mask, attention_mask)
    rng = np.random.default_rng(3)
    for name, vector in ia3.named().items():
        index = rng.choice(vector.size, 6, replace=False)
        numeric = numerical_gradient(lambda: tinyia3.loss(q, ia3, ids, loss_mask, attention_mask), vector, index)
        assert rel_error(grads.named()[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_lora_on_a_quantized_model_matches_finite_differences(batch, options, no_weight_gradients):
    ids, loss_mask, attention_mask = batch
    q = tinyia3.quantize(tiny_model(), **options)
    lora = tinyia3.LoRA.random(q, r=2, alpha=4, targets=("attn.c_attn", "mlp.c_proj"), std=0.3, seed=4)
    _, grads = tinyia3.loss_and_grad(q, lora, ids, loss_mask, attention_mask)
    for name, value in lora.named().items():
        index = np.random.default_rng(5).choice(value.size, 5, replace=False)
        numeric = numerical_gradient(lambda: tinyia3.loss(q, lora, ids, loss_mask, attention_mask), value, index)
        assert rel_error(grads.named()[name].ravel()[index], numeric) < TOLERANCE_F64, name


def test_generation_on_a_quantized_model_is_the_dequantized_models(options):
    """The KV-cache path: one-token linears and the LM head as W @ h."""
    q = tinyia3.quantize(tiny_model(), **options)
    ia3 = tinyia3.IA3.random(q, std=0.3, seed=6)
    prompt = np.array([3, 14, 15, 9])
    got = generate_ids(q, prompt, max_new_tokens=8, temperature=0, adapter=ia3)
    np.testing.assert_array_equal(got, generate_ids(dequantize(q), prompt, max_new_tokens=8, temperature=0, adapter=ia3))


def test_full_fine_tuning_of_a_quantized_model_starts_from_the_dequantized_weights():
    q = tinyia3.quantize(tiny_model())
    full = FullFineTune.of(q)
    name = "h.1.mlp.c_proj.weight"
    assert isinstance(full.params[name], np.ndarray)
    np.testing.assert_array_equal(full.params[name], dequantize(q).params[name])


def test_training_runs_on_a_quantized_model(tmp_path):
    from tinyia3.data import Dataset, LMExample
    from tinyia3.train import TrainConfig, train

    rng = np.random.default_rng(7)
    data = Dataset("lm", [LMExample(rng.integers(0, 50, 9).tolist(), 2) for _ in range(6)], "tests: random")
    q = tinyia3.quantize(tiny_model(np.float32))
    history = train(q, data, data, tmp_path / "run", TrainConfig(steps=3, batch_size=2, lr=3e-2), progress=False)
    assert history[-1]["eval"]["loss"] < history[0]["eval"]["loss"]
    ia3 = tinyia3.IA3.load(tmp_path / "run" / "adapter.safetensors", q)  # its base digest is the quantized model's
    assert abs(tinyia3.train.evaluate(q, ia3, data)["loss"] - history[-1]["eval"]["loss"]) < 1e-6


# -- merging -----------------------------------------------------------------------------------------


def _weights(model):
    return {k: v for k, v in model.params.items() if isinstance(v, QuantizedWeight)}


@pytest.mark.parametrize("queries", [False, True], ids=["paper", "PEFT placement"])
def test_merged_quantized_model_keeps_every_code_bit_for_bit_float64(batch, options, queries):
    ids, _, attention_mask = batch
    model = tiny_model()
    q = tinyia3.quantize(model, **options)
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=8)
    if queries:
        ia3.l_q = 1.0 + 0.3 * np.random.default_rng(9).standard_normal(ia3.l_k.shape)
    merged = tinyia3.merge(q, ia3)
    C = model.config.n_embd
    for name, before in _weights(q).items():
        after = merged.params[name]
        assert isinstance(after, QuantizedWeight)
        assert after.codes.tobytes() == before.codes.tobytes() and after.codes.dtype == before.codes.dtype, name
        i = name.split(".")[1]
        if name.endswith("attn.c_attn.weight"):
            l = ia3.layer(int(i))
            factor = np.concatenate([l.get("l_q", np.ones(C)), l["l_k"], l["l_v"]])[None, :]
        elif name.endswith("mlp.c_proj.weight"):
            factor = ia3.l_ff[int(i)][:, None]
        else:
            factor = 1.0
        np.testing.assert_array_equal(after.scales, before.scales * factor)  # only the scales move
    assert rel_error(merged.logits(ids, None, attention_mask), q.logits(ids, ia3, attention_mask)) < 1e-12


def test_merged_quantized_model_equals_the_unmerged_one_to_float32_rounding(batch, options):
    ids, _, attention_mask = batch
    q = tinyia3.quantize(tiny_model(np.float32), **options)
    ia3 = tinyia3.IA3.random(q, std=0.3, seed=10)
    merged = tinyia3.merge(q, ia3)
    assert rel_error(merged.logits(ids, None, attention_mask), q.logits(ids, ia3, attention_mask)) < 1e-5


def test_merge_is_refused_when_the_scales_run_the_other_way():
    q = tinyia3.quantize(tiny_model(), per={"mlp.c_proj": "column"})
    with pytest.raises(ArgumentError, match="scales per column, so a factor per input row does not fold"):
        tinyia3.merge(q, tinyia3.IA3.random(q))


def test_a_lora_merge_into_quantized_weights_is_refused_with_the_way_out():
    q = tinyia3.quantize(tiny_model())
    with pytest.raises(TinyIA3Error, match=r"quantize\(tinyia3.merge\(float_model, lora\)\)"):
        tinyia3.merge(q, tinyia3.LoRA.random(q))


def test_bitfit_merges_into_a_quantized_model_and_keeps_its_weights():
    q = tinyia3.quantize(tiny_model())
    merged = tinyia3.merge(q, tinyia3.BitFit.of(q))
    assert all(merged.params[k] is v for k, v in _weights(q).items())
