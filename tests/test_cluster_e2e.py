"""End to end on a real machine: Docker, kind and the Pulumi CLI. Skipped when any is absent.

An instructor can run it before class: `pytest -m cluster`. It brings the Ingress lab up in a
throw-away session on free host ports, routes a request through Traefik to a student app, then
tears the session down and checks nothing is left.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from infra.errors import LabsError
from infra.paths import LABS_DIR, PROJECT_ROOT

pytestmark = pytest.mark.cluster


def _prerequisites_missing() -> str | None:
    from infra.doctor import docker_daemon_ready
    from infra.toolchain import find_tool

    try:
        docker_daemon_ready()
    except LabsError as exc:
        return str(exc)
    missing = [tool for tool in ("kind", "pulumi", "kubectl") if not find_tool(tool)]
    return f"missing: {', '.join(missing)}" if missing else None


@pytest.fixture(scope="module")
def real_machine():
    reason = _prerequisites_missing()
    if reason:
        pytest.skip(f"needs Docker, kind, kubectl and the Pulumi CLI ({reason})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def _invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=1800)


def _get(port: int, host: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def test_ingress_lab_routes_a_request_and_session_down_leaves_nothing(real_machine, monkeypatch):
    from infra.toolchain import find_tool

    monkeypatch.delenv("LABS_TOOLS_DIR")  # the tools `invoke setup` installed; state stays in tmp
    session = f"e2e-{uuid.uuid4().hex[:6]}"
    http_port = _free_port()
    try:
        up = _invoke("lab", "up", "--lab=ingress", f"--session={session}", "--workers=1",
                     f"--http-port={http_port}", f"--https-port={_free_port()}")
        assert up.returncode == 0, up.stderr
        kubectl = [find_tool("kubectl"), "--context", f"kind-labs-{session}"]
        for path in ("manifests", "solution/10-ingress-hosts.yaml"):
            subprocess.run([*kubectl, "apply", "-f", str(LABS_DIR / "07-ingress" / path)], check=True, timeout=120)
        subprocess.run([*kubectl, "-n", "lab-ingress", "rollout", "status", "deployment/blue", "--timeout=180s"],
                       check=True, timeout=200)
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and "Name: blue" not in body:
            try:
                body = _get(http_port, "blue.localhost")
            except OSError:
                time.sleep(2)
        assert "Name: blue" in body
    finally:
        down = _invoke("session", "down", f"--session={session}")
    assert down.returncode == 0, down.stderr
    clusters = subprocess.run([find_tool("kind"), "get", "clusters"], capture_output=True, text=True).stdout
    assert f"labs-{session}" not in clusters.split()
