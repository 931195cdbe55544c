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
