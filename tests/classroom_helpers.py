"""Shared by the classroom tests: a fake Pulumi driver that "applies" the classroom to a FakeCluster, a
fake kubectl that applies what it reads on stdin to the same cluster, and a fake Grafana API."""
from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
        from infra.driver import session_kubeconfig
        from infra.paths import write_private

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
    """Stands in for `infra.commands.kubectl`: records each call (arguments, kubeconfig, stdin) and, for
    `apply -f -` / `delete -f -`, adds the objects read from stdin to the fake cluster (or removes them)."""

    def __init__(self, cluster: FakeCluster | None = None):
        self.cluster = cluster
        self.calls: list[dict] = []
        self.failing: set[str] = set()  # namespaces whose apply fails (as an API server refusal would)
        self.lock = threading.Lock()

    def __call__(self, args, kubeconfig, context, check=True, stdin=None):
        import yaml

        from infra.checks import resource_path
        from infra.kinds import CLUSTER_SCOPED
        from infra.errors import LabsError

        objects = [doc for doc in yaml.safe_load_all(stdin) if doc] if stdin else []
        with self.lock:
            self.calls.append({"args": list(args), "kubeconfig": kubeconfig, "context": context, "stdin": stdin,
                               "objects": objects})
        if args[:5] == ["-n", "monitoring", "get", "secret", "grafana-admin"]:  # the monitoring layer's Secret
            return _Done(base64.b64encode(FakeGrafana.ADMIN_PASSWORD.encode()).decode())
        namespaces = {(obj.get("metadata") or {}).get("namespace") for obj in objects}
        if namespaces & self.failing:
            refusal = 'Error from server (Forbidden): error when creating "STDIN": forbidden'
            if check:
                raise LabsError(f"`kubectl {' '.join(args)}` failed: {refusal}")
            return _Done("", refusal, 1)
        if self.cluster is not None and args[:3] == ["apply", "-f", "-"]:
            self.cluster.add(*objects)
        elif self.cluster is not None and args[:3] == ["delete", "-f", "-"]:
            for obj in objects:
                meta = obj["metadata"]
                scope = None if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace")
                self.cluster.objects.pop(resource_path(obj["apiVersion"], obj["kind"], scope, meta["name"]), None)
        return _Done("")

    def applied(self, namespace: str | None = None) -> list[dict]:
        """The `apply -f -` calls (of one namespace's objects)."""
        return [call for call in self.calls if call["args"][:3] == ["apply", "-f", "-"]
                and (namespace is None or {o["metadata"].get("namespace") for o in call["objects"]} == {namespace})]


class _Done:
    """What `infra.commands.kubectl` returns (a CompletedProcess's fields)."""

    def __init__(self, stdout: str, stderr: str = "", returncode: int = 0):
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode


class FakeGrafana:
    """Grafana's user API as infra.classroom.grafana uses it, with Basic authentication as admin."""

    ADMIN_PASSWORD = "the-admin-password"

    def __init__(self):
        self.users: dict[int, dict] = {1: {"id": 1, "login": "admin", "password": self.ADMIN_PASSWORD, "role": "Admin"}}
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def user(self, login: str) -> dict | None:
        return next((u for u in self.users.values() if u["login"] == login), None)

    def _handler(self):
        grafana = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(payload).encode())

            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                grafana.requests.append((self.command, url.path))
                expected = "Basic " + base64.b64encode(f"admin:{grafana.ADMIN_PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"message": "invalid username or password"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = url.path.strip("/").split("/")
                if self.command == "GET" and url.path == "/api/users/lookup":
                    found = grafana.user(urllib.parse.parse_qs(url.query)["loginOrEmail"][0])
                    return self._send(200, {"id": found["id"], "login": found["login"]}) if found else \
                        self._send(404, {"message": "user not found"})
                if self.command == "POST" and url.path == "/api/admin/users":
                    if grafana.user(body["login"]):
                        return self._send(412, {"message": "user already exists"})
                    new = max(grafana.users) + 1
                    grafana.users[new] = {"id": new, "role": "Viewer", **body}
                    return self._send(200, {"id": new, "message": "User created"})
                if self.command == "PUT" and parts[:3] == ["api", "admin", "users"] and parts[4:] == ["password"]:
                    grafana.users[int(parts[3])]["password"] = body["password"]
                    return self._send(200, {"message": "User password updated"})
                if self.command == "PATCH" and parts[:3] == ["api", "org", "users"]:
                    grafana.users[int(parts[3])]["role"] = body["role"]
                    return self._send(200, {"message": "Organization user updated"})
                return self._send(404, {"message": "not found"})

            do_GET = do_POST = do_PUT = do_PATCH = _serve

        return Handler


@pytest.fixture
def fake_grafana(monkeypatch):
    """A fake Grafana that `classroom up` reaches as through `kubectl port-forward`."""
    grafana = FakeGrafana()

    @contextmanager
    def forwarded(*args, **kwargs):
        yield grafana.url

    monkeypatch.setattr("infra.classroom.grafana.port_forward", forwarded)
    monkeypatch.setattr("infra.classroom.grafana.require_tool", lambda name: f"/fake/{name}")
    yield grafana
    grafana.close()


@pytest.fixture
def fake_cluster(tmp_path):
    folder = tmp_path / "fake-cluster"
    folder.mkdir()
    with FakeCluster() as cluster:
        cluster.folder = str(folder)
        yield cluster


@pytest.fixture
def classroom_driver(monkeypatch, fake_cluster, fake_grafana):
    ClassroomDriver.instances = []
    ClassroomDriver.stacks = {}
    ClassroomDriver.cluster = fake_cluster
    ClassroomDriver.kubectl = FakeKubectl(fake_cluster)
    monkeypatch.setattr(commands, "make_driver", ClassroomDriver)
    monkeypatch.setattr(commands, "kubectl", ClassroomDriver.kubectl)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    return ClassroomDriver


def up_calls(driver=ClassroomDriver) -> list:
    return [call for instance in driver.instances for call in instance.calls if call[0] == "up"]
