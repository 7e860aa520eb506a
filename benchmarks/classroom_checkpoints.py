"""Where a classroom's engine time goes: the same `classroom up` and `classroom down` with Pulumi's
intermediate checkpoints (the default: the whole state written after every step) and without them
(PULUMI_SKIP_CHECKPOINTS=true, which needs PULUMI_EXPERIMENTAL=true: only the final state is written).

An experiment, not a setting of the tool: a run killed midway without checkpoints leaves the objects it
made unknown to the state (see benchmarks/results/classroom_checkpoints.txt for what that would take).
Runs on the kwok target, the cluster and the ingress layer up first (not timed).

Run: python benchmarks/classroom_checkpoints.py [students, default 60]. Needs the tools of
`invoke setup --from-source` and the offline bundle. Writes benchmarks/results/classroom_checkpoints.txt;
nothing is left behind.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import ROOT, CommandFailed, goal_lines, timed_invoke, write_result
from classroom_kwok import engine_note

VARIANTS = {"checkpoints (default)": {}, "PULUMI_SKIP_CHECKPOINTS": {"PULUMI_SKIP_CHECKPOINTS": "true",
                                                                     "PULUMI_EXPERIMENTAL": "true"}}


def main(students: int) -> int:
    state = Path(tempfile.mkdtemp(prefix="checkpoints-bench-"))
    env = {**os.environ, "LABS_STATE_DIR": str(state), "NO_COLOR": "1"}
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    failed = ""
    try:
        timed_invoke(env, "lab", "up", "--lab=ingress", "--target=kwok", "--session=bench")
        for variant, extra in VARIANTS.items():
            for name, args in ((f"classroom up, {students} students, {variant}",
                                ("classroom", "up", f"--students={students}", "--lab=ingress", "--target=kwok",
                                 "--session=bench")),
                               (f"classroom down, {students} students, {variant}", ("classroom", "down", "--session=bench"))):
                try:
                    figures[name], output = timed_invoke({**env, **extra}, *args)
                except CommandFailed as error:
                    figures[name], notes[name] = error.seconds, f"FAILED: {error.last_error}"
                    raise
                notes[name] = engine_note(output)
    except CommandFailed:
        failed = list(figures)[-1] if figures else "lab up --lab=ingress"
    finally:
        subprocess.run([sys.executable, "-m", "invoke", "session", "down", "--session=bench"], cwd=ROOT, env=env,
                       capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
    lines, _ = goal_lines("kwok target, real Pulumi engine, cluster and ingress layer already up; one run each "
                          "(seconds, wall clock, whole `invoke` command)", figures, {}, notes)
    write_result("classroom_checkpoints.txt", lines + ([f"not measured: every step after '{failed}', which failed"]
                                                        if failed else []))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
