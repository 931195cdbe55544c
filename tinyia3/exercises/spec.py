"""What an exercise is: its reference, its test cases, the mistakes it recognises, its hints."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..gradcheck import numerical_vjp
from ..paths import EXERCISES_DIR


@dataclass
class Case:
    """One call of the function under test.

    numeric: output name -> an independent value (float64 central finite differences), or
    None for an exercise whose answer is not a gradient: there the reference alone decides.
    """

    what: str  # the inputs in one line, for the report
    args: tuple
    kwargs: dict = field(default_factory=dict)
    numeric: dict | None = None


def finite_differences(forward, inputs: dict, dout, skip=()) -> dict:
    """{output name: float64 central-difference VJP of forward(*inputs) with dout, or None if skipped}.

    inputs: {output name: array}, in forward's argument order, e.g. {"dq": q, "dk": k, "dv": v};
    forward returns the op's output. The differences nudge copies, so the caches keep the inputs.
    """
    copies = {name: a.copy() for name, a in inputs.items()}

    def f():
        return forward(*copies.values())

    return {name: None if name in skip else numerical_vjp(f, x, dout) for name, x in copies.items()}


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer, as a real wrong implementation with the reference's signature.

    The checker runs `fn` on the same inputs as the student's function: an answer equal to its
    output (or an error equal to the one it raises) is this mistake, and the report says so.
    """

    tag: str  # a few words for the class table, e.g. "no mean term"
    message: str  # what is wrong, and what to do about it
    fn: Callable


@dataclass(frozen=True)
class Exercise:
    name: str
    lesson: int
    minutes: int
    goal: str
    prerequisites: str
    reference: Callable  # the package's own function; the stub has its signature
    outputs: tuple  # names of what the function returns, in order
    cases: Callable | None  # (rng) -> list[Case]; None for an exercise with its own checker
    mistakes: tuple = ()  # Mistake, ...
    hints: tuple = ()  # tiers: `tinyia3 check NAME --hint N` shows hints[N - 1]
    checker: Callable | None = None  # (exercise, fn, report, seed, path) for a non-standard check
    gradient: bool = True  # the cases carry finite differences (Case.numeric)

    @property
    def stub_path(self) -> Path:
        return EXERCISES_DIR / f"{self.name}.py"

    @property
    def reference_name(self) -> str:
        return f"{self.reference.__module__}.{self.reference.__name__}"

    @property
    def reference_location(self) -> str:
        """Where the reference is written, e.g. 'tinyia3/ops.py, line 61'."""
        path = Path(inspect.getsourcefile(self.reference))
        line = inspect.getsourcelines(self.reference)[1]
        return f"{show_path(path)}, line {line}"


def show_path(path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative
