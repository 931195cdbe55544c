"""The tinyia3 command: each subcommand runs, and bad input is one clear line, not a traceback."""

import os

import pytest

from tinyia3.cli import main

from conftest import FIXTURES

TINY_HUB = os.path.join(FIXTURES, "tiny_hub")


def test_info_prints_config_counts_and_source(capsys):
    assert main(["info", "--model", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "n_layer=" in out and "IA³" in out and "trainable" in out and "source" in out


def test_generate_is_repeatable_with_a_seed(capsys):
    assert main(["generate", "--model", "embedded", "In the beginning", "--max-new-tokens", "5", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", "--model", "embedded", "In the beginning", "--max-new-tokens", "5", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first and first.startswith("In the beginning")


def test_gradcheck_passes_and_prints_its_table(capsys):
    code = main(["gradcheck", "--model", TINY_HUB])
    out = capsys.readouterr().out
    assert "dl_k layer 0" in out and "dl_ff layer 1" in out and "rel. error" in out
    assert code == 0 and "PASSED" in out


def test_bad_model_path_is_one_clear_line(capsys, tmp_path):
    assert main(["info", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyia3 info: error: Model path") and "Traceback" not in err


def test_help_for_every_command(capsys):
    for command in ("info", "generate", "gradcheck"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        assert "--model" in capsys.readouterr().out


@pytest.mark.slow
def test_gradcheck_passes_on_the_embedded_model(capsys):
    assert main(["gradcheck", "--model", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "dl_k layer 3" in out and "PASSED" in out and "WRONG" not in out


def test_train_eval_generate_inspect_take_a_lora(tmp_path, capsys):
    import json

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": f"In the beginning {i} and the end"}) + "\n" for i in range(6)))
    out = tmp_path / "run"
    assert main(["train", "--model", "embedded", "--data", str(data), "--out", str(out), "--steps", "2",
                 "--batch-size", "2", "--method", "lora", "--rank", "2", "--alpha", "4",
                 "--targets", "attn.c_attn,mlp.c_fc"]) == 0
    text = capsys.readouterr().out
    assert "LoRA(r=2, alpha=4, targets=['attn.c_attn', 'mlp.c_fc']" in text and "adapter:" in text
    adapter = str(out / "adapter.safetensors")
    assert main(["eval", "--model", "embedded", "--data", str(data), "--adapter", adapter]) == 0
    assert "loss" in capsys.readouterr().out
    assert main(["generate", "--model", "embedded", "In the", "--adapter", adapter, "--max-new-tokens", "3"]) == 0
    assert main(["inspect", adapter]) == 0
    assert "attn.c_attn" in capsys.readouterr().out


def test_a_bad_lora_option_is_one_line(tmp_path, capsys):
    import json

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "In the beginning"}) + "\n")
    code = main(["train", "--model", "embedded", "--data", str(data), "--out", str(tmp_path / "r"),
                 "--method", "lora", "--targets", "c_attn"])
    err = capsys.readouterr().err
    assert code == 2 and "PEFT's short name: write attn.c_attn" in err and "Traceback" not in err
