"""Dataset files: both task kinds, batching, and a clear error (file:line) for every bad input."""

import json

import numpy as np
import pytest

from tinyia3.data import DatasetError, LMExample, MCExample, lm_batch, load_dataset, mc_batch
from tinyia3.tokenizer import gpt2_tokenizer

TOK = gpt2_tokenizer()


def write(tmp_path, lines, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_prompt_completion_counts_the_completion_only(tmp_path):
    ds = load_dataset(write(tmp_path, [{"prompt": "Hello", "completion": " world!"}]), TOK, 64)
    assert ds.kind == "lm" and ds.examples[0].ids == [15496, 995, 0] and ds.examples[0].n_prompt == 1
    ids, attention_mask, loss_mask = lm_batch(ds.examples + [LMExample([1, 2, 3, 4, 5], 0)])
    np.testing.assert_array_equal(loss_mask[0], [0, 1, 1, 0, 0])  # "Hello" is context; padding never counts
    np.testing.assert_array_equal(attention_mask[0], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(loss_mask[1], [1, 1, 1, 1, 1])


def test_text_and_multiple_choice(tmp_path):
    assert load_dataset(write(tmp_path, [{"text": "In the beginning"}]), TOK, 64).kind == "lm"
    ds = load_dataset(write(tmp_path, [{"prompt": "Sky:", "choices": [" blue", " green"], "label": 0}]), TOK, 64)
    assert ds.kind == "mc" and ds.examples[0].label == 0 and len(ds.examples[0].choices) == 2


def test_choice_batch_marks_each_choice_as_a_row(tmp_path):
    batch = mc_batch([MCExample([1, 2], [[3], [4, 5]], 1), MCExample([6], [[7], [8], [9]], 2)])
    assert batch.ids.shape == (5, 4)
    np.testing.assert_array_equal(batch.choice_mask[1], [0, 0, 1, 1])
    np.testing.assert_array_equal(batch.example, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(batch.correct, [False, True, False, False, True])


@pytest.mark.parametrize("lines,match", [
    (['{"text": "ok"}', '{"text": "broken'], r"d\.jsonl:2: not valid JSON"),
    (['["a list"]'], r"d\.jsonl:1: expected a JSON object"),
    ([{"prompt": "x"}], r"d\.jsonl:1: cannot tell the task"),
    ([{"prompt": "Q", "completion": "a"}, {"prompt": "Q"}], r"d\.jsonl:2: .*different kind"),
    ([{"prompt": "Q", "choices": [" a", " b"]}], r"d\.jsonl:1: missing field 'label'"),
    ([{"prompt": "Q", "choices": [" a", " b"], "label": 2}], r"d\.jsonl:1: label 2 is out of range.*0 to 1"),
    ([{"prompt": "Q", "choices": [" a", " b"], "label": -1}], "out of range"),
    ([{"prompt": "Q", "choices": [" a"], "label": 0}], "at least two non-empty strings"),
    ([{"prompt": 3, "completion": "a"}], r"field 'prompt' must be a string"),
    ([{"prompt": "Q", "completion": ""}], "nothing to learn"),
    (["", "   "], "the dataset is empty"),
])
def test_bad_lines_name_file_and_line(tmp_path, lines, match):
    with pytest.raises(DatasetError, match=match):
        load_dataset(write(tmp_path, lines), TOK, 64)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(tmp_path / "empty.jsonl", TOK, 64)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl", TOK, 64)


def test_too_long_examples_are_truncated_with_one_warning(tmp_path):
    long_prompt = "word " * 40
    path = write(tmp_path, [
        {"prompt": long_prompt, "completion": " the end"},
        {"prompt": "short", "completion": " answer"},
        {"prompt": "a", "completion": " b" * 30},
    ])
    with pytest.warns(UserWarning, match="2 of 3 examples were longer than the model's context of 16"):
        ds = load_dataset(path, TOK, 16)
    first, _, third = ds.examples
    assert len(first.ids) == 16 and TOK.decode(first.ids).endswith(" the end")  # the prompt lost its start
    assert len(third.ids) == 16 and third.n_prompt == 1  # the completion lost its end
    assert ds.truncated == 2
