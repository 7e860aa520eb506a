"""Messages that name the real problem: one line, the cause as the user would put it, and the fix."""
from __future__ import annotations

import subprocess

import pytest

from infra import commands, doctor, toolchain
from infra.clusters import cloud
from infra.clusters.kind import KindTarget
from infra.errors import LabsError
from infra.settings import StackSettings
from tests.test_cli import KUBECTL_CALLS, driver, invoke, kind_kubeconfig  # noqa: F401 (fixture)
from tests.test_doctor import HEALTHY_ANSWERS, FakeMachine, answer, by_name, plugin_installed  # noqa: F401

REAL_KIND_PREFLIGHT = KindTarget.preflight
REAL_KUBECTL = commands.kubectl


def one_error_line(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


# --- a missing kubeconfig, no cluster yet -----------------------------------------------------------

@pytest.mark.parametrize("action", ["check", "solve", "reset"])
def test_a_kubeconfig_missing_from_KUBECONFIG_is_named_as_missing(driver, capsys, monkeypatch, tmp_path, action):
    absent = tmp_path / "nowhere" / "config"
    monkeypatch.setenv("KUBECONFIG", str(absent))
    err = one_error_line(capsys, "lab", action, "--lab=ingress")
    assert f"kubeconfig {absent} (from KUBECONFIG) is missing: run `invoke lab up --lab=ingress` first" in err
    assert KUBECTL_CALLS == []


def test_without_KUBECONFIG_the_default_file_is_named(driver, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    err = one_error_line(capsys, "lab", "check", "--lab=7", "--session=monday")
    assert f"kubeconfig {tmp_path / 'home' / '.kube' / 'config'} is missing: run `invoke lab up --lab=ingress " \
           "--session=monday` first, or pass --kubeconfig=PATH" in err


@pytest.mark.parametrize("action", ["check", "solve", "reset"])
def test_no_cluster_for_the_session_says_to_bring_the_lab_up_first(driver, capsys, monkeypatch, tmp_path, action):
    """kind removes a deleted cluster's context: the kubeconfig is there, the session's context is not."""
    monkeypatch.setenv("KUBECONFIG", kind_kubeconfig(tmp_path, session="other"))
    err = one_error_line(capsys, "lab", action, "--lab=ingress")
    assert "no cluster for session 'default': context kind-labs-default is not in" in err
    assert err.endswith("run `invoke lab up --lab=ingress` first")
    assert KUBECTL_CALLS == []


@pytest.mark.parametrize("action", ["solve", "reset"])
def test_a_cluster_that_does_not_answer_says_to_bring_the_lab_up(driver, capsys, monkeypatch, tmp_path, action):
    """The context is there but its API server is gone (a stopped kind node): kubectl's own failure."""
    monkeypatch.setenv("KUBECONFIG", kind_kubeconfig(tmp_path, session="monday"))
    monkeypatch.setattr(commands, "kubectl", REAL_KUBECTL)  # the driver fixture made kubectl succeed
    monkeypatch.setattr(toolchain, "require_tool", lambda name: f"/usr/bin/{name}")
    refused = "The connection to the server 127.0.0.1:41235 was refused - did you specify the right host or port?\n"
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: subprocess.CompletedProcess(argv, 1, "", refused))
    err = one_error_line(capsys, "lab", action, "--lab=ingress", "--session=monday")
    assert "was refused" in err and err.endswith("is the cluster up? run `invoke lab up --lab=ingress "
                                                 "--session=monday` first")


# --- lab test without Docker -----------------------------------------------------------------------

def test_lab_test_without_docker_stops_at_the_first_failed_preflight(driver, capsys, monkeypatch):
    """The real preflight, on a machine whose Docker daemon does not answer (docker info's own error)."""
    monkeypatch.setattr(KindTarget, "preflight", REAL_KIND_PREFLIGHT)  # the driver fixture made it pass
    monkeypatch.setattr(toolchain, "find_tool", {"docker": "/usr/bin/docker"}.get)
    monkeypatch.setattr(doctor, "run", lambda argv, **kwargs: subprocess.CompletedProcess(
        argv, 1, stdout="\n", stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                                     "Is the docker daemon running?\n"))
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "test", "--lab=all")
    captured = capsys.readouterr()
    assert exit_.value.code == 1 and captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: docker daemon not answering (Cannot connect to the Docker daemon")
    assert line.endswith(doctor.DAEMON_FIX)
    assert all(not instance.calls for instance in driver.instances)


# --- session orphans: the cloud CLI's actionable line ---------------------------------------------

GCLOUD_NOT_LOGGED_IN = """ERROR: (gcloud.container.clusters.list) You do not currently have an active account selected.
Please run:

  $ gcloud auth login

to obtain new credentials.

If you have already logged in with a different account, run:

  $ gcloud config set account ACCOUNT

to select an already authenticated account to use.
"""


def test_session_orphans_keeps_the_clouds_actionable_line(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda command: f"/usr/bin/{command}")
    run = lambda argv: subprocess.CompletedProcess(argv, 1, "", GCLOUD_NOT_LOGGED_IN)  # noqa: E731
    with pytest.raises(LabsError) as error:
        cloud.list_orphans(StackSettings(session="monday", target="gke", gcp_project="p"), run)
    message = str(error.value)
    assert "You do not currently have an active account selected." in message
    assert "gcloud auth login" in message and "\n" not in message
    assert "to select an already authenticated account" not in message


def test_a_one_line_cli_error_stays_as_it_is(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda command: f"/usr/bin/{command}")
    az = "ERROR: Please run 'az login' to setup account.\n"
    run = lambda argv: subprocess.CompletedProcess(argv, 1, "", az)  # noqa: E731
    with pytest.raises(LabsError, match=r"failed: ERROR: Please run 'az login' to setup account\.$"):
        cloud.list_orphans(StackSettings(session="monday", target="aks"), run)


# --- doctor: versions against their pins, kubectl against the clusters -------------------------------

def test_doctor_warns_on_a_tool_that_is_not_its_pinned_version(monkeypatch, plugin_installed):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "kind": answer("kind v0.31.0 go1.25 linux/amd64\n"),
                                      "kubectl": answer("Client Version: v1.35.2\nKustomize Version: v5\n")})
    found = by_name(doctor.run_doctor())
    assert found["kind"].ok and found["kind"].warning == "version 0.31.0 is not the pinned v0.32.0"
    assert found["kind"].fix == "run `invoke setup` for the pinned version"
    # One minor away from every cluster: a pin warning, no skew warning.
    assert found["kubectl"].warning == f"version 1.35.2 is not the pinned {toolchain.KUBERNETES_VERSION}"
    assert found["etcd"].warning == "" and found["Pulumi CLI"].warning == ""


def test_doctor_warns_on_a_kubectl_more_than_one_minor_from_the_clusters(monkeypatch, plugin_installed):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "kubectl": answer("Client Version: v1.33.4\n")})
    kubectl = by_name(doctor.run_doctor())["kubectl"]
    assert kubectl.ok  # it runs: a warning, not a missing prerequisite
    assert "kubectl 1.33 is more than one minor version away from the clusters of kind and kwok (v1.36.1)" \
        in kubectl.warning
    clouds = {target: StackSettings.for_target(target).kubernetes_version for target in ("gke", "eks", "aks")}
    for target, version in clouds.items():  # the clouds' committed 1.35: two minors away as well
        assert f"{target} ({version})" in kubectl.warning


def test_doctor_says_when_a_version_cannot_be_compared(monkeypatch, plugin_installed):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "kwok": answer("kwok (devel)\n")})
    kwok = by_name(doctor.run_doctor())["kwok"]
    assert kwok.ok and kwok.warning == f"no version found in its output: not compared with the pin {toolchain.KWOK_VERSION}"
    assert kwok.fix == "run `invoke setup` for the pinned version"


def test_the_doctor_table_shows_the_warning(monkeypatch, plugin_installed, capsys):
    FakeMachine(monkeypatch, answers={**HEALTHY_ANSWERS, "kubectl": answer("Client Version: v1.33.4\n")})
    monkeypatch.setattr(commands.out, "_width", 400)
    commands.doctor()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("│ kubectl"))
    assert "warning" in row and "more than one minor version away" in row


# --- cost, ports ------------------------------------------------------------------------------------

def test_cost_without_a_target_uses_the_default_target_like_every_command(capsys):
    err = one_error_line(capsys, "cost")
    assert err == "error: no cost estimate for 'kind': it runs on your machine (cloud targets: gke, eks, aks)"


@pytest.mark.parametrize("ports", [("--http-port=8080", "--https-port=8080"), ("--http-port=443",)])
def test_the_same_port_for_http_and_https_is_refused(driver, capsys, ports):
    err = one_error_line(capsys, "lab", "up", "--lab=ingress", *ports)
    port = ports[0].split("=")[1]
    assert f"httpPort and httpsPort are both {port}" in err and "give two different ports" in err
    assert all(not instance.calls for instance in driver.instances) and KUBECTL_CALLS == []
