"""What every lesson script shares: its options and where its figures go.

    args = lesson.setup(5, "Training an adapter")
    model = tinyia3.load_model(args.model)
    ...
    lesson.save(fig, args, "loss_curve")     # -> OUT/loss_curve.png, path printed

Every lesson runs offline on the embedded model by default, on real GPT-2 with --model gpt2,
and finishes quickly with --quick (what CI runs). Figures go to out/lessons/NN below the
working directory unless --out says otherwise.

Run as a notebook (jupytext, VS Code, PyCharm), the kernel owns sys.argv: the options come from
the environment instead, and each figure also shows in its cell (tinyia3.plots.save_figure):

    TINYIA3_QUICK=1        like --quick
    TINYIA3_OUT=DIR        like --out DIR
    TINYIA3_MODEL=NAME     like --model NAME
    TINYIA3_SEED=N         like --seed N

The variables are the defaults of the options when a lesson runs as a script too.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ArgumentError
from .paths import ROOT  # noqa: F401  (lessons read ROOT / "data" / "datasets": the shipped datasets)


@dataclass
class LessonArgs:
    number: int
    model: str
    out: Path
    quick: bool
    seed: int


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip()
    if value not in ("", "0", "1"):
        raise ArgumentError(f"{name} must be 1 (on) or 0 (off); found {value!r}. Unset it or set {name}=1.")
    return value == "1"


def _env_seed() -> int:
    value = os.environ.get("TINYIA3_SEED", "0").strip()
    if not value.isdigit():
        raise ArgumentError(f"TINYIA3_SEED must be an integer >= 0; found {value!r}. Unset it or set TINYIA3_SEED=0.")
    return int(value)


def _parser(number: int, title: str) -> argparse.ArgumentParser:
    """The options, their defaults read from the environment (the only way in, in a notebook)."""
    out = os.environ.get("TINYIA3_OUT") or os.path.join("out", "lessons", f"{number:02d}")
    parser = argparse.ArgumentParser(description=f"tinyia3 lesson {number}: {title}")
    parser.add_argument("--model", default=os.environ.get("TINYIA3_MODEL") or "embedded",
                        help="'embedded' (default, offline), 'gpt2' (needs the Hugging Face cache) or a folder "
                             "(default: $TINYIA3_MODEL, else embedded)")
    parser.add_argument("--out", type=Path, default=Path(out),
                        help="folder for the lesson's figures (default: $TINYIA3_OUT, else out/lessons/NN "
                             "below the working directory)")
    parser.add_argument("--quick", action="store_true", default=_env_flag("TINYIA3_QUICK"),
                        help="shorter runs: fewer steps, smaller batches (default: $TINYIA3_QUICK=1)")
    parser.add_argument("--seed", type=int, default=_env_seed(), help="random seed (default: $TINYIA3_SEED, else 0)")
    return parser


def setup(number: int, title: str, argv=None) -> LessonArgs:
    """Parse the lesson's options, create its output folder and print a header."""
    from .plots import files_only, in_notebook

    notebook = in_notebook()
    if argv is None and notebook:  # the kernel's own arguments are not the lesson's
        argv = []
    if not notebook:
        files_only()  # a script writes files; a notebook keeps its inline backend
    args = _parser(number, title).parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"=== tinyia3 lesson {number}: {title} ===")
    print(f"model: {args.model}   figures: {args.out}{'   (quick mode)' if args.quick else ''}\n")
    return LessonArgs(number, args.model, args.out, args.quick, args.seed)


def save(fig, args: LessonArgs, name: str) -> Path:
    """Write a figure as OUT/name.png (shown in its cell in a notebook), close it, print where it is."""
    from .plots import save_figure

    path = save_figure(fig, args.out / f"{name}.png")
    print(f"[figure] {path}")
    return path


def copy_lessons(folder) -> tuple[list[Path], list[Path]]:
    """Copy the lessons (NN_*.py) and the exercise stubs (exercises/NAME.py) into `folder`, never
    overwriting: a file already there is kept as it is. Returns (copied, kept)."""
    from .checkpoint import write_atomic
    from .errors import NotAFolderError
    from .paths import EXERCISES_DIR, LESSONS_DIR

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotAFolderError(f"{folder} is a file; expected a folder for the lessons. Pass a new folder name.")
    sources = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py")) + sorted(EXERCISES_DIR.glob("*.py"))
    copied, kept = [], []
    for source in sources:
        target = folder / source.relative_to(LESSONS_DIR)
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda tmp: tmp.write_bytes(source.read_bytes()))
        copied.append(target)
    return copied, kept
