"""Goal: `invoke lab render --lab=all` under 10 s on a 2-core machine.

Run: python benchmarks/render_time.py. Writes benchmarks/results/render_time.txt.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
from datetime import date
from pathlib import Path

from _timing import ROOT, median_seconds, write_result

RUNS = 5
GOAL_S = 10.0


def main() -> int:
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent)) or "invoke"
    seconds = median_seconds([invoke, "lab", "render", "--lab=all", "--format=json"], ROOT, RUNS)
    labs = sum(1 for p in (ROOT / "labs").iterdir() if (p / "lab.yaml").is_file())
    write_result("render_time.txt", [
        f"# {date.today()} on {platform.machine()}, {os.cpu_count()} cores, median of {RUNS} runs",
        f"invoke lab render --lab=all ({labs} labs): {seconds:.2f} s (goal < {GOAL_S:.0f} s): "
        f"{'met' if seconds < GOAL_S else 'NOT met'}",
    ])
    return 0 if seconds < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
