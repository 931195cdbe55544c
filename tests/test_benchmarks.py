"""The benchmark scripts run and report what they promise (tiny shapes, tinyia3 only: the
figures themselves are measured by running the scripts, not by tests)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # each builds a 124M-parameter GPT-2-small-shaped model


def test_bench_writes_table_json_and_chart(tmp_path):
    out = tmp_path / "results"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--shapes", "1x8",
                          "--tasks", "forward,lora-step,generate", "--repeats", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(Path(f"{out}.json").read_text())["results"]
    forward, lora, generate = results
    assert (forward["task"], forward["batch"], forward["seq"]) == ("forward", 1, 8)
    assert len(forward["all_seconds"]) == 2 and forward["seconds"] > 0 and forward["peak_rss_mb"] > 100
    assert 0 < forward["share_of_sgemm"] < 1.5
    assert lora["task"] == "lora-step" and lora["seconds"] > 0 and lora["gflop"] > forward["gflop"]
    assert generate["tokens_per_s"] > 0
    assert Path(f"{out}.png").stat().st_size > 10_000
    assert re.search(r"^forward +1x8 \| +[\d.]+ s", Path(f"{out}.txt").read_text(), flags=re.M)


def test_profile_rows_add_up_to_the_step():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "1x16"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    text = run.stdout
    total = float(re.search(r"step at 1x16: ([\d.]+) s", text).group(1))
    shares = [float(s) for s in re.findall(r" ([\d.]+)%\s*(?:\d+\s+\d+%)?$", text, flags=re.M)]
    # Self times do not double count nested ops, so the rows (with "outside ops") add up to the step.
    assert abs(sum(shares) - 100.0) < 1.0, (shares, text)
    assert re.search(r"^matmul_2d\s+\d+", text, flags=re.M)  # the linear layers were seen and timed
    assert total > 0 and "% of sgemm at best" in text


def test_compare_methods_quick_writes_every_measure(tmp_path):
    """The comparison's machinery on a tiny budget: sweep, seeds, costs, table, JSON, figure."""
    out = tmp_path / "methods"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_methods.py"), "--quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(Path(f"{out}.json").read_text())
    assert set(results["summary"]) == {"IA³", "LoRA r4 c_attn"}
    ia3, lora = results["summary"]["IA³"], results["summary"]["LoRA r4 c_attn"]
    assert (ia3["trainable"], lora["trainable"]) == (6 * (2 * 192 + 768), 6 * 4 * (192 + 3 * 192))
    assert ia3["optimizer_bytes"] == 8 * ia3["trainable"] and ia3["file_bytes"] > 4 * ia3["trainable"]
    for task in ("drama_style", "review_sentiment"):
        assert len(ia3[task]["quality"]["all"]) == 2 and ia3[task]["lr"] in ia3[task]["grid"]
    assert ia3["drama_style"]["quality"]["median"] > 0  # four steps at IA³'s rates lower the drama loss
    assert len(results["runs"]) == 2 * 2 * (2 + 1) and Path(f"{out}.png").stat().st_size > 10_000
    assert "IA³" in Path(f"{out}.txt").read_text()


def test_data_quality_quick_runs_the_grid_and_its_cleanings(tmp_path):
    """The data-quality grid on a tiny budget: corrupted sets, data check, cleaned and filtered runs."""
    out = tmp_path / "dq"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_quality.py"), "--quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(Path(f"{out}.json").read_text())["results"]
    assert set(results["summary"]) == {"clean", "flip 50%", "flip 50%, filtered", "duplicates", "duplicates, cleaned",
                                       "leak", "leak, cleaned"}
    sets = results["sets"]
    assert sets["duplicates|0"]["data_check"] == {"duplicate": 33 * 5} and sets["duplicates|0"]["cleaned_dropped"] == 165
    assert sets["leak|0"]["data_check"] == {"heldout-exact": 35} and sets["flip 50%|0"]["data_check"] == {}
    assert len(sets["flip 50%|0"]["flipped"]) == 165
    assert results["summary"]["duplicates, cleaned"]["train_examples"] == [330]
    clean, leak_cleaned = (next(r for r in results["runs"] if r["config"] == c) for c in ("clean", "leak, cleaned"))
    assert leak_cleaned["train_sha"] == clean["train_sha"]  # removing the leak gives back the clean file exactly
    assert leak_cleaned["after"] == clean["after"]
    assert 0 <= results["filters"]["flip 50%|0"]["recall"] <= 1
