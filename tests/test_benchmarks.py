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
