"""Goal: `invoke classroom render` for 200 students on one cluster in <= 15 s on a 2-core machine, growing
linearly: 400 students take <= 2.2x the time of 200.

Run: python benchmarks/classroom_render.py. Writes benchmarks/results/classroom_render.txt with the
times (median of RUNS whole commands, as an instructor waits for them) and the resources per student.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from _timing import ROOT, median_seconds, write_result

RUNS = 3
GOAL_S = 15.0
GOAL_RATIO = 2.2
SIZES = (1, 200, 400)


def command(invoke: str, students: int) -> list[str]:
    return [invoke, "classroom", "render", f"--students={students}", "--session=bench", "--format=json"]


def main() -> int:
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent)) or "invoke"
    counts = {n: len(json.loads(subprocess.run(command(invoke, n), cwd=ROOT, capture_output=True, check=True,
                                                  text=True).stdout)["objects"]) for n in (1, 2)}
    per_student = counts[2] - counts[1]
    shared = counts[1] - per_student
    seconds = {n: median_seconds(command(invoke, n), ROOT, RUNS) for n in SIZES}
    ratio = seconds[400] / seconds[200]
    # Growth of the students' part alone: what the command costs beyond a one-student classroom.
    marginal = (seconds[400] - seconds[1]) / (seconds[200] - seconds[1])
    met = seconds[200] <= GOAL_S and ratio <= GOAL_RATIO
    write_result("classroom_render.txt", [
        f"# {date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"median of {RUNS} runs",
        f"resources per student: {per_student} Kubernetes objects (+ {shared} shared by the class: "
        "view ClusterRole, the hostname and middleware admission policies and their bindings)",
        *(f"invoke classroom render --students={n}: {seconds[n]:.2f} s "
          f"({n * per_student + shared} objects)" for n in SIZES),
        f"200 students: {seconds[200]:.2f} s (goal <= {GOAL_S:.0f} s): {'met' if seconds[200] <= GOAL_S else 'NOT met'}",
        f"400 / 200 students: {ratio:.2f}x (goal <= {GOAL_RATIO}x): {'met' if ratio <= GOAL_RATIO else 'NOT met'}; "
        f"students' part alone (minus a 1-student render): {marginal:.2f}x",
    ])
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
