"""Shared by the classroom tests: a fake Pulumi driver that "applies" the classroom to a FakeCluster."""
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
    monkeypatch.setattr(commands, "make_driver", ClassroomDriver)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    return ClassroomDriver


def up_calls(driver=ClassroomDriver) -> list:
    return [call for instance in driver.instances for call in instance.calls if call[0] == "up"]
