"""Cluster tenancy on a real API server (kwok target): a kwok cluster per student, in parallel, each with
its own stack; `classroom down` removes every one of them, one whose creation was cut short included.

- `classroom up --tenancy=cluster --students=2`: two kwok control planes, two stacks; each student's
  kubeconfig (from the TokenRequest API of their own cluster) is cluster-admin there and reaches
  nothing of the other's;
- `classroom up --students=3` killed with SIGKILL (the whole process tree) while the third cluster is
  being made: it stays recorded, its control plane processes still running;
- `classroom down`: no kwok cluster of the class is left (no process, no kwokctl cluster), no session
  folder, no stack file.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.paths import PROJECT_ROOT, STACKS_DIR
from tests.controlplane import REAL_TOOLS, Cli, kill_tree, throwaway_cli

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cli = throwaway_cli(tmp_path_factory, "ct", 5)
    yield cli
    cli.run("classroom", "down", check=False)
    cli.run("session", "down", check=False)


def tenant_session(cli: Cli, student: str) -> str:
    return f"{cli.session}-{student}"


def control_plane_processes(cli: Cli) -> list[str]:
    """Command lines of running processes started for one of this class's kwok clusters."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"labs-{cli.session}-" in text and ("kube-apiserver" in text or "etcd" in text or "kwok" in text):
            found.append(text)
    return found


def kwok_clusters(cli: Cli, student: str) -> str:
    session = tenant_session(cli, student)
    listed = subprocess.run([str(REAL_TOOLS / "bin" / "kwokctl"), "get", "clusters"], capture_output=True, text=True,
                            env={**cli.env, "KWOK_WORKDIR": str(cli.state / "sessions" / session / "kwok")})
    return listed.stdout


def test_a_kwok_cluster_per_student_each_theirs_alone(cli):
    cli.run("classroom", "up", "--target=kwok", "--tenancy=cluster", "--students=2", "--lab=pods")
    servers = set()
    for student, other in (("student-01", "student-02"), ("student-02", "student-01")):
        config = cli.student_kubeconfig(student)
        servers.add(json.loads(cli.kubectl("config", "view", "--raw", "-o", "json", kubeconfig=config).stdout)
                    ["clusters"][0]["cluster"]["server"])
        assert cli.kubectl("auth", "can-i", "*", "*", "--all-namespaces", kubeconfig=config).stdout.strip() == "yes"
        assert cli.kubectl("get", "namespace", other, check=False, kubeconfig=config).returncode != 0  # not here
        assert f"labs-{tenant_session(cli, student)}" in kwok_clusters(cli, student)
    assert len(servers) == 2  # two API servers
    assert sorted(p.name for p in STACKS_DIR.glob(f"Pulumi.{cli.session}-student-0*.yaml")) == [
        f"Pulumi.{cli.session}-student-01-kwok.yaml", f"Pulumi.{cli.session}-student-02-kwok.yaml"]


def test_classroom_down_removes_every_cluster_one_cut_short_included(cli):
    record = cli.state / "sessions" / cli.session / "classroom" / "classroom.json"
    process = subprocess.Popen([sys.executable, "-m", "invoke", "classroom", "up", "--target=kwok", "--tenancy=cluster",
                                "--students=3", f"--session={cli.session}"], cwd=PROJECT_ROOT, env=cli.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    third = cli.state / "sessions" / tenant_session(cli, "student-03") / "kwok"
    try:
        deadline = time.monotonic() + 300
        while not any("student-03" in line for line in control_plane_processes(cli)):
            assert process.poll() is None, "classroom up ended before the third cluster was being made"
            assert time.monotonic() < deadline, "the third cluster's control plane did not start within 300 s"
            time.sleep(0.2)
    finally:
        kill_tree(process)
    assert json.loads(record.read_text())["tenants"]["student-03"]["status"] == "creating"
    assert third.is_dir()

    cli.run("classroom", "down")
    assert control_plane_processes(cli) == []
    for student in ("student-01", "student-02", "student-03"):
        assert not (cli.state / "sessions" / tenant_session(cli, student)).exists()
    assert not list(STACKS_DIR.glob(f"Pulumi.{cli.session}-student-*.yaml"))
    assert not record.exists()
