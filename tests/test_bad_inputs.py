"""The bad-input matrix: every way in refuses a bad option, file or folder with one line that
names it, and exits with status 2 (argparse's own refusals too), before any work.

Each case is (argv, words the message must contain). Files are built per test in tmp_path by
the `files` fixture; `{name}` in an argument is replaced by that file's path.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import tinyia3
import tinyia3.losses  # noqa: F401  (the API cases call tinyia3.losses.…)
from tinyia3 import data, exercises, gradcheck, train
from tinyia3.cli import main
from tinyia3.generate import generate_ids

EMBEDDED = Path(tinyia3.__file__).resolve().parent.parent / "data" / "embedded"
LM = [{"prompt": f"Customer {i}: my notes will not sync.\nAgent:", "completion": " Hi, turn sync off and on."}
      for i in range(6)]
MC = [{"prompt": f"Review {i}: it was {'lovely' if i % 2 else 'awful'}.\nSentiment:", "choices": [" good", " bad"],
       "label": i % 2} for i in range(6)]


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _adapter(path: Path, **change) -> Path:
    """A valid IA³ file for the embedded model, with tensors replaced/added by `change`."""
    c = json.loads((EMBEDDED / "config.json").read_text())
    L, C, F = c["n_layer"], c["n_embd"], c.get("n_inner") or 4 * c["n_embd"]
    tensors = {"l_k": np.ones((L, C), np.float32), "l_v": np.ones((L, C), np.float32),
               "l_ff": np.ones((L, F), np.float32)}
    tensors.update(change)
    meta = {"format": "tinyia3-ia3", "format_version": "1", "base_model": "embedded",
            "n_layer": str(tensors["l_k"].shape[0]), "n_embd": str(tensors["l_k"].shape[-1]),
            "n_inner": str(tensors["l_ff"].shape[-1])}
    save_file(tensors, str(path), metadata=meta)
    return path


@pytest.fixture
def files(tmp_path):
    L, C = 6, 192
    nan = np.ones((L, C), np.float32)
    nan[2, 5] = np.nan
    inf = np.ones((L, C), np.float32)
    inf[0, 0] = np.inf
    folder_nan = tmp_path / "model_nan"
    shutil.copytree(EMBEDDED, folder_nan, ignore=shutil.ignore_patterns("sizing", "README.md"))
    model = tinyia3.load_model("embedded")
    params = {k: np.array(v) for k, v in model.params.items()}
    params["h.3.mlp.c_fc.weight"][0, 0] = np.nan
    save_file(params, str(folder_nan / "model.safetensors"), metadata={"format": "pt"})
    folder_eps = tmp_path / "model_eps"
    shutil.copytree(EMBEDDED, folder_eps, ignore=shutil.ignore_patterns("sizing", "README.md"))
    cfg = json.loads((folder_eps / "config.json").read_text())
    (folder_eps / "config.json").write_text(json.dumps({**cfg, "layer_norm_epsilon": -1}))
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    used = tmp_path / "used_run"
    used.mkdir()
    (used / "history.jsonl").write_text("{}\n")
    return {
        "lm": _jsonl(tmp_path / "lm.jsonl", LM), "mc": _jsonl(tmp_path / "mc.jsonl", MC),
        "empty": _jsonl(tmp_path / "empty.jsonl", []), "latin1": latin,
        "a_file": _jsonl(tmp_path / "a_file.txt", [{}]), "used": used, "out": tmp_path / "run",
        "nan_adapter": _adapter(tmp_path / "nan.safetensors", l_k=nan),
        "inf_adapter": _adapter(tmp_path / "inf.safetensors", l_v=inf),
        "int_adapter": _adapter(tmp_path / "int.safetensors", l_k=np.ones((L, C), np.int64)),
        "extra_adapter": _adapter(tmp_path / "extra.safetensors", bonus=np.ones((L, C), np.float32)),
        "flat_adapter": _adapter(tmp_path / "flat.safetensors", l_k=np.ones(L * C, np.float32)),
        "small_adapter": _adapter(tmp_path / "small.safetensors", l_k=np.ones((2, 8), np.float32),
                                  l_v=np.ones((2, 8), np.float32), l_ff=np.ones((2, 32), np.float32)),
        "not_adapter": EMBEDDED / "model.safetensors", "model_nan": folder_nan, "model_eps": folder_eps,
        "missing": tmp_path / "missing.jsonl",
    }


def _fill(argv, files):
    out = []
    for a in argv:
        for name, path in files.items():
            a = a.replace("{" + name + "}", str(path))
        out.append(a)
    return out


TRAIN = ["train", "--data", "{lm}", "--out", "{out}", "--batch-size", "2", "--steps", "2"]

OPTIONS = [  # argparse: refused before anything is loaded
    (["train", "--data", "{lm}", "--out", "{out}", "--steps", "0"], ["--steps", "positive integer", "'0'"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--steps", "-5"], ["--steps", "positive integer"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--steps", "ten"], ["--steps", "'ten'"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--batch-size", "0"], ["--batch-size", "positive integer"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--lr", "0"], ["--lr", "positive finite"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--lr", "-1e-2"], ["--lr", "positive finite"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--lr", "nan"], ["--lr", "'nan'"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--lr", "inf"], ["--lr", "'inf'"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--clip", "-1"], ["--clip", "positive finite"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--clip", "0"], ["--clip", "positive finite"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--warmup", "-3"], ["--warmup", "integer >= 0"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--eval-every", "0"], ["--eval-every", "positive integer"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--save-every", "0"], ["--save-every", "positive integer"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--steps", "3", "--save-every", "5"], ["save-every", "from 1 to steps = 3"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--steps", "3", "--eval-every", "5"], ["eval-every", "from 1 to steps = 3"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--method", "lora", "--queries"], ["queries", "--method lora"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--rank", "0"], ["--rank", "positive integer"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--alpha", "-2"], ["--alpha", "positive finite"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--seed", "-1"], ["--seed", "integer >= 0"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--method", "prefix"], ["--method", "invalid choice"]),
    (["generate", "Hi", "--max-new-tokens", "0"], ["--max-new-tokens", "positive integer"]),
    (["generate", "Hi", "--temperature", "-1"], ["--temperature", ">= 0"]),
    (["generate", "Hi", "--top-k", "0"], ["--top-k", "positive integer"]),
    (["generate", "Hi", "--top-p", "0"], ["--top-p", "(0, 1]"]),
    (["generate", "Hi", "--top-p", "1.5"], ["--top-p", "(0, 1]"]),
    (["gradcheck", "--coords", "0"], ["--coords", "positive integer"]),
    (["gradcheck", "--tokens", "2"], ["--tokens", ">= 3"]),
    (["inspect", "x.safetensors", "--tol", "1"], ["--tol", "[0, 1)"]),
    (["compare", "x", "--prompts", "p", "--max-new-tokens", "0"], ["--max-new-tokens", "positive integer"]),
    (["compare", "x", "--prompts", "p", "--show", "-1"], ["--show", "integer >= 0"]),
]

ARGUMENTS = [  # checked by tinyia3 where they enter, before training
    (TRAIN + ["--warmup", "2"], ["warmup", "steps - 1 = 1", "found 2"]),
    (["train", "--data", "{lm}", "--out", "{out}", "--batch-size", "100000"], ["--batch-size 100000", "6 training examples"]),
    (TRAIN + ["--resume", "--overwrite"], ["--resume", "--overwrite", "one of them"]),
    (["train", "--data", "{lm}", "--out", "{a_file}", "--batch-size", "2"], ["is a file", "--out"]),
    (["train", "--data", "{lm}", "--out", "{used}", "--batch-size", "2"], ["already holds a run", "--resume", "--overwrite"]),
    (TRAIN + ["--resume"], ["no checkpoint", "--resume"]),
    (TRAIN + ["--eval-data", "{mc}"], ["{mc}", "'mc'", "same task"]),
    (TRAIN + ["--method", "lora", "--targets", "c_attn"], ["PEFT's short name", "attn.c_attn"]),
    (TRAIN + ["--method", "lora", "--targets", "attn.c_attn,attn.c_attn"], ["distinct"]),
    (TRAIN + ["--terms", "lm,xx"], ["terms", "subset"]),
    (["gradcheck", "--tokens", "100000"], ["--tokens 100000", "context of 256"]),
    (["check"], ["name the exercise", "--list"]),
    (["check", "no_such_exercise"], ["no_such_exercise"]),
    (["check", "gelu_backward", "--solution", "--file", "x.py"], ["--solution", "--file"]),
    (["check", "gelu_backward", "--file", "{missing}"], ["missing.jsonl", "does not exist"]),
]

FILES = [  # a file or folder that is missing, damaged, or holds the wrong thing
    (["train", "--data", "{missing}", "--out", "{out}"], ["{missing}", "does not exist"]),
    (["train", "--data", "{empty}", "--out", "{out}"], ["{empty}", "empty"]),
    (["train", "--data", "{latin1}", "--out", "{out}"], ["{latin1}:2", "not UTF-8", "0xe9"]),
    (["train", "--data", "{a_file}", "--out", "{out}"], ["{a_file}:1", "cannot tell the task"]),
    (["eval", "--data", "{lm}", "--adapter", "{missing}"], ["{missing}", "does not exist"]),
    (["eval", "--data", "{lm}", "--adapter", "{nan_adapter}"], ["{nan_adapter}", "l_k", "1 non-finite value"]),
    (["generate", "Hi", "--adapter", "{nan_adapter}"], ["{nan_adapter}", "l_k", "NaN or inf"]),
    (["generate", "Hi", "--adapter", "{inf_adapter}"], ["{inf_adapter}", "l_v", "non-finite"]),
    (["eval", "--data", "{lm}", "--adapter", "{int_adapter}"], ["{int_adapter}", "l_k", "int64", "floating point"]),
    (["eval", "--data", "{lm}", "--adapter", "{extra_adapter}"], ["{extra_adapter}", "unexpected tensor 'bonus'"]),
    (["eval", "--data", "{lm}", "--adapter", "{flat_adapter}"], ["{flat_adapter}", "l_k", "(n_layer, channels)"]),
    (["eval", "--data", "{lm}", "--adapter", "{small_adapter}"], ["{small_adapter}", "Load the base model"]),
    (["inspect", "{not_adapter}"], ["not a tinyia3 adapter", "format"]),
    (["inspect", "{flat_adapter}"], ["{flat_adapter}", "(n_layer, channels)"]),
    (["info", "--model", "{model_nan}"], ["h.3.mlp.c_fc.weight", "1 non-finite value"]),
    (["generate", "Hi", "--model", "{model_nan}"], ["h.3.mlp.c_fc.weight", "NaN or inf"]),
    (["info", "--model", "{model_eps}"], ["config.json", "layer_norm_epsilon", "-1"]),
    (["info", "--model", "{a_file}"], ["a_file.txt"]),
    (["info", "--model", "{out}"], ["run"]),
    (["compare", "{nan_adapter}", "--prompts", "{lm}"], ["{nan_adapter}", "non-finite"]),
]


@pytest.mark.parametrize("argv, words", OPTIONS + ARGUMENTS + FILES,
                         ids=[" ".join(a[:1] + [w for w in a if w.startswith("--") and w not in ("--data", "--out")][-1:])
                              + f" #{i}" for i, (a, _) in enumerate(OPTIONS + ARGUMENTS + FILES)])
def test_refused_with_one_line_naming_it(argv, words, files, capsys):
    try:
        status = main(_fill(argv, files))
    except SystemExit as exit_:  # argparse refuses options this way
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    last = err.splitlines()[-1]
    message = last if "Ways out" not in err else err
    for word in _fill(words, files):
        assert word in message, f"{word!r} not in {message!r}"
    assert "Traceback" not in err
    assert not (files["out"] / "state.safetensors").exists()  # refused before any training


def test_the_matrix_is_large_enough():
    assert len(OPTIONS + ARGUMENTS + FILES) >= 60


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only TinyIA3Error and OS errors become one line; a TypeError from a bug propagates."""
    import tinyia3.cli as cli

    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(cli, "cmd_info", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["info"])


# -- runs that cannot be mixed up -----------------------------------------------------------------


def _train(files, *extra, data="lm", model=None):
    argv = ["train", "--data", str(files[data]), "--out", str(files["out"]), "--batch-size", "2",
            "--steps", "2", "--save-every", "1", *extra]
    if model:
        argv += ["--model", str(model)]
    return main(argv)


def test_resume_refuses_another_dataset(files, capsys):
    assert _train(files) == 0
    shutil.copy(files["lm"], files["out"].parent / "other.jsonl")
    other = _jsonl(files["out"].parent / "other.jsonl", LM[:3] + LM[:3])
    capsys.readouterr()
    assert main(["train", "--data", str(other), "--out", str(files["out"]), "--batch-size", "2", "--steps", "4",
                 "--save-every", "1", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "the training data" in err and "other.jsonl" in err and "differs from the saved run's" in err


def _nudged_copy(folder: Path, tensor: str) -> Path:
    """The embedded model with one tensor moved by 0.01: same shape, other weights."""
    shutil.copytree(EMBEDDED, folder, ignore=shutil.ignore_patterns("sizing", "README.md"))
    params = {k: np.array(v) for k, v in tinyia3.load_model("embedded").params.items()}
    params[tensor] += np.float32(0.01)
    save_file(params, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def test_resume_refuses_another_model_of_the_same_shape(files, tmp_path, capsys):
    assert _train(files) == 0
    other = _nudged_copy(tmp_path / "other_model", "ln_f.bias")
    capsys.readouterr()
    assert _train(files, "--resume", model=other) == 2
    assert "the base model's weights differ from the saved run's" in capsys.readouterr().err


def test_overwrite_replaces_a_used_folder(files, capsys):
    assert _train(files) == 0
    assert _train(files) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert _train(files, "--overwrite", "--lr", "1e-2") == 0
    state = tinyia3.checkpoint.read_safetensors(files["out"] / "state.safetensors")[1]
    assert json.loads(state["config"])["lr"] == 1e-2


def test_a_live_lock_refuses_a_second_writer_and_a_stale_one_is_taken(files, capsys):
    import subprocess
    import sys

    files["out"].mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (files["out"] / ".lock").write_text(f"{sleeper.pid} host\n")
        assert _train(files) == 2
        assert f"in use by another tinyia3 process (pid {sleeper.pid}" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _train(files) == 0  # its writer is gone: the lock is stale
    assert not (files["out"] / ".lock").exists()


def test_stale_temp_files_are_removed(files):
    files["out"].mkdir()
    (files["out"] / ".state.safetensors.tmp-99999").write_bytes(b"half")
    assert _train(files) == 0
    assert not list(files["out"].glob(".*.tmp-*"))


# -- the hub on a network that accepts and never answers ------------------------------------------


def test_the_hub_fails_fast_on_a_silent_network(monkeypatch, tmp_path):
    from huggingface_hub import constants

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True).start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    start = time.monotonic()
    with pytest.raises(tinyia3.hub.ModelNotAvailableError, match="accepts connections but does not answer"):
        tinyia3.load_model("gpt2", cache_dir=str(tmp_path / "cache"))
    assert time.monotonic() - start <= 10.0
    server.close()


# -- the exercise checker cannot be fooled --------------------------------------------------------

PASSING = "from tinyia3.ops import gelu_backward as _ref\n\ndef gelu_backward(dout, cache):\n    return _ref(dout, cache)\n"
CHEATS = {
    "exits while loading": PASSING + "raise SystemExit(0)\n",
    "exits when called": "import sys\n\ndef gelu_backward(dout, cache):\n    sys.exit(0)\n",
    "os._exit when called": "import os\n\ndef gelu_backward(dout, cache):\n    os._exit(0)\n",
    "patches the reference and prints PASSED": (
        "import numpy as np, tinyia3.ops, tinyia3.exercises\n\n"
        "def gelu_backward(dout, cache):\n    return np.zeros_like(dout)\n\n"
        "tinyia3.ops.gelu_backward = gelu_backward\n"
        "for e in tinyia3.exercises.EXERCISES.values():\n    object.__setattr__(e, 'reference', gelu_backward)\n"
        "print('PASSED: gelu_backward agrees with finite differences')\n"),
}


@pytest.mark.parametrize("how", CHEATS)
def test_the_checker_judges_only_returned_values(how, tmp_path, capsys):
    path = tmp_path / "gelu_backward.py"
    path.write_text(CHEATS[how])
    assert main(["check", "gelu_backward", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "NOT PASSED" in out and "\nPASSED" not in out


def test_the_checker_passes_a_right_answer(tmp_path, capsys):
    path = tmp_path / "gelu_backward.py"
    path.write_text(PASSING)
    assert main(["check", "gelu_backward", "--file", str(path)]) == 0
    assert "PASSED: gelu_backward agrees" in capsys.readouterr().out


# -- a run killed at random instants ---------------------------------------------------------------


def _run_files_are_whole(folder: Path) -> None:
    """Every finished file of a run folder parses: a kill never leaves a half-written one."""
    if (folder / "state.safetensors").exists():
        tinyia3.checkpoint.read_safetensors(folder / "state.safetensors")
    if (folder / "adapter.safetensors").exists():
        tinyia3.IA3.load(folder / "adapter.safetensors")
    if (folder / "history.jsonl").exists():
        for line in (folder / "history.jsonl").read_text().splitlines():
            json.loads(line)


@pytest.mark.slow
def test_sigkill_at_random_instants_then_resume_is_bit_exact(files, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    code = "import sys; from tinyia3.cli import main; sys.exit(main())"

    def command(out, *extra):
        return [sys.executable, "-c", code, "train", "--data", str(files["lm"]), "--eval-data", str(files["lm"]),
                "--out", str(out), "--batch-size", "2", "--steps", "40", "--save-every", "1", "--eval-every", "10",
                "--lr", "3e-2", *extra]

    straight = tmp_path / "straight"
    start = time.monotonic()
    subprocess.run(command(straight), env=env, check=True, capture_output=True)
    duration = time.monotonic() - start  # kills land anywhere in a run of this length
    killed, rng, kills = tmp_path / "killed", np.random.default_rng(0), 0
    while True:
        extra = ("--resume",) if (killed / "state.safetensors").exists() else ("--overwrite",)
        process = subprocess.Popen(command(killed, *extra), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 8:
            try:
                process.wait(timeout=float(rng.uniform(0.1, 0.9)) * duration)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                _run_files_are_whole(killed)
                continue
        else:
            process.wait(timeout=300)
        assert process.returncode == 0, process.stderr.read().decode()
        break
    assert kills >= 3  # the kills did land mid-run
    a, b = (tinyia3.IA3.load(f / "adapter.safetensors") for f in (straight, killed))
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name))  # bit-exact, float32
    assert (killed / "history.jsonl").read_text() == (straight / "history.jsonl").read_text()
    assert not list(killed.glob(".*.tmp-*")) and not (killed / ".lock").exists()


def test_an_adapter_is_refused_on_other_base_weights_of_the_same_shape(files, tmp_path, capsys):
    assert _train(files) == 0
    adapter = str(files["out"] / "adapter.safetensors")
    other = _nudged_copy(tmp_path / "fine_tuned_base", "h.0.ln_1.bias")
    capsys.readouterr()
    assert main(["eval", "--data", str(files["lm"]), "--adapter", adapter, "--model", str(other)]) == 2
    assert "trained on other base weights" in capsys.readouterr().err
    assert main(["eval", "--data", str(files["lm"]), "--adapter", adapter]) == 0  # its own base: fine
    float64 = tinyia3.load_model("embedded", dtype=np.float64)
    tinyia3.load_adapter(adapter, float64)  # the same weights in float64: the same base


# -- the Python API checks its arguments where they enter -----------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """What the API cases call with: the embedded model and tokenizer, small datasets, adapters."""
    from types import SimpleNamespace

    folder = tmp_path_factory.mktemp("api")
    model, tokenizer = tinyia3.load_model("embedded"), tinyia3.load_tokenizer("embedded")
    lm, mc = (data.load_dataset(_jsonl(folder / f"{kind}.jsonl", records), tokenizer, model.config.n_positions)
              for kind, records in (("lm", LM), ("mc", MC)))
    record = model.forward(np.array([1, 2, 3]), tinyia3.IA3.ones(model), cache=True)[1]
    return SimpleNamespace(model=model, tok=tokenizer, lm=lm, mc=mc, folder=folder, out=folder / "run",
                           ia3=tinyia3.IA3.ones(model), lora=tinyia3.LoRA.init(model), record=record,
                           ids=np.array([[1, 2, 3, 4]]), mc_batch=data.mc_batch(mc.examples[:2]))


API = [  # (call, what the one-line message must say: the function and the argument it refuses)
    (lambda a: tinyia3.IA3.random(a.model, std=-0.1), "std must be a finite number >= 0"),
    (lambda a: tinyia3.IA3.random(a.model, std=float("nan")), "std must be a finite number >= 0"),
    (lambda a: tinyia3.IA3.ones(a.model, dtype=np.int32), "must be floating point"),
    (lambda a: train.evaluate(a.model, None, a.lm, batch_size=0), "batch-size must be a positive integer"),
    (lambda a: train.TrainConfig(lr=float("nan")), "lr must be a positive finite number"),
    (lambda a: tinyia3.generate(a.model, a.tok, "Hi", temperature=-1), "temperature"),
    # the model
    (lambda a: tinyia3.GPT2({"n_layer": 2}, a.model.params), "GPT2: config must be a tinyia3.GPT2Config"),
    (lambda a: tinyia3.GPT2(a.model.config, [1, 2]), "GPT2: params must be a dict"),
    (lambda a: a.model.lm_head(np.zeros((2, 5), np.float32)), r"GPT2.lm_head: hidden must be .*n_embd=192"),
    (lambda a: a.model.forward(np.array([1]), past=[]), "GPT2.forward: past must be a list of n_layer=6"),
    (lambda a: a.model.backward(np.zeros((1, 3, 192)), None, a.ia3), "GPT2.backward: record must be"),
    (lambda a: a.model.backward(np.zeros((1, 3, 192)), a.record, None), "GPT2.backward: adapter must be"),
    (lambda a: a.model.backward(np.zeros((3, 192)), a.record, a.ia3), r"GPT2.backward: dhidden must be .*\(1, 3, 192\)"),
    (lambda a: a.model.backward(np.zeros((1, 3, 192)), a.record, a.ia3, np.zeros(3)), "GPT2.backward: dwte_head"),
    # the losses
    (lambda a: tinyia3.loss("embedded", None, a.ids), r"tinyia3.loss: model must be a tinyia3 GPT2.*load_model\('embedded'\)"),
    (lambda a: tinyia3.loss_and_grad(a.ia3, a.model, a.ids), "tinyia3.loss_and_grad: model must be a tinyia3 GPT2"),
    (lambda a: tinyia3.loss(a.model, None, 5), r"Token ids must have shape \(T,\) or \(B, T\)"),
    (lambda a: tinyia3.loss(a.model, None, a.ids, loss_mask=[[0, 0.5, 1, 1]]), "loss_mask must be 0 .* and 1 .* only"),
    (lambda a: tinyia3.losses.tfew_loss_and_grad(a.model, a.ia3, a.mc_batch, terms="lm"),
     "tfew_loss_and_grad: terms must be a non-empty subset"),
    (lambda a: tinyia3.losses.tfew_loss_and_grad(a.model, a.ia3, a.ids), "tfew_loss_and_grad: batch must be a ChoiceBatch"),
    (lambda a: tinyia3.losses.tfew_loss_and_scores(None, None, a.mc_batch), "tfew_loss_and_scores: model must be"),
    (lambda a: tinyia3.losses.predict(np.zeros(3), a.mc_batch), r"predict: scores must be .*shape \(4,\)"),
    # adapters
    (lambda a: tinyia3.IA3.random(a.model, seed=-1), "IA3.random: seed must be an integer >= 0 or None"),
    (lambda a: a.ia3.map("double"), "IA3.map: fn must be a function"),
    (lambda a: a.ia3.map(lambda v: v.sum()), r"IA3.map: fn must be a function returning an array of the shape"),
    (lambda a: a.ia3.astype(np.int8), "IA3.astype: dtype must be floating point"),
    (lambda a: a.ia3.astype("no such dtype"), "IA3.astype: dtype must be a NumPy dtype"),
    (lambda a: a.ia3.summary(tol=-0.1), r"IA3.summary: tol must be a number in \[0, 1\)"),
    (lambda a: a.ia3.save(None), "IA3.save: path must be a path"),
    (lambda a: a.ia3.save(a.out / "a.safetensors", base_sha256="abc"), "IA3.save: base_sha256 must be None or a sha256"),
    (lambda a: a.ia3.save_peft(3), "IA3.save_peft: folder must be a path"),
    (lambda a: a.ia3.save_peft(a.out, base_model_name_or_path=""), "IA3.save_peft: base_model_name_or_path must be"),
    (lambda a: tinyia3.IA3.load(42), "IA3.load: path must be a path"),
    (lambda a: tinyia3.IA3.load(a.out / "a.safetensors", model="embedded"), "IA3.load: model must be a tinyia3 GPT2"),
    (lambda a: a.ia3.merge_into("embedded"), "IA3.merge_into: model must be a tinyia3 GPT2"),
    (lambda a: a.lora.save(None), "LoRA.save: path must be a path"),
    (lambda a: a.lora.save_peft(a.out, base_model_name_or_path=3), "LoRA.save_peft: base_model_name_or_path must be"),
    (lambda a: tinyia3.LoRA.load(a.out / "l.safetensors", model=a.ia3), "LoRA.load: model must be a tinyia3 GPT2"),
    (lambda a: a.lora.merge_into(None), "LoRA.merge_into: model must be a tinyia3 GPT2"),
    (lambda a: a.lora.astype(np.int32), "LoRA.astype: dtype must be floating point"),
    (lambda a: tinyia3.BitFit.of("embedded"), "BitFit.of: model must be a tinyia3 GPT2"),
    (lambda a: tinyia3.BitFit.of(a.model).astype(int), "BitFit.astype: dtype must be floating point"),
    (lambda a: tinyia3.BitFit.of(a.model).merge_into(a.ia3), "BitFit.merge_into: model must be a tinyia3 GPT2"),
    (lambda a: tinyia3.FullFineTune.of(a.model, copy="yes"), "FullFineTune.of: copy must be True"),
    (lambda a: tinyia3.merge(a.model, [1, 2]), "tinyia3.merge: adapter must be an adapter"),
    (lambda a: tinyia3.merge("embedded", a.ia3), "tinyia3.merge: model must be a tinyia3 GPT2"),
    (lambda a: tinyia3.load_adapter(None), "tinyia3.load_adapter: path must be a path"),
    (lambda a: tinyia3.load_adapter(a.out, model=a.model.config), "tinyia3.load_adapter: model must be"),
    (lambda a: tinyia3.load_model(None), "tinyia3.load_model: name_or_path must be a path"),
    (lambda a: tinyia3.load_model("embedded", dtype="no such dtype"), "tinyia3.load_model: dtype must be a NumPy dtype"),
    (lambda a: tinyia3.load_model("embedded", dtype=np.int64), "tinyia3.load_model: dtype must be floating point"),
    (lambda a: tinyia3.load_model("embedded", cache_dir=3), "tinyia3.load_model: cache_dir must be a path"),
    (lambda a: tinyia3.load_tokenizer(""), "tinyia3.load_tokenizer: name_or_path must be a non-empty path"),
    # gradient checks
    (lambda a: gradcheck.rel_error(np.zeros(3), np.zeros((3, 1))), "rel_error: b must be an array of a's shape"),
    (lambda a: gradcheck.rel_error(np.zeros(3), np.zeros(3), floor=0), "rel_error: floor must be a positive"),
    (lambda a: gradcheck.numerical_gradient("f", np.zeros(3)), "numerical_gradient: f must be a function"),
    (lambda a: gradcheck.numerical_gradient(float, np.arange(3)), "numerical_gradient: x must be a floating-point"),
    (lambda a: gradcheck.numerical_gradient(float, np.zeros((4, 4)).T), "numerical_gradient: x must be an array "
     "that can be nudged in place"),
    (lambda a: gradcheck.numerical_gradient(float, np.zeros(3), h=0), "numerical_gradient: h must be a positive"),
    (lambda a: gradcheck.numerical_gradient(float, np.zeros(3), order=3), r"numerical_gradient: order must be one of \[2, 4\]"),
    (lambda a: gradcheck.numerical_gradient(float, np.zeros(3), index=[5]), "numerical_gradient: index must be .* 2"),
    (lambda a: gradcheck.numerical_vjp(float, np.zeros(3), 1.0), "numerical_vjp: dout must be an array"),
    (lambda a: gradcheck.directional_check(float, [np.zeros(3)], [np.zeros(2)]), "directional_check: grads must be one"),
    (lambda a: gradcheck.directional_check(float, [np.zeros(3)], [np.zeros(3)], seed=-1), "directional_check: seed"),
    (lambda a: gradcheck.check_ia3_gradients("embedded", a.ia3, a.ids), "check_ia3_gradients: model must be"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.lora, a.ids), "check_ia3_gradients: ia3 must be a tinyia3.IA3"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.ia3, a.ids, coords_per_vector=0),
     "check_ia3_gradients: coords_per_vector must be a positive integer"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.ia3, a.ids, h=-1e-3), "check_ia3_gradients: h must be"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.ia3, a.ids, order=1), "check_ia3_gradients: order must be"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.ia3, a.ids, seed=1.5), "check_ia3_gradients: seed must be"),
    (lambda a: gradcheck.check_ia3_gradients(a.model, a.ia3, a.ids, grads=a.lora), "check_ia3_gradients: grads must be"),
    # training
    (lambda a: train.train("embedded", a.lm, None, a.out, train.TrainConfig(batch_size=2)), "train: model must be"),
    (lambda a: train.train(a.model, a.lm.examples, None, a.out, train.TrainConfig(batch_size=2)),
     "train: train_set must be a tinyia3 Dataset"),
    (lambda a: train.train(a.model, a.lm, a.lm.examples, a.out, train.TrainConfig(batch_size=2)),
     "train: eval_set must be a tinyia3 Dataset"),
    (lambda a: train.train(a.model, a.lm, None, a.out, {"steps": 2}), "train: config must be a TrainConfig"),
    (lambda a: train.train(a.model, a.lm, None, None, train.TrainConfig(batch_size=2)), "train: out must be a path"),
    (lambda a: train.train(a.model, a.lm, None, a.out, train.TrainConfig(batch_size=2), resume="no"),
     "train: resume must be True or False"),
    (lambda a: train.train(a.model, a.lm, None, a.out, train.TrainConfig(batch_size=2), overwrite=1),
     "train: overwrite must be True or False"),
    (lambda a: train.train(a.model, a.lm, None, a.out, train.TrainConfig(batch_size=2), progress=None),
     "train: progress must be True or False"),
    (lambda a: train.train(a.model, a.lm, None, a.out, train.TrainConfig(batch_size=2), log="print"),
     "train: log must be a function"),
    (lambda a: train.batch_indices(0, 0, 1, 0), "batch_indices: n must be an integer >= 1"),
    (lambda a: train.batch_indices(10, -1, 2, 0), "batch_indices: step must be an integer >= 0"),
    (lambda a: train.batch_indices(10, 0, 0, 0), "batch_indices: batch_size must be an integer >= 1"),
    (lambda a: train.batch_indices(10, 0, 2, -3), "batch_indices: seed must be an integer >= 0"),
    (lambda a: train.evaluate("embedded", None, a.lm), "evaluate: model must be"),
    (lambda a: train.evaluate(a.model, None, a.lm.examples), "evaluate: dataset must be a tinyia3 Dataset"),
    (lambda a: train.evaluate(a.model, None, a.mc, terms=("lm", "xx")), "evaluate: terms must be a non-empty subset"),
    # datasets and batches
    (lambda a: data.load_dataset(3, a.tok, 64), "load_dataset: path must be a path"),
    (lambda a: data.load_dataset(a.folder / "lm.jsonl", "gpt2", 64), "load_dataset: tokenizer must be a tinyia3 Tokenizer"),
    (lambda a: data.load_dataset(a.folder / "lm.jsonl", a.tok, 1), "load_dataset: n_positions must be an integer >= 2"),
    (lambda a: data.load_groups(a.folder / "lm.jsonl", a.tok, 64, field=""), "load_groups: field must be"),
    (lambda a: data.lm_batch(a.mc.examples), "lm_batch: examples must be a list of LMExample"),
    (lambda a: data.lm_batch([data.LMExample([1, 2], 2)]), r"lm_batch: examples must be whole .*n_prompt < len\(ids\)"),
    (lambda a: data.mc_batch([]), "mc_batch: examples must be a non-empty list of MCExample"),
    (lambda a: data.mc_batch([data.MCExample([1], [[2]], 0)]), "mc_batch: examples must be whole .*two or more"),
    # exercises
    (lambda a: exercises.get(3), "exercises: name must be the name of an exercise"),
    (lambda a: exercises.check("gelu_backward", path="x.py", solution=True), "exercises.check: path must be None"),
    (lambda a: exercises.check("gelu_backward", solution="yes"), "exercises.check: solution must be True or False"),
    (lambda a: exercises.check("gelu_backward", solution=True, seed=-1), "exercises.check: seed must be"),
    (lambda a: exercises.load_function(None, "gelu_backward"), "load_function: path must be a path"),
    (lambda a: exercises.load_function("x.py", 3), "load_function: name must be"),
    # generation
    (lambda a: tinyia3.generate(a.model, a.tok, "Hi", max_new_tokens=-1), "generate: max_new_tokens must be a positive"),
    (lambda a: tinyia3.generate(a.model, a.tok, "Hi", seed=-1), "generate: seed must be"),
    (lambda a: tinyia3.generate("embedded", a.tok, "Hi"), "generate: model must be a tinyia3 GPT2"),
    (lambda a: tinyia3.generate(a.model, "gpt2", "Hi"), "generate: tokenizer must be a tinyia3 Tokenizer"),
    (lambda a: tinyia3.generate(a.model, a.tok, "Hi", top_k=2.5), "top_k must be a positive integer or None"),
    (lambda a: tinyia3.generate(a.model, a.tok, "Hi", temperature=float("nan")), "temperature must be a finite number"),
    (lambda a: generate_ids(a.model, np.array([1]), eos_token_id="<|endoftext|>"), "generate: eos_token_id must be"),
]


@pytest.mark.parametrize("call, words", API, ids=[f"{i}: {w.split(' must')[0][:40]}" for i, (_, w) in enumerate(API)])
def test_the_api_refuses_bad_arguments(call, words, api):
    with pytest.raises(tinyia3.TinyIA3Error, match=words) as refused:
        call(api)
    assert "\n" not in str(refused.value)  # one line
    assert not api.out.exists()  # refused before any work
