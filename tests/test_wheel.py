"""Tested like a user: the wheel, installed in a fresh virtual environment outside the checkout,
runs from an empty folder with only what it carries (the model, the tokenizer, the datasets,
the lessons and the exercise stubs).

Offline and quick: `python -m build --no-isolation` uses this environment's setuptools (the test
extra), and the fresh environment gets tinyia3 with --no-deps and reads its dependencies from
this environment's site-packages through a .pth file; nothing is downloaded.
"""

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300


def _run(args, cwd, env=None, code=0):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == code, (f"{' '.join(map(str, args))} exited with {result.returncode}, expected {code}\n"
                                       f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}")
    return result.stdout


def _fresh_venv(folder: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed and this environment's packages visible."""
    _run([sys.executable, "-m", "venv", folder], cwd=folder.parent)
    python = folder / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=folder).strip())
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # after its own site-packages
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel], cwd=folder)
    return python


@pytest.mark.slow
def test_the_wheel_runs_from_an_empty_folder(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], cwd=tmp_path)  # sdist, then its wheel
    (wheel,) = dist.glob("tinyia3-*.whl")
    python = _fresh_venv(tmp_path / "venv", wheel)
    tinyia3 = python.parent / "tinyia3"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    env.update(HF_HUB_OFFLINE="1")

    where = _run([python, "-c", "import tinyia3.paths as p; print(p.INSTALLED, p.ROOT)"], empty, env)
    assert where.startswith("True ") and str(tmp_path / "venv") in where  # the wheel's files, not the checkout's

    info = _run([tinyia3, "info"], empty, env)
    assert info.startswith("model      embedded") and "_bundle" in info
    assert _run([tinyia3, "generate", "In the beginning", "--max-new-tokens", "5", "--seed", "0"],
                empty, env).startswith("In the beginning")
    train = _run([tinyia3, "train", "--data", "support_desk_train", "--steps", "2", "--batch-size", "2",
                  "--out", "run"], empty, env)
    assert "330 training examples" in train and (empty / "run" / "adapter.safetensors").is_file()

    _run([tinyia3, "lessons", "class"], empty, env)
    assert (empty / "class" / "exercises" / "layer_norm_backward.py").is_file()
    check = _run([tinyia3, "check", "layer_norm_backward"], empty / "class", env, code=1)  # a stub is unfinished
    assert "checking:  exercises/layer_norm_backward.py" in check and "not done yet" in check
    table = _run([tinyia3, "check", "--all", "class"], empty, env, code=1)  # one student: the copied stubs
    assert "1 students" in table and table.count(" todo") >= 15 and "tinyia3/exercises/" not in table
    lesson = _run([python, "04_ia3_parameter_counts.py", "--quick"], empty / "class", env)
    assert "[figure]" in lesson and list((empty / "class" / "out" / "lessons" / "04").glob("*.png"))
