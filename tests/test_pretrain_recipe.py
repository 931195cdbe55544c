"""The pre-training recipe's phases (tools/pretrain_embedded.py): schedule and resume rules."""

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "pretrain_embedded.py"
spec = importlib.util.spec_from_file_location("pretrain_embedded", TOOL)
pretrain = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pretrain)


def args(*extra):
    return pretrain.parse_args(["--steps", "30", "--warmup", "3", "--lr", "2e-3", *extra])


def test_a_second_phase_has_its_own_schedule_and_mixture():
    a = args("--then", "20:1e-3:2:scripture=1,drama=2,technical=1,plain=4")
    assert a.total_steps == 50
    second = a.phases[1]
    assert second["mix"] == [0.125, 0.25, 0.125, 0.5]
    phase, local = pretrain.phase_at(a.phases, 30)
    assert phase is second and local == 0
    assert pretrain.phase_at(a.phases, 29)[0] is a.phases[0]
    assert pretrain.is_phase_end(a.phases, 30) and pretrain.is_phase_end(a.phases, 50)
    assert not pretrain.is_phase_end(a.phases, 31)


def test_a_finished_run_may_be_continued_by_more_phases_only():
    one, two = args(), args("--then", "20:1e-3:2")
    assert "then" not in pretrain.run_recipe(one)  # old checkpoints keep resuming
    assert pretrain.continues(pretrain.run_recipe(one), pretrain.run_recipe(two))
    assert not pretrain.continues(pretrain.run_recipe(two), pretrain.run_recipe(one))
    other_first = pretrain.parse_args(["--steps", "30", "--warmup", "3", "--lr", "1e-3", "--then", "20:1e-3:2"])
    assert not pretrain.continues(pretrain.run_recipe(one), pretrain.run_recipe(other_first))


@pytest.mark.parametrize("spec, words", [
    ("20", "STEPS:LR:WARMUP"), ("0:1e-3:0", "STEPS > 0"), ("20:nan:2", "LR > 0"), ("20:1e-3:20", "WARMUP < STEPS"),
    ("20:1e-3:2:drama=1", "a non-negative weight for each"), ("20:1e-3:2:drama", "not register=weight"),
])
def test_a_bad_phase_is_refused_by_name(spec, words, capsys):
    with pytest.raises(SystemExit):
        args("--then", spec)
    assert words in capsys.readouterr().err
