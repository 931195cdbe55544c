"""The IA³ training loop: it learns, it is deterministic, it resumes exactly, it stops on NaN."""

import json

import numpy as np
import pytest

import tinyia3
from tinyia3.cli import main
from tinyia3.data import load_dataset
from tinyia3.errors import TrainingInterrupted
from tinyia3.train import TrainConfig, TrainingStopped, batch_indices, evaluate, train


@pytest.fixture(scope="module")
def model():
    return tinyia3.load_model("embedded")


@pytest.fixture
def lm_file(tmp_path):
    lines = [{"prompt": f"Customer {i}: my notes will not sync.\nAgent:", "completion": " Hi, try turning sync off and on."}
             for i in range(6)]
    path = tmp_path / "lm.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.fixture
def mc_file(tmp_path):
    lines = [{"prompt": f"Review {i}: it was {'lovely' if i % 2 else 'awful'}.\nSentiment:",
              "choices": [" good", " bad"], "label": i % 2 == 0} for i in range(6)]
    for line in lines:
        line["label"] = int(line["label"])
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def dataset(model, path):
    return load_dataset(path, tinyia3.load_tokenizer("embedded"), model.config.n_positions)


def test_batches_cover_every_example_once_per_epoch():
    seen = np.concatenate([batch_indices(10, step, 5, seed=3) for step in range(2)])
    assert sorted(seen) == list(range(10))
    np.testing.assert_array_equal(batch_indices(10, 7, 4, 3), batch_indices(10, 7, 4, 3))
    assert not np.array_equal(batch_indices(10, 0, 10, 3), batch_indices(10, 0, 10, 4))


def test_training_lowers_the_loss(model, lm_file, tmp_path):
    data = dataset(model, lm_file)
    history = train(model, data, data, tmp_path / "run", TrainConfig(steps=20, batch_size=3, lr=3e-2, eval_every=20),
                    progress=False, log=lambda *_: None)
    before, after = history[0]["eval"]["loss"], history[-1]["eval"]["loss"]
    assert after < before - 0.05, (before, after)
    ia3 = tinyia3.IA3.load(tmp_path / "run" / "adapter.safetensors", model)
    assert not np.all(ia3.l_ff == 1) and ia3.base_model == "embedded"
    assert evaluate(model, ia3, data)["loss"] == pytest.approx(after, rel=1e-6)


def test_queries_train_peft_placement_and_the_paper_placement_has_no_l_q(model, lm_file, tmp_path):
    """--queries adds l_q (PEFT scales c_attn's q|k|v); it trains, is saved and is read back."""
    data = dataset(model, lm_file)
    train(model, data, None, tmp_path / "q", TrainConfig(steps=3, batch_size=3, lr=3e-2, queries=True), progress=False)
    train(model, data, None, tmp_path / "p", TrainConfig(steps=3, batch_size=3, lr=3e-2), progress=False)
    with_q, paper = (tinyia3.IA3.load(tmp_path / f / "adapter.safetensors", model) for f in ("q", "p"))
    assert with_q.l_q is not None and np.abs(with_q.l_q - 1).max() > 1e-3 and paper.l_q is None
    assert not np.array_equal(with_q.l_k, paper.l_k)  # the queries' scales change what k and v learn


def test_multiple_choice_training_reports_accuracy(model, mc_file, tmp_path):
    data = dataset(model, mc_file)
    history = train(model, data, data, tmp_path / "run", TrainConfig(steps=4, batch_size=2, eval_every=2),
                    progress=False)
    assert set(history[0]["eval"]) == {"accuracy", "loss"} and 0 <= history[-1]["eval"]["accuracy"] <= 1


def test_same_seed_gives_the_same_adapter(model, lm_file, tmp_path):
    data = dataset(model, lm_file)
    config = TrainConfig(steps=4, batch_size=2, lr=1e-2, eval_every=4)
    for run in ("a", "b"):
        train(model, data, None, tmp_path / run, config, progress=False)
    a, b = (tinyia3.IA3.load(tmp_path / run / "adapter.safetensors") for run in ("a", "b"))
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.all(a.l_ff == 1)


def test_resume_continues_exactly_where_it_stopped(model, lm_file, tmp_path, monkeypatch):
    data = dataset(model, lm_file)
    config = TrainConfig(steps=6, batch_size=2, lr=1e-2, save_every=3, eval_every=6)
    train(model, data, None, tmp_path / "straight", config, progress=False)

    import tinyia3.train as train_module

    original = train_module.step_loss_and_grad
    calls = {"n": 0}

    def crash_after_three(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # the session ends mid-run
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "step_loss_and_grad", crash_after_three)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 4 of 6; the last saved step is 3.*--resume"):
        train(model, data, None, tmp_path / "resumed", config, progress=False)
    monkeypatch.setattr(train_module, "step_loss_and_grad", original)
    history = train(model, data, None, tmp_path / "resumed", config, resume=True, progress=False, log=lambda *_: None)
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6]
    straight = tinyia3.IA3.load(tmp_path / "straight" / "adapter.safetensors")
    resumed = tinyia3.IA3.load(tmp_path / "resumed" / "adapter.safetensors")
    for name in ("l_k", "l_v", "l_ff"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name))


def test_resume_without_a_checkpoint(model, lm_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="--resume: no checkpoint"):
        train(model, dataset(model, lm_file), None, tmp_path / "none", TrainConfig(steps=2, batch_size=2), resume=True)


def test_resume_with_other_settings_is_refused(model, lm_file, tmp_path):
    data = dataset(model, lm_file)
    train(model, data, None, tmp_path / "r", TrainConfig(steps=2, batch_size=2, save_every=1), progress=False)
    with pytest.raises(ValueError, match="lr was 0.003, now 0.1"):
        train(model, data, None, tmp_path / "r", TrainConfig(steps=4, batch_size=2, save_every=1, lr=0.1),
              resume=True, progress=False)


def test_nan_loss_stops_cleanly_and_keeps_the_last_good_adapter(model, lm_file, tmp_path):
    broken = tinyia3.GPT2(model.config, dict(model.params), name="embedded")
    broken.params["ln_f.weight"] = model.params["ln_f.weight"].copy()
    broken.params["ln_f.weight"][0] = np.nan
    with pytest.raises(TrainingStopped, match="loss is nan.*last good adapter"):
        train(broken, dataset(model, lm_file), None, tmp_path / "nan", TrainConfig(steps=3, batch_size=2), progress=False)
    kept = tinyia3.IA3.load(tmp_path / "nan" / "adapter.safetensors")
    assert np.all(kept.l_k == 1) and np.all(np.isfinite(kept.l_ff))


def test_cli_train_eval_inspect_generate(lm_file, mc_file, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(mc_file), "--eval-data", str(mc_file), "--out", str(out),
                 "--steps", "3", "--batch-size", "2", "--eval-every", "3"]) == 0
    printed = capsys.readouterr().out
    assert "held-out before: accuracy" in printed and "held-out after:  accuracy" in printed
    adapter = str(out / "adapter.safetensors")
    assert main(["eval", "--data", str(mc_file), "--adapter", adapter]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["inspect", adapter, "--png", str(tmp_path / "scales.png")]) == 0
    printed = capsys.readouterr().out
    assert "inhibited" in printed and (tmp_path / "scales.png").stat().st_size > 0
    assert (tmp_path / "scales_counts.png").stat().st_size > 0
    assert main(["generate", "Hi", "--adapter", adapter, "--max-new-tokens", "3", "--seed", "0"]) == 0
    assert main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    assert main(["train", "--data", str(lm_file), "--out", str(tmp_path / "x"), "--resume", "--batch-size", "2"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_full_fine_tuning_trains_a_copy_and_saves_it(model, lm_file, tmp_path):
    data = dataset(model, lm_file)
    before = {k: v.copy() for k, v in model.params.items()}
    history = train(model, data, data, tmp_path / "full",
                    TrainConfig(steps=4, batch_size=3, lr=1e-3, eval_every=4, method="full"), progress=False)
    assert history[-1]["eval"]["loss"] < history[0]["eval"]["loss"]
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])  # the caller's model is frozen
    tuned = tinyia3.load_model(tmp_path / "full" / "model")
    assert evaluate(tuned, None, data)["loss"] == pytest.approx(history[-1]["eval"]["loss"], rel=1e-6)


@pytest.mark.parametrize("bad, message", [
    ({"clip": -1.0}, "clip must be a positive finite number"),
    ({"clip": 0.0}, "clip must be a positive finite number"),
    ({"lr": 0.0}, "lr must be a positive finite number"),
    ({"lr": -1e-2}, "lr must be a positive finite number"),
    ({"lr": float("nan")}, "lr must be a positive finite number"),
    ({"warmup": -3}, "warmup must be an integer from 0 to steps - 1"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"batch_size": 0}, "batch-size must be a positive integer"),
    ({"eval_every": 0}, "eval-every must be an integer from 1 to steps"),
    ({"steps": 20, "save_every": 50}, "save-every must be an integer from 1 to steps = 20"),
    ({"steps": 20, "eval_every": 21}, "eval-every must be an integer from 1 to steps = 20"),
    ({"method": "lora", "queries": True}, "queries must be False for --method lora"),
    ({"method": "prefix"}, "method must be one of ia3, lora, bitfit, full"),
    ({"terms": ("lm", "xx")}, "terms must be a non-empty subset"),
    ({"rank": True}, "rank must be a positive integer"),
])
def test_every_setting_is_checked_where_it_enters(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)
