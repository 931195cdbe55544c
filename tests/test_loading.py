"""Loading checkpoints: both key layouts, half precisions, the hub cache offline, bad input."""

import json
import os
import shutil
import struct
import time

import numpy as np
import pytest

import tinyia3
from tinyia3 import hub
from tinyia3.checkpoint import read_safetensors
from tinyia3.config import GPT2Config

from conftest import FIXTURES

TINY_HUB = os.path.join(FIXTURES, "tiny_hub")


@pytest.fixture(scope="module")
def reference():
    return tinyia3.load_model(TINY_HUB, dtype=np.float32)


def test_both_layouts_give_the_same_weights(reference):
    other = tinyia3.load_model(os.path.join(FIXTURES, "tiny_pretrained"), dtype=np.float32)
    assert set(other.params) == set(reference.params)
    for name in reference.params:
        np.testing.assert_array_equal(other.params[name], reference.params[name])


def test_hub_file_has_mask_buffers_that_are_ignored():
    tensors, _ = read_safetensors(os.path.join(TINY_HUB, "model.safetensors"))
    assert "h.0.attn.bias" in tensors and "lm_head.weight" not in tensors
    assert "h.0.attn.bias" not in tinyia3.load_model(TINY_HUB).params


def test_float16_checkpoint_is_upcast(reference):
    half = tinyia3.load_model(os.path.join(FIXTURES, "tiny_fp16"), dtype=np.float32)
    for name, value in reference.params.items():
        assert half.params[name].dtype == np.float32
        np.testing.assert_array_equal(half.params[name], value.astype(np.float16).astype(np.float32))


def test_bfloat16_checkpoint_is_upcast_from_raw_bits():
    ref, _ = read_safetensors(os.path.join(FIXTURES, "reference.safetensors"))
    bf16 = tinyia3.load_model(os.path.join(FIXTURES, "tiny_bf16"), dtype=np.float32)
    np.testing.assert_array_equal(bf16.params["wte.weight"], ref["bf16_wte_as_f32"].astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    model = tinyia3.load_model(TINY_HUB, dtype=dtype)
    assert all(p.dtype == dtype for p in model.params.values())
    ia3 = tinyia3.IA3.random(model, seed=0)
    assert ia3.dtype == dtype
    assert model.logits(np.array([1, 2, 3]), ia3).dtype == dtype
    _, grads = tinyia3.loss_and_grad(model, ia3, np.array([[1, 2, 3, 4]]))
    assert grads.dtype == dtype


def test_unsupported_dtype_is_refused():
    with pytest.raises(ValueError, match="float32 .* or float64"):
        tinyia3.load_model(TINY_HUB, dtype=np.float16)


def test_config_and_ia3_parameter_count_of_gpt2_small():
    config = GPT2Config()  # the defaults are GPT-2 small
    assert config.num_parameters() == 124_439_808
    assert tinyia3.IA3.ones(config).num_parameters == 55_296


def test_save_model_round_trip(tmp_path, reference):
    from tinyia3.checkpoint import save_model

    save_model(reference, tmp_path / "copy")
    again = tinyia3.load_model(tmp_path / "copy")
    for name in reference.params:
        np.testing.assert_array_equal(again.params[name], reference.params[name])
    assert sorted(os.listdir(tmp_path / "copy")) == ["config.json", "model.safetensors"]


# -- the hub, offline ----------------------------------------------------------------------------


def make_hub_cache(root, repo_id="openai-community/gpt2", revision="0123456789abcdef0123456789abcdef01234567"):
    """A Hugging Face cache laid out by hand, as huggingface_hub would leave it."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(TINY_HUB, name), snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


@pytest.mark.parametrize("name,cached_as", [
    ("gpt2", "openai-community/gpt2"),
    ("openai-community/gpt2", "openai-community/gpt2"),
    ("gpt2", "gpt2"),
    ("distilgpt2", "distilbert/distilgpt2"),
])
def test_hub_names_resolve_from_the_cache_offline(tmp_path, reference, name, cached_as):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    make_hub_cache(tmp_path, cached_as)
    model = tinyia3.load_model(name, cache_dir=str(tmp_path))
    assert "hub cache" in model.source and cached_as in model.source
    np.testing.assert_array_equal(model.params["wte.weight"], reference.params["wte.weight"])
    # the tokenizer falls back to... nothing: this tiny vocabulary is not GPT-2's
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):
        tinyia3.load_tokenizer(name, cache_dir=str(tmp_path))


def test_offline_cache_miss_fails_fast_with_the_ways_out(tmp_path):
    start = time.perf_counter()
    with pytest.raises(hub.ModelNotAvailableError) as err:
        tinyia3.load_model("gpt2-medium", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 2.0
    message = str(err.value)
    assert "gpt2-medium" in message and "HF_HUB_OFFLINE" in message
    assert "connect to the internet once" in message and "local folder" in message and "embedded" in message


def test_unreachable_hub_fails_fast_without_offline_mode(tmp_path, monkeypatch):
    """Not offline, but the hub does not answer: the probe (to a closed port on this machine)
    gives up at once instead of sitting in huggingface_hub's retries."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # loopback discard port: closed
    start = time.perf_counter()
    with pytest.raises(hub.ModelNotAvailableError, match="cannot be reached"):
        tinyia3.load_model("gpt2", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 2.0


# -- bad input -----------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tinyia3.load_model(str(tmp_path / "no-such-model"))


def test_folder_without_config(tmp_path):
    shutil.copy(os.path.join(TINY_HUB, "model.safetensors"), tmp_path)
    with pytest.raises(FileNotFoundError, match="No config.json"):
        tinyia3.load_model(str(tmp_path))


def test_folder_without_weights_names_what_it_found(tmp_path):
    shutil.copy(os.path.join(TINY_HUB, "config.json"), tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="No model.safetensors.*pytorch_model.bin"):
        tinyia3.load_model(str(tmp_path))


def test_a_file_instead_of_a_folder():
    with pytest.raises(NotADirectoryError, match="Pass .*tiny_hub instead"):
        tinyia3.load_model(os.path.join(TINY_HUB, "model.safetensors"))


def copy_model(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(TINY_HUB, folder)
    return folder


def test_truncated_safetensors(tmp_path):
    folder = copy_model(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or incomplete"):
        tinyia3.load_model(str(folder))


@pytest.mark.parametrize("content", [b"", b"\x05\x00", struct.pack("<Q", 10) + b"not json!!"])
def test_corrupt_safetensors(tmp_path, content):
    folder = copy_model(tmp_path)
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match="damaged or incomplete"):
        tinyia3.load_model(str(folder))


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_tensor_with_the_wrong_shape(tmp_path):
    folder = copy_model(tmp_path)
    edit_config(folder, n_inner=64)
    with pytest.raises(ValueError, match=r"h\.0\.mlp\.c_fc\.weight has shape \[32, 128\].*implies \[32, 64\]"):
        tinyia3.load_model(str(folder))


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    folder = copy_model(tmp_path)
    edit_config(folder, n_layer=3)
    with pytest.raises(ValueError, match=r"missing 12 tensor\(s\): h\.2\.ln_1\.weight"):
        tinyia3.load_model(str(folder))
    edit_config(folder, n_layer=1)
    with pytest.raises(ValueError, match=r"unexpected 12 tensor\(s\): h\.1\."):
        tinyia3.load_model(str(folder))


@pytest.mark.parametrize("changes,match", [
    ({"activation_function": "relu"}, "Unsupported activation_function 'relu'"),
    ({"model_type": "llama"}, "model_type is 'llama'"),
    ({"scale_attn_by_inverse_layer_idx": True}, "does not implement"),
    ({"n_embd": 30}, "divisible by n_head"),
])
def test_unsupported_configs(tmp_path, changes, match):
    folder = copy_model(tmp_path)
    edit_config(folder, **changes)
    with pytest.raises(ValueError, match=match):
        tinyia3.load_model(str(folder))


def test_corrupt_config_json(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(ValueError, match="Could not read .*config.json"):
        tinyia3.load_model(str(folder))


@pytest.mark.parametrize("ids,error,match", [
    (np.array([1, -1, 2]), ValueError, "Token id -1 is out of range.*0..100"),
    (np.array([1, 101]), ValueError, "Token id 101 is out of range"),
    (np.array([1.0, 2.0]), TypeError, "must be integers.*astype"),
    (np.array(["a", "b"]), TypeError, "must be integers"),
    (np.zeros((1, 0), dtype=np.int64), ValueError, "empty sequence"),
    (np.zeros(65, dtype=np.int64), ValueError, "65 tokens is longer than .* n_positions=64"),
    (np.zeros((1, 2, 3), dtype=np.int64), ValueError, r"shape \(T,\) or \(B, T\)"),
])
def test_bad_token_ids(reference, ids, error, match):
    with pytest.raises(error, match=match):
        reference.logits(ids)


def test_attention_mask_of_the_wrong_shape(reference):
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 3\), expected \(2, 4\)"):
        reference.logits(np.zeros((2, 4), dtype=np.int64), attention_mask=np.ones((1, 3)))
    with pytest.raises(ValueError, match="only hold 0 .* and 1"):
        reference.logits(np.zeros((1, 3), dtype=np.int64), attention_mask=np.array([[1, 2, 1]]))


def test_ia3_for_another_model_is_refused(reference):
    other = tinyia3.IA3.ones(GPT2Config(vocab_size=101, n_positions=64, n_embd=48, n_layer=2, n_head=4))
    with pytest.raises(ValueError, match=r"l_k has shape \[2, 48\].*needs \[2, 32\]"):
        reference.logits(np.array([1, 2]), other)


def test_embedded_model_loads_offline_with_the_exact_gpt2_tokenizer():
    import hashlib

    from tinyia3.tokenizer import GPT2_MERGES_SHA256, GPT2_VOCAB_SHA256

    model = tinyia3.load_model("embedded")
    tokenizer = tinyia3.load_tokenizer("embedded")
    assert model.config.vocab_size == tokenizer.vocab_size == 50257
    assert tokenizer.encode(" gazed") == [50255]
    folder = hub.EMBEDDED_DIR
    assert hashlib.sha256((folder / "vocab.json").read_bytes()).hexdigest() == GPT2_VOCAB_SHA256
    assert hashlib.sha256((folder / "merges.txt").read_bytes()).hexdigest() == GPT2_MERGES_SHA256
    tensors, metadata = read_safetensors(folder / "model.safetensors")
    assert metadata == {"format": "pt"} and "wte.weight" in tensors and "lm_head.weight" not in tensors


def test_embedded_model_is_trained_not_random():
    """Next-token loss on the corpus's kind of English is far below a uniform guess (ln 50257 = 10.8)."""
    model = tinyia3.load_model("embedded")
    ids = np.array(tinyia3.load_tokenizer("embedded").encode("Yahweh spoke to Moses, saying, Speak to the children of Israel."))
    assert tinyia3.loss(model, None, ids) < 3.5


def test_embedded_model_keeps_its_contract():
    """GPT-2 shape with context >= 256, a float16 file of at most 40 MiB in the hub layout."""
    folder = hub.EMBEDDED_DIR
    assert (folder / "model.safetensors").stat().st_size <= 40 * 2**20
    tensors, _ = read_safetensors(folder / "model.safetensors")
    assert {t.dtype for t in tensors.values()} == {np.dtype(np.float16)}
    model = tinyia3.load_model("embedded")
    assert model.config.n_positions >= 256 and model.dtype == np.float32


@pytest.mark.slow
def test_embedded_model_knows_every_register():
    """Held-out loss of each register it was pre-trained on (data/datasets/registers_heldout.jsonl,
    40 passages each), float32: below 5.5 nats everywhere, and each near what metrics.json says."""
    import json

    from tinyia3.data import load_groups
    from tinyia3.train import evaluate

    model, tokenizer = tinyia3.load_model("embedded"), tinyia3.load_tokenizer("embedded")
    groups = load_groups(hub.EMBEDDED_DIR.parent / "datasets" / "registers_heldout.jsonl", tokenizer, model.config.n_positions)
    metrics = json.loads((hub.EMBEDDED_DIR / "metrics.json").read_text())
    assert set(groups) == set(metrics["registers"]) and len(groups) >= 4
    for name, group in groups.items():
        value = evaluate(model, None, group)["loss"]
        assert value < 5.5, (name, value)
        assert abs(value - metrics["registers"][name]["heldout_loss"]) < 0.5, (name, value)
