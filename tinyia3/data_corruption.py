"""Corrupting a multiple-choice dataset on purpose, to measure what bad data costs (lesson 11,
benchmarks/data_quality.py): wrong labels, repeated records, held-out records leaked into training.

Every function takes records (dicts as the JSONL lines hold them) and a NumPy Generator, and
returns new lists: the input is never changed, and the same seed gives the same corruption.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import require

LEAK_SPLIT_SEED = 2022  # which half of a held-out set leaks: one fixed half for every run
FLIPS = (0.0, 0.1, 0.25, 0.5)  # shares of labels flipped
DUP_SHARE, DUP_COPIES = 0.1, 5  # 10 % of the records, each 5 more times


def read_records(path) -> list[dict]:
    """The records of a JSONL file, in order (blank lines skipped)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_records(path, records: list[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def flip_labels(records: list[dict], share: float, rng) -> tuple[list[dict], list[int]]:
    """A copy with round(share · n) labels, chosen at random, moved to another choice (at random
    among the others); and the indices of the flipped records, ascending."""
    require(0.0 <= share <= 1.0, "flip_labels: share", "a number from 0 to 1", share)
    chosen = sorted(rng.choice(len(records), round(share * len(records)), replace=False).tolist())
    out = [dict(r) for r in records]
    for i in chosen:
        k = len(out[i]["choices"])
        out[i]["label"] = (out[i]["label"] + int(rng.integers(1, k))) % k
    return out, chosen


def insert_at_random(records: list[dict], extra: list[dict], rng) -> list[dict]:
    """records with each of extra inserted, one after another, at a random place."""
    out = list(records)
    for r in extra:
        out.insert(int(rng.integers(0, len(out) + 1)), r)
    return out


def add_duplicates(records: list[dict], share: float, copies: int, rng) -> list[dict]:
    """round(share · n) records, chosen at random, each repeated `copies` more times at random places."""
    repeated = rng.choice(len(records), round(share * len(records)), replace=False)
    return insert_at_random(records, [records[i] for i in repeated for _ in range(copies)], rng)


def heldout_halves(heldout: list[dict]) -> tuple[list[dict], list[dict]]:
    """(leaked, unseen): a fixed random half of the held-out records and the rest, in file order."""
    leaked = set(np.random.default_rng(LEAK_SPLIT_SEED).choice(len(heldout), len(heldout) // 2, replace=False).tolist())
    return ([r for i, r in enumerate(heldout) if i in leaked], [r for i, r in enumerate(heldout) if i not in leaked])


def flip_name(share: float) -> str:
    return "clean" if share == 0 else f"flip {round(100 * share)}%"


def corrupted_sets(train: list[dict], leaked: list[dict], seed: int, flips=FLIPS) -> dict[str, tuple[list[dict], list[int]]]:
    """The training sets of benchmarks/data_quality.py for one seed: name -> (records, indices of
    the flipped labels). "clean", "flip P%" for each share in flips, "duplicates", "leak" (train
    with the leaked records inserted at random places)."""
    sets = {}
    for share in flips:
        sets[flip_name(share)] = flip_labels(train, share, np.random.default_rng([seed, 1, round(1000 * share)]))
    sets["duplicates"] = (add_duplicates(train, DUP_SHARE, DUP_COPIES, np.random.default_rng([seed, 2])), [])
    sets["leak"] = (insert_at_random(train, leaked, np.random.default_rng([seed, 3])), [])
    return sets
