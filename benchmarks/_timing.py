"""Wall-clock medians of whole commands (what an instructor waits for), shared by the benchmarks."""
from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def median_seconds(argv: list[str], cwd: Path, runs: int) -> float:
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_result(name: str, lines: list[str]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text(), end="")
    return out
