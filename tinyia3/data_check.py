"""Data quality: what is wrong with a dataset that training would not refuse, but would learn.

    report = check_data("train.jsonl", heldout="heldout.jsonl")    # model="embedded" for lengths
    print(report.text())                 # one `file:line: what` per finding, then a summary line
    report.findings                      # [Finding(path, line, kind, message)], in file order

The findings, by kind (each at the line it concerns):

  not-utf8            a line with bytes that are not UTF-8 (the line is skipped, the rest checked)
  not-json            a line that is not one JSON object
  unknown-kind        fields that are neither language modelling nor multiple choice (reported
                      at the first line with those fields, with how many more have them)
  mixed-kinds         a record of another kind than the file's first record (one file, one task)
  malformed           a record the loader would refuse (a field missing, a label out of range)
  empty               a text, prompt, completion or choice that is empty or only whitespace
  duplicate-choices   two choices of one record that are the same text (after stripping spaces)
  duplicate           the same content as an earlier line (the task's fields; others ignored)
  conflicting-labels  the same prompt and choices as an earlier line, with another label
  near-duplicate      near an earlier line: the same normalised text, or word-3-shingle
                      Jaccard similarity >= NEAR (0.8)
  heldout-exact       a training line whose content is also in the held-out file
  heldout-near        a training line near a held-out line (the same rule as near-duplicate)
  too-long            more tokens than the model's context (n_positions): tinyia3 truncates it
  label-imbalance     multiple choice, over the records with the file's usual number of choices k,
                      and only with at least 2k of them: a label index never used, or the most
                      used one more than IMBALANCE (1.5) times as often as the least used

Normalised text: lower case, every run of characters that are not letters or digits replaced by
one space. Shingles: the overlapping runs of 3 words of the normalised text (a text of fewer
words is one shingle). Near pairs are found without comparing every pair: a MinHash signature of
64 hashes per record, cut into 16 bands of 4; records that agree on a whole band are candidates
(a pair at Jaccard 0.8 becomes one with probability 1 - (1 - 0.8^4)^16 > 0.999), and each
candidate's exact Jaccard decides. The cost grows with the number of records, not its square.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .data import DatasetError, parse_line, record_kind
from .errors import MissingFileError, require, require_path

NEAR = 0.8  # word-3-shingle Jaccard similarity from which two records are near duplicates
IMBALANCE = 1.5  # most used label / least used label above this: imbalanced
SHINGLE_WORDS, N_HASHES, BAND_ROWS = 3, 64, 4
MAX_BUCKET = 200  # a band bucket larger than this is compared against its first MAX_BUCKET members only
DROPPED_BY_CLEANING = ("duplicate", "conflicting-labels", "near-duplicate", "heldout-exact", "heldout-near")
ALL_KINDS = ("not-utf8", "not-json", "unknown-kind", "mixed-kinds", "malformed", "empty", "duplicate-choices",
             "duplicate", "conflicting-labels", "near-duplicate", "heldout-exact", "heldout-near", "too-long",
             "label-imbalance")


class Finding(NamedTuple):
    path: str
    line: int
    kind: str  # one of ALL_KINDS
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.kind}]"


class Record(NamedTuple):
    line: int
    kind: str  # "lm" or "mc"
    key: tuple  # the task's fields: what makes two records the same example (label excluded)
    label: object  # multiple choice: the label; language modelling: None
    text: str  # what near duplicates are judged on


@dataclass
class DataReport:
    files: dict  # path -> (number of records, their kind)
    findings: list = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(f.kind for f in self.findings)

    def summary(self) -> str:
        records = ", ".join(f"{p}: {n} records ({kind})" for p, (n, kind) in self.files.items())
        counts = self.counts()
        found = ", ".join(f"{counts[k]} {k}" for k in ALL_KINDS if counts[k])
        return f"{len(self.findings)} findings" + (f" ({found})" if found else "") + f" in {records}"

    def text(self) -> str:
        return "\n".join([*map(str, self.findings), self.summary()])

    def warning(self, shown: int = 3) -> str:
        """A short block for `tinyia3 train`: the summary, the first few findings, what to do."""
        lines = [f"data check: {self.summary()}", *(f"  {f}" for f in self.findings[:shown])]
        if len(self.findings) > shown:
            lines.append(f"  ... and {len(self.findings) - shown} more: run `tinyia3 data check` on the files to see all")
        return "\n".join(lines)

    def lines_to_drop(self, path) -> list[int]:
        """The lines of `path` a cleaning removes: duplicates, conflicting labels, held-out overlap."""
        return sorted({f.line for f in self.findings if f.path == str(path) and f.kind in DROPPED_BY_CLEANING})


# -- reading, tolerantly: a bad line is a finding, not the end -----------------------------------------


def _texts_problems(record: dict, kind: str) -> tuple[list[str], list[str]]:
    """(malformed, empty): what the loader would refuse, and the fields that are empty or blank."""
    malformed, empty = [], []
    fields = (["text"] if "text" in record else ["prompt", "completion"]) if kind == "lm" else ["prompt"]
    for name in fields:
        value = record.get(name)
        if not isinstance(value, str):
            malformed.append(f"field {name!r} must be a string, found {type(value).__name__}")
        elif not value.strip():
            empty.append(f"the {name} is {'empty' if not value else 'only whitespace'}")
    if kind == "mc":
        choices, label = record.get("choices"), record.get("label")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            malformed.append(f"'choices' must be a list of at least two strings, found {choices!r}"[:120])
        else:
            empty += [f"choice {i} is {'empty' if not c else 'only whitespace'}" for i, c in enumerate(choices)
                      if not c.strip()]
            if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
                malformed.append(f"label {label!r} is not an index into the {len(choices)} choices")
    return malformed, empty


def normalised(text: str) -> str:
    """Lower case, each run of non-alphanumeric characters one space."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def _record(line: int, record: dict, kind: str) -> Record:
    if kind == "mc":
        choices = tuple(record["choices"])
        return Record(line, kind, (record["prompt"], choices), record["label"],
                      record["prompt"] + " " + " ".join(choices))
    key = (record["text"],) if "text" in record else (record["prompt"], record["completion"])
    return Record(line, kind, key, None, " ".join(key))


def read_records(path: Path, findings: list) -> tuple[list[Record], str]:
    """The file's well-formed records, and its kind (the first record's); every problem met on the
    way is appended to findings."""
    records, file_kind, first_line, unknown = [], None, None, {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            where = (str(path), number)
            try:
                record = parse_line(path, number, raw)
            except DatasetError as err:
                message = str(err).split(": ", 1)[1]
                findings.append(Finding(*where, "not-utf8" if "UTF-8" in message else "not-json", message))
                continue
            if record is None:
                continue
            kind = record_kind(record)
            if kind == "unknown":
                unknown.setdefault(tuple(sorted(record)), []).append(number)
                continue
            if file_kind is None:
                file_kind, first_line = kind, number
            elif kind != file_kind:
                findings.append(Finding(*where, "mixed-kinds", f"a {_KIND_NAMES[kind]} record in a file of "
                                        f"{_KIND_NAMES[file_kind]} records (line {first_line}); one file holds one task"))
                continue
            malformed, empty = _texts_problems(record, kind)
            findings += [Finding(*where, "malformed", m) for m in malformed]
            findings += [Finding(*where, "empty", e) for e in empty]
            if not malformed:
                records.append(_record(number, record, kind))
    for fields, lines in unknown.items():  # once per set of fields, not once per line
        more = f" (so are {len(lines) - 1} more lines with these fields, the last line {lines[-1]})" if len(lines) > 1 else ""
        findings.append(Finding(str(path), lines[0], "unknown-kind", f"fields {list(fields)} are neither "
                                '{"text"}, {"prompt", "completion"} nor {"prompt", "choices", "label"}' + more))
    return records, file_kind or "none"


_KIND_NAMES = {"lm": "language-modelling", "mc": "multiple-choice"}


# -- checks within one file --------------------------------------------------------------------------


def duplicate_choices(path: str, records: list[Record]) -> list[Finding]:
    found = []
    for r in records:
        if r.kind != "mc":
            continue
        first = {}
        for i, choice in enumerate(r.key[1]):
            j = first.setdefault(choice.strip(), i)
            if j != i and choice.strip():
                found.append(Finding(path, r.line, "duplicate-choices", f"choices {j} and {i} are the same text "
                                     f"{choice.strip()!r}"))
    return found


def exact_duplicates(path: str, records: list[Record]) -> tuple[list[Finding], set[int]]:
    """Repeats of an earlier line's content (and, for multiple choice, of its prompt and choices with
    another label); also the lines already reported, so near duplicates do not report them twice."""
    found, first, reported = [], {}, set()
    for r in records:
        earlier = first.setdefault(r.key, r)
        if earlier is r:
            continue
        reported.add(r.line)
        if r.label == earlier.label:
            found.append(Finding(path, r.line, "duplicate", f"the same example as line {earlier.line}"))
        else:
            found.append(Finding(path, r.line, "conflicting-labels", f"the same prompt and choices as line "
                                 f"{earlier.line}, but label {r.label} there {earlier.label}"))
    return found, reported


def shingles(text: str) -> set[str]:
    words = normalised(text).split()
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


_P = (1 << 31) - 1  # a Mersenne prime: (a x + b) mod P is a universal hash of a 32-bit x
_A, _B = (np.random.default_rng(20221115).integers(1, _P, N_HASHES, dtype=np.uint64) for _ in range(2))


def minhash(shingle_set: set[str]) -> np.ndarray:
    """(N_HASHES,) uint64: for each of N_HASHES hash functions, the least hash over the shingles."""
    x = np.array([zlib.crc32(s.encode("utf-8")) for s in shingle_set], dtype=np.uint64)
    return ((_A[:, None] * x[None, :] + _B[:, None]) % _P).min(axis=1)  # < 2^31 · 2^32 + 2^31: no overflow


def near_pairs(texts: list[str], threshold: float = NEAR) -> dict[int, tuple[int, float]]:
    """For each text near an earlier one: (the earliest such, their Jaccard). Candidates from
    MinHash bands (see the module's docstring), each confirmed by its exact Jaccard."""
    sets = [shingles(t) for t in texts]
    buckets = defaultdict(list)
    for i, s in enumerate(sets):
        signature = minhash(s)
        for band in range(N_HASHES // BAND_ROWS):
            buckets[band, signature[band * BAND_ROWS:(band + 1) * BAND_ROWS].tobytes()].append(i)
    best: dict[int, tuple[int, float]] = {}
    for members in buckets.values():
        for a_pos, i in enumerate(members[:MAX_BUCKET]):
            for j in members[a_pos + 1:]:  # members are in ascending order: i is the earlier
                if j in best and best[j][0] <= i:
                    continue
                similarity = jaccard(sets[i], sets[j])
                if similarity >= threshold:
                    best[j] = (i, similarity)
    return best


def near_duplicates(path: str, records: list[Record], reported: set[int]) -> list[Finding]:
    todo = [r for r in records if r.line not in reported]
    found = []
    for j, (i, similarity) in sorted(near_pairs([r.text for r in todo]).items()):
        found.append(Finding(path, todo[j].line, "near-duplicate", f"near line {todo[i].line} "
                             f"(word-3-shingle Jaccard {similarity:.2f} >= {NEAR:g})"))
    return found


def heldout_overlap(path: str, records: list[Record], held_path: str, held: list[Record]) -> list[Finding]:
    """Training lines whose content is a held-out line's, or near one (the same rule)."""
    held_lines = {}
    for h in held:
        held_lines.setdefault(h.key, h.line)
    found, rest = [], []
    for r in records:
        if r.key in held_lines:
            found.append(Finding(path, r.line, "heldout-exact", f"also in the held-out set, {held_path}:{held_lines[r.key]}"))
        else:
            rest.append(r)
    pairs = near_pairs([h.text for h in held] + [r.text for r in rest])  # held first: "earlier" = held-out
    for j, (i, similarity) in sorted(pairs.items()):
        if j >= len(held) and i < len(held):
            found.append(Finding(path, rest[j - len(held)].line, "heldout-near", f"near the held-out line "
                                 f"{held_path}:{held[i].line} (Jaccard {similarity:.2f} >= {NEAR:g})"))
    return sorted(found, key=lambda f: f.line)


def label_imbalance(path: str, records: list[Record]) -> list[Finding]:
    mc = [r for r in records if r.kind == "mc"]
    if not mc:
        return []
    k = Counter(len(r.key[1]) for r in mc).most_common(1)[0][0]
    usual = [r for r in mc if len(r.key[1]) == k]
    if len(usual) < 2 * k:
        return []
    counts = Counter(r.label for r in usual)
    per_label = [counts[i] for i in range(k)]
    least, most = min(per_label), max(per_label)
    if least > 0 and most <= IMBALANCE * least:
        return []
    shown = ", ".join(f"label {i}: {n}" for i, n in enumerate(per_label))
    why = "a label is never used" if least == 0 else f"most/least = {most / least:.2f} > {IMBALANCE:g}"
    return [Finding(path, usual[0].line, "label-imbalance", f"labels of the {len(usual)} records with {k} "
                    f"choices are imbalanced ({shown}; {why}): a model can score well by always answering "
                    "the common one")]


def too_long(path: str, records: list[Record], tokenizer, n_positions: int) -> list[Finding]:
    found = []
    for r in records:
        if r.kind == "mc":
            n = len(tokenizer.encode(r.key[0])) + max(len(tokenizer.encode(c)) for c in r.key[1])
            what = "prompt + longest choice"
        else:
            n = sum(len(tokenizer.encode(part)) for part in r.key)
            what = "text" if len(r.key) == 1 else "prompt + completion"
        if n > n_positions:
            found.append(Finding(path, r.line, "too-long", f"{what} is {n:,} tokens, longer than the model's "
                                 f"context of {n_positions}: training truncates it"))
    return found


# -- the whole check ---------------------------------------------------------------------------------


def check_file(path: Path, tokenizer=None, n_positions: int | None = None) -> tuple[list[Record], str, list[Finding]]:
    """One file's own findings (no held-out comparison), in line order."""
    findings: list[Finding] = []
    records, kind = read_records(path, findings)
    name = str(path)
    findings += duplicate_choices(name, records)
    exact, reported = exact_duplicates(name, records)
    findings += exact + near_duplicates(name, records, reported) + label_imbalance(name, records)
    if tokenizer is not None:
        findings += too_long(name, records, tokenizer, n_positions)
    return records, kind, sorted(findings, key=lambda f: f.line)


def _context(model: str):
    """The model's tokenizer and context length, without loading its weights."""
    from .config import GPT2Config
    from .hub import resolve
    from .loading import load_tokenizer

    return load_tokenizer(model), GPT2Config.from_json(resolve(model).folder / "config.json").n_positions


def check_data(train, heldout=None, model: str | None = "embedded", tokenizer=None,
               n_positions: int | None = None) -> DataReport:
    """Check a training file (and a held-out file, and their overlap). Lengths are counted with
    `tokenizer` against `n_positions` when given, else with `model`'s (None: no length check)."""
    paths = [train] + ([heldout] if heldout is not None else [])
    for where, path in zip(("check_data: train", "check_data: heldout"), paths):
        require_path(path, where)
        if not Path(path).is_file():
            what = "is a folder, not a file" if Path(path).is_dir() else "does not exist"
            raise MissingFileError(f"{where}: {path} {what}; expected a .jsonl dataset (one JSON object a line).")
    require((tokenizer is None) == (n_positions is None), "check_data: tokenizer and n_positions",
            "both given or both None", (type(tokenizer).__name__, n_positions))
    if tokenizer is None and model is not None:
        tokenizer, n_positions = _context(model)
    report = DataReport({})
    loaded = []
    for path in paths:
        records, kind, findings = check_file(Path(path), tokenizer, n_positions)
        report.files[str(path)] = (len(records), kind)
        report.findings += findings
        loaded.append(records)
    if heldout is not None:
        overlap = heldout_overlap(str(train), loaded[0], str(heldout), loaded[1])
        report.findings = sorted(report.findings + overlap, key=lambda f: (f.path != str(train), f.line))
    return report


def write_cleaned(train, report: DataReport, out) -> int:
    """Write `train` without the lines a cleaning drops (report.lines_to_drop), byte for byte
    otherwise; returns how many lines were dropped."""
    from .checkpoint import write_atomic

    drop = set(report.lines_to_drop(train))
    lines = Path(train).read_bytes().splitlines(keepends=True)
    kept = b"".join(line for number, line in enumerate(lines, start=1) if number not in drop)
    write_atomic(Path(out), lambda tmp: tmp.write_bytes(kept))
    return len(drop)
