"""The commands users expect: lessons (copies), check in that folder, merge, export, plot, and a
training run's progress off a terminal."""

import io
import json
import os

import numpy as np
import pytest

import tinyia3
from tinyia3.cli import main
from tinyia3.gradcheck import rel_error
from tinyia3.paths import EXERCISES_DIR, LESSONS_DIR
from tinyia3.progress import Progress

from conftest import FIXTURES

TINY_HUB = os.path.join(FIXTURES, "tiny_hub")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- tinyia3 lessons DIR, and tinyia3 check in DIR ------------------------------------------------


def test_lessons_copies_every_lesson_and_stub(tmp_path, capsys):
    assert main(["lessons", str(tmp_path / "class")]) == 0
    lessons = sorted(p.name for p in LESSONS_DIR.glob("[0-9][0-9]_*.py"))
    stubs = sorted(p.name for p in EXERCISES_DIR.glob("*.py"))
    assert sorted(p.name for p in (tmp_path / "class").glob("*.py")) == lessons
    assert sorted(p.name for p in (tmp_path / "class" / "exercises").glob("*.py")) == stubs
    assert (tmp_path / "class" / lessons[0]).read_bytes() == (LESSONS_DIR / lessons[0]).read_bytes()
    assert f"copied {len(lessons)} lessons and {len(stubs)} exercise stubs" in capsys.readouterr().out


def test_lessons_never_overwrites_a_students_file(tmp_path, capsys):
    folder = tmp_path / "class"
    assert main(["lessons", str(folder)]) == 0
    mine = folder / "exercises" / "gelu_backward.py"
    mine.write_text("# my work\n")
    capsys.readouterr()
    assert main(["lessons", str(folder)]) == 0
    assert mine.read_text() == "# my work\n"
    out = capsys.readouterr().out
    assert "copied 0 lessons and 0 exercise stubs" in out and "never overwritten" in out
    assert os.path.join("exercises", "gelu_backward.py") in out


def test_lessons_into_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["lessons", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.startswith("tinyia3 lessons: error: ")


def test_check_in_a_lessons_folder_checks_the_copy_there(tmp_path, capsys, monkeypatch):
    main(["lessons", str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["check", "ia3_scale_backward"]) == 1  # the copied stub is unfinished
    out = capsys.readouterr().out
    assert os.path.join("exercises", "ia3_scale_backward.py") in out and "not done yet" in out
    (tmp_path / "exercises" / "ia3_scale_backward.py").write_text(
        "import numpy as np\n\ndef ia3_scale_backward(dout, cache):\n    x, l = cache\n"
        "    return dout * l, (dout * x).reshape(-1, x.shape[-1]).sum(axis=0)\n")
    assert main(["check", "ia3_scale_backward"]) == 0


def test_check_prefers_name_py_in_the_working_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gelu_backward.py").write_text("def gelu_backward(dout, cache):\n    return dout\n")
    assert main(["check", "gelu_backward"]) == 1
    assert "gelu_backward.py" in capsys.readouterr().out
    assert main(["check", "gelu_backward", "--solution"]) == 0


# -- tinyia3 merge --------------------------------------------------------------------------------


def _adapter_file(tmp_path, model):
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=4)
    return ia3, str(ia3.save(tmp_path / "a.safetensors"))


def test_merge_writes_a_model_with_the_adapters_logits(tmp_path, capsys):
    model = tinyia3.load_model(TINY_HUB)
    ia3, adapter = _adapter_file(tmp_path, model)
    out = tmp_path / "merged"
    assert main(["merge", "--model", TINY_HUB, "--adapter", adapter, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    merged = tinyia3.load_model(out)  # float32, no adapter
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 12))
    # float32: the merged weights are rounded once, the adapted forward rounds (x W) and then · l
    assert rel_error(merged.logits(ids), model.logits(ids, ia3.astype(np.float32))) < 1e-5


def test_merge_carries_the_tokenizer_and_refuses_to_replace_a_model(tmp_path, capsys):
    model = tinyia3.load_model("embedded")
    _, adapter = _adapter_file(tmp_path, model)
    out = tmp_path / "merged"
    assert main(["merge", "--adapter", adapter, "--out", str(out)]) == 0
    assert (out / "vocab.json").is_file() and (out / "merges.txt").is_file()
    assert str(out) in tinyia3.load_tokenizer(out).source
    capsys.readouterr()
    assert main(["merge", "--adapter", adapter, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyia3 merge: error: --out") and "--overwrite" in err and err.count("\n") == 1
    assert main(["merge", "--adapter", adapter, "--out", str(out), "--overwrite"]) == 0


# -- tinyia3 export -------------------------------------------------------------------------------


def test_export_writes_a_peft_folder_that_loads_back_equal(tmp_path, capsys):
    model = tinyia3.load_model(TINY_HUB)
    ia3, adapter = _adapter_file(tmp_path, model)
    peft = tmp_path / "peft"
    assert main(["export", "--adapter", adapter, "--peft", str(peft), "--base-model", "tiny"]) == 0
    config = json.loads((peft / "adapter_config.json").read_text())
    assert config["peft_type"] == "IA3" and config["base_model_name_or_path"] == "tiny"
    back = tinyia3.load_adapter(peft, model)
    for name, value in ia3.named().items():
        np.testing.assert_array_equal(back.named()[name], value.astype(np.float32))
    capsys.readouterr()
    assert main(["export", "--adapter", adapter, "--peft", str(peft)]) == 2
    assert "already holds adapter_config.json" in capsys.readouterr().err


# -- tinyia3 plot, train --png, progress ----------------------------------------------------------


def _write_history(folder, records):
    folder.mkdir()
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_plot_draws_a_multiple_choice_run(tmp_path, capsys):
    records = [{"step": 0, "eval": {"accuracy": 0.4, "loss": 2.0}}]
    records += [{"step": s, "loss": 2.0 - 0.1 * s, "lr": 1e-2, "grad_norm": 1.0} for s in range(1, 9)]
    records[-1]["eval"] = {"accuracy": 0.7, "loss": 1.2}
    _write_history(tmp_path / "run", records)
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "8 training steps, 2 evaluations" in capsys.readouterr().out


def test_plot_of_a_damaged_history_names_the_line(tmp_path, capsys):
    _write_history(tmp_path / "run", [{"step": 1, "loss": 2.0}])
    with open(tmp_path / "run" / "history.jsonl", "a") as f:
        f.write('{"step": 2, "loss"\n')
    assert main(["plot", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "history.jsonl:2: expected a JSON object" in err and err.count("\n") == 1
    assert main(["plot", str(tmp_path / "none")]) == 2
    assert "history.jsonl does not exist" in capsys.readouterr().err


def test_train_off_a_terminal_prints_plain_progress_lines_and_its_curves(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": f"In the beginning {i} and the end"}) + "\n" for i in range(6)))
    png = tmp_path / "curves.png"
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "4", "--batch-size", "2",
                 "--log-every", "2", "--png", str(png)]) == 0
    captured = capsys.readouterr()  # pytest's capture is not a terminal: no bar, no carriage returns
    lines = [line for line in captured.out.splitlines() if line.startswith("IA³ fine-tuning: step")]
    assert [line.split()[3] for line in lines] == ["2/4", "4/4"]
    assert "loss" in lines[0] and "s/step" in lines[0] and "\r" not in captured.out + captured.err
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_a_shipped_dataset_trains_by_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "support_desk_train", "--out", "run", "--steps", "1", "--batch-size", "1"]) == 0
    assert "330 training examples" in capsys.readouterr().out  # data/datasets/support_desk_train.jsonl
    assert (tmp_path / "run" / "adapter.safetensors").is_file()


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere():
    lines = []
    plain = Progress(0, 25, "run", log=lines.append, stream=_Stream(False))
    for step in range(1, 26):
        plain.update(step, loss=1.0)
    assert plain.every == 10 and [line.split()[2] for line in lines] == ["10/25", "20/25", "25/25"]
    terminal = _Stream(True)
    bar = Progress(0, 3, "run", log=lines.append, stream=terminal)
    for step in range(1, 4):
        bar.update(step, loss=1.0)
    bar.close()
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue() and len(lines) == 3
    quiet = Progress(0, 3, "run", enabled=False, log=lines.append, stream=_Stream(False))
    quiet.update(3, loss=1.0)
    assert len(lines) == 3
