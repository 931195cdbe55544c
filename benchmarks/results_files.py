"""What every benchmark script shares: its process's peak memory, and writing OUT.json + OUT.txt.

The scripts run as `python benchmarks/NAME.py`, so this folder is on sys.path and
`from results_files import ...` finds this module.
"""

from __future__ import annotations

import json
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_results(out, header: dict, results, text: str, header_key: str = "machine") -> None:
    """OUT.json ({header_key: header, "results": results}) and OUT.txt (the printed table)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps({header_key: header, "results": results}, indent=2) + "\n")
    Path(f"{out}.txt").write_text(text + "\n")
    print(f"\nwrote {out}.json and {out}.txt")
