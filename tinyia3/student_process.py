"""A student's exercise function, run in a process of its own.

The checker (tinyia3/exercises.py) must judge only the values the student's function returns.
Loaded into the checker's own process, a file could end the check with `raise SystemExit(0)`
(exit status 0: "passed"), print a fake report, or replace the package's reference function
with its own. So the file is loaded and called in a child process (multiprocessing's "spawn":
a fresh interpreter, nothing shared): the checker sends arguments through a pipe and receives
the result, the arguments as the function left them (to see in-place changes) and, on an error,
the exception's type, message and frames. The student's prints go to stderr, so stdout holds
only the report.
"""

from __future__ import annotations

import builtins
import dataclasses
import multiprocessing
import traceback
from pathlib import Path

import numpy as np

CALL_SECONDS = 120.0  # one call of the student's function: a loop that never ends is reported


class StudentFileError(Exception):
    """The file could not be loaded, or ended its process (exit, a crash), or never returned."""


def _worker(conn, path: str, name: str) -> None:
    import sys

    sys.stdout = sys.stderr  # the student's prints never mix with the report
    try:
        from .exercises import load_function

        fn = load_function(path, name)
        conn.send(("loaded", None if fn is None else callable(fn), _signature(fn)))
    except BaseException as err:  # noqa: BLE001 - SystemExit too: reported, never obeyed
        conn.send(("load-error", _describe(err)))
        return
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        args, kwargs = request
        try:
            result = fn(*args, **kwargs)
            conn.send(("ok", result, args))
        except BaseException as err:  # noqa: BLE001
            conn.send(("error", _describe(err), args))


def _signature(fn):
    import inspect

    try:
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()], str(inspect.signature(fn))
    except (TypeError, ValueError):
        return None


def _describe(err: BaseException) -> dict:
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(err.__traceback__)]
    return {"type": type(err).__name__, "message": str(err), "frames": frames,
            "lineno": getattr(err, "lineno", None), "text": getattr(err, "text", None),
            "syntax": isinstance(err, SyntaxError)}


def rebuild(info: dict) -> BaseException:
    """The child's exception as an object of the same built-in type where there is one, with the
    child's frames in .student_frames (its __traceback__ would point into this module)."""
    kind = getattr(builtins, info["type"], None)
    if not (isinstance(kind, type) and issubclass(kind, BaseException)) or kind in (SystemExit, KeyboardInterrupt):
        kind = type(info["type"], (Exception,), {})  # same name in the report, harmless type
    try:
        err = kind(info["message"])
    except TypeError:  # a built-in with another constructor (e.g. UnicodeDecodeError)
        err = type(info["type"], (Exception,), {})(info["message"])
    err.student_frames = [traceback.FrameSummary(f, n, name, line=line) for f, n, name, line in info["frames"]]
    err.lineno, err.text, err.syntax = info["lineno"], info["text"], info["syntax"]
    return err


class StudentFunction:
    """Callable like the student's function; every call runs in the child process."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = str(path), name
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_worker, args=(child, self.path, name), daemon=True)
        self._process.start()
        child.close()
        message = self._receive("loading the file")
        if message[0] == "load-error":
            self.close()
            raise rebuild(message[1])
        _, self.defined, sig = message
        self.parameters, self.signature = sig if sig else (None, None)

    def __call__(self, *args, **kwargs):
        self._conn.send((args, kwargs))
        status, value, after = self._receive(f"a call of {self.name}")
        _copy_back(args, after)  # in-place changes the function made, for the checker to see
        if status == "error":
            raise rebuild(value)
        return value

    def _receive(self, what: str):
        if not self._conn.poll(CALL_SECONDS):
            self.close()
            raise StudentFileError(f"{what} did not finish within {CALL_SECONDS:g} s: is there a loop that never ends?")
        try:
            return self._conn.recv()
        except (EOFError, ConnectionError):
            self._process.join(5)
            code = self._process.exitcode
            raise StudentFileError(f"{what} ended the process (exit code {code}): the file calls exit(), "
                                   "os._exit() or crashes Python. Remove that; the checker judges the values "
                                   "your function returns.") from None

    def close(self) -> None:
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._process.join(2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def _copy_back(before, after) -> None:
    """Write the child's (possibly changed) argument arrays into the caller's, path by path."""
    if isinstance(before, np.ndarray) and isinstance(after, np.ndarray):
        if before.shape == after.shape and before.flags.writeable:
            before[...] = after
    elif isinstance(before, (tuple, list)) and isinstance(after, (tuple, list)):
        for b, a in zip(before, after):
            _copy_back(b, a)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key in after:
                _copy_back(before[key], after[key])
        for key in set(after) - set(before):  # a key the function added
            before[key] = after[key]
    elif dataclasses.is_dataclass(before) and not isinstance(before, type):
        for f in dataclasses.fields(before):
            _copy_back(getattr(before, f.name), getattr(after, f.name, None))
    elif hasattr(before, "__dict__") and hasattr(after, "__dict__") and type(before) is type(after):
        for key, value in vars(before).items():
            _copy_back(value, vars(after).get(key))
