"""Goal: `invoke lab list` takes at most 2x the time of `invoke --list` on a one-task tasks file.

Listing labs must not import Pulumi or a provider SDK. Run: python benchmarks/cli_startup.py
Writes benchmarks/results/cli_startup.txt.
"""
from __future__ import annotations

import platform
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from _timing import ROOT, median_seconds, write_result

RUNS = 15


def main() -> int:
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent)) or "invoke"
    with tempfile.TemporaryDirectory() as bare:
        Path(bare, "tasks.py").write_text("from invoke import task\n\n@task\ndef hello(c):\n    pass\n")
        baseline = median_seconds([invoke, "--list"], Path(bare), RUNS)
    lab_list = median_seconds([invoke, "lab", "list"], ROOT, RUNS)
    ratio = lab_list / baseline
    write_result("cli_startup.txt", [
        f"# {date.today()} on {platform.machine()} with {platform.python_version()}, median of {RUNS} runs",
        f"invoke --list (one-task tasks.py): {baseline:.3f} s",
        f"invoke lab list:                   {lab_list:.3f} s",
        f"ratio: {ratio:.2f}x (goal <= 2x): {'met' if ratio <= 2 else 'NOT met'}",
    ])
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
