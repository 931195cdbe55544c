"""The errors a user can fix, in one family.

Every check of an option, an argument or a file raises a subclass of TinyIA3Error with one
sentence: what was expected, what was found, and what to do. The `tinyia3` command prints such
an error as one line and exits with status 2; anything else is a bug and keeps its traceback.
Each class also derives from the built-in exception it refines (ValueError, TypeError,
FileNotFoundError), so code that catches those keeps working.
"""

from __future__ import annotations


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
