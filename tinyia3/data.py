"""Datasets for fine-tuning: JSON Lines in, padded token batches with loss masks out.

Two task kinds, recognised by their fields:

  language modelling   {"text": "..."}                        loss on every token
                       {"prompt": "...", "completion": "..."}  loss on the completion only
  multiple choice      {"prompt": "...", "choices": ["...", ...], "label": i}

Too long for the model's context? Examples are TRUNCATED, with one warning per file saying how
many: a prompt loses its beginning (the end, next to the answer, matters most), a completion or
text loses its end. A dataset that needed truncation still trains, and the warning says so.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ArgumentTypeError, FileContentError, MissingFileError, is_int, require, require_path
from .tokenizer import require_tokenizer


class DatasetError(FileContentError):
    """A bad dataset file; the message names the file and line."""


@dataclass
class LMExample:
    ids: list[int]
    n_prompt: int  # tokens of ids[:n_prompt] are context only (no loss)


@dataclass
class MCExample:
    prompt: list[int]
    choices: list[list[int]]
    label: int


@dataclass
class Dataset:
    kind: str  # "lm" or "mc"
    examples: list
    source: str
    truncated: int = 0

    def __len__(self):
        return len(self.examples)


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, record) for every non-blank line; a clear error for a malformed one."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"Dataset {path} does not exist. Datasets that ship with tinyia3 are in data/datasets/.")
    records = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            record = parse_line(path, number, raw)
            if record is not None:
                records.append((number, record))
    if not records:
        raise DatasetError(f"{path}: the dataset is empty (no JSON lines). Add at least one example.")
    return records


def parse_line(path, number: int, raw: bytes) -> dict | None:
    """One line of a JSONL file as its record (None for a blank line); DatasetError naming
    path:number for bytes that are not UTF-8, text that is not JSON, or JSON that is not an object."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}:{number}: byte {raw[err.start]:#04x} at column {err.start + 1} is not "
                           "UTF-8. Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).") from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno}). "
                           "Each line must be one JSON object.") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}.")
    return record


def record_kind(record: dict) -> str:
    """"lm", "mc" or "unknown", by the record's fields."""
    if "choices" in record or "label" in record:
        return "mc"
    if "text" in record or "completion" in record:
        return "lm"
    return "unknown"


def _string(record, field, where) -> str:
    if field not in record:
        raise DatasetError(f"{where}: missing field {field!r}.")
    if not isinstance(record[field], str):
        raise DatasetError(f"{where}: field {field!r} must be a string, found {type(record[field]).__name__}.")
    return record[field]


def load_dataset(path: str | Path, tokenizer, n_positions: int) -> Dataset:
    """Read, check and tokenize a JSONL dataset for a model with context n_positions."""
    require_path(path, "load_dataset: path")
    require_tokenizer(tokenizer, "load_dataset")
    require(is_int(n_positions) and n_positions >= 2, "load_dataset: n_positions", "an integer >= 2 (the model's "
            "context, model.config.n_positions)", n_positions, "A text needs two tokens: one to read, one to predict.")
    records = read_jsonl(path)
    first_line, first = records[0]
    kind = record_kind(first)
    if kind == "unknown":
        raise DatasetError(
            f"{path}:{first_line}: cannot tell the task from the fields {sorted(first)}. Expected "
            '{"text"}, {"prompt", "completion"} (language modelling) or {"prompt", "choices", "label"} '
            "(multiple choice)."
        )
    examples, truncated = [], 0
    for number, record in records:
        where = f"{path}:{number}"
        if record_kind(record) != kind:
            raise DatasetError(f"{where}: this line is a different kind of example than line {first_line} "
                               f"(fields {sorted(record)}); one file holds one task.")
        if kind == "lm":
            example, cut = _lm_example(record, where, tokenizer, n_positions)
        else:
            example, cut = _mc_example(record, where, tokenizer, n_positions)
        examples.append(example)
        truncated += cut
    if truncated:
        warnings.warn(f"{path}: {truncated} of {len(examples)} examples were longer than the model's "
                      f"context of {n_positions} tokens and were truncated.", stacklevel=2)
    return Dataset(kind, examples, str(path), truncated)


def load_groups(path: str | Path, tokenizer, n_positions: int, field: str = "register") -> dict[str, Dataset]:
    """A dataset split by the value of one field of its records (e.g. "register"), in file order."""
    require(isinstance(field, str) and field != "", "load_groups: field", "the name of a string field (e.g. "
            "'register')", field)
    dataset = load_dataset(path, tokenizer, n_positions)
    groups: dict[str, list] = {}
    for (number, record), example in zip(read_jsonl(path), dataset.examples):
        if not isinstance(record.get(field), str):
            raise DatasetError(f"{path}:{number}: expected a string field {field!r} to group by, "
                               f"found {record.get(field)!r}.")
        groups.setdefault(record[field], []).append(example)
    return {name: Dataset(dataset.kind, examples, f"{path} [{field}={name}]") for name, examples in groups.items()}


def _lm_example(record, where, tokenizer, n_positions):
    if "text" in record:
        ids = tokenizer.encode(_string(record, "text", where))
        prompt = []
    else:
        prompt = tokenizer.encode(_string(record, "prompt", where))
        ids = prompt + tokenizer.encode(_string(record, "completion", where))
    if len(ids) - len(prompt) < (1 if prompt else 2):
        raise DatasetError(f"{where}: nothing to learn: the {'completion' if prompt else 'text'} is empty "
                           "(a text needs at least two tokens, a completion at least one).")
    cut = len(ids) > n_positions
    if cut:
        drop = min(len(ids) - n_positions, max(len(prompt) - 1, 0))  # first from the prompt's start
        ids, prompt = ids[drop:], prompt[drop:]
        ids = ids[:n_positions]  # then from the end
    return LMExample(ids, len(prompt)), cut


def _mc_example(record, where, tokenizer, n_positions):
    prompt = tokenizer.encode(_string(record, "prompt", where))
    choices = record.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
        raise DatasetError(f"{where}: 'choices' must be a list of at least two non-empty strings, found {choices!r}.")
    if "label" not in record:
        raise DatasetError(f"{where}: missing field 'label' (the index of the right choice).")
    label = record["label"]
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
        raise DatasetError(f"{where}: label {label!r} is out of range: expected an integer from 0 to "
                           f"{len(choices) - 1} (an index into the {len(choices)} choices).")
    if not prompt:
        raise DatasetError(f"{where}: the prompt is empty; a choice must be scored as a continuation of something.")
    choice_ids = [tokenizer.encode(c) for c in choices]
    longest = max(len(c) for c in choice_ids)
    if longest >= n_positions:
        raise DatasetError(f"{where}: a choice of {longest} tokens does not fit the context of {n_positions}.")
    cut = len(prompt) + longest > n_positions
    if cut:
        prompt = prompt[len(prompt) + longest - n_positions:]
    return MCExample(prompt, choice_ids, label), cut


# -- batches ---------------------------------------------------------------------------------------


def pad_batch(sequences: list[list[int]], pad_id: int = 0):
    """Right-pad to the longest: ids (B, T) and attention_mask (B, T), 1 = token, 0 = padding."""
    T = max(len(s) for s in sequences)
    ids = np.full((len(sequences), T), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), T), dtype=np.int64)
    for b, s in enumerate(sequences):
        ids[b, :len(s)] = s
        attention_mask[b, :len(s)] = 1
    return ids, attention_mask


def _check_examples(where: str, examples, kind) -> None:
    """A batch's examples: a non-empty list of one kind, each of them whole (token ids are integers)."""
    fix = f"Take them from a dataset of kind {'lm' if kind is LMExample else 'mc'}: dataset.examples[:8]."
    require(isinstance(examples, (list, tuple)) and all(isinstance(e, kind) for e in examples),
            f"{where}: examples", f"a list of {kind.__name__}", examples, fix, ArgumentTypeError)
    require(len(examples) > 0, f"{where}: examples", f"a non-empty list of {kind.__name__}", examples, fix)
    for e in examples:
        if kind is LMExample:
            whole = len(e.ids) >= 1 and is_int(e.n_prompt) and 0 <= e.n_prompt < len(e.ids)
            expected, parts = "integer token ids and 0 <= n_prompt < len(ids)", [e.ids]
        else:
            whole = (len(e.prompt) >= 1 and len(e.choices) >= 2 and all(len(c) >= 1 for c in e.choices)
                     and is_int(e.label) and 0 <= e.label < len(e.choices))
            expected, parts = ("integer token ids: a prompt, two or more non-empty choices, "
                               "and 0 <= label < len(choices)"), [e.prompt, *e.choices]
        whole = whole and all(np.asarray(ids).dtype.kind in "iu" for ids in parts)
        require(whole, f"{where}: examples", f"whole examples ({expected})", e)


def lm_batch(examples: list[LMExample]):
    """ids, attention_mask, loss_mask (B, T): loss on tokens after the prompt, not on padding."""
    _check_examples("lm_batch", examples, LMExample)
    ids, attention_mask = pad_batch([e.ids for e in examples])
    loss_mask = attention_mask.copy()
    for b, e in enumerate(examples):
        loss_mask[b, :e.n_prompt] = 0
    return ids, attention_mask, loss_mask


@dataclass
class ChoiceBatch:
    """Every (example, choice) pair as one row: prompt + choice tokens, right-padded."""

    ids: np.ndarray  # (R, T), R = Σ examples' choice counts
    attention_mask: np.ndarray  # (R, T)
    choice_mask: np.ndarray  # (R, T) 1 at the choice's tokens: the targets that are scored
    example: np.ndarray  # (R,) which example a row belongs to
    correct: np.ndarray  # (R,) bool: is this row the right choice
    labels: np.ndarray  # (E,) the right choice of each example, as a row offset within it


def mc_batch(examples: list[MCExample]) -> ChoiceBatch:
    """Every (example, choice) pair as one row of a ChoiceBatch."""
    _check_examples("mc_batch", examples, MCExample)
    rows, example, correct, spans = [], [], [], []
    for e_index, e in enumerate(examples):
        for c_index, choice in enumerate(e.choices):
            rows.append(e.prompt + choice)
            spans.append((len(e.prompt), len(e.prompt) + len(choice)))
            example.append(e_index)
            correct.append(c_index == e.label)
    ids, attention_mask = pad_batch(rows)
    choice_mask = np.zeros_like(ids)
    for r, (start, end) in enumerate(spans):
        choice_mask[r, start:end] = 1
    labels = np.array([e.label for e in examples])
    return ChoiceBatch(ids, attention_mask, choice_mask, np.array(example), np.array(correct), labels)
