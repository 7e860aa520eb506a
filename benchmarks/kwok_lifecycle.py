"""The real engine on the kwok target, timed as an instructor waits for it.

Goals: `lab up --lab=ingress --target=kwok` from nothing (cluster included) <= 60 s; a no-op `lab up`
<= 10 s; `session down` <= 30 s. Also measured: converging from ingress to monitoring, and a cold
`lab up` of each lab (each in a session of its own, so each includes its cluster).

Run: python benchmarks/kwok_lifecycle.py [--labs=all|ingress,monitoring,...]. Needs the tools of
`invoke setup --from-source` and the offline bundle. Writes benchmarks/results/kwok_lifecycle.txt.
State goes to a temporary folder (LABS_STATE_DIR); nothing is left behind.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import ROOT, goal_lines, timed_invoke, write_result

GOALS = {"cold ingress up": 60.0, "no-op up": 10.0, "session down": 30.0}


def invoke(env: dict, *args: str) -> float:
    return timed_invoke(env, *args)[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labs", default="all", help="labs timed cold, one session each (default all)")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from infra.catalog import Catalog

    labs = [lab.slug for lab in Catalog.load().labs] if options.labs == "all" else options.labs.split(",")
    state = Path(tempfile.mkdtemp(prefix="kwok-bench-"))
    env = {**os.environ, "LABS_STATE_DIR": str(state)}
    figures: dict[str, float] = {}
    try:
        kw = ("--target=kwok", "--session=bench")
        figures["cold ingress up"] = invoke(env, "lab", "up", "--lab=ingress", *kw)
        figures["no-op up"] = invoke(env, "lab", "up", "--lab=ingress", *kw)
        figures["converge ingress -> monitoring"] = invoke(env, "lab", "up", "--lab=monitoring", *kw)
        figures["session down"] = invoke(env, "session", "down", "--session=bench")
        for lab in labs:
            figures[f"cold up {lab}"] = invoke(env, "lab", "up", f"--lab={lab}", "--target=kwok", "--session=cold")
            invoke(env, "session", "down", "--session=cold")
    finally:
        for session in ("bench", "cold"):
            subprocess.run([sys.executable, "-m", "invoke", "session", "down", f"--session={session}"], cwd=ROOT,
                           env=env, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
    lines, met = goal_lines("kwok target, real Pulumi engine; one run each (seconds, wall clock, whole `invoke` "
                            "command)", figures, GOALS)
    write_result("kwok_lifecycle.txt", lines)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
