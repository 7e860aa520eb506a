"""A lab's solve steps in lab.yaml (`solve:`): what `lab solve` does after applying `solution/`, for the
steps of a guide that are no file kubectl can apply (plain Python: the catalog reads it, and
labs/lab.schema.json is generated from it).

Like a Killercoda scenario's solve script, but declared: each step is a mapping with one action, run in
order against the lab's cluster, stopping at the first that does not go as declared:

  kubectl: [args]     kubectl with the session's kubeconfig and context (never interactive: no -i/-t)
  helm: [args]        the helm CLI with the same kubeconfig and context
  restart: scheduler  stop kube-scheduler and start it again, the way the lab's guide does on the
                      target (infra.clusters: kind moves its static manifest out and back; kwok stops
                      its process and has kwokctl start it); a target that cannot (a managed control
                      plane) says so and the step is not run
and optionally:
  fails: true         the step must fail (a guide's failed upgrade): a success stops `lab solve`
  guide: n            the step of the guide it does (for readers; shown when it runs)
  needs_containers: true  the step needs running containers (a claim a CSI driver binds, a pod that
                      answers): not run, and said, on a target where none run (kwok), as such checks
                      are skipped there

Arguments are written as the guide writes them, for the lab's own namespace and from the repository
root (a chart folder as `labs/20-helm/files/chart`); `lab solve --student/--namespace` rewrites them
(infra.manifests.retarget_steps) as it rewrites the files. The runner is infra.commands.
"""
from __future__ import annotations

from infra.errors import LabsError

ACTIONS = ("kubectl", "helm", "restart")
COMPONENTS = ("scheduler",)  # what a `restart` step can restart
OPTIONS = ("fails", "guide", "needs_containers")
# The runner gives these itself (the lab's cluster), and a step never waits for a terminal.
RESERVED_FLAGS = ("--kubeconfig", "--context", "--kube-context")
INTERACTIVE_FLAGS = ("-i", "-t", "-it", "-ti", "--stdin", "--tty")


def _flag(arg: str) -> str:
    return arg.split("=", 1)[0]


def validate_step(step, where: str) -> dict:
    """One step, normalised: {"action", "args" (kubectl/helm) or "component" (restart), "fails", "guide",
    "needs_containers"}.
    A mistake is one LabsError naming `where`."""
    if not isinstance(step, dict):
        raise LabsError(f"{where}: a step is a mapping with one of {', '.join(ACTIONS)}")
    actions = [key for key in step if key in ACTIONS]
    unknown = sorted(key for key in step if key not in ACTIONS and key not in OPTIONS)
    if unknown:
        raise LabsError(f"{where}: unknown field '{unknown[0]}' (a step has one of {', '.join(ACTIONS)}, "
                        f"and may say {', '.join(OPTIONS)})")
    if len(actions) != 1:
        raise LabsError(f"{where}: a step has exactly one of {', '.join(ACTIONS)}, got "
                        f"{', '.join(actions) or 'none'}")
    action = actions[0]
    fails = step.get("fails", False)
    if not isinstance(fails, bool):
        raise LabsError(f"{where}: 'fails' must be true or false")
    needs_containers = step.get("needs_containers", False)
    if not isinstance(needs_containers, bool):
        raise LabsError(f"{where}: 'needs_containers' must be true or false")
    guide = step.get("guide")
    if guide is not None and (not isinstance(guide, int) or isinstance(guide, bool) or guide < 0):
        raise LabsError(f"{where}: 'guide' must be the number of the guide's step")
    normal = {"action": action, "fails": fails, "guide": guide, "needs_containers": needs_containers}
    value = step[action]
    if action == "restart":
        if value not in COMPONENTS:
            raise LabsError(f"{where}: restart: '{value}' is not a component it can restart "
                            f"(known: {', '.join(COMPONENTS)})")
        if fails:
            raise LabsError(f"{where}: a restart step cannot be expected to fail")
        return {**normal, "component": value}
    if not isinstance(value, list) or not value or not all(isinstance(a, str) and a.strip() for a in value):
        raise LabsError(f"{where}: {action}: a non-empty list of arguments, each a non-blank string")
    for arg in value:
        if _flag(arg) in RESERVED_FLAGS:
            raise LabsError(f"{where}: {action}: drop '{_flag(arg)}': lab solve talks to the lab's cluster itself")
        if arg in INTERACTIVE_FLAGS:
            raise LabsError(f"{where}: {action}: drop '{arg}': a solve step runs without a terminal")
    return {**normal, "args": tuple(value)}


def validate_steps(steps, where: str) -> tuple[dict, ...]:
    if not isinstance(steps, list):
        raise LabsError(f"{where}: a list of steps")
    return tuple(validate_step(step, f"{where}[{i}]") for i, step in enumerate(steps))


def describe(step: dict) -> str:
    """The step as a reader would type it (`kubectl debug solo ...`, `restart scheduler`)."""
    words = [step["action"], *(step.get("args") or (step["component"],))]
    return " ".join(words)
