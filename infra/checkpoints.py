"""Runs without Pulumi's intermediate checkpoints, and how one that was killed is finished.

By default the engine writes the whole state after every step; the state grows with a classroom, so
at 60 students that writing is about 9/10 of `classroom up`'s engine time
(benchmarks/results/classroom_checkpoints.txt: 152 s with it, 18 s without). With
PULUMI_SKIP_CHECKPOINTS the state is written once, when the run ends, failed or not (and on a first
Ctrl-C, which Pulumi handles); only a run killed outright (SIGKILL, power) loses it, and with it the
record of what it had made.

So it is used only where that loss can be repaired exactly:
  - on a cluster of this machine (kind, kwok): everything the run can make lives inside the cluster,
    which the state already holds (a run that creates the cluster keeps its checkpoints). A cloud run
    may make billed resources outside the cluster: never;
  - the run's settings are kept in the session folder while it runs (`UnsavedRun`); a run killed
    outright leaves them there, and the lock on its stack. The next `up` of that stack runs them again
    first: Kubernetes objects are taken over by server-side apply (pulumi-kubernetes 4.25 creates with
    it; that first run forces the fields the lost field manager held: TAKE_OVER) and Helm releases
    are cleared by infra.recovery, so the state then knows all the killed run made; only then does it
    run what was asked (a `classroom down` removes every student, none forgotten).
PULUMI_SKIP_CHECKPOINTS=false in the user's environment keeps every checkpoint (Pulumi's default).
A marker with no stale lock beside it belongs to a run that finished (its process was killed after the
engine saved): it is dropped.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import paths
from infra.clusters import LOCAL_TARGET_TOOLS
from infra.settings import StackSettings

SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}
# For the first run after a killed one: the objects it made carry a server-side apply field manager
# (pulumi-kubernetes-<random>) that only its lost state knew; applied again under a new one, a field
# whose value differs conflicts (found on kwok: the Grafana admin Secret, whose generated password was
# lost with the state, so generated again). Forcing makes the new manager take those fields over.
TAKE_OVER = {"PULUMI_K8S_ENABLE_PATCH_FORCE": "true"}
CLUSTER_TYPE_PREFIX = "labs:cluster:"  # every target's cluster component (infra.clusters)
UNSAVED_RUN = "unsaved-run.json"


def may_skip_checkpoints(settings: StackSettings, deployment: dict) -> bool:
    """True for a run on a cluster of this machine that the state already holds, unless the user's
    environment says PULUMI_SKIP_CHECKPOINTS=false (every checkpoint written, as Pulumi does by default)."""
    if os.environ.get("PULUMI_SKIP_CHECKPOINTS", "").strip().lower() in ("false", "0"):
        return False
    return settings.target in LOCAL_TARGET_TOOLS and any(
        resource.get("type", "").startswith(CLUSTER_TYPE_PREFIX) for resource in deployment.get("resources") or [])


@dataclass(frozen=True)
class UnsavedRun:
    """The settings of a run without checkpoints on stack `stack_name`, kept while it runs."""

    session: str
    stack_name: str

    @property
    def file(self) -> Path:
        return paths.session_dir(self.session) / UNSAVED_RUN

    @contextmanager
    def running(self, workspace, settings: StackSettings, title: str):
        """The run within goes without checkpoints, its settings kept meanwhile. A run that raised keeps
        them: the next `up` tells whether it was killed."""
        record = {"stack": self.stack_name, "target": settings.target, "title": title, "config": settings.as_config()}
        paths.write_private(self.file, json.dumps(record, indent=2, sort_keys=True) + "\n")
        with environment(workspace, SKIP_CHECKPOINTS):
            yield
        self.finish()

    def left(self) -> tuple[StackSettings, str] | None:
        """(settings, title) of a run of this stack that did not finish, or None."""
        try:
            record = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            from infra.errors import LabsError

            raise LabsError(f"{self.file} is not valid JSON (edited by hand?): delete it and run the command again "
                            "(what an interrupted run made may then stay in the cluster until `session down`)") from None
        if record.get("stack") != self.stack_name:
            return None
        settings = StackSettings(session=self.session, target=record["target"])
        return settings.with_config(record["config"], str(self.file)), record["title"]

    def finish(self) -> None:
        self.file.unlink(missing_ok=True)


@contextmanager
def environment(workspace, variables: dict[str, str]):
    """`variables` in the environment of the Pulumi commands run within (the Automation API passes the
    workspace's env_vars to each; the engine passes them on to the providers)."""
    workspace.env_vars.update(variables)
    try:
        yield
    finally:
        for key in variables:
            workspace.env_vars.pop(key, None)
