"""Exercises for class: a registry, and checks that explain a wrong answer in a student's words.

Each exercise is a stub, lessons/exercises/NAME.py, whose function has exactly the signature of
the package's own function (the reference), so the same checks run on both:

  (a) the outputs: a NumPy array (or tuple of them) of the right shapes and dtype, inputs left
      unchanged;
  (b) float64 central finite differences at random inputs (a random upstream gradient, IA³
      scales away from 1, where a forgotten `* l` would still look right): relative error
      below TOLERANCE_F64 (tinyia3.gradcheck);
  (c) agreement with the reference; on a disagreement, what the size of the error suggests and
      which known mistake the answer matches, if any.

`merge` returns a model, not a gradient: there, (b) is "the merged model computes what the
model with its adapter computes", and (c) compares every weight with tinyia3.ia3.merge.

    from tinyia3 import exercises
    report = exercises.check("layer_norm_backward")                  # lessons/exercises/…py
    report = exercises.check("layer_norm_backward", solution=True)   # the package's function
    print(report.text()); report.passed

A student's file is loaded and called in a process of its own (tinyia3/student_process.py):
it cannot end the check with exit(), fake the report or patch the reference, and only the values
its function returns are judged. sys.path is never changed.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.util
import inspect
import math
import os
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import ops
from .config import GPT2Config
from .gradcheck import TOLERANCE_F64, numerical_vjp, rel_error
from .ia3 import IA3, merge
from .errors import ArgumentError, ArgumentTypeError, MissingFileError, require, require_path, require_seed
from .model import GPT2, BlockCache, block_forward, init_params
from .student_process import StudentFunction

from .paths import BUNDLE, EXERCISES_DIR, ROOT, restore_hint  # noqa: E402, F401  (ROOT: importable from here, as before)

# An answer within this of a known wrong answer is that wrong answer (float64 rounding is ~1e-15).
_MATCH = 1e-6


# -------------------------------------------------------------------------------------------------
# The reference for l_ff_gradient: the two lines of model.block_backward that form dl_ff.


def l_ff_gradient(dx, bc: BlockCache):
    """dx (B, T, C) at the block's output, the block's BlockCache -> dl_ff (F,).

    The residual passes dx to mlp.c_proj's output unchanged; c_proj's backward gives the
    gradient of its input h = l_ff ⊙ a, and the IA³ scale's backward gives dl_ff.
    """
    dh = ops.linear_backward(dx, bc.mlp_c_proj)  # (B, T, F)
    _, dl_ff = ops.ia3_scale_backward(dh, bc.sites["l_ff"])  # (F,)
    return dl_ff


# -------------------------------------------------------------------------------------------------
# The registry.


@dataclass
class Case:
    """One call of the function under test, and what its outputs should be."""

    what: str  # the inputs in one line, for the report
    args: tuple
    kwargs: dict
    numeric: dict  # output name -> finite-difference value (None: that output must be None)
    mistakes: Callable[[], dict] = lambda: {}  # output name -> [(message, wrong value)], built on demand


@dataclass(frozen=True)
class Exercise:
    name: str
    lesson: int
    minutes: int
    goal: str
    prerequisites: str
    reference: Callable  # the package's own function; the stub has its signature
    outputs: tuple  # names of what the function returns, in order
    cases: Callable  # (rng) -> list[Case]; None for exercises with their own checker
    hints: dict = field(default_factory=dict)  # output name -> common mistakes, in words
    checker: Callable | None = None  # (exercise, fn, report, seed, path) for non-gradient exercises

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
        return f"{_show_path(path)}, line {line}"


# -------------------------------------------------------------------------------------------------
# Random inputs. Values are of order 1, IA³ scales are 1 + 0.5·N(0, 1), and every gradient is a
# vector-Jacobian product with a random upstream gradient: a sum would hide errors that cancel.


def _gelu_cases(rng):
    x = 2.0 * rng.standard_normal((2, 3, 8))  # both tails of GELU matter
    dout = rng.standard_normal(x.shape)
    _, cache = ops.gelu_forward(x)
    xf = x.copy()  # finite differences nudge their own copy; the cache keeps x
    numeric = numerical_vjp(lambda: ops.gelu_forward(xf, cache=False)[0], xf, dout)

    def mistakes():
        x_, t = cache
        k, c = math.sqrt(2.0 / math.pi), 0.044715
        du = k * (1.0 + 3.0 * c * x_ * x_)
        return {"dx": [
            ("you returned d gelu/dx alone: multiply it by dout (the chain rule)",
             0.5 * (1.0 + t) + 0.5 * x_ * (1.0 - t * t) * du),
            ("you kept only 0.5·(1 + t): the product rule on 0.5·x·(1 + t) also gives 0.5·x·(1 − t²)·du/dx",
             dout * 0.5 * (1.0 + t)),
            ("you used 1 − t for the derivative of tanh: it is 1 − tanh² = 1 − t²",
             dout * (0.5 * (1.0 + t) + 0.5 * x_ * (1.0 - t) * du)),
            ("du/dx lacks the 3·0.044715·x² term: differentiate the x³ inside u too",
             dout * (0.5 * (1.0 + t) + 0.5 * x_ * (1.0 - t * t) * k)),
            ("du/dx lacks the factor sqrt(2/π)",
             dout * (0.5 * (1.0 + t) + 0.5 * x_ * (1.0 - t * t) * (1.0 + 3.0 * c * x_ * x_))),
        ]}

    return [Case(f"x {x.shape} = 2·N(0, 1), random dout, float64", (dout, cache), {}, {"dx": numeric}, mistakes)]


def _ia3_scale_cases(rng):
    cases = []
    for shape in ((2, 3, 8), (5, 8)):  # (B, T, N) as in the model, and any other number of axes
        x = rng.standard_normal(shape)
        l = 1.0 + 0.5 * rng.standard_normal(shape[-1])  # away from 1, where `dx = dout` looks right
        dout = rng.standard_normal(shape)
        _, cache = ops.ia3_scale_forward(x, l)
        xf, lf = x.copy(), l.copy()
        numeric = {"dx": numerical_vjp(lambda: ops.ia3_scale_forward(xf, lf, cache=False)[0], xf, dout),
                   "dl": numerical_vjp(lambda: ops.ia3_scale_forward(xf, lf, cache=False)[0], lf, dout)}

        def mistakes(x=x, l=l, dout=dout):
            N = x.shape[-1]
            tokens = dout.size // N
            return {
                "dx": [("dx = dout: you forgot to multiply by l. At l = 1 (the initialisation) this looks right; "
                        "here l is not 1", dout),
                       ("dx = dout ⊙ x: the gradient for x is multiplied by l, the thing x was multiplied by",
                        dout * x)],
                "dl": [("dl sums dout without multiplying by x: d(l ⊙ x)/dl = x",
                        dout.reshape(-1, N).sum(axis=0)),
                       ("dl averages over the tokens instead of summing: every token that l scaled adds its share",
                        (dout * x).reshape(-1, N).sum(axis=0) / tokens),
                       ("dl sums dout ⊙ l: the gradient for l is multiplied by x, not by l",
                        (dout * l).reshape(-1, N).sum(axis=0))],
            }

        cases.append(Case(f"x {shape}, l = 1 + 0.5·N(0, 1) of shape ({shape[-1]},), random dout, float64",
                          (dout, cache), {}, numeric, mistakes))
    return cases


def _layer_norm_cases(rng):
    cases = []
    for shape in ((2, 3, 8), (4, 8)):
        x = 0.5 + 2.0 * rng.standard_normal(shape)  # a mean far from 0, so that the mean's path matters
        C = shape[-1]
        g = 1.0 + 0.5 * rng.standard_normal(C)
        b = 0.1 * rng.standard_normal(C)
        dout = rng.standard_normal(shape)
        _, cache = ops.layer_norm_forward(x, g, b, 1e-5)
        xf = x.copy()
        numeric = numerical_vjp(lambda: ops.layer_norm_forward(xf, g, b, 1e-5, cache=False)[0], xf, dout)

        def mistakes(cache=cache, dout=dout):
            xhat, rstd, g_ = cache
            d = dout * g_

            def mean(a):
                return a.mean(axis=-1, keepdims=True)

            return {"dx": [
                ("the mean term is missing: every x moves the mean, so subtract mean(dxhat) too",
                 rstd * (d - xhat * mean(d * xhat))),
                ("the variance term is missing: every x moves the variance, so subtract xhat·mean(dxhat·xhat) too",
                 rstd * (d - mean(d))),
                ("only the direct path rstd·g·dout: the paths through the mean and the variance are missing",
                 rstd * d),
                ("g is missing: dxhat = dout ⊙ g, since out = xhat ⊙ g + b",
                 rstd * (dout - mean(dout) - xhat * mean(dout * xhat))),
                ("the factor rstd = 1/sqrt(var + eps) in front is missing",
                 d - mean(d) - xhat * mean(d * xhat)),
                ("the two correction terms use sums where they need means (divide by C)",
                 rstd * (d - C * mean(d) - xhat * C * mean(d * xhat))),
            ]}

        cases.append(Case(f"x {shape} = 0.5 + 2·N(0, 1), g = 1 + 0.5·N(0, 1), eps 1e-5, random dout, float64",
                          (dout, cache), {}, {"dx": numeric}, mistakes))
    return cases


def _attention_cases(rng):
    cases = []
    # Case 1: a batch with a left-padded row (a query that sees no key at all); case 2: need_dq=False.
    for (B, H, T, D), padded, need_dq in (((2, 2, 5, 4), True, True), ((1, 3, 4, 2), False, False)):
        q, k, v = (rng.standard_normal((B, H, T, D)) for _ in range(3))
        mask = np.ones((B, T), dtype=np.int64)
        if padded:
            mask[1, :2] = 0
        allowed = ops.attention_mask(mask, T, T)
        dy = rng.standard_normal((B, H, T, D))
        _, cache = ops.attention_forward(q, k, v, allowed)
        qf, kf, vf = q.copy(), k.copy(), v.copy()

        def f():
            return ops.attention_forward(qf, kf, vf, allowed, cache=False)[0]

        numeric = {"dq": numerical_vjp(f, qf, dy) if need_dq else None,
                   "dk": numerical_vjp(f, kf, dy), "dv": numerical_vjp(f, vf, dy)}

        def mistakes(cache=cache, dy=dy):
            q_, k_, v_, att = cache
            s = 1.0 / math.sqrt(q_.shape[-1])
            datt = dy @ v_.swapaxes(-1, -2)
            ds = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
            ds_plain = att * datt
            return {
                "dq": [("the 1/sqrt(D) scale of the scores is missing from dq", ds @ k_),
                       ("the softmax backward lacks its second term: ds = a ⊙ (da − Σ_j a_j da_j)",
                        s * ds_plain @ k_)],
                "dk": [("the 1/sqrt(D) scale of the scores is missing from dk", ds.swapaxes(-1, -2) @ q_),
                       ("the softmax backward lacks its second term: ds = a ⊙ (da − Σ_j a_j da_j)",
                        s * ds_plain.swapaxes(-1, -2) @ q_),
                       ("dk = dscores @ q: the scores are q kᵀ, so dk needs dscoresᵀ @ q", s * ds @ q_)],
                "dv": [("dv = att @ dy: y = att @ v, so dv = attᵀ @ dy (transpose the last two axes)", att @ dy)],
            }

        what = (f"q, k, v ({B}, {H}, {T}, {D}), causal mask{' with a left-padded row' if padded else ''}, "
                f"random dy, need_dq={need_dq}, float64")
        cases.append(Case(what, (dy, cache), {"need_dq": need_dq}, numeric, mistakes))
    return cases


def _tiny_model(rng, n_layer=1) -> GPT2:
    """A small random GPT-2 (C = 8, F = 32, 2 heads) whose biases and layer-norm gains are not trivial."""
    config = GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=n_layer, n_head=2)
    params = init_params(config, seed=int(rng.integers(1 << 30)), dtype=np.float64, std=0.3)
    for name, value in params.items():
        if name.endswith(".bias") or ".ln_" in name or name.startswith("ln_"):
            value += 0.1 * rng.standard_normal(value.shape)
    return GPT2(config, params, source="exercise: tiny random model", name="tiny")


def _l_ff_cases(rng):
    model = _tiny_model(rng)
    config = model.config
    B, T, C, F = 2, 5, config.n_embd, config.n_inner
    w = model.blocks[0]
    layer = {"l_k": 1.0 + 0.5 * rng.standard_normal(C), "l_v": 1.0 + 0.5 * rng.standard_normal(C),
             "l_ff": 1.0 + 0.5 * rng.standard_normal(F)}
    x = rng.standard_normal((B, T, C))
    allowed = ops.attention_mask(None, T, T)
    _, bc, _ = block_forward(x, w, layer, allowed, config, cache=True)
    dx = rng.standard_normal((B, T, C))
    l_ff = layer["l_ff"].copy()
    numeric = numerical_vjp(
        lambda: block_forward(x, w, {**layer, "l_ff": l_ff}, allowed, config, cache=False)[0], l_ff, dx)

    def mistakes():
        _, w2 = bc.mlp_c_proj
        a, l = bc.sites["l_ff"]
        dh = dx @ w2.T
        return {"dl_ff": [
            ("you multiplied dh by h = l_ff ⊙ a, the input of mlp.c_proj: use a, the GELU output "
             "before the scale (bc.sites['l_ff'].x)", (dh * (a * l)).reshape(-1, F).sum(axis=0)),
            ("you averaged over the tokens instead of summing", (dh * a).reshape(-1, F).sum(axis=0) / (B * T)),
            ("you multiplied by l_ff instead of a: d(l ⊙ a)/dl = a", (dh * l).reshape(-1, F).sum(axis=0)),
            ("you went on through GELU's backward: l_ff acts after GELU, so its gradient stops before it",
             (ops.gelu_backward(dh * l, bc.gelu) * a).reshape(-1, F).sum(axis=0)),
        ]}

    what = (f"one block, C={C}, F={F}, x ({B}, {T}, {C}), l_k, l_v, l_ff = 1 + 0.5·N(0, 1), "
            f"random dx at the block's output, float64")
    return [Case(what, (dx, bc), {}, {"dl_ff": numeric}, mistakes)]


# -------------------------------------------------------------------------------------------------
# Reports.


@dataclass
class Report:
    exercise: Exercise
    source: str  # what was checked, in words
    items: list = field(default_factory=list)  # (status, title, detail lines); status "ok", "FAIL", "note", ""

    def add(self, status, title, *details):
        self.items.append((status, title, [d for d in details if d]))

    @property
    def failures(self) -> int:
        return sum(status == "FAIL" for status, _, _ in self.items)

    @property
    def passed(self) -> bool:
        return self.failures == 0 and any(status == "ok" for status, _, _ in self.items)

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
                         if ex.checker is None else
                         f"PASSED: {ex.name} agrees with {ex.reference_name}.")
        else:
            lines.append(f"NOT PASSED. Fix the first FAIL above, then run `tinyia3 check {ex.name}` again.")
            lines.append(f"To see what a passing run looks like: `tinyia3 check {ex.name} --solution`.")
        return "\n".join(lines)


def explain_size(err: float) -> str:
    """What a relative error of this size usually means, in float64 against finite differences."""
    if err < TOLERANCE_F64:
        return "right: float64 finite differences agree to about 1e-8 or better"
    if err < 1e-4:
        return ("close, but more than rounding: float32 somewhere, or a constant with too few digits "
                "(0.0447 for 0.044715, 3.14 for π)")
    if err < 0.1:
        return "a small piece is wrong: a small term is missing or a constant is slightly off"
    if err < 0.9:
        return ("part of the answer is right: a term of the chain rule or a factor is missing "
                "(one path of the graph, a factor such as l or 1/sqrt(D))")
    if err <= 1.1:
        return ("about 1: the answer has little in common with the right one: a wrong formula, a wrong sign "
                "on a term, a sum over the wrong axis, or a matrix that needs a transpose")
    return "above 1: too large by a factor, or the sign is flipped (exactly −answer gives 2)"


def _diagnose(got, expected, mistakes) -> list[str]:
    """Say what a wrong answer is, when it can be told: zero, a known mistake, a sign, a factor."""
    if not np.any(got):
        return ["your answer is all zeros: is the result assigned to the array you return?"]
    for message, wrong in mistakes:
        if np.shape(wrong) == np.shape(got) and rel_error(got, wrong) < _MATCH:
            return [f"this is a known mistake: {message}."]
    if rel_error(got, -expected) < _MATCH:
        return ["your answer is exactly minus the right one: a sign is flipped."]
    denom = float(np.sum(expected * expected))
    if denom > 0:
        c = float(np.sum(got * expected)) / denom
        if rel_error(got, c * expected) < _MATCH:
            return [f"your answer is the right one times {c:.6g}: a constant factor is wrong or missing."]
    return []


def _shape(a) -> str:
    return "None" if a is None else str(tuple(np.shape(a)))


def _show_path(path: Path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


# -------------------------------------------------------------------------------------------------
# Running a function on a case.


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


def _where(err: BaseException, path: str | None) -> str:
    """'line 12 of your file: dx = ...' for the innermost frame of the student's file."""
    frames = getattr(err, "student_frames", None) or traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return ""
    where = "your file" if mine else _show_path(Path(frame.filename))
    return f"at line {frame.lineno} of {where}: {(frame.line or '').strip()}"


def _call(ex: Exercise, fn, args, kwargs, report: Report, path):
    """Call fn; on an exception, report it in words and return (False, None)."""
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError as err:
        stub = _show_path(Path(path)) if path else f"lessons/exercises/{ex.name}.py"
        report.add("FAIL", f"not done yet: {ex.name} raises NotImplementedError",
                   f"({err})" if str(err) else "",
                   _copy_first(ex.name) if path and Path(path).resolve().is_relative_to(BUNDLE) else
                   f"Open {stub}, read the docstring, and replace the `raise NotImplementedError(...)` "
                   f"line with your code. Re-read lesson {ex.lesson} if the equations are unclear.")
    except Exception as err:  # the student's bug: describe it, don't crash the checker
        hint = ""
        if isinstance(err, ValueError) and ("broadcast" in str(err) or "matmul" in str(err)
                                            or "shapes" in str(err)):
            hint = ("Two arrays' shapes do not fit together. Print the shapes of what you combine "
                    "(the docstring lists them); a weight may need a transpose (.T), or a vector a new axis.")
        elif isinstance(err, (AttributeError, TypeError)) and "NoneType" in str(err):
            hint = "Something is None: does every branch of your function end with `return ...`?"
        elif isinstance(err, (ValueError, TypeError)) and "unpack" in str(err):
            hint = "Unpacking failed: check what the cache holds (the docstring lists it, in order)."
        report.add("FAIL", f"{ex.name} raised {type(err).__name__}: {err}", _where(err, path), hint)
    return False, None


def _outputs(ex: Exercise, result, report: Report) -> dict | None:
    """The result as {output name: value}, or None after reporting why it cannot be read."""
    n = len(ex.outputs)
    names = ", ".join(ex.outputs)
    if n == 1:
        if isinstance(result, (tuple, list)):
            report.add("FAIL", f"{ex.name} returned a {type(result).__name__} of {len(result)} items",
                       f"Return the array {names} itself, not inside a tuple or list.")
            return None
        return {ex.outputs[0]: result}
    if not isinstance(result, tuple) or len(result) != n:
        got = (f"a tuple of {len(result)} items" if isinstance(result, tuple)
               else "None (is there a `return`?)" if result is None else f"a {type(result).__name__}")
        report.add("FAIL", f"{ex.name} should return {n} things, ({names}); it returned {got}",
                   f"End with `return {names}`.")
        return None
    return dict(zip(ex.outputs, result))


def _run_case(ex: Exercise, fn, case: Case, number: int, report: Report, path) -> bool:
    args, kwargs = copy.deepcopy(case.args), dict(case.kwargs)
    snapshot = copy.deepcopy(case.args)
    report.add("", f"case {number}: {case.what}")
    ok, result = _call(ex, fn, args, kwargs, report, path)
    if not ok:
        return False
    got = _outputs(ex, result, report)
    if got is None:
        return False
    expected = _outputs(ex, ex.reference(*copy.deepcopy(case.args), **kwargs), Report(ex, ""))

    # (a) shapes and dtypes
    good = True
    for name in ex.outputs:
        e, g = expected[name], got[name]
        if isinstance(g, np.generic):  # a sum over every axis gives a NumPy scalar: report its shape ()
            g = got[name] = np.asarray(g)
        if e is None:
            if g is not None:
                report.add("FAIL", f"{name} should be None here ({', '.join(f'{k}={v}' for k, v in kwargs.items())})",
                           f"you returned an array of shape {_shape(g)}; when it is not needed, skip computing it "
                           f"and return None.")
                good = False
            continue
        if not isinstance(g, np.ndarray):
            report.add("FAIL", f"{name} should be a NumPy array of shape {_shape(e)}; you returned "
                               f"{'None' if g is None else type(g).__name__}",
                       "Is it computed in every branch and returned?" if g is None else "")
            good = False
        elif g.shape != e.shape:
            report.add("FAIL", f"{name} has the wrong shape: expected {_shape(e)}, got {_shape(g)}",
                       *_shape_hint(ex, name, e, g))
            good = False
        elif g.dtype != e.dtype:
            report.add("FAIL", f"{name} has dtype {g.dtype}, expected {e.dtype} (the dtype of the inputs)",
                       "Something converts it: an explicit astype, np.float32(...), or an integer array.")
            good = False
        elif not np.all(np.isfinite(g)):
            report.add("FAIL", f"{name} holds NaN or inf values",
                       "A division by zero, a log of 0, or an exp that overflows? Print the inputs of each step.")
            good = False
    if not good:
        return False
    names = list(inspect.signature(ex.reference).parameters)
    changed = [p for i, arg in enumerate(args)
               for (p, a), (_, b) in zip(_arrays(arg, names[i]), _arrays(snapshot[i], names[i]))
               if not np.array_equal(a, b)]
    if changed:
        report.add("FAIL", "your function changed its inputs in place: " + ", ".join(changed[:4]),
            "The model reuses dout and the cache after your function returns. Write `d = dout * g`, "
            "not `dout *= g`; backward returns fresh arrays.")
        return False

    # (b) finite differences and (c) the reference, in a table like micrograd's
    report.add("", f"  {'output':<7} {'shape':<14} {'vs finite diff.':>15} {'vs reference':>13}  verdict")
    wrong = []
    for name in ex.outputs:
        if expected[name] is None:
            report.add("", f"  {name:<7} {'None':<14} {'—':>15} {'—':>13}  ok")
            continue
        e_num = rel_error(got[name], case.numeric[name])
        e_ref = rel_error(got[name], expected[name])
        verdict = "ok" if max(e_num, e_ref) < TOLERANCE_F64 else "WRONG"
        report.add("", f"  {name:<7} {_shape(got[name]):<14} {e_num:>15.2e} {e_ref:>13.2e}  {verdict}")
        if verdict != "ok":
            wrong.append((name, max(e_num, e_ref)))
    if not wrong:
        report.add("ok", f"{', '.join(n for n in ex.outputs if expected[n] is not None)} right "
                         f"(relative error < {TOLERANCE_F64:.0e})")
        return True
    known = case.mistakes()
    for name, err in wrong:
        said = _diagnose(got[name], expected[name], known.get(name, []))
        report.add("FAIL", f"{name} is wrong: relative error {err:.2g}",
                   f"An error of this size suggests: {explain_size(err)}.", *said,
                   *([f"It is none of the single mistakes the checker recognises; things to look at for {name}:"]
                     + [f"  - {h}" for h in ex.hints.get(name, [])] if not said and ex.hints.get(name) else []))
    return False


def _shape_hint(ex: Exercise, name, expected, got) -> list[str]:
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
    return [f"The docstring of lessons/exercises/{ex.name}.py lists the shape of every input and output."]


def _check_gradients(ex: Exercise, fn, report: Report, seed: int, path) -> None:
    cases = ex.cases(np.random.default_rng(seed))
    for number, case in enumerate(cases, 1):
        if not _run_case(ex, fn, case, number, report, path):
            return
    _float32_note(ex, fn, cases[0], report)


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


# -------------------------------------------------------------------------------------------------
# merge: not a gradient. (b) is "the merged model computes what the model + adapter computes".


def _check_merge(ex: Exercise, fn, report: Report, seed: int, path) -> None:
    rng = np.random.default_rng(seed)
    model = _tiny_model(rng, n_layer=2)
    C = model.config.n_embd
    ia3 = IA3.random(model, std=0.5, seed=int(rng.integers(1 << 30)))
    ids = rng.integers(0, model.config.vocab_size, (2, 6))
    params_before = {k: v.copy() for k, v in model.params.items()}
    ia3_before = ia3.copy()
    expected_logits = model.logits(ids, ia3)
    reference = merge(GPT2(model.config, dict(params_before), model.source, model.name), ia3.copy())
    report.add("", f"a random GPT-2 with {model.config.n_layer} blocks, C={C}, F={model.config.n_inner}; "
                   f"l_k, l_v, l_ff = 1 + 0.5·N(0, 1); 2 sequences of 6 tokens; float64")

    ok, merged = _call(ex, fn, (model, ia3), {}, report, path)
    if not ok:
        return
    # (a) a model with the same weights' names, shapes and dtypes
    if not isinstance(merged, GPT2):
        report.add("FAIL", f"merge should return a tinyia3 GPT2 model; it returned "
                           f"{'None (is there a `return`?)' if merged is None else type(merged).__name__}",
                   "Build it from the new weights: GPT2(model.config, params, source=..., name=model.name).")
        return
    changed = [k for k in params_before if not np.array_equal(model.params[k], params_before[k])]
    changed_ia3 = [k for k, v in ia3.named().items() if not np.array_equal(v, ia3_before.named()[k])]
    if changed or changed_ia3:
        report.add("FAIL", "merge changed its inputs in place: " + ", ".join((changed + changed_ia3)[:4]),
                   "merge must return a new model and leave the original (and the adapter) untouched: "
                   "`params = dict(model.params)` copies the dict, not the arrays, so `params[k] *= l` "
                   "still changes model.params[k]. Write `params[k] = model.params[k] * l`.")
        return
    missing = sorted(set(params_before) - set(merged.params))
    extra = sorted(set(merged.params) - set(params_before))
    if missing or extra:
        report.add("FAIL", "the merged model's weights are not the original's names",
                   f"missing: {', '.join(missing[:4])}" if missing else "",
                   f"unexpected: {', '.join(extra[:4])}" if extra else "",
                   "Start from a copy of every weight, `params = dict(model.params)`, and replace only the "
                   "scaled ones under the same names.")
        return
    for k, e in reference.params.items():
        g = merged.params[k]
        if not isinstance(g, np.ndarray) or g.shape != e.shape or g.dtype != e.dtype:
            report.add("FAIL", f"{k}: expected an array {_shape(e)} {e.dtype}, got "
                               f"{_shape(g) + ' ' + str(g.dtype) if isinstance(g, np.ndarray) else type(g).__name__}",
                       "Scaling must keep each weight's shape: multiply by a vector along the right axis "
                       "(w * l for columns, w * l[:, None] for rows).")
            return
    report.add("ok", "returns a new GPT2 with the same weight names, shapes and dtypes; inputs untouched")

    # (b) what the merged model computes, and (c) every weight against the reference
    err = rel_error(merged.logits(ids), expected_logits)
    report.add("", f"  {'check':<58} {'rel. error':>10}")
    report.add("", f"  {'logits: merged model vs model with the adapter':<58} {err:>10.2e}  "
                   f"{'ok' if err < TOLERANCE_F64 else 'WRONG'}")
    bad = []
    for k in reference.params:
        e = rel_error(merged.params[k], reference.params[k])
        if e >= TOLERANCE_F64:
            bad.append(k)
            report.add("", f"  {k + ' vs ' + ex.reference_name:<58} {e:>10.2e}  WRONG")
    if not bad:
        report.add("", f"  {'every weight vs ' + ex.reference_name:<58} {0.0:>10.2e}  ok")
    if err < TOLERANCE_F64 and not bad:
        report.add("ok", "the merged model computes what the model with its adapter computes, "
                         "and every weight equals the reference's")
        return
    report.add("FAIL", f"the merged model computes something else: logits relative error {err:.2g}"
                       if err >= TOLERANCE_F64 else "the merged model computes the right logits, but some weights "
                                                    "differ from the reference",
               *_merge_diagnosis(bad, merged, model, ia3, reference, C))


def _merge_diagnosis(bad, merged, model, ia3, reference, C) -> list[str]:
    lines = []
    for k in bad[:4]:
        g, orig, e = merged.params[k], model.params[k], reference.params[k]
        i = int(k.split(".")[1]) if k.startswith("h.") else None
        if k.endswith("mlp.c_proj.bias"):
            lines.append(f"{k} was changed: it must stay. l_ff scales the input of c_proj, (l_ff ⊙ h) W2 + b2, "
                         "and b2 is added after the product.")
        elif k.endswith("mlp.c_proj.weight"):
            if np.array_equal(g, orig):
                lines.append(f"{k} is unchanged: fold l_ff into it, (l_ff ⊙ h) W2 = h (diag(l_ff) W2).")
            elif rel_error(g, orig * ia3.l_ff[i][:, None] ** 2) < _MATCH:
                lines.append(f"{k} was scaled twice by l_ff.")
            else:
                lines.append(f"{k}: scale its rows, one per hidden unit: W2 * l_ff[:, None] (shape (F, C)).")
        elif k.endswith("attn.c_attn.weight") or k.endswith("attn.c_attn.bias"):
            part = "bias" if k.endswith("bias") else "weight"
            if part == "bias" and np.array_equal(g, orig):
                lines.append(f"{k} is unchanged: scale the bias too, l ⊙ (x W + b) = x (W diag(l)) + l ⊙ b.")
                continue
            for s, label in ((slice(0, C), "query"), (slice(C, 2 * C), "key"), (slice(2 * C, 3 * C), "value")):
                if rel_error(g[..., s], e[..., s]) >= TOLERANCE_F64:
                    lines.append(f"{k}: the {label} columns [{s.start}:{s.stop}] are wrong"
                                 + (": the paper's IA³ does not scale queries, leave them as they are."
                                    if label == "query" else
                                    f": multiply them by l_{label[0]} along the last axis (one scale per column)."))
        elif k.startswith("h."):
            lines.append(f"{k} was changed: only attn.c_attn (weight and bias) and mlp.c_proj.weight change.")
        else:
            lines.append(f"{k} was changed: embeddings and ln_f are not touched by IA³.")
    if len(bad) > 4:
        lines.append(f"… and {len(bad) - 4} more weights differ.")
    return lines


# -------------------------------------------------------------------------------------------------
# The exercises, in the order a class meets them.

EXERCISES: dict[str, Exercise] = {ex.name: ex for ex in (
    Exercise(
        "gelu_backward", 3, 10, "the chain rule on one elementwise function: GPT-2's tanh GELU",
        "lesson 2 (the forward pass)", ops.gelu_backward, ("dx",), _gelu_cases,
        {"dx": ["the constants: sqrt(2/π) = math.sqrt(2.0 / math.pi), 0.044715, and 3·0.044715 in du/dx",
                "the product rule on 0.5·x·(1 + t) gives two terms: 0.5·(1 + t) and 0.5·x·tanh'(u)·du/dx",
                "t is already tanh(u): tanh'(u) = 1 − t², no second tanh",
                "two mistakes at once: fix one term at a time and run the check again"]},
    ),
    Exercise(
        "ia3_scale_backward", 3, 10,
        "IA³'s one op, l ⊙ x, backward: dx scales by l, dl sums over every token",
        "gelu_backward", ops.ia3_scale_backward, ("dx", "dl"), _ia3_scale_cases,
        {"dx": ["dx = dout ⊙ l: l (N,) broadcasts over the leading axes as it is"],
         "dl": ["dl[n] = Σ dout[..., n] · x[..., n] over every leading axis: (dout * x).reshape(-1, N).sum(axis=0)",
                "x comes from the cache, (x, l) in this order"]},
    ),
    Exercise(
        "layer_norm_backward", 3, 25,
        "backpropagate through a normalisation: the direct path, the mean's and the variance's",
        "gelu_backward", ops.layer_norm_backward, ("dx",), _layer_norm_cases,
        {"dx": ["the signs: both correction terms are subtracted",
                "means over the last axis with keepdims=True: axis=0, or no keepdims, mixes up tokens",
                "every term uses dxhat = dout ⊙ g, not dout",
                "the variance term is xhat · mean(dxhat ⊙ xhat): xhat appears twice",
                "two mistakes at once: compare your terms one by one with the docstring"]},
    ),
    Exercise(
        "l_ff_gradient", 3, 20,
        "where dl_ff comes from in a block: through mlp.c_proj, then the IA³ scale; sum over tokens",
        "ia3_scale_backward", l_ff_gradient, ("dl_ff",), _l_ff_cases,
        {"dl_ff": ["dh = dx @ W2.T with W2 = bc.mlp_c_proj.w, shape (F, C)",
                   "a is bc.sites['l_ff'].x, the activation before the scale: d(l ⊙ a)/dl = a",
                   "sum over batch and time: dl_ff has one entry per hidden unit, shape (F,)"]},
    ),
    Exercise(
        "attention_backward", 3, 40,
        "backward through causal softmax attention: dv, the softmax Jacobian, dq and dk",
        "layer_norm_backward", ops.attention_backward, ("dq", "dk", "dv"), _attention_cases,
        {"dq": ["dq = dscores @ k, where dscores already includes the 1/sqrt(D)",
                "softmax backward: a ⊙ (da − (a ⊙ da).sum(axis=-1, keepdims=True)), the sum over the keys"],
         "dk": ["dk = dscoresᵀ @ q: transpose with swapaxes(-1, -2), not .T",
                "softmax backward: a ⊙ (da − (a ⊙ da).sum(axis=-1, keepdims=True)), the sum over the keys"],
         "dv": ["dv = attᵀ @ dy, with att.swapaxes(-1, -2)"]},
    ),
    Exercise(
        "merge", 7, 20,
        "fold an IA³ adapter into the weights so inference costs nothing extra",
        "lesson 6 (inhibit and amplify)", merge, ("model",), None, checker=_check_merge,
    ),
)}


# -------------------------------------------------------------------------------------------------
# The public entry points.


def get(name: str) -> Exercise:
    """The exercise called `name`, or a ValueError that lists the valid names."""
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
    """The exercises as a table: name, lesson, minutes, goal."""
    lines = [f"{'exercise':<20} {'lesson':>6} {'minutes':>7}  goal", "-" * 100]
    for ex in EXERCISES.values():
        lines.append(f"{ex.name:<20} {ex.lesson:>6} {ex.minutes:>7}  {ex.goal}")
    lines += ["", "`tinyia3 lessons DIR` copies the lessons and exercises into DIR: edit DIR/exercises/NAME.py, "
                  "then run `tinyia3 check NAME` in DIR. `tinyia3 check NAME --solution` shows a passing run."]
    return "\n".join(lines)


def load_function(path, name: str):
    """The function `name` defined in the Python file at `path`, loaded without touching sys.path.

    Raises FileNotFoundError if there is no such file; errors inside the file are the caller's
    to report (see check()).
    """
    require_path(path, "load_function: path")
    require(isinstance(name, str) and name.isidentifier(), "load_function: name", "the name of a function (a str)",
            name, error=ArgumentTypeError)
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"{path} does not exist. The exercise stubs are in {_show_path(EXERCISES_DIR)}/"
            + (f"; {restore_hint(f'lessons/exercises/{name}.py')}, or copy them all with `tinyia3 lessons DIR`."
               if name in EXERCISES else ".")
        )
    spec = importlib.util.spec_from_file_location(f"tinyia3_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name, None)


def _signature_problem(fn, reference) -> str | None:
    def described(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]

    try:
        if fn.parameters is None or fn.parameters == described(reference):
            return None
        return (f"your function takes {fn.signature}, the package's takes "
                f"{str(inspect.signature(reference)).split(' ->')[0]}. Keep the stub's signature: "
                "the checks call it the way the model does.")
    except (TypeError, ValueError):
        return None


def check(name: str, path=None, solution: bool = False, seed: int = 0) -> Report:
    """Run the exercise's checks on lessons/exercises/NAME.py, on `path`, or (solution=True)
    on the package's own function. Returns a Report: .passed, .text()."""
    ex = get(name)
    if path is not None:
        require_path(path, "exercises.check: path")
    require(isinstance(solution, bool), "exercises.check: solution", "True or False", solution, error=ArgumentTypeError)
    require(not (solution and path is not None), "exercises.check: path", "None when solution=True (the solution "
            "is the package's own function, not a file)", path, "Pass path= to check a file, or solution=True.")
    require_seed(seed, "exercises.check: seed")
    if solution:
        report = Report(ex, f"the package's own function (--solution), the reference below")
        fn, path = ex.reference, None
    else:
        path = Path(path) if path is not None else ex.stub_path
        report = Report(ex, _show_path(path))
        if not path.is_file():
            load_function(path, name)  # raises the missing-file error, with the way back to the stub
        try:
            fn = StudentFunction(path, name)
        except Exception as err:  # a syntax error, a failing import, an exit() while loading
            line = getattr(err, "lineno", None)
            report.add("FAIL", f"{_show_path(path)} cannot be loaded: {type(err).__name__}: {err}",
                       (f"at line {line}: {(err.text or '').strip()}" if line and getattr(err, "syntax", False)
                        else _where(err, str(path))),
                       "Fix the file so that `python " + _show_path(path) + "` runs without an error.")
            return report
        try:
            if not fn.defined:
                report.add("FAIL", f"{_show_path(path)} defines no function called {name}",
                           f"Keep the stub's `def {name}(...)` line; the checker looks for that name.")
                return report
            problem = _signature_problem(fn, ex.reference)
            if problem:
                report.add("FAIL", f"{name} has another signature than the package's", problem)
                return report
            report.add("ok", f"loaded {name}{fn.signature}")
            (ex.checker or _check_gradients)(ex, fn, report, seed, str(path))
        finally:
            fn.close()
        return report
    (ex.checker or _check_gradients)(ex, fn, report, seed, None)
    return report


def locate(name: str, folder=".") -> Path:
    """The file `tinyia3 check NAME` checks: FOLDER/NAME.py, else FOLDER/exercises/NAME.py (the
    copies `tinyia3 lessons DIR` makes), else the stub shipped with tinyia3."""
    folder = Path(folder)
    for path in (folder / f"{name}.py", folder / "exercises" / f"{name}.py"):
        if path.is_file():
            return path
    return get(name).stub_path


def _copy_first(name: str) -> str:
    """The way to work on an exercise when only the installed package's own stub was found."""
    return (f"That is the stub inside the installed package: copy the lessons and exercises with `tinyia3 "
            f"lessons DIR`, edit DIR/exercises/{name}.py and run `tinyia3 check {name}` in DIR (or pass --file).")
