"""tinyia3 against the peer implementation (torch + transformers + peft).

The references in tests/fixtures/ were written by tools/make_peer_fixtures.py; tests read them
by tensor name and never need torch. Relative error: max |Δ| / max |reference| (rel_error).
"""

import os

import numpy as np
import pytest

import tinyia3
from tinyia3.checkpoint import read_safetensors
from tinyia3.generate import generate_ids
from tinyia3.gradcheck import rel_error

from conftest import FIXTURES

REF, META = read_safetensors(os.path.join(FIXTURES, "reference.safetensors"))
TOL = {np.float64: 1e-9, np.float32: 2e-5}  # logits: float64 agrees to rounding, float32 to ~1e-6
SUFFIX = {np.float64: "f64", np.float32: "f32"}


def test_fixture_format_version():
    assert META["format_version"] == "1", "fixtures changed format: regenerate with " + META["regenerate"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["tiny_hub", "tiny_pretrained"])
def test_logits_match_transformers(layout, dtype):
    model = tinyia3.load_model(os.path.join(FIXTURES, layout), dtype=dtype)
    logits = model.logits(REF["ids"])
    assert logits.dtype == dtype and logits.shape == REF["logits_f64"].shape
    assert rel_error(logits, REF[f"logits_{SUFFIX[dtype]}"]) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_left_padded_batch_matches_transformers(dtype):
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=dtype)
    mask = REF["padded_attention_mask"]
    logits = model.logits(REF["padded_ids"], attention_mask=mask)
    real = mask == 1  # values at padding positions mean nothing
    assert rel_error(logits[real], REF[f"padded_logits_{SUFFIX[dtype]}"][real]) <= TOL[dtype]
    # and each padded row equals the same row run alone without its padding
    for b in range(len(mask)):
        alone = model.logits(REF["padded_ids"][b][real[b]])[0]
        assert rel_error(logits[b][real[b]], alone) <= TOL[dtype]


def test_greedy_generation_matches_transformers():
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)
    prompt, expected = REF["greedy_prompt"][0], REF["greedy_tokens"][0]
    new = generate_ids(model, prompt, max_new_tokens=len(expected) - len(prompt), temperature=0)
    np.testing.assert_array_equal(np.concatenate([prompt, new]), expected)


def test_kv_cache_gives_the_same_logits_as_a_full_forward():
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)
    ids = REF["ids"][0]
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=0)
    full = model.lm_head(model.forward(ids, ia3)[0])
    hidden, _, past = model.forward(ids[:5], ia3)
    steps = [hidden]
    for t in range(5, len(ids)):
        hidden, _, past = model.forward(ids[t:t + 1], ia3, past=past)
        steps.append(hidden)
    assert rel_error(model.lm_head(np.concatenate(steps, axis=1)), full) < 1e-12


def _ia3_from_fixture(dtype):
    return tinyia3.IA3(REF["ia3_l_k"].astype(dtype), REF["ia3_l_v"].astype(dtype), REF["ia3_l_ff"].astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ia3_loss_and_gradients_match_peft(dtype):
    """PEFT's IA³ on c_attn (query third held at 1) and mlp.c_proj is the paper's IA³."""
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=dtype)
    loss, grads = tinyia3.loss_and_grad(model, _ia3_from_fixture(dtype), REF["ia3_ids"],
                                        loss_mask=REF["ia3_loss_mask"], attention_mask=REF["ia3_attention_mask"])
    tol = 1e-9 if dtype == np.float64 else 1e-4
    sfx = SUFFIX[dtype]
    assert abs(loss - float(REF[f"ia3_loss_{sfx}"])) / abs(float(REF[f"ia3_loss_{sfx}"])) <= tol
    for name in ("l_k", "l_v", "l_ff"):
        assert rel_error(getattr(grads, name), REF[f"ia3_d{name}_{sfx}"]) <= tol, name


def test_ia3_logits_match_peft():
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)
    mask = REF["ia3_attention_mask"]
    logits = model.logits(REF["ia3_ids"], _ia3_from_fixture(np.float64), attention_mask=mask)
    real = mask == 1
    assert rel_error(logits[real], REF["ia3_logits_f64"][real]) <= 1e-9


def test_query_scale_gradient_matches_peft():
    """With l_q present (as imported from PEFT) its gradient matches PEFT's query-third gradient."""
    model = tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)
    ia3 = _ia3_from_fixture(np.float64)
    ia3.l_q = np.ones_like(ia3.l_k)  # the fixture held the query third at 1
    _, grads = tinyia3.loss_and_grad(model, ia3, REF["ia3_ids"], loss_mask=REF["ia3_loss_mask"],
                                     attention_mask=REF["ia3_attention_mask"])
    assert rel_error(grads.l_q, REF["ia3_dl_q_f64"]) <= 1e-9


def test_public_generate_api_with_an_adapter_is_greedy_and_repeatable():
    model = tinyia3.load_model("embedded")
    tokenizer = tinyia3.load_tokenizer("embedded")
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=0)
    first = tinyia3.generate(model, tokenizer, "In the beginning", max_new_tokens=8, temperature=0, adapter=ia3)
    again = tinyia3.generate(model, tokenizer, "In the beginning", max_new_tokens=8, temperature=0, adapter=ia3)
    plain = tinyia3.generate(model, tokenizer, "In the beginning", max_new_tokens=8, temperature=0)
    assert first == again and isinstance(first, str) and first
    sampled = [tinyia3.generate(model, tokenizer, "In the beginning", max_new_tokens=8, seed=s, top_k=50, top_p=0.9)
               for s in (1, 1)]
    assert sampled[0] == sampled[1]
    assert isinstance(plain, str) and plain
