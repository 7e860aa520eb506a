"""A session's life on a real API server (kwok target): killed midway, resumed, torn down, checked.

- `lab up` killed with SIGKILL while Helm installs a release, then `lab up` again converges: the lock
  of the dead run is released and the release it left pending-install is installed again.
- the API server gives Services addresses from a range a whole classroom fits in;
- students added by a `classroom up` killed before it saved its state are all removed by `classroom down`;
- `session down` leaves no kwok cluster, no state folder and no stack file.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from infra.paths import PROJECT_ROOT, STACKS_DIR
from tests.controlplane import REAL_TOOLS, Cli, engine_changes, kill_tree, throwaway_cli

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cli = throwaway_cli(tmp_path_factory, "cl")
    yield cli
    cli.run("session", "down", check=False)


def pending_helm_records(cli: Cli, namespace: str) -> list[str]:
    result = cli.kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "json", check=False)
    if result.returncode != 0:
        return []
    return [s["metadata"]["name"] for s in json.loads(result.stdout)["items"]
            if s["metadata"]["labels"].get("status", "").startswith("pending-")]


def grafana_secret_made(cli: Cli) -> bool:
    return cli.kubectl("get", "secret", "grafana-admin", "-n", "monitoring", check=False).returncode == 0


def test_a_lab_up_killed_midway_is_resumed_by_the_next_one(cli):
    cli.run("lab", "up", "--lab=pods", "--target=kwok")  # the cluster, no layer
    process = subprocess.Popen([sys.executable, "-m", "invoke", "lab", "up", "--lab=logging", "--target=kwok",
                                f"--session={cli.session}"], cwd=PROJECT_ROOT, env=cli.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pending = lambda: pending_helm_records(cli, "logging") + pending_helm_records(cli, "monitoring")  # noqa: E731
    try:
        deadline = time.monotonic() + 300
        # Kill everything once Helm is installing and the Grafana admin Secret is made: its password, generated
        # by the run, is lost with the state the killed run never saved; the next run generates another.
        while not (pending() and grafana_secret_made(cli)):
            assert process.poll() is None, "lab up ended before a Helm release was pending with the Secret made"
            assert time.monotonic() < deadline, "no Helm release went pending within 300 s"
            time.sleep(0.2)
    finally:
        kill_tree(process)
    assert pending(), "the kill came too late to leave a release pending"

    resumed = cli.run("lab", "up", "--lab=logging", "--target=kwok")
    # The cluster was in the state: the killed run went without intermediate checkpoints (its lock says
    # it died; infra.checkpoints); a run that creates the cluster keeps them (then: operations pending).
    assert "an interrupted run had left" in resumed.output
    assert pending() == []
    releases = json.loads(cli.kubectl("get", "secrets", "-n", "logging", "-l", "owner=helm", "-o", "json").stdout)
    assert {s["metadata"]["labels"]["name"] for s in releases["items"]
            if s["metadata"]["labels"]["status"] == "deployed"} >= {"loki", "alloy"}
    again = cli.run("lab", "up", "--lab=logging", "--target=kwok")
    assert set(engine_changes(again.output)) <= {"same"}


def test_the_api_server_allocates_services_from_the_class_sized_range(cli):
    """kwokctl's cluster without our range gave 10.0.0.0/24: full at 126 students of lab 07."""
    import ipaddress

    from infra.clusters.kwok import SERVICE_CIDR

    cli.run("lab", "up", "--lab=pods", "--target=kwok")  # the cluster (already up after the test above)
    ip = cli.kubectl("get", "service", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert ipaddress.ip_address(ip.strip()) in ipaddress.ip_network(SERVICE_CIDR)


def student_namespaces(cli: Cli) -> list[str]:
    namespaces = json.loads(cli.kubectl("get", "namespaces", "-o", "json").stdout)["items"]
    return sorted(ns["metadata"]["name"] for ns in namespaces if ns["metadata"]["name"].startswith("student-"))


def test_students_added_by_a_run_killed_before_it_saved_are_all_removed_by_classroom_down(cli):
    """On a cluster the state holds, `classroom up` runs without intermediate checkpoints
    (infra.checkpoints): killed outright, it has saved nothing of the students it made. `classroom down`
    finishes that run first, so it removes every student, none left unknown in the cluster."""
    cli.run("classroom", "up", "--target=kwok", "--students=2")
    assert student_namespaces(cli) == ["student-01", "student-02"]
    process = subprocess.Popen([sys.executable, "-m", "invoke", "classroom", "up", "--target=kwok", "--students=14",
                                f"--session={cli.session}"], cwd=PROJECT_ROOT, env=cli.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(student_namespaces(cli)) < 5:  # the run is making the new students: kill everything now
            assert process.poll() is None, "classroom up ended before it had made three new students"
            assert time.monotonic() < deadline, "no new student's namespace within 300 s"
            time.sleep(0.2)
    finally:
        kill_tree(process)
    unsaved = cli.state / "sessions" / cli.session / "unsaved-run.json"
    assert unsaved.exists(), "the kill came after the run had saved its state"
    made = student_namespaces(cli)

    down = cli.run("classroom", "down")
    assert "is finished first" in down.output
    assert student_namespaces(cli) == [], f"made by the killed run: {made}"
    bindings = cli.kubectl("get", "clusterrolebindings", "-o", "name").stdout
    assert "student-" not in bindings
    assert not unsaved.exists()


def test_session_down_leaves_no_cluster_no_state_and_no_stack_file(cli):
    cli.run("session", "down")
    clusters = subprocess.run([str(REAL_TOOLS / "bin" / "kwokctl"), "get", "clusters"], capture_output=True,
                              text=True, env={**cli.env, "KWOK_WORKDIR": str(cli.state / "sessions" / cli.session / "kwok")})
    assert f"labs-{cli.session}" not in clusters.stdout
    assert not (cli.state / "sessions" / cli.session).exists()
    assert not list(STACKS_DIR.glob(f"Pulumi.{cli.session}-*.yaml"))
