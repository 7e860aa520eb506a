"""Shared by the classroom tests: a fake Pulumi driver that "applies" the classroom to a FakeCluster, and a
fake kubectl that applies what it reads on stdin to the same cluster."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from infra import commands
from infra.settings import StackSettings
from tests.fake_cluster import FakeCluster


class ClassroomDriver:
    """Records each call; `up` writes the session kubeconfig (pointing at the fake cluster) and puts the
    roster's objects into the cluster, as the real program would."""

    cluster: FakeCluster | None = None
    kubectl: "FakeKubectl | None" = None  # the fixture's fake kubectl (what `classroom up --lab` applied)
    kubeconfig_lock = threading.Lock()  # tenants' clusters come up in parallel threads
    instances: list["ClassroomDriver"] = []
    stacks: dict[str, StackSettings] = {}

    def __init__(self, session, console=None):
        self.session = session
        self.calls: list[tuple] = []
        ClassroomDriver.instances.append(self)

    def up(self, settings, title):
        from infra.classroom.objects import student_objects
        from infra.classroom.roster import load_roster_json
        from infra.driver import session_kubeconfig, write_private

        self.calls.append(("up", settings))
        ClassroomDriver.stacks[settings.stack_name] = settings
        if self.cluster is not None:
            with ClassroomDriver.kubeconfig_lock:  # the fake writes one shared file: one writer at a time
                text = Path(self.cluster.kubeconfig(Path(self.cluster.folder))).read_text()
            write_private(session_kubeconfig(self.session), text)
            if settings.roster:
                students, tenancy = load_roster_json(settings.roster)
                for student in students:
                    self.cluster.add(*student_objects(student.id, cluster_admin=tenancy == "cluster"))
        return {"lab": settings.lab, "kubeconfig": "[secret]"}

    def list_stacks(self):
        return sorted(name for name in ClassroomDriver.stacks if name.startswith(f"{self.session}-"))

    def stack_settings(self, stack_name):
        return replace(ClassroomDriver.stacks[stack_name])

    def destroy_session(self):
        self.calls.append(("destroy",))
        names = self.list_stacks()
        for name in names:
            del ClassroomDriver.stacks[name]
        return names


class FakeKubectl:
    """Stands in for `infra.commands._kubectl`: records each call (arguments, kubeconfig, stdin) and, for
    `apply -f -` / `delete -f -`, adds the objects read from stdin to the fake cluster (or removes them)."""

    def __init__(self, cluster: FakeCluster | None = None):
        self.cluster = cluster
        self.calls: list[dict] = []
        self.failing: set[str] = set()  # namespaces whose apply fails (as an API server refusal would)
        self.lock = threading.Lock()

    def __call__(self, args, kubeconfig, context, check=True, stdin=None):
        import yaml

        from infra.checks import CLUSTER_SCOPED, resource_path
        from infra.errors import LabsError

        objects = [doc for doc in yaml.safe_load_all(stdin) if doc] if stdin else []
        with self.lock:
            self.calls.append({"args": list(args), "kubeconfig": kubeconfig, "context": context, "stdin": stdin,
                               "objects": objects})
        namespaces = {(obj.get("metadata") or {}).get("namespace") for obj in objects}
        if namespaces & self.failing:
            raise LabsError(f"`kubectl {' '.join(args)}` failed: forbidden")
        if self.cluster is not None and args[:3] == ["apply", "-f", "-"]:
            self.cluster.add(*objects)
        elif self.cluster is not None and args[:3] == ["delete", "-f", "-"]:
            for obj in objects:
                meta = obj["metadata"]
                scope = None if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace")
                self.cluster.objects.pop(resource_path(obj["apiVersion"], obj["kind"], scope, meta["name"]), None)

    def applied(self, namespace: str | None = None) -> list[dict]:
        """The `apply -f -` calls (of one namespace's objects)."""
        return [call for call in self.calls if call["args"][:3] == ["apply", "-f", "-"]
                and (namespace is None or {o["metadata"].get("namespace") for o in call["objects"]} == {namespace})]


@pytest.fixture
def fake_cluster(tmp_path):
    folder = tmp_path / "fake-cluster"
    folder.mkdir()
    with FakeCluster() as cluster:
        cluster.folder = str(folder)
        yield cluster


@pytest.fixture
def classroom_driver(monkeypatch, fake_cluster):
    ClassroomDriver.instances = []
    ClassroomDriver.stacks = {}
    ClassroomDriver.cluster = fake_cluster
    ClassroomDriver.kubectl = FakeKubectl(fake_cluster)
    monkeypatch.setattr(commands, "make_driver", ClassroomDriver)
    monkeypatch.setattr(commands, "_kubectl", ClassroomDriver.kubectl)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    return ClassroomDriver


def up_calls(driver=ClassroomDriver) -> list:
    return [call for instance in driver.instances for call in instance.calls if call[0] == "up"]
