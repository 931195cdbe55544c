"""The issue-16 benchmark scripts run and report what they promise (tiny shapes and --quick: the
figures themselves are measured by running the scripts, not by tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
TINY = ["--layers", "2", "--embd", "64", "--heads", "2", "--seq", "16", "--repeats", "1"]


def run(script, *args):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quantized_memory_measures_each_variant_in_its_own_process(tmp_path):
    out = tmp_path / "memory"
    text = run("quantized_memory.py", *TINY, "--out", str(out))
    rows = {r["variant"]: r for r in json.loads(Path(f"{out}.json").read_text())["results"]}
    assert list(rows) == ["float32", "int8", "int8-linears", "4-bit"]
    assert rows["int8"]["weights_mb"] < rows["int8-linears"]["weights_mb"] < rows["float32"]["weights_mb"]
    assert rows["4-bit"]["weights_mb"] < rows["int8"]["weights_mb"]
    for r in rows.values():
        assert r["peak_rss_mb"] > r["weights_mb"] and len(r["step_s"]) == 1 and len(r["losses"]) == 2
    assert "RSS ratio" in text and "load average" in Path(f"{out}.txt").read_text()


def test_quantized_quality_reports_errors_losses_agreement_and_merges(tmp_path):
    out = tmp_path / "quality"
    run("quantized_quality.py", "--quick", "--out", str(out))
    results = json.loads(Path(f"{out}.json").read_text())["results"]
    int8, four = results["int8"], results["4-bit (64), wte int8"]
    assert 0 < int8["logits"]["rms_rel"] < four["logits"]["rms_rel"]
    assert set(int8["register_loss"]) == {"scripture", "drama", "technical", "plain"}
    assert 0 <= int8["greedy_agreement"]["tokens"] <= 1
    assert int8["ia3_merge"]["codes_unchanged"] and int8["ia3_merge"]["max_rel_logit_difference"] < 1e-5
    assert "ia3_merge" not in results["int8, mlp.c_proj per column"]  # l_ff cannot merge there
    assert 0 < int8["lora_merge"]["effect_lost"]


def test_mixed_batches_times_single_mixed_and_separate(tmp_path):
    out = tmp_path / "mixed"
    run("mixed_batches.py", *TINY, "--batch", "4", "--tasks", "1,4", "--out", str(out))
    rows = json.loads(Path(f"{out}.json").read_text())["results"]
    assert [(r["tasks"], r["what"]) for r in rows] == [(1, "logits"), (1, "loss_and_grad"), (4, "logits"), (4, "loss_and_grad")]
    assert all(r[w] > 0 for r in rows for w in ("single", "mixed", "separate"))


def test_adapter_arithmetic_evaluates_every_combination_on_both_tasks(tmp_path):
    out = tmp_path / "arithmetic"
    run("adapter_arithmetic.py", "--quick", "--out", str(out), "--save", str(tmp_path / "adapters"))
    results = json.loads(Path(f"{out}.json").read_text())["results"]
    assert list(results) == ["base", "a (sentiment)", "b (drama)", "compose(a, b)", "weighted_sum 1, 1 (PEFT)",
                             "weighted_sum 0.5, 0.5"]
    assert abs(results["weighted_sum 1, 1 (PEFT)"]["mean_l_ff"] - 2.0) < 0.05  # ones summed: every channel doubled
    assert results["a (sentiment)"]["sentiment_loss"] < results["base"]["sentiment_loss"]
    assert results["b (drama)"]["drama_loss"] < results["base"]["drama_loss"]
    assert (tmp_path / "adapters" / "review_sentiment" / "adapter.safetensors").is_file()
