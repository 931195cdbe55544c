"""Finding and loading a student's file: FOLDER/NAME.py, FOLDER/exercises/NAME.py, or the stub."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from ..errors import ArgumentTypeError, MissingFileError, require, require_path
from ..paths import EXERCISES_DIR, restore_hint
from .spec import show_path


def load_function(path, name: str):
    """The function `name` defined in the Python file at `path`, loaded without touching sys.path.

    Raises a MissingFileError if there is no such file; errors inside the file are the caller's
    to report (see check()).
    """
    from .registry import EXERCISES

    require_path(path, "load_function: path")
    require(isinstance(name, str) and name.isidentifier(), "load_function: name", "the name of a function (a str)",
            name, error=ArgumentTypeError)
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"{path} does not exist. The exercise stubs are in {show_path(EXERCISES_DIR)}/"
            + (f"; {restore_hint(f'lessons/exercises/{name}.py')}, or copy them all with `tinyia3 lessons DIR`."
               if name in EXERCISES else ".")
        )
    spec = importlib.util.spec_from_file_location(f"tinyia3_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name, None)


def find(name: str, folder) -> Path | None:
    """FOLDER/NAME.py, else FOLDER/exercises/NAME.py (the copies `tinyia3 lessons DIR` makes), else None."""
    folder = Path(folder)
    for path in (folder / f"{name}.py", folder / "exercises" / f"{name}.py"):
        if path.is_file():
            return path
    return None


def locate(name: str, folder=".") -> Path:
    """The file `tinyia3 check NAME` checks: find(name, folder), else the stub shipped with tinyia3."""
    from .registry import get

    return find(name, folder) or get(name).stub_path


def signature_problem(fn, reference) -> str | None:
    def described(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]

    try:
        if fn.parameters is None or fn.parameters == described(reference):
            return None
        return (f"your function takes {fn.signature}, the package's takes "
                f"{str(inspect.signature(reference)).split(' ->')[0]}. Keep the stub's signature: "
                "the checks call it the way the package does.")
    except (TypeError, ValueError):
        return None
