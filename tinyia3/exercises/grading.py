"""Checking one exercise: a student's file (in a process of its own), a function, or the reference."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArgumentTypeError, require, require_path, require_seed
from ..student_process import StudentFunction
from .checker import check_cases, where
from .files import load_function, signature_problem
from .registry import get
from .report import Report
from .spec import show_path


def check(name: str, path=None, solution: bool = False, seed: int = 0) -> Report:
    """Run the exercise's checks on lessons/exercises/NAME.py, on `path`, or (solution=True)
    on the package's own function. Returns a Report: .passed, .outcome, .mistake, .text()."""
    ex = get(name)
    if path is not None:
        require_path(path, "exercises.check: path")
    require(isinstance(solution, bool), "exercises.check: solution", "True or False", solution, error=ArgumentTypeError)
    require(not (solution and path is not None), "exercises.check: path", "None when solution=True (the solution "
            "is the package's own function, not a file)", path, "Pass path= to check a file, or solution=True.")
    require_seed(seed, "exercises.check: seed")
    if solution:
        return check_function(name, ex.reference, seed, "the package's own function (--solution), the reference below")
    path = Path(path) if path is not None else ex.stub_path
    report = Report(ex, show_path(path))
    if not path.is_file():
        load_function(path, name)  # raises the missing-file error, with the way back to the stub
    try:
        fn = StudentFunction(path, name)
    except Exception as err:  # a syntax error, a failing import, an exit() while loading
        report.raised = True
        line = getattr(err, "lineno", None)
        report.add("FAIL", f"{show_path(path)} cannot be loaded: {type(err).__name__}: {err}",
                   (f"at line {line}: {(err.text or '').strip()}" if line and getattr(err, "syntax", False)
                    else where(err, str(path))),
                   "Fix the file so that `python " + show_path(path) + "` runs without an error.")
        return report
    try:
        if not fn.defined:
            report.raised = True
            report.add("FAIL", f"{show_path(path)} defines no function called {name}",
                       f"Keep the stub's `def {name}(...)` line; the checker looks for that name.")
            return report
        problem = signature_problem(fn, ex.reference)
        if problem:
            report.raised = True
            report.add("FAIL", f"{name} has another signature than the package's", problem)
            return report
        report.add("ok", f"loaded {name}{fn.signature}")
        (ex.checker or check_cases)(ex, fn, report, seed, str(path))
    finally:
        fn.close()
    return report


def check_function(name: str, fn, seed: int = 0, source: str = "a function") -> Report:
    """Run the exercise's checks on a function of this process (the reference, a known mistake)."""
    ex = get(name)
    report = Report(ex, source)
    (ex.checker or check_cases)(ex, fn, report, seed, None)
    return report
