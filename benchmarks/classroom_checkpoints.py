"""Where a classroom's engine time goes: the same `classroom up` and `classroom down` with Pulumi's
intermediate checkpoints (Pulumi's default: the whole state written after every step; forced here with
PULUMI_SKIP_CHECKPOINTS=false) and without them (the tool's default on a kind or kwok cluster the state
holds, infra.checkpoints: only the final state is written).

Runs on the kwok target, the cluster and the ingress layer up first (not timed).

Run: python benchmarks/classroom_checkpoints.py [students, default 60]. Needs the tools of
`invoke setup --from-source` and the offline bundle. Writes benchmarks/results/classroom_checkpoints.txt;
nothing is left behind.
"""
from __future__ import annotations

import sys

from _timing import CommandFailed, first_failed_step, goal_lines, throwaway_session, timed_invoke, write_result
from classroom_kwok import engine_note

# What the figures say, written under them (measured on 60 students: benchmarks/results/).
READING = """\
# What this says: during `classroom up` the engine (the `pulumi` process, ~95 % of a core) spends most of its
# time writing checkpoints: after every step it writes the whole state, which grows with the class, so the
# cost per step grows with the stack. `classroom down` keeps most of its time without them: the provider
# waits for each namespace's deletion to finish.
# So the tool skips them on a kind or kwok cluster the state already holds (infra.checkpoints), and finishes
# a run killed before it saved before any other run of its stack (tests/test_controlplane_lifecycle.py
# kills one on kwok: `classroom down` then removes every student it had made).""".splitlines()

VARIANTS = {"every checkpoint": {"PULUMI_SKIP_CHECKPOINTS": "false"}, "without checkpoints (default)": {}}


def main(students: int) -> int:
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    failed = ""
    with throwaway_session("checkpoints-bench-") as env:
        try:
            timed_invoke(env, "lab", "up", "--lab=ingress", "--target=kwok", "--session=bench")
            for variant, extra in VARIANTS.items():
                for name, args in ((f"classroom up, {students} students, {variant}",
                                    ("classroom", "up", f"--students={students}", "--lab=ingress", "--target=kwok",
                                     "--session=bench")),
                                   (f"classroom down, {students} students, {variant}",
                                    ("classroom", "down", "--session=bench"))):
                    try:
                        figures[name], output = timed_invoke({**env, **extra}, *args)
                    except CommandFailed as error:
                        figures[name], notes[name] = error.seconds, f"FAILED: {error.last_error}"
                        raise
                    notes[name] = engine_note(output)
        except CommandFailed:
            failed = first_failed_step(figures, "lab up --lab=ingress")
    lines, _ = goal_lines("kwok target, real Pulumi engine, cluster and ingress layer already up; one run each "
                          "(seconds, wall clock, whole `invoke` command)", figures, {}, notes)
    write_result("classroom_checkpoints.txt", lines + ([f"not measured: every step after '{failed}', which failed"]
                                                        if failed else []) + READING)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
