"""Lessons as notebooks: every figure shows in its cell; importing tinyia3 changes nothing global;
in a notebook the options come from the environment.

The slow test converts each lesson (percent format) with jupytext and executes it with nbclient,
in quick mode, in a fresh kernel whose working folder is a temporary one, as a student's notebook
would run: it must write its figures below that folder and show each of them inline.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyia3 import lesson
from tinyia3.errors import ArgumentError

LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT_S = 300  # a --quick lesson takes ~15 s in all; this leaves room for a loaded CI machine

SIDE_EFFECTS = """
import json, warnings
import matplotlib
def state():  # the backend as set (not resolved: reading rcParams["backend"] would choose one)
    return [repr(f) for f in warnings.filters], str(dict.__getitem__(matplotlib.rcParams, "backend"))
before = state()
import tinyia3, tinyia3.plots, tinyia3.lesson, tinyia3.cli, tinyia3.exercises, tinyia3.train, tinyia3.paths
print(json.dumps({"before": before, "after": state()}))
"""


def test_importing_tinyia3_changes_no_backend_and_no_warnings_filter():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run([sys.executable, "-c", SIDE_EFFECTS], env=env, capture_output=True, text=True, check=True)
    state = json.loads(result.stdout)
    assert state["after"] == state["before"]


def test_in_a_notebook_the_options_come_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYIA3_QUICK", "1")
    monkeypatch.setenv("TINYIA3_OUT", str(tmp_path / "figures"))
    monkeypatch.setenv("TINYIA3_MODEL", "some-model")
    monkeypatch.setenv("TINYIA3_SEED", "7")
    args = lesson.setup(5, "Training an adapter", argv=[])  # a notebook passes no arguments
    assert (args.quick, args.out, args.model, args.seed) == (True, tmp_path / "figures", "some-model", 7)
    assert (tmp_path / "figures").is_dir() and "(quick mode)" in capsys.readouterr().out
    assert lesson.setup(5, "x", argv=["--out", str(tmp_path / "o")]).out == tmp_path / "o"  # options still win


def test_without_options_figures_go_below_the_working_folder(tmp_path, monkeypatch):
    for name in ("TINYIA3_QUICK", "TINYIA3_OUT", "TINYIA3_MODEL", "TINYIA3_SEED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    args = lesson.setup(3, "Backward", argv=[])
    assert (args.quick, args.model, args.seed) == (False, "embedded", 0)
    assert args.out.resolve() == tmp_path / "out" / "lessons" / "03" and args.out.is_dir()


@pytest.mark.parametrize("name, value", [("TINYIA3_QUICK", "yes"), ("TINYIA3_SEED", "-1")])
def test_a_bad_environment_value_is_one_line(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ArgumentError, match=f"{name} must be .*found {value!r}"):
        lesson.setup(1, "x", argv=[])


def _outputs(notebook):
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("script", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_as_a_notebook_shows_every_figure_it_writes(script, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("TINYIA3_QUICK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TINYIA3_OUT", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, as in Jupyter
    notebook = jupytext.read(script)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails

    pngs = sorted((tmp_path / "out" / "lessons" / script.name[:2]).rglob("*.png"))
    images = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert pngs, f"{script.name} as a notebook wrote no figure below its working folder {tmp_path}"
    assert len(images) == len(pngs), (f"{script.name}: {len(pngs)} figures written "
                                      f"({', '.join(p.name for p in pngs)}) but {len(images)} shown inline")
    assert "(quick mode)" in "".join(o.get("text", "") for o in _outputs(notebook))
