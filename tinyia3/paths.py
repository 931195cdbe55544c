"""Where the files tinyia3 ships are: one definition, for an installed wheel and for a checkout.

In the repository they live beside the package, in data/ (the GPT-2 tokenizer, the embedded model,
the datasets) and lessons/ (the lessons and the exercise stubs). A wheel carries the same two
folders inside the package, as tinyia3/_bundle/data and tinyia3/_bundle/lessons (setup.py maps
them there at build time). ROOT is whichever of the two layouts is present, so `ROOT / "data"`
means the same thing after `pip install .`, `pip install tinyia3-….whl` and `pip install -e .`.

    ROOT / "data" / "embedded"      the embedded model
    ROOT / "lessons" / "exercises"  the exercise stubs
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MissingFileError

PACKAGE = Path(__file__).resolve().parent
BUNDLE = PACKAGE / "_bundle"  # what setup.py writes into a wheel; absent in a checkout
ROOT = BUNDLE if BUNDLE.is_dir() else PACKAGE.parent

DATA_DIR = ROOT / "data"
EMBEDDED_DIR = DATA_DIR / "embedded"
GPT2_TOKENIZER_DIR = DATA_DIR / "gpt2-tokenizer"
DATASETS_DIR = DATA_DIR / "datasets"
LESSONS_DIR = ROOT / "lessons"
EXERCISES_DIR = LESSONS_DIR / "exercises"

INSTALLED = ROOT == BUNDLE  # True in a wheel's install; False in a checkout (editable or not)


def restore_hint(relative: str) -> str:
    """How to get a shipped file back: from git in a checkout, by reinstalling otherwise."""
    if INSTALLED:
        return "reinstall tinyia3 (`pip install --force-reinstall tinyia3`, or the wheel you installed)"
    return f"restore it with `git checkout -- {relative}`"


def shipped_datasets() -> list[str]:
    """The names of the datasets that ship with tinyia3 (data/datasets/NAME.jsonl)."""
    return sorted(p.stem for p in DATASETS_DIR.glob("*.jsonl"))


def dataset_path(name_or_path: str | os.PathLike) -> Path:
    """A dataset file: a path that exists, else the shipped one it names, from any folder.

    "support_desk_train", "support_desk_train.jsonl" and "data/datasets/support_desk_train.jsonl"
    all name the shipped file, so `--data` works as `--model embedded` does, in an empty folder too.
    """
    path = Path(name_or_path).expanduser()
    if path.exists() or path.is_absolute():
        return path
    with_suffix = path if path.suffix == ".jsonl" else path.with_name(path.name + ".jsonl")
    for shipped in (ROOT / path, DATASETS_DIR / with_suffix):
        if shipped.is_file():
            return shipped
    raise MissingFileError(
        f"dataset {os.fspath(name_or_path)!r} does not exist: expected a .jsonl file or the name of a dataset "
        f"shipped with tinyia3 ({', '.join(shipped_datasets()) or 'none found in ' + str(DATASETS_DIR)}). "
        "Check the spelling and the current directory."
    )
