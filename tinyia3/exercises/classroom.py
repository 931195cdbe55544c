"""`tinyia3 check --all DIR`: every exercise of every student, and a class summary table.

DIR is either one student's folder (it holds NAME.py or exercises/NAME.py for some exercise, as
`tinyia3 lessons DIR` lays it out) or a class folder whose subfolders are the students:
DIR/<student>/NAME.py or DIR/<student>/exercises/NAME.py. Each file is checked as
`tinyia3 check NAME --file FILE` would check it. A cell of the table is one of

    pass     the checks pass
    todo     the function still raises NotImplementedError (the stub as shipped)
    mistake  a mistake the checker knows, named in the list under the table
    wrong    a wrong answer the checker cannot name
    error    the file cannot be loaded, or the function raises an error
    missing  no file for this exercise
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MissingFileError, require, require_path, require_seed
from .files import find
from .grading import check
from .registry import EXERCISES


def students(folder) -> dict[str, Path]:
    """{student: folder}: DIR itself when it holds exercise files, else its subfolders."""
    require_path(folder, "check --all: DIR")
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"check --all: {folder} is not a folder: expected a student's folder or a class "
                               "folder of student subfolders (DIR/<student>/NAME.py or DIR/<student>/exercises/NAME.py).")
    if any(find(name, folder) for name in EXERCISES):
        return {folder.resolve().name: folder}
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not subfolders:
        raise MissingFileError(f"check --all: {folder} holds no exercise file (NAME.py or exercises/NAME.py) and no "
                               "student subfolder. The exercises are: " + ", ".join(EXERCISES) + ".")
    return {p.name: p for p in subfolders}


@dataclass
class ClassResult:
    folder: Path
    cells: dict = field(default_factory=dict)  # (student, exercise) -> (outcome, mistake tag or None)

    @property
    def students(self) -> list[str]:
        return list(dict.fromkeys(student for student, _ in self.cells))

    @property
    def all_passed(self) -> bool:
        return all(outcome == "pass" for outcome, _ in self.cells.values())

    def text(self) -> str:
        names = list(EXERCISES)
        width = max([len(s) for s in self.students] + [7])
        lines = [f"class summary: {self.folder} ({len(self.students)} students, {len(names)} exercises)", "",
                 f"{'student':<{width}}  " + " ".join(f"{i:>7}" for i in range(1, len(names) + 1)),
                 "-" * (width + 2 + 8 * len(names))]
        for student in self.students:
            lines.append(f"{student:<{width}}  " + " ".join(f"{self.cells[student, n][0]:>7}" for n in names))
        passed = [sum(self.cells[s, n][0] == "pass" for s in self.students) for n in names]
        lines += ["-" * (width + 2 + 8 * len(names)),
                  f"{'passed':<{width}}  " + " ".join(f"{p:>7}" for p in passed), "", "exercises:"]
        lines += [f"  {i:>2}  {n} (lesson {EXERCISES[n].lesson})" for i, n in enumerate(names, 1)]
        named = [(s, n, tag) for (s, n), (outcome, tag) in self.cells.items() if outcome == "mistake"]
        if named:
            lines += ["", "named mistakes:"]
            lines += [f"  {s:<{width}}  {n:<28} {tag}" for s, n, tag in named]
        lines += ["", "pass: the checks pass; todo: still the stub; mistake: a known mistake (named above); "
                      "wrong: a wrong answer the checker cannot name; error: the file cannot be loaded or raises; "
                      "missing: no file.",
                  f"Details for one cell: tinyia3 check NAME --file {self.folder}/<student>/…/NAME.py"]
        return "\n".join(lines)


def check_all(folder, seed: int = 0) -> ClassResult:
    """Check every exercise file of every student under `folder`."""
    require_seed(seed, "check --all: seed")
    found = students(folder)
    result = ClassResult(Path(folder))
    for student, path in found.items():
        for name in EXERCISES:
            file = find(name, path)
            if file is None:
                result.cells[student, name] = ("missing", None)
                continue
            report = check(name, path=file, seed=seed)
            result.cells[student, name] = (report.outcome, report.mistake)
    require(bool(result.cells), "check --all: DIR", "a folder with students", folder)
    return result
