"""Every exercise, in the order a class meets them, and how to find one by name."""

from __future__ import annotations

import difflib
import textwrap

from ..errors import ArgumentError, ArgumentTypeError, require
from . import (backward, counts, data_quality, forward, lens, lora_backward, merging, mixed_batches, tokens,
               training)
from .spec import Exercise

EXERCISES: dict[str, Exercise] = {ex.name: ex for module in (
    tokens, forward, backward, counts, training, lens, merging, lora_backward, mixed_batches, data_quality)
    for ex in module.EXERCISES}
EXERCISES = dict(sorted(EXERCISES.items(), key=lambda item: item[1].lesson))  # stable: lesson order, then as listed


def get(name: str) -> Exercise:
    """The exercise called `name`, or an error that lists the valid names."""
    require(isinstance(name, str), "exercises: name", "the name of an exercise (a str), e.g. 'gelu_backward'", name,
            f"The exercises are: {', '.join(EXERCISES)}.", ArgumentTypeError)
    if name in EXERCISES:
        return EXERCISES[name]
    close = difflib.get_close_matches(name, EXERCISES, n=1)
    raise ArgumentError(
        f"There is no exercise called {name!r}."
        + (f" Did you mean {close[0]!r}?" if close else "")
        + f" The exercises are: {', '.join(EXERCISES)}. See them with `tinyia3 check --list`."
    )


def list_text() -> str:
    """The exercises as a table: name, lesson, minutes, hint tiers, goal."""
    width = max(len(name) for name in EXERCISES)
    lines = [f"{'exercise':<{width}} {'lesson':>6} {'minutes':>7} {'hints':>5}  goal", "-" * 110]
    for ex in EXERCISES.values():
        lines.append(f"{ex.name:<{width}} {ex.lesson:>6} {ex.minutes:>7} {len(ex.hints):>5}  {ex.goal}")
    lines += ["", "`tinyia3 lessons DIR` copies the lessons and exercises into DIR: edit DIR/exercises/NAME.py, "
                  "then run `tinyia3 check NAME` in DIR.",
              "`tinyia3 check NAME --hint` shows hint 1 (`--hint 2` the next); `--solution` shows a passing run; "
              "`tinyia3 check --all CLASS` checks a whole class."]
    return "\n".join(lines)


def hint_text(name: str, tier: int = 1) -> str:
    """Hint number `tier` (1, 2, …) of exercise `name`, saying how many there are."""
    ex = get(name)
    n = len(ex.hints)
    require(isinstance(tier, int) and not isinstance(tier, bool) and 1 <= tier <= n, f"hint tier for {name}",
            f"a number from 1 to {n} (it has {n} hints)", tier, f"Start with `tinyia3 check {name} --hint`.")
    follow = (f"Next: `tinyia3 check {name} --hint {tier + 1}`." if tier < n else
              f"That was the last hint. `tinyia3 check {name} --solution` names the reference function.")
    body = textwrap.fill(ex.hints[tier - 1], 100, initial_indent="  ", subsequent_indent="  ")
    return f"{name}, hint {tier} of {n}:\n{body}\n{follow}"
