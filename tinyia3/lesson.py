"""What every lesson script shares: its command-line options and where its figures go.

    args = lesson.setup(5, "Training an adapter")
    model = tinyia3.load_model(args.model)
    ...
    lesson.save(fig, args, "loss_curve")     # -> OUT/loss_curve.png, path printed

Every lesson runs offline on the embedded model by default, on real GPT-2 with --model gpt2,
and finishes quickly with --quick (what CI runs).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LessonArgs:
    number: int
    model: str
    out: Path
    quick: bool
    seed: int


def setup(number: int, title: str, argv=None) -> LessonArgs:
    """Parse the lesson's options, create its output folder and print a header."""
    parser = argparse.ArgumentParser(description=f"tinyia3 lesson {number}: {title}")
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (default, offline), 'gpt2' (needs the Hugging Face cache) or a folder")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "lessons" / f"{number:02d}",
                        help="folder for the lesson's figures (default out/lessons/NN)")
    parser.add_argument("--quick", action="store_true", help="shorter runs (fewer steps, smaller batches)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    # Inside Jupyter (percent-format cells run as a notebook) sys.argv belongs to the kernel.
    if argv is None and "ipykernel" in sys.modules:
        argv = []
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"=== tinyia3 lesson {number}: {title} ===")
    print(f"model: {args.model}   figures: {args.out}{'   (quick mode)' if args.quick else ''}\n")
    return LessonArgs(number, args.model, args.out, args.quick, args.seed)


def save(fig, args: LessonArgs, name: str) -> Path:
    """Write a figure as OUT/name.png, close it and print where it is."""
    from .plots import save_figure

    if "ipykernel" in sys.modules:  # run as a notebook: show the figure in the cell as well
        from IPython.display import display

        display(fig)
    path = save_figure(fig, args.out / f"{name}.png")
    print(f"[figure] {path}")
    return path
