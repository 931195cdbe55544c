"""A check's report: what was checked, each step's verdict, and the outcome in one word."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from ..gradcheck import TOLERANCE_F64
from .spec import Exercise


@dataclass
class Report:
    exercise: Exercise
    source: str  # what was checked, in words
    items: list = field(default_factory=list)  # (status, title, detail lines); status "ok", "FAIL", "note", ""
    mistake: str | None = None  # the tag of the known mistake the answer is, if any
    todo: bool = False  # the function still raises NotImplementedError
    raised: bool = False  # the file could not be loaded, or the function raised an error

    def add(self, status, title, *details):
        self.items.append((status, title, [d for d in details if d]))

    @property
    def failures(self) -> int:
        return sum(status == "FAIL" for status, _, _ in self.items)

    @property
    def passed(self) -> bool:
        return self.failures == 0 and any(status == "ok" for status, _, _ in self.items)

    @property
    def outcome(self) -> str:
        """One word for the class table: pass, todo, mistake, error or wrong."""
        if self.passed:
            return "pass"
        if self.todo:
            return "todo"
        if self.mistake:
            return "mistake"
        return "error" if self.raised else "wrong"

    def text(self) -> str:
        ex = self.exercise
        lines = [f"tinyia3 check {ex.name}: lesson {ex.lesson}, about {ex.minutes} minutes",
                 f"goal:      {ex.goal}", f"checking:  {self.source}",
                 f"reference: {ex.reference_name} ({ex.reference_location})", ""]
        for status, title, details in self.items:
            lines.append(f"  {status:<5} {title}".rstrip())
            for d in details:  # wrapped for a terminal; a hint "  - …" keeps its indent
                indent = " " * (len(d) - len(d.lstrip()) + (2 if d.lstrip().startswith("- ") else 0))
                lines.extend(textwrap.wrap(d, 100, initial_indent=" " * 8, subsequent_indent=" " * 8 + indent,
                                           break_on_hyphens=False) or [""])
        lines.append("")
        if self.passed:
            lines.append(f"PASSED: {ex.name} agrees with finite differences and with {ex.reference_name}."
                         if ex.gradient else f"PASSED: {ex.name} agrees with {ex.reference_name}.")
        else:
            lines.append(f"NOT PASSED. Fix the first FAIL above, then run `tinyia3 check {ex.name}` again.")
            lines.append(f"Stuck? `tinyia3 check {ex.name} --hint` shows hint 1 of {len(ex.hints)} "
                         f"(`--hint 2` the next). To see what a passing run looks like: "
                         f"`tinyia3 check {ex.name} --solution`.")
        return "\n".join(lines)


def explain_size(err: float) -> str:
    """What a relative error of this size usually means (float64), when no known mistake matched."""
    if err < TOLERANCE_F64:
        return "right: float64 finite differences agree to about 1e-8 or better"
    if err < 1e-4:
        return ("close, but more than rounding: float32 somewhere, or a constant with too few digits "
                "(0.0447 for 0.044715, 3.14 for π)")
    if err < 0.1:
        return "a small piece is wrong: a small term is missing or a constant is slightly off"
    if err < 0.9:
        return ("part of the answer is right: one term is missing, has the wrong sign or is taken over the "
                "wrong axis, or a factor is off")
    if err <= 1.1:
        return ("about 1: the answer has little in common with the right one: a wrong formula, a wrong sign "
                "on a term, a sum over the wrong axis, or a matrix that needs a transpose")
    return "above 1: too large by a factor, or the sign is flipped (exactly −answer gives 2)"
