"""A lesson script runs end to end with --quick and --out and writes readable figures.

Lessons are found by glob (lessons/NN_*.py), so a new lesson is tested as soon as it exists.
Every lesson runs in quick mode, with all its asserts, as a notebook (tests/test_notebooks.py):
running each a second time as a script would double the suite's longest part and test nothing
more, so here the scripts' own path (options from the command line, figures into --out) runs
for two of the quickest lessons, 01 and 07. Each runs in a fresh interpreter, as a student would run it,
on the default (embedded) model, offline, with its figures in a temporary folder.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 120  # --quick should take ~15 s; this leaves room for a loaded CI machine
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_lessons_are_found():
    assert LESSONS, "no lessons/NN_*.py found: is the test run from a checkout of the repository?"


SCRIPTS = [p for p in LESSONS if p.name[:2] in ("01", "07")]


def test_every_lesson_runs_as_a_notebook():
    from test_notebooks import LESSONS as NOTEBOOK_LESSONS

    assert NOTEBOOK_LESSONS == LESSONS  # the notebook test runs each lesson's asserts


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_lesson_runs_quick_and_writes_pngs(script, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    try:
        result = subprocess.run(
            [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
            cwd=script.parent.parent, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script.name} --quick did not finish within {TIMEOUT_S} s")
    assert result.returncode == 0, (
        f"{script.name} --quick exited with {result.returncode}\n"
        f"--- stdout (last 3000 chars) ---\n{result.stdout[-3000:]}\n"
        f"--- stderr (last 3000 chars) ---\n{result.stderr[-3000:]}"
    )

    pngs = sorted(tmp_path.rglob("*.png"))
    assert pngs, f"{script.name} wrote no PNG into --out {tmp_path}; every lesson saves its figures with lesson.save"
    for png in pngs:
        data = png.read_bytes()
        assert data, f"{script.name}: {png.name} is empty"
        assert data.startswith(PNG_SIGNATURE), f"{script.name}: {png.name} is not a PNG (starts with {data[:8]!r})"
