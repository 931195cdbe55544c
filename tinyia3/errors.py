"""The errors a user can fix, in one family.

Every check of an option, an argument or a file raises a subclass of TinyIA3Error with one
sentence: what was expected, what was found, and what to do. The `tinyia3` command prints such
an error as one line and exits with status 2; anything else is a bug and keeps its traceback.
Each class also derives from the built-in exception it refines (ValueError, TypeError,
FileNotFoundError), so code that catches those keeps working.

The helpers at the end (require, require_path, float_dtype, ...) are how the public API checks
an argument where it enters, before any work. A bug inside tinyia3 is never wrapped in one of
these: it keeps its own exception and traceback.
"""

from __future__ import annotations

import math
import os

import numpy as np


class TinyIA3Error(Exception):
    """A problem the user can fix: a bad option, argument, file or run folder."""


class ArgumentError(TinyIA3Error, ValueError):
    """An option or argument out of its range, or inconsistent with another one."""


class ArgumentTypeError(TinyIA3Error, TypeError):
    """An argument of the wrong type (a float where token ids go, a list where an adapter goes)."""


class FileContentError(TinyIA3Error, ValueError):
    """A file that exists but does not hold what it should (names the file, and the tensor or line)."""


class MissingFileError(TinyIA3Error, FileNotFoundError):
    """A file or folder that is not there (or is a file where a folder should be)."""


class NotAFolderError(TinyIA3Error, NotADirectoryError):
    """A file where a folder should be."""


class RunFolderError(TinyIA3Error, ValueError):
    """A run folder that cannot be used as asked: in use, already used, or made by another run."""


class TrainingStopped(TinyIA3Error, RuntimeError):
    """Training stopped early (a NaN or inf); the last good result is on disk."""


class TrainingInterrupted(TinyIA3Error):
    """Ctrl-C during training: says the last saved step and how to continue."""


# -------------------------------------------------------------------------------------------------
# Checking an argument where it enters: one line, what was expected and what was found.


def is_int(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite Python or NumPy real number, not a bool."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))


def shown(value) -> str:
    """A refused value as a message shows it: its repr when short and on one line, else its type
    (an array's shape and dtype), so that the message stays one line."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {list(value.shape)} ({value.dtype})"
    text = repr(value.item() if isinstance(value, np.generic) else value)  # 0.5, not np.float64(0.5)
    return text if len(text) <= 60 and "\n" not in text else f"a value of type {type(value).__name__}"


def require(ok: bool, where: str, expected: str, found, fix: str = "", error=ArgumentError) -> None:
    """Refuse an argument unless ok: `{where} must be {expected}, found {found}.[ {fix}]`."""
    if not ok:
        raise error(f"{where} must be {expected}, found {shown(found)}." + (f" {fix}" if fix else ""))


def require_path(path, where: str) -> None:
    """A file or folder name: a non-empty str or os.PathLike (pathlib.Path)."""
    require(isinstance(path, (str, os.PathLike)), where, "a path (a str or a pathlib.Path)", path,
            error=ArgumentTypeError)
    require(str(path) != "", where, "a non-empty path", path)


def require_seed(seed, where: str, optional: bool = False) -> None:
    """A random seed: an integer >= 0 (or None when optional: fresh randomness)."""
    require((optional and seed is None) or (is_int(seed) and seed >= 0), where,
            "an integer >= 0" + (" or None" if optional else ""), seed)


def float_dtype(dtype, where: str) -> np.dtype:
    """np.dtype(dtype), refusing what NumPy does not understand and any dtype that is not floating point."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(f"{where} must be a NumPy dtype (np.float32 or np.float64), found {shown(dtype)}.") \
            from None
    require(resolved.kind == "f", where, "floating point (np.float32 or np.float64)", resolved)
    return resolved
