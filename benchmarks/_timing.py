"""Wall-clock medians of whole commands (what an instructor waits for), shared by the benchmarks."""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date
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


class CommandFailed(SystemExit):
    """A timed command that failed: it stops the benchmark, unless caught to write down what was measured."""

    def __init__(self, args: tuple[str, ...], seconds: float, output: str):
        super().__init__(f"`invoke {' '.join(args)}` failed:\n{output[-4000:]}")
        self.seconds, self.output = seconds, output

    @property
    def last_error(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return next((line for line in reversed(lines) if line.startswith("error")), lines[-1] if lines else "")


def timed_invoke(env: dict, *args: str) -> tuple[float, str]:
    """One `invoke ...` as typed, timed; (seconds, its output). A failure raises CommandFailed."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise CommandFailed(args, elapsed, result.stdout + result.stderr)
    return elapsed, result.stdout + result.stderr


def goal_lines(title: str, figures: dict[str, float], goals: dict[str, float],
               notes: dict[str, str] | None = None) -> tuple[list[str], bool]:
    """The result file's lines (one per figure, its goal met or NOT met) and whether every goal was met."""
    lines = [f"# {date.today()} on {platform.machine()}, {os.cpu_count()} cores, {title}"]
    met = True
    for name, seconds in figures.items():
        goal = goals.get(name)
        verdict = f" (goal <= {goal:.0f} s: {'met' if seconds <= goal else 'NOT met'})" if goal else ""
        met &= goal is None or seconds <= goal
        lines.append(f"{name}: {seconds:.1f} s{verdict}" + (f"; {notes[name]}" if notes and name in notes else ""))
    return lines, met


@contextmanager
def throwaway_session(prefix: str, session: str = "bench"):
    """The environment of a benchmark's own state folder; afterwards, whatever happened, `session down`
    of `session` and the folder removed: nothing is left behind."""
    state = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "LABS_STATE_DIR": str(state), "NO_COLOR": "1"}
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "invoke", "session", "down", f"--session={session}"], cwd=ROOT, env=env,
                       capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def first_failed_step(figures: dict[str, float], before: str) -> str:
    """The step a benchmark stopped at: its last figure (a failed step's time is kept), else `before`."""
    return list(figures)[-1] if figures else before
