"""Running a function on an exercise's cases and judging what it returns.

For every case: (a) the outputs have the reference's types, shapes and dtypes and the inputs are
left unchanged; (b) for a gradient, float64 central finite differences agree; (c) the reference
agrees. A wrong answer (or an error) is first compared with the exercise's known mistakes, each
a real wrong implementation run on the same inputs: if it is one of them, the report names it.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import numbers
import os
import traceback
from pathlib import Path

import numpy as np

from ..gradcheck import TOLERANCE_F64, rel_error
from ..paths import BUNDLE
from .report import Report, explain_size
from .spec import Case, Exercise, show_path

# An answer within this of a known wrong answer is that wrong answer (float64 rounding is ~1e-15).
MATCH = 1e-6


def check_cases(ex: Exercise, fn, report: Report, seed: int, path) -> None:
    """The standard checker: every case in order, stopping at the first that fails."""
    cases = ex.cases(np.random.default_rng(seed))
    for number, case in enumerate(cases, 1):
        if not run_case(ex, fn, case, number, report, path):
            return
    if ex.gradient:
        _float32_note(ex, fn, cases[0], report)


def run_case(ex: Exercise, fn, case: Case, number: int, report: Report, path) -> bool:
    args, kwargs = copy.deepcopy(case.args), dict(case.kwargs)
    snapshot = copy.deepcopy(case.args)
    report.add("", f"case {number}: {case.what}")
    ok, result = call(ex, fn, args, kwargs, report, path, case)
    if not ok:
        return False
    got = outputs(ex, result, report)
    if got is None:
        return False
    expected = outputs(ex, ex.reference(*copy.deepcopy(case.args), **kwargs), Report(ex, ""))
    names = list(inspect.signature(ex.reference).parameters)
    changed = [p for i, arg in enumerate(args)
               for (p, a), (_, b) in zip(_arrays(arg, names[i]), _arrays(snapshot[i], names[i]))
               if not np.array_equal(a, b)]
    if changed:
        report.add("FAIL", "your function changed its inputs in place: " + ", ".join(changed[:4]),
                   "The caller reuses its arrays after your function returns. Write `d = dout * g`, "
                   "not `dout *= g`: return fresh arrays.")
        return False

    for name in ex.outputs:  # a NumPy scalar (a sum over every axis) is reported with its shape ()
        if isinstance(got[name], np.generic) and not isinstance(expected[name], numbers.Integral):
            got[name] = np.asarray(got[name])
    problems = {name: _problem(name, expected[name], got[name], kwargs) for name in ex.outputs}
    rows = {name: _compare(got[name], expected[name], case.numeric and case.numeric.get(name))
            for name in ex.outputs if problems[name] is None}
    bad = [name for name in ex.outputs if problems[name] is not None or not rows[name][2]]
    if not problems or all(p is None for p in problems.values()):
        _table(ex, got, rows, case, report)
    if not bad:
        report.add("ok", f"{', '.join(n for n in ex.outputs if expected[n] is not None)} right"
                         + (f" (relative error < {TOLERANCE_F64:.0e})" if ex.gradient else ""))
        return True
    mistake = _known_mistake(ex, case, got, expected, bad)
    if mistake is not None:
        report.mistake = mistake.tag
        report.add("FAIL", f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} wrong: this is a known mistake "
                           f"({mistake.tag})", f"{mistake.message}.")
        return False
    for name in bad:
        if problems[name] is not None:
            report.add("FAIL", *problems[name])
            return False
    for name in bad:
        err = rows[name][1]
        report.add("FAIL", f"{name} is wrong: relative error {err:.2g}", *_diagnose(got[name], expected[name]),
                   f"An error of this size suggests: {explain_size(err)}." if ex.gradient else "",
                   f"It is none of the mistakes the checker knows for {ex.name}. `tinyia3 check {ex.name} --hint` "
                   f"gives hint 1 of {len(ex.hints)}.")
    return False


def _problem(name, e, g, kwargs):
    """(title, detail, ...) when g cannot even be compared with e: its type, shape, dtype, NaN."""
    if e is None:
        if g is not None:
            return (f"{name} should be None here ({', '.join(f'{k}={v}' for k, v in kwargs.items())})",
                    f"you returned an array of shape {shape_text(g)}; when it is not needed, skip computing it "
                    "and return None.")
        return None
    if isinstance(e, numbers.Integral):
        if isinstance(g, bool) or not isinstance(g, numbers.Integral):
            return (f"{name} should be a whole number (an int); you returned {type(g).__name__} {g!r}",
                    "Counts of numbers and of bytes are integers: int(...) or integer arithmetic (// not /).")
        return None
    if not isinstance(g, np.ndarray):
        return (f"{name} should be a NumPy array of shape {shape_text(e)}; you returned "
                f"{'None' if g is None else type(g).__name__}",
                "Is it computed in every branch and returned?" if g is None else "np.array(...) makes one.")
    if g.shape != e.shape:
        return (f"{name} has the wrong shape: expected {shape_text(e)}, got {shape_text(g)}", *_shape_hint(name, e, g))
    if g.dtype != e.dtype:
        return (f"{name} has dtype {g.dtype}, expected {e.dtype}",
                "Something converts it: an explicit astype, np.float32(...), or an integer array where floats "
                "belong (or floats where indices belong).")
    if g.dtype.kind == "f" and not np.all(np.isfinite(g)):
        return (f"{name} holds NaN or inf values",
                "A division by zero, a log of 0, an exp that overflows, or −inf in a row that is all masked? "
                "Print the inputs of each step.")
    return None


def _compare(g, e, numeric):
    """(error vs finite differences or None, error vs the reference, right?)."""
    if e is None:
        return None, 0.0, True
    if isinstance(e, numbers.Integral) or (isinstance(e, np.ndarray) and e.dtype.kind in "iub"):
        same = bool(np.array_equal(g, e))
        return None, (0.0 if same else rel_error(np.asarray(g, np.float64), np.asarray(e, np.float64))), same
    e_num = None if numeric is None else rel_error(g, numeric)
    e_ref = rel_error(g, e)
    return e_num, e_ref, max(e_ref, e_num or 0.0) < TOLERANCE_F64


def _table(ex, got, rows, case, report):
    """The outputs against finite differences and the reference, in a table like micrograd's."""
    numeric = f" {'vs finite diff.':>15}" if ex.gradient else ""
    report.add("", f"  {'output':<8} {'shape':<14}{numeric} {'vs reference':>13}  verdict")
    for name in ex.outputs:
        e_num, e_ref, right = rows[name]
        shown = "None" if got[name] is None else "int" if isinstance(got[name], numbers.Integral) \
            else shape_text(got[name])
        num = (" " + f"{'—' if e_num is None else f'{e_num:.2e}':>15}") if ex.gradient else ""
        report.add("", f"  {name:<8} {shown:<14}{num} {e_ref:>13.2e}  {'ok' if right else 'WRONG'}")


def _same(g, w) -> bool:
    """Is the student's output g this wrong answer w?"""
    if g is None or w is None:
        return g is None and w is None
    try:
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype.kind not in "iufb" or w.dtype.kind not in "iufb":
            return False
        if w.dtype.kind in "iub" and g.dtype.kind in "iub":
            return bool(np.array_equal(g, w))
        return bool(np.all(np.isfinite(g)) and rel_error(g, w) < MATCH)
    except (TypeError, ValueError):
        return False


def _known_mistake(ex: Exercise, case: Case, got, expected, bad):
    """The first known mistake whose output equals the student's on every wrong output."""
    for mistake in ex.mistakes:
        try:
            wrong = outputs(ex, mistake.fn(*copy.deepcopy(case.args), **case.kwargs), Report(ex, ""))
        except Exception:  # noqa: BLE001 - this mistake raises on these inputs: it is not this answer
            continue
        if wrong is None:
            continue
        if all(_same(got[n], wrong[n]) for n in bad) and any(not _same(expected[n], wrong[n]) for n in bad):
            return mistake
    return None


def _mistake_raising(ex: Exercise, case: Case | None, err: BaseException):
    """The first known mistake that raises the same error as the student's function."""
    if case is None:
        return None
    for mistake in ex.mistakes:
        try:
            mistake.fn(*copy.deepcopy(case.args), **case.kwargs)
        except Exception as theirs:  # noqa: BLE001
            if type(theirs).__name__ == type(err).__name__ and str(theirs) == str(err):
                return mistake
    return None


def _diagnose(got, expected) -> list[str]:
    """Say what a wrong answer is, when it can be told without a known mistake: zero, a sign, a factor."""
    try:
        got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    except (TypeError, ValueError):
        return []
    if not np.any(got):
        return ["your answer is all zeros: is the result assigned to what you return?"]
    if rel_error(got, -expected) < MATCH:
        return ["your answer is exactly minus the right one: a sign is flipped."]
    denom = float(np.sum(expected * expected))
    if denom > 0:
        c = float(np.sum(got * expected)) / denom
        if rel_error(got, c * expected) < MATCH:
            return [f"your answer is the right one times {c:.6g}: a constant factor is wrong or missing."]
    return []


def _shape_hint(name, expected, got) -> list[str]:
    e, g = np.shape(expected), np.shape(got)
    if len(e) == 1 and len(g) > 1 and g[-1] == e[0]:
        return [f"{name} needs one number per channel: sum over every axis but the last (all tokens of all "
                "sequences). With any number of leading axes: a.reshape(-1, N).sum(axis=0)."]
    if len(e) == 1 and len(g) == 0:
        return ["you summed over every axis; keep the last one: one number per channel.",
                "A sum over fixed axes such as axis=(0, 1) fits one number of dimensions only; "
                "a.reshape(-1, N).sum(axis=0) fits all."]
    if sorted(e) == sorted(g):
        return ["the same sizes in another order: a transpose too many, or a missing one."]
    return ["The stub's docstring lists the shape of every input and output."]


def shape_text(a) -> str:
    return "None" if a is None else str(tuple(np.shape(a)))


# -------------------------------------------------------------------------------------------------
# Calling the function.


def call(ex: Exercise, fn, args, kwargs, report: Report, path, case: Case | None = None):
    """Call fn; on an exception, report it in words (naming the known mistake that raises the same
    error, if one does) and return (False, None)."""
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError as err:
        report.todo = True
        stub = show_path(Path(path)) if path else f"lessons/exercises/{ex.name}.py"
        report.add("FAIL", f"not done yet: {ex.name} raises NotImplementedError",
                   f"({err})" if str(err) else "",
                   copy_first(ex.name) if path and Path(path).resolve().is_relative_to(BUNDLE) else
                   f"Open {stub}, read the docstring, and replace the `raise NotImplementedError(...)` "
                   f"line with your code. Re-read lesson {ex.lesson} if the equations are unclear.")
    except Exception as err:  # the student's bug: describe it, don't crash the checker
        report.raised = True
        mistake = _mistake_raising(ex, case, err)
        if mistake is not None:
            report.mistake = mistake.tag
            report.add("FAIL", f"{ex.name} raised {type(err).__name__}: {err}", where(err, path),
                       f"This is a known mistake ({mistake.tag}): {mistake.message}.")
            return False, None
        report.add("FAIL", f"{ex.name} raised {type(err).__name__}: {err}", where(err, path), _error_hint(err))
    return False, None


def _error_hint(err) -> str:
    text = str(err)
    if isinstance(err, (ValueError, IndexError)) and any(w in text for w in ("broadcast", "matmul", "shapes",
                                                                              "dimension")):
        return ("Two arrays' shapes do not fit together. Print the shapes of what you combine (the docstring "
                "lists them). On arrays of more than two axes, .T reverses ALL of them: swapaxes(-1, -2) "
                "swaps the last two; a vector may need a new axis (v[:, None]).")
    if isinstance(err, (AttributeError, TypeError)) and "NoneType" in text:
        return "Something is None: does every branch of your function end with `return ...`?"
    if isinstance(err, (ValueError, TypeError)) and "unpack" in text:
        return "Unpacking failed: check what the inputs hold (the docstring lists them, in order)."
    return ""


def outputs(ex: Exercise, result, report: Report) -> dict | None:
    """The result as {output name: value}, or None after reporting why it cannot be read."""
    n = len(ex.outputs)
    names = ", ".join(ex.outputs)
    if n == 1:
        if isinstance(result, tuple):
            report.add("FAIL", f"{ex.name} returned a tuple of {len(result)} items",
                       f"Return {names} itself, not inside a tuple.")
            return None
        return {ex.outputs[0]: result}
    if not isinstance(result, tuple) or len(result) != n:
        got = (f"a tuple of {len(result)} items" if isinstance(result, tuple)
               else "None (is there a `return`?)" if result is None else f"a {type(result).__name__}")
        report.add("FAIL", f"{ex.name} should return {n} things, ({names}); it returned {got}",
                   f"End with `return {names}`.")
        return None
    return dict(zip(ex.outputs, result))


def copy_first(name: str) -> str:
    """The way to work on an exercise when only the installed package's own stub was found."""
    return (f"That is the stub inside the installed package: copy the lessons and exercises with `tinyia3 "
            f"lessons DIR`, edit DIR/exercises/{name}.py and run `tinyia3 check {name}` in DIR (or pass --file).")


def where(err: BaseException, path: str | None) -> str:
    """'line 12 of your file: dx = ...' for the innermost frame of the student's file."""
    frames = getattr(err, "student_frames", None) or traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return ""
    place = "your file" if mine else show_path(Path(frame.filename))
    return f"at line {frame.lineno} of {place}: {(frame.line or '').strip()}"


# -------------------------------------------------------------------------------------------------
# Arrays inside arguments, and the float32 note.


def _arrays(obj, prefix=""):
    """Every array inside nested tuples, lists, dicts and dataclasses, with a readable path."""
    if isinstance(obj, np.ndarray):
        yield prefix, obj
    elif isinstance(obj, (tuple, list)):
        for i, item in enumerate(obj):
            yield from _arrays(item, f"{prefix}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _arrays(item, f"{prefix}[{key!r}]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _arrays(getattr(obj, f.name), f"{prefix}.{f.name}")


def _cast(obj, dtype):
    """A copy of obj with every floating array cast to dtype."""
    if isinstance(obj, np.ndarray):
        return obj.astype(dtype) if np.issubdtype(obj.dtype, np.floating) else obj.copy()
    if isinstance(obj, (tuple, list)):
        return type(obj)(_cast(item, dtype) for item in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _cast(getattr(obj, f.name), dtype)
                                           for f in dataclasses.fields(obj)})
    return obj


def _float32_note(ex: Exercise, fn, case: Case, report: Report) -> None:
    """Does a float32 input give a float32 output? Not a failure: a note, as the package promises it."""
    try:
        result = fn(*_cast(case.args, np.float32), **case.kwargs)
    except Exception:  # noqa: BLE001 - only a note; the float64 checks above have passed
        report.add("note", "with float32 inputs your function raised an error (float64 works)")
        return
    outs = result if isinstance(result, tuple) else (result,)
    promoted = [n for n, o in zip(ex.outputs, outs) if isinstance(o, np.ndarray) and o.dtype != np.float32]
    if promoted:
        report.add("note", f"float32 inputs give {', '.join(promoted)} in float64 (not a failure)",
                   "NumPy promotes float32 when it meets a float64 array or a NumPy float64 scalar such as "
                   "np.sqrt(2/np.pi); the package writes constants as Python floats (math.sqrt).")
