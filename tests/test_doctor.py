"""`invoke doctor` against a fake machine: which tools exist and what their commands answer."""
from __future__ import annotations

import subprocess

import pytest

from infra import doctor, toolchain
from infra.errors import LabsError

KWOK_TOOLS = ("kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
ALL_PRESENT = {name: f"/opt/bin/{name}" for name in ("docker", "kind", "pulumi", "kubectl", *KWOK_TOOLS, "helm")}


def answer(stdout: str) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], 0, stdout=stdout, stderr="")


HEALTHY_ANSWERS = {
    "docker": answer("29.0.1\n"),
    "kind": answer("kind v0.32.0 go1.26.5 linux/amd64\n"),
    "pulumi": answer("v3.274.0\n"),
    "kubectl": answer("Client Version: v1.36.1\nKustomize Version: v5.8.1\n"),
    "kwokctl": answer("kwokctl version v0.8.0 go1.26.8 (linux/amd64)\n"),
    "kwok": answer("kwok version v0.8.0 go1.26.8 (linux/amd64)\n"),
    "etcd": answer("etcd Version: 3.7.3\nGit SHA: Not provided (use ./build instead of go build)\n"),
    "kube-apiserver": answer("Kubernetes v1.36.1\n"),
    "kube-controller-manager": answer("Kubernetes v1.36.1\n"),
    "kube-scheduler": answer("Kubernetes v1.36.1\n"),
    "helm": answer("v3.21.4\n"),  # `helm version --short` of the helm `invoke setup --from-source` builds
}
ALL_NAMES = ["docker", "kind", "Pulumi CLI", "kubectl", *KWOK_TOOLS, "helm", "kubernetes provider plugin"]


@pytest.fixture
def plugin_installed(tmp_path):
    """The provider plugin where `invoke setup --from-source` installs it (LABS_TOOLS_DIR is tmp)."""
    plugin = toolchain.provider_plugin_path()
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    return plugin
DAEMON_DOWN = subprocess.CompletedProcess(
    [], 1, stdout="\n",
    stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
)


class FakeMachine:
    """Replaces toolchain.find_tool and doctor.run; answers are CompletedProcess or an exception to raise."""

    def __init__(self, monkeypatch, present=ALL_PRESENT, answers=HEALTHY_ANSWERS):
        self.present = dict(present)
        self.answers = dict(answers)
        self.calls: list[tuple[list[str], dict]] = []
        monkeypatch.setattr(toolchain, "find_tool", self.present.get)
        monkeypatch.setattr(doctor, "run", self.run)

    def run(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        answer = self.answers[argv[0].rsplit("/", 1)[-1]]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def by_name(results):
    return {result.name: result for result in results}


def test_all_ok_reports_each_version_in_order(monkeypatch, plugin_installed):
    machine = FakeMachine(monkeypatch)

    results = doctor.run_doctor()

    assert [r.name for r in results] == ALL_NAMES
    assert all(r.ok and r.fix == "" for r in results)
    found = by_name(results)
    assert found["docker"].version_or_problem == "server 29.0.1"
    assert found["kind"].version_or_problem == "kind v0.32.0 go1.26.5 linux/amd64 (/opt/bin/kind)"
    assert found["Pulumi CLI"].version_or_problem == "v3.274.0 (/opt/bin/pulumi)"
    assert found["kubectl"].version_or_problem == "Client Version: v1.36.1 (/opt/bin/kubectl)"
    assert found["kwokctl"].version_or_problem == "kwokctl version v0.8.0 go1.26.8 (linux/amd64) (/opt/bin/kwokctl)"
    assert found["etcd"].version_or_problem == "etcd Version: 3.7.3 (/opt/bin/etcd)"
    assert found["kube-apiserver"].version_or_problem == "Kubernetes v1.36.1 (/opt/bin/kube-apiserver)"
    assert found["kubernetes provider plugin"].version_or_problem == f"4.25.0 ({plugin_installed})"
    assert doctor.ready_for(results) == ["kind", "kwok"]
    assert ["/opt/bin/kube-scheduler", "--version"] in [argv for argv, _ in machine.calls]
    assert machine.calls[0][0] == ["/opt/bin/docker", "info", "--format", "{{.ServerVersion}}"]
    assert all(kwargs["timeout"] == doctor.COMMAND_TIMEOUT_S for _, kwargs in machine.calls)
    doctor.docker_daemon_ready()  # does not raise


def test_docker_missing_points_at_get_docker_and_runs_nothing(monkeypatch):
    machine = FakeMachine(monkeypatch, present={k: v for k, v in ALL_PRESENT.items() if k != "docker"})

    result = doctor.check_docker()

    assert (result.ok, result.version_or_problem) == (False, "not installed")
    assert "https://docs.docker.com/get-docker/" in result.fix
    assert machine.calls == []
    with pytest.raises(LabsError) as error:
        doctor.docker_daemon_ready()
    assert str(error.value).startswith("docker not installed: Docker is yours to install")


def test_daemon_down_is_told_apart_from_not_installed(monkeypatch):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "docker": DAEMON_DOWN})

    result = doctor.check_docker()

    assert not result.ok
    assert result.version_or_problem == (
        "daemon not answering (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?)"
    )
    assert "Docker Desktop" in result.fix and "`sudo systemctl start docker`" in result.fix
    with pytest.raises(LabsError) as error:
        doctor.docker_daemon_ready()
    message = str(error.value)
    assert message.startswith("docker daemon not answering (Cannot connect")
    assert message.endswith(doctor.DAEMON_FIX)
    assert "\n" not in message


def test_daemon_that_hangs_is_cut_off_by_the_timeout(monkeypatch):
    hang = subprocess.TimeoutExpired(["docker", "info"], doctor.COMMAND_TIMEOUT_S)
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "docker": hang})

    result = doctor.check_docker()

    assert not result.ok
    assert result.version_or_problem == f"daemon not answering (no answer within {doctor.COMMAND_TIMEOUT_S}s)"
    assert result.fix == doctor.DAEMON_FIX


def test_socket_permission_problem_gets_the_docker_group_fix(monkeypatch):
    denied = subprocess.CompletedProcess(
        [], 1, stdout="",
        stderr="permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
        ": connect: permission denied\n",
    )
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "docker": denied})

    result = doctor.check_docker()

    assert not result.ok
    assert result.fix == doctor.SOCKET_PERMISSION_FIX


def test_missing_setup_tools_say_invoke_setup(monkeypatch):
    FakeMachine(monkeypatch, present={"docker": ALL_PRESENT["docker"]})

    results = doctor.run_doctor()
    found = by_name(results)

    assert found["docker"].ok
    for name in ("kind", "Pulumi CLI", "kubectl", "kwokctl", "kwok"):
        assert not found[name].ok
        assert found[name].version_or_problem == "not installed"
        assert found[name].fix.startswith("run `invoke setup`")
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert found[name].fix.startswith("run `invoke setup --from-source` (builds ")
    plugin = found["kubernetes provider plugin"]
    assert (plugin.ok, plugin.version_or_problem) == (False, "4.25.0 not installed")
    assert plugin.fix.startswith("run `invoke setup --from-source`")
    assert doctor.ready_for(results) == []


def test_a_machine_without_docker_is_ready_for_kwok_clusters_built_from_source(monkeypatch, plugin_installed):
    present = {name: path for name, path in ALL_PRESENT.items() if name not in ("docker", "kind")}
    FakeMachine(monkeypatch, present=present)

    results = doctor.run_doctor()

    assert [r.name for r in results if not r.ok] == ["docker", "kind"]
    assert {r.needed_for for r in results if not r.ok} == {doctor.KIND}
    assert doctor.ready_for(results) == ["kwok"]


def test_kind_clusters_do_not_need_the_kwok_tools(monkeypatch):
    present = {name: path for name, path in ALL_PRESENT.items() if name not in KWOK_TOOLS}
    FakeMachine(monkeypatch, present=present)

    results = doctor.run_doctor()

    assert doctor.ready_for(results) == ["kind"]


def test_no_pulumi_cli_means_ready_for_nothing(monkeypatch, plugin_installed):
    FakeMachine(monkeypatch, present={name: path for name, path in ALL_PRESENT.items() if name != "pulumi"})

    assert doctor.ready_for(doctor.run_doctor()) == []


def test_a_tool_that_cannot_run_is_reported_not_raised(monkeypatch):
    broken = OSError(8, "Exec format error")
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "kubectl": broken})

    result = doctor.check_tool("kubectl")

    assert not result.ok
    assert result.version_or_problem == "/opt/bin/kubectl does not run (Exec format error)"
    assert "invoke setup" in result.fix


def test_without_helm_every_target_is_still_ready_and_the_fix_is_named(monkeypatch, plugin_installed):
    machine = FakeMachine(monkeypatch)
    del machine.present["helm"]
    results = doctor.run_doctor()
    helm = by_name(results)["helm"]
    assert not helm.ok and helm.needed_for == doctor.SOLVE_STEPS
    assert "`invoke setup --from-source` (builds helm v3.21.4" in helm.fix and "helm.sh/docs" in helm.fix
    assert doctor.ready_for(results) == ["kind", "kwok"]  # only lab 20's `lab solve` runs helm


def test_a_helm_of_another_version_is_a_warning(monkeypatch, plugin_installed):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "helm": answer("v4.3.2+g1a2b3c4\n")})
    helm = by_name(doctor.run_doctor())["helm"]
    assert helm.ok and helm.warning == "version 4.3.2 is not the pinned v3.21.4"
