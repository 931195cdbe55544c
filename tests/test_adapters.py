"""Adapters that travel: tinyia3's file, PEFT's folder (fixtures written by real peft), merging."""

import json
import os

import numpy as np
import pytest

import tinyia3
from tinyia3.checkpoint import read_safetensors
from tinyia3.gradcheck import rel_error

from conftest import FIXTURES

REF, _ = read_safetensors(os.path.join(FIXTURES, "reference.safetensors"))
PEFT_PAPER = os.path.join(FIXTURES, "peft_ia3_tiny")  # query third = 1, as in the paper
PEFT_Q = os.path.join(FIXTURES, "peft_ia3_tiny_q")  # query third trained too


@pytest.fixture(scope="module")
def model():
    return tinyia3.load_model(os.path.join(FIXTURES, "tiny_hub"), dtype=np.float64)


def test_own_format_round_trip(tmp_path, model):
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=1)
    ia3.save(tmp_path / "a.safetensors")
    again = tinyia3.IA3.load(tmp_path / "a.safetensors", model)
    for name, vec in ia3.named().items():
        np.testing.assert_array_equal(getattr(again, name), vec)
    assert again.l_q is None and again.base_model == model.name
    _, metadata = read_safetensors(tmp_path / "a.safetensors")
    assert metadata["format"] == "tinyia3-ia3" and metadata["n_layer"] == "2" and metadata["n_inner"] == "128"


def test_own_format_keeps_l_q(tmp_path, model):
    ia3 = tinyia3.IA3.random(model, seed=2)
    ia3.l_q = np.full_like(ia3.l_k, 0.5)
    ia3.save(tmp_path / "q.safetensors")
    np.testing.assert_array_equal(tinyia3.IA3.load(tmp_path / "q.safetensors").l_q, ia3.l_q)


def test_adapter_for_another_model_is_refused(tmp_path, model):
    embedded = tinyia3.load_model("embedded")
    tinyia3.IA3.ones(embedded).save(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="was made for 'embedded' .* Load the base model it was trained on"):
        tinyia3.IA3.load(tmp_path / "other.safetensors", model)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_or_foreign_adapter_file(tmp_path, model, damage):
    path = tmp_path / "a.safetensors"
    tinyia3.IA3.ones(model).save(path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
        match = "Cannot read adapter .*damaged or incomplete"
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 64)
        match = "Cannot read adapter"
    else:
        from safetensors.numpy import save_file
        save_file({"x": np.ones(3)}, str(path))
        match = "is not a tinyia3 adapter"
    with pytest.raises(ValueError, match=match):
        tinyia3.IA3.load(path, model)


def test_missing_adapter_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tinyia3.IA3.load(tmp_path / "nope.safetensors")


# -- PEFT ----------------------------------------------------------------------------------------


def test_peft_adapter_imports_as_the_paper_vectors(model):
    ia3 = tinyia3.IA3.load(PEFT_PAPER, model)
    assert ia3.l_q is None, "PEFT's untrained query third (all ones) is no scaling at all"
    np.testing.assert_array_equal(ia3.l_k, REF["ia3_l_k"].astype(np.float32))
    np.testing.assert_array_equal(ia3.l_ff, REF["ia3_l_ff"].astype(np.float32))
    assert ia3.base_model == "tiny_hub"
    assert rel_error(model.logits(REF["ids"], ia3), REF["peft_logits_f64"]) <= 1e-9


def test_peft_adapter_with_trained_queries_runs_with_l_q(model):
    ia3 = tinyia3.IA3.load(PEFT_Q, model)
    assert ia3.l_q is not None and not np.all(ia3.l_q == 1)
    assert ia3.num_parameters == 2 * (3 * 32 + 128)  # PEFT's count: q, k, v and ff
    assert rel_error(model.logits(REF["ids"], ia3), REF["peft_q_logits_f64"]) <= 1e-9


@pytest.mark.parametrize("source", [PEFT_PAPER, PEFT_Q])
def test_save_peft_writes_what_peft_writes(tmp_path, model, source):
    """Same tensor names, shapes, dtypes and values as the folder real peft saved, and a config
    with the same fields: peft.PeftModel.from_pretrained reads what it wrote itself."""
    ia3 = tinyia3.IA3.load(source)
    out = ia3.save_peft(tmp_path / "peft", base_model_name_or_path="tiny_hub")
    theirs, their_meta = read_safetensors(os.path.join(source, "adapter_model.safetensors"))
    ours, our_meta = read_safetensors(out / "adapter_model.safetensors")
    assert our_meta == their_meta == {"format": "pt"}
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape
        np.testing.assert_array_equal(ours[key], theirs[key])
    their_config = json.load(open(os.path.join(source, "adapter_config.json")))
    our_config = json.load(open(out / "adapter_config.json"))
    assert set(our_config) == set(their_config)
    for key in ("peft_type", "task_type", "feedforward_modules", "fan_in_fan_out", "base_model_name_or_path"):
        assert our_config[key] == their_config[key], key
    assert sorted(our_config["target_modules"]) == sorted(their_config["target_modules"])


def test_peft_round_trip_of_a_tinyia3_adapter(tmp_path, model):
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=3).astype(np.float32)
    ia3.save_peft(tmp_path / "peft")
    again = tinyia3.IA3.load(tmp_path / "peft", model)
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ia3, name))
    assert again.l_q is None


def test_not_a_peft_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter folder"):
        tinyia3.IA3.load(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="'LORA' adapter"):
        tinyia3.IA3.load(tmp_path)
    # Broken or wrong-shaped JSON: one error naming the file and what it should hold.
    for text, found in (('{"peft_type": "IA3", ', "Expecting"), ('["IA3"]', "found a JSON list")):
        (tmp_path / "adapter_config.json").write_text(text)
        with pytest.raises(ValueError, match=f"adapter_config.json.*PEFT adapter_config.json.*{found}"):
            tinyia3.IA3.load(tmp_path)


# -- merging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_q", [False, True])
def test_merged_model_equals_the_adapted_model(model, with_q):
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=4)
    if with_q:
        ia3.l_q = 1 + 0.3 * np.random.default_rng(5).standard_normal(ia3.l_k.shape)
    merged = tinyia3.merge(model, ia3)
    ids, mask = REF["padded_ids"], REF["padded_attention_mask"]
    expected = model.logits(ids, ia3, attention_mask=mask)
    got = merged.logits(ids, attention_mask=mask)  # no adapter at run time: it is in the weights
    real = mask == 1
    assert rel_error(got[real], expected[real]) <= 1e-12


def test_merge_leaves_the_original_model_untouched(model):
    before = {k: v.copy() for k, v in model.params.items()}
    tinyia3.merge(model, tinyia3.IA3.random(model, std=0.3, seed=6))
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_adapter_without_a_base_model_name_round_trips_as_none(tmp_path):
    from tinyia3.config import GPT2Config

    ia3 = tinyia3.IA3.ones(GPT2Config(vocab_size=101, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    assert ia3.base_model is None
    ia3.save(tmp_path / "a.safetensors")
    assert tinyia3.IA3.load(tmp_path / "a.safetensors").base_model is None


# -- summary (what `tinyia3 inspect` prints) ---------------------------------------------------------


def test_summary_counts_inhibited_amplified_and_sign_flipped(model, tmp_path, capsys):
    ia3 = tinyia3.IA3.ones(model)
    ia3.l_k[0, :4] = [0.5, -0.2, 1.5, 1.005]  # inhibited, inhibited and negative, amplified, within tol
    row = ia3.summary(tol=0.01)[0]
    assert (row["vector"], row["layer"]) == ("l_k", 0)
    assert (row["inhibited"], row["negative"], row["amplified"]) == (2, 1, 1)
    assert row["min"] == pytest.approx(-0.2) and row["max"] == pytest.approx(1.5)
    assert all(r["negative"] == 0 for r in ia3.summary()[1:])

    from tinyia3.cli import main

    path = tmp_path / "adapter.safetensors"
    ia3.save(path)
    assert main(["inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "1 scale is negative: those channels are sign-flipped" in printed


# -- the adapter seam: what the model refuses or repairs -------------------------------------------


class _OneSite:
    """A minimal adapter of the seam, which asks for check_fits, sites and gradients only: one
    named site in block 0."""

    def __init__(self, site, value):
        self.site, self.value = site, value

    def check_fits(self, config):
        pass

    def sites(self, model):
        from tinyia3.model import Sites

        return Sites([{self.site: self.value}] + [{} for _ in range(model.config.n_layer - 1)], {})

    def gradients(self, blocks, top):
        return blocks[0][self.site]


def test_a_misspelled_site_is_refused_not_ignored(tiny):
    with pytest.raises(ValueError, match="puts 'ln_2.wieght' into block 0: no such site"):
        tiny.logits(np.array([1, 2, 3]), _OneSite("ln_2.wieght", np.ones(tiny.config.n_embd)))


def test_any_site_of_the_seam_gets_its_gradient(tiny, batch):
    """A one-site adapter on a layer norm's gain: the seam needs nothing adapter-specific."""
    from tinyia3.gradcheck import TOLERANCE_F64, numerical_gradient, rel_error

    ids, loss_mask, attention_mask = batch
    adapter = _OneSite("ln_2.weight", np.array(tiny.params["h.0.ln_2.weight"]))
    _, grad = tinyia3.loss_and_grad(tiny, adapter, ids, loss_mask, attention_mask)
    numeric = numerical_gradient(lambda: tinyia3.loss(tiny, adapter, ids, loss_mask, attention_mask), adapter.value)
    assert rel_error(grad, numeric) < TOLERANCE_F64


def test_an_adapter_of_mixed_dtypes_runs_in_the_model_s_dtype(batch):
    from conftest import tiny_model

    ids, loss_mask, attention_mask = batch
    model = tiny_model(np.float32)
    lora = tinyia3.LoRA.random(model, seed=1)
    lora.b["attn.c_attn"] = lora.b["attn.c_attn"].astype(np.float64)  # as a hand-edited file could be
    _, grads = tinyia3.loss_and_grad(model, lora, ids, loss_mask, attention_mask)
    assert grads.a["attn.c_attn"].dtype == grads.b["attn.c_attn"].dtype == np.float32


def test_a_full_fine_tune_merges_into_a_copy(tiny):
    full = tinyia3.FullFineTune.of(tiny)
    merged = tinyia3.merge(tiny, full)
    full.params["h.0.mlp.c_fc.bias"] += 1.0  # a later optimiser step
    np.testing.assert_array_equal(merged.params["h.0.mlp.c_fc.bias"], tiny.params["h.0.mlp.c_fc.bias"])


def test_a_model_folder_given_as_an_adapter_says_what_it_is(tiny, tmp_path):
    from tinyia3.checkpoint import save_model

    folder = save_model(tiny, tmp_path / "model")
    with pytest.raises(ValueError, match="is a model folder .* Pass it as the model"):
        tinyia3.load_adapter(folder)
