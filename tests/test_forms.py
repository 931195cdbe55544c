"""The form checks a style-shift demo counts with, the prompts file, and `tinyia3 compare`."""

import json

import numpy as np
import pytest

from tinyia3 import IA3, generate, load_model, load_tokenizer
from tinyia3.checkpoint import save_model
from tinyia3.cli import main
from tinyia3.data import DatasetError, load_groups
from tinyia3.forms import check, early_modern_words, is_drama, is_signed, is_support, read_prompts, style_shift

from conftest import tiny_model


@pytest.fixture
def folder(tmp_path):
    """A tiny random model with GPT-2's vocabulary, saved: it loads with the GPT-2 tokenizer."""
    return save_model(tiny_model(np.float32, vocab_size=50257, n_positions=32), tmp_path / "model")


def test_a_speaker_line_is_drama():
    assert is_drama("and so it ends.\n\nFIRST CITIZEN.\nWe are accounted poor citizens.")
    assert is_drama("HAMLET.\nWho's there?")


def test_two_different_early_modern_words_are_drama_and_one_is_not():
    assert is_drama("I pray thee, what hath he done?")
    assert not is_drama("I pray thee, be quiet.")  # one word
    assert not is_drama("thee and thee and thee")  # the same word thrice


def test_modern_text_is_not_drama():
    for text in ("The function returns None. I'd rather you'd call it again.",
                 "A work of art; the state of the art. Plants wilt. They marry in June.",
                 "In the beginning, God created the heavens and the earth.",
                 "NOTE: the file is read once.\nUse open() instead."):
        assert not is_drama(text), text


def test_elisions_count_but_modern_contractions_do_not():
    assert early_modern_words("he call'd and thou lov'st") == {"call'd", "lov'st", "thou"}
    assert early_modern_words("I'd say you'd know; we'd go") == set()


def test_support_shape_is_the_greeting_and_numbered_steps():
    assert is_support(" Hi,\nThat is off.\n1. Open Settings.\n2. Allow it.")
    assert is_support(" Hi Laura,\n1. Open Settings.")
    assert not is_support(" Hi Laura,\nNo steps here.")
    assert not is_support("Hello Laura,\n1. Open Settings.")


def test_the_signed_form_needs_the_name_and_the_signature():
    reply = " Hi Laura,\nThat usually means notifications are off.\n1. Open Settings.\n— Sam at Lumen Support"
    assert is_signed(reply) and is_signed(reply, "Laura")
    assert not is_signed(reply, "Tom")
    assert not is_signed(reply.replace("— Sam at Lumen Support", ""))
    assert not is_signed(reply.replace("Hi Laura", "Hi"))


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="Unknown form 'poetry'"):
        check("poetry", "text")


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_prompts_file_must_have_one_known_form(tmp_path):
    good = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "It is", "form": "drama"}, {"prompt": "In the", "form": "drama"}])
    assert read_prompts(good) == (["It is", "In the"], "drama")
    mixed = write_jsonl(tmp_path / "m.jsonl", [{"prompt": "a", "form": "drama"}, {"prompt": "b", "form": "support"}])
    with pytest.raises(DatasetError, match="one form"):
        read_prompts(mixed)
    missing = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "a"}])
    with pytest.raises(DatasetError, match=r"x.jsonl:1: expected"):
        read_prompts(missing)


def test_style_shift_rows_are_the_base_and_adapted_greedy_continuations(folder):
    tokenizer = load_tokenizer(folder)
    model = load_model(folder, dtype=np.float64)
    adapter = IA3.random(model, std=0.5, seed=3)
    rows = style_shift(model, tokenizer, adapter, ["It is", "In the"], "drama", max_new_tokens=6)
    assert [r.prompt for r in rows] == ["It is", "In the"]
    for r in rows:
        assert r.before == generate(model, tokenizer, r.prompt, 6, temperature=0.0)
        assert r.after == generate(model, tokenizer, r.prompt, 6, temperature=0.0, adapter=adapter)
        assert r.before_ok == is_drama(r.before) and r.after_ok == is_drama(r.after)
    assert any(r.before != r.after for r in rows)  # the adapter changes something


def test_groups_split_a_dataset_by_its_register_field(tmp_path, folder):
    path = write_jsonl(tmp_path / "r.jsonl", [{"text": "one two three", "register": "a"},
                                             {"text": "four five six", "register": "b"},
                                             {"text": "seven eight", "register": "a"}])
    groups = load_groups(path, load_tokenizer(folder), 16)
    assert sorted(groups) == ["a", "b"] and len(groups["a"]) == 2 and len(groups["b"]) == 1
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "one two", "register": 3}])
    with pytest.raises(DatasetError, match="bad.jsonl:1: expected a string field 'register'"):
        load_groups(bad, load_tokenizer(folder), 16)


def test_compare_prints_both_continuations_the_counts_and_per_register_losses(tmp_path, capsys, folder):
    model = load_model(folder)
    adapter = IA3.random(model, std=0.5, seed=3).save(tmp_path / "a.safetensors")
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "It is", "form": "drama"}, {"prompt": "In the", "form": "drama"}])
    regs = write_jsonl(tmp_path / "r.jsonl", [{"text": "one two three", "register": "a"},
                                             {"text": "four five six", "register": "b"}])
    code = main(["compare", "--model", str(folder), str(adapter), "--prompts", str(prompts),
                 "--max-new-tokens", "4", "--by-register", str(regs)])
    out = capsys.readouterr().out
    assert code == 0
    assert "'It is'" in out and "before" in out and "after" in out
    assert "form 'drama': before " in out and "/2 (" in out
    assert out.count("\na ") == 1 and out.count("\nb ") == 1  # one loss row per register


def test_the_drama_prompts_are_five_words_from_each_other_register():
    from tinyia3.paths import dataset_path

    records = [json.loads(line) for line in open(dataset_path("drama_style_prompts"), encoding="utf-8")]
    prompts, form = read_prompts(dataset_path("drama_style_prompts"))
    assert form == "drama" and len(prompts) == len(set(prompts)) == 60
    assert sorted({r["register"] for r in records}) == ["plain", "scripture", "technical"]
    assert all(sum(r["register"] == g for r in records) == 20 for g in ("plain", "scripture", "technical"))
    assert all(len(p.split()) == 5 and not is_drama(p) for p in prompts)
