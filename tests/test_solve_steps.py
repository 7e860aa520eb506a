"""A lab's solve steps (`solve:` in lab.yaml, infra.solve_spec) offline: what the catalog accepts and
refuses, how `lab solve` runs them after the solution files (in order, retargeted into a student's
namespace, a step meant to fail that succeeds stops it), and each target's scheduler restart with fakes
that fail as docker and kwokctl do. The real run on kwok is the `controlplane` tier (labs 03, 18, 20)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import pytest
import yaml

from infra import commands
from infra.catalog import Catalog, load_lab
from infra.clusters import kind, kwok
from infra.errors import LabsError
from infra.manifests import retarget_steps
from infra.paths import LABS_DIR
from infra.settings import StackSettings
from infra.solve_spec import describe, validate_step, validate_steps
from tests.conftest import lab_yaml, write_lab
from tests.test_cli import KUBECTL_CALLS, KUBECTL_STDIN, driver, invoke  # noqa: F401 (fixture)


# --- the vocabulary ---------------------------------------------------------------------------------

@pytest.mark.parametrize("step, message", [
    ("kubectl debug solo", "a step is a mapping"),
    ({"kubectl": ["get", "pods"], "helm": ["list"]}, "exactly one of kubectl, helm, restart, got kubectl, helm"),
    ({"fails": True}, "exactly one of kubectl, helm, restart, got none"),
    ({"shell": "kubectl get pods"}, "unknown field 'shell'"),
    ({"kubectl": "debug solo"}, "kubectl: a non-empty list of arguments"),
    ({"kubectl": []}, "kubectl: a non-empty list of arguments"),
    ({"helm": ["list", " "]}, "helm: a non-empty list of arguments, each a non-blank string"),
    ({"kubectl": ["debug", "-it", "solo"]}, "drop '-it': a solve step runs without a terminal"),
    ({"kubectl": ["debug", "solo", "--stdin"]}, "drop '--stdin'"),
    ({"kubectl": ["get", "pods", "--context=prod"]}, "drop '--context': lab solve talks to the lab's cluster itself"),
    ({"helm": ["list", "--kube-context", "prod"]}, "drop '--kube-context'"),
    ({"restart": "apiserver"}, "restart: 'apiserver' is not a component it can restart (known: scheduler)"),
    ({"restart": "scheduler", "fails": True}, "a restart step cannot be expected to fail"),
    ({"helm": ["list"], "fails": "yes"}, "'fails' must be true or false"),
    ({"helm": ["list"], "guide": "two"}, "'guide' must be the number of the guide's step"),
    ({"kubectl": ["wait"], "needs_containers": "yes"}, "'needs_containers' must be true or false"),
])
def test_a_step_the_vocabulary_refuses_is_one_line_naming_where(step, message):
    with pytest.raises(LabsError) as error:
        validate_step(step, "labs/x/lab.yaml: solve[1]")
    assert str(error.value).startswith("labs/x/lab.yaml: solve[1]: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_steps_are_normalised_and_shown_as_typed():
    steps = validate_steps([{"kubectl": ["debug", "solo"], "guide": 2}, {"restart": "scheduler"},
                            {"helm": ["upgrade", "web", "chart"], "fails": True, "needs_containers": True}], "solve")
    assert steps == (
        {"action": "kubectl", "args": ("debug", "solo"), "fails": False, "guide": 2, "needs_containers": False},
        {"action": "restart", "component": "scheduler", "fails": False, "guide": None, "needs_containers": False},
        {"action": "helm", "args": ("upgrade", "web", "chart"), "fails": True, "guide": None, "needs_containers": True},
    )
    assert [describe(step) for step in steps] == ["kubectl debug solo", "restart scheduler", "helm upgrade web chart"]


def test_solve_is_optional_and_a_bad_one_names_the_file_and_the_step(tmp_path):
    assert load_lab(write_lab(tmp_path, "07-web", lab_yaml("web"))).solve == ()
    text = lab_yaml("app", slide="App") + "solve:\n  - kubectl: [get, pods]\n  - kubectl: [exec, -it, web, --, sh]\n"
    folder = write_lab(tmp_path, "08-app", text)
    with pytest.raises(LabsError, match=r"08-app/lab.yaml: solve\[1\]: kubectl: drop '-it'"):
        load_lab(folder)
    folder.joinpath("lab.yaml").write_text(lab_yaml("app", slide="App") + "solve: {kubectl: [get, pods]}\n")
    with pytest.raises(LabsError, match=r"field 'solve': must be a list"):
        load_lab(folder)


def test_the_three_labs_whose_key_step_is_no_file_declare_it():
    catalog = Catalog.load(LABS_DIR)
    pods, architecture, helm = (catalog.resolve(slug) for slug in ("pods", "architecture", "helm"))
    assert [describe(step) for step in pods.solve] == [
        "kubectl debug solo -n lab-pods --image=busybox:1.36.1 --target=whoami --profile=restricted"]
    assert [describe(step) for step in architecture.solve] == ["restart scheduler"]
    # Helm's own history: install, upgrade, an upgrade that fails, rollback to 2 (4 revisions).
    assert [step["args"][0] for step in helm.solve] == ["uninstall", "install", "upgrade", "upgrade", "rollback"]
    assert [step["fails"] for step in helm.solve] == [False, False, False, True, False]
    assert helm.solve[-1]["args"][:3] == ("rollback", "web", "2")
    # The chart the steps install is the lab's own, from the repository root where they run.
    assert all((LABS_DIR.parent / step["args"][2]).joinpath("Chart.yaml").is_file() for step in helm.solve[1:4])


def test_every_guide_names_the_commands_its_solve_steps_run():
    """A solve step is what the guide has students do: its command (namespace and chart path aside)
    is in both guides."""
    for lab in Catalog.load(LABS_DIR).labs:
        for step in lab.solve:
            if step["action"] == "restart" or step["args"][0] == "uninstall":
                continue
            words = [arg for arg in step["args"] if arg != "labs/20-helm/files/chart"]  # the guide's is a copy
            for lang in ("fr", "en"):
                guide = (lab.path / f"README.{lang}.md").read_text(encoding="utf-8")
                assert [word for word in words if word not in guide] == [], (lab.id, lang, describe(step))


# --- into a student's namespace ---------------------------------------------------------------------

def test_steps_are_retargeted_like_the_files():
    steps = validate_steps([
        {"kubectl": ["debug", "solo", "-n", "lab-pods", "--image=busybox:1.36.1"]},
        {"helm": ["install", "web", "labs/20-helm/files/chart", "--namespace=lab-pods", "--set",
                  "host=blue.localhost", "--set", "url=http://web.lab-pods.svc.cluster.local"]},
        {"restart": "scheduler"},
        {"kubectl": ["get", "ns", "lab-pods-sidecar"]},
    ], "solve")
    moved = retarget_steps(steps, "lab-pods", "student-01", "student-01", "class.example")
    assert moved[0]["args"] == ("debug", "solo", "-n", "student-01", "--image=busybox:1.36.1")
    assert moved[1]["args"] == ("install", "web", "labs/20-helm/files/chart", "--namespace=student-01", "--set",
                                "host=blue.student-01.class.example", "--set",
                                "url=http://web.student-01.svc.cluster.local")
    assert moved[2] == steps[2]  # the scheduler is the cluster's, not a namespace's
    assert moved[3]["args"] == ("get", "ns", "lab-pods-sidecar")  # a longer name is another name
    assert steps[0]["args"][3] == "lab-pods"  # the lab's own steps are left as they are



def test_a_kubectl_steps_files_are_retargeted_into_its_stdin(tmp_path):
    """`-n` is an argument, but a file's `namespace: lab-pods` is not: the file's objects go through
    the same rewrite as the lab's folders and reach kubectl as `-f -`."""
    folder = tmp_path / "labs" / "03-pods" / "files"
    folder.mkdir(parents=True)
    (folder / "snap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: lab-pods}\n"
        "data: {url: http://web.lab-pods.svc}\n")
    (folder / "more.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    steps = validate_steps([
        {"kubectl": ["apply", "-f", "labs/03-pods/files/snap.yaml", "--filename=labs/03-pods/files/more.yaml"]},
        {"kubectl": ["apply", "-n", "lab-pods", "-f", "-"]},
        {"helm": ["install", "web", "labs/03-pods/files", "-f", "labs/03-pods/files/snap.yaml"]},
    ], "solve")
    moved = retarget_steps(steps, "lab-pods", "student-01", "student-01", "class.example", root=tmp_path)
    assert moved[0]["args"] == ("apply", "-f", "-")
    objects = [doc for doc in yaml.safe_load_all(moved[0]["stdin"])]
    assert [(o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [
        ("a", "student-01"), ("b", "student-01")]
    assert objects[0]["data"]["url"] == "http://web.student-01.svc"
    assert moved[1]["args"] == ("apply", "-n", "student-01", "-f", "-") and "stdin" not in moved[1]
    assert "stdin" not in moved[2]  # helm's -f is a values file, read by helm itself


def test_a_kubectl_step_naming_a_missing_file_is_one_line(tmp_path):
    steps = validate_steps([{"kubectl": ["apply", "-f", "labs/nowhere.yaml"]}], "solve")
    with pytest.raises(LabsError, match=r"no file labs/nowhere.yaml \(paths are from the repository root\)"):
        retarget_steps(steps, "lab-pods", "student-01", root=tmp_path)


def test_lab_solve_of_lab_12_for_a_student_grows_then_snapshots_in_their_namespace(driver, capsys):
    invoke("lab", "solve", "--lab=persistent-volume-claim", "--student=student-01")
    assert [call[:3] for call in KUBECTL_CALLS] == [["apply", "-f", "-"], ["wait", "pvc/data", "-n"],
                                                    ["patch", "pvc", "data"], ["apply", "-f", "-"]]
    assert KUBECTL_CALLS[1][KUBECTL_CALLS[1].index("-n") + 1] == "student-01"  # Bound first: then it can grow
    assert KUBECTL_CALLS[2][KUBECTL_CALLS[2].index("-n") + 1] == "student-01"
    snapshot, = yaml.safe_load_all(KUBECTL_STDIN[3])
    assert snapshot["kind"] == "VolumeSnapshot" and snapshot["metadata"]["namespace"] == "student-01"
    assert snapshot["spec"]["source"]["persistentVolumeClaimName"] == "data"


HELM_CALLS: list[list[str]] = []


def fake_helm(answers: dict[str, tuple[int, str]] | None = None):
    """A helm that records its calls; an upgrade with --wait answers as helm does when the pods never get
    ready (exit 1, the error on stderr), unless `answers` (first argument -> (code, stderr)) says else."""
    answers = {"wait": (1, "Error: UPGRADE FAILED: context deadline exceeded\n"), **(answers or {})}

    def helm(args, kubeconfig, context, check=True):
        HELM_CALLS.append([*args, f"context={context}"])
        code, stderr = answers["wait"] if "--wait" in args else answers.get(args[0], (0, ""))
        done = subprocess.CompletedProcess(["helm", *args], code, "", stderr)
        if check and code:
            raise LabsError(f"`helm {' '.join(args)}` failed: {stderr.strip()}")
        return done
    return helm


@pytest.fixture
def helm_calls(monkeypatch):
    HELM_CALLS.clear()
    monkeypatch.setattr(commands, "helm", fake_helm())
    return HELM_CALLS


def test_lab_solve_for_a_student_runs_the_steps_after_the_files_in_their_namespace(driver, helm_calls, capsys):
    invoke("lab", "solve", "--lab=helm", "--student=student-01")
    assert [call[:3] for call in KUBECTL_CALLS] == [["apply", "-f", "-"]]  # the solution: no starting point left
    assert [call[0] for call in helm_calls] == ["uninstall", "install", "upgrade", "upgrade", "rollback"]
    for call in helm_calls:
        assert call[call.index("-n") + 1] == "student-01" and "lab-helm" not in call
        assert call[-1] == "context=kind-labs-default"
    err = capsys.readouterr().err
    assert "20-helm: step 4/5 (guide step 4): helm upgrade web labs/20-helm/files/chart -n student-01" in err
    assert "failed, as the guide has it: Error: UPGRADE FAILED: context deadline exceeded" in err
    assert "20-helm: solution applied in student-01" in err


def test_lab_solve_in_the_labs_own_namespace_runs_kubectl_steps_after_applying_the_folders(driver, capsys):
    invoke("lab", "solve", "--lab=pods")
    assert [call[:3] for call in KUBECTL_CALLS[:2]] == [["apply", "-R", "-f"]] * 2
    assert KUBECTL_CALLS[2] == ["debug", "solo", "-n", "lab-pods", "--image=busybox:1.36.1", "--target=whoami",
                                "--profile=restricted", "context=kind-labs-default"]
    assert len(KUBECTL_CALLS) == 3


def test_a_step_the_guide_has_fail_that_succeeds_stops_lab_solve_in_one_line(driver, monkeypatch, capsys):
    HELM_CALLS.clear()
    monkeypatch.setattr(commands, "helm", fake_helm({"wait": (0, "")}))  # say, pods that get ready after all
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "solve", "--lab=helm")
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "step 4/5 (guide step 4): `helm upgrade web" in err and "succeeded, but the guide has it fail" in err
    assert "Traceback" not in err and "solution applied" not in err
    assert [call[0] for call in HELM_CALLS] == ["uninstall", "install", "upgrade", "upgrade"]  # no rollback


def test_a_failing_step_stops_lab_solve_with_the_tools_last_line(driver, monkeypatch, capsys):
    HELM_CALLS.clear()
    monkeypatch.setattr(commands, "helm", fake_helm(
        {"install": (1, "Error: INSTALLATION FAILED: cannot re-use a name that is still in use\n")}))
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "solve", "--lab=helm")
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "`helm install web labs/20-helm/files/chart -n lab-helm` failed: Error: INSTALLATION FAILED: cannot " \
           "re-use a name that is still in use" in " ".join(err.split())
    assert [call[0] for call in HELM_CALLS] == ["uninstall", "install"]


def test_without_helm_lab_solve_says_how_to_get_it(driver, isolated_user_dirs, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(isolated_user_dirs / "empty"))  # no helm anywhere
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "solve", "--lab=helm")
    assert exit_.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "helm not found: run `invoke setup --from-source` (builds helm v3.21.4 from helm.sh/helm/v3" in err
    assert "https://helm.sh/docs/intro/install/" in err and "Traceback" not in err


# --- the scheduler's restart, through the target -----------------------------------------------------

class FakeDocker:
    """`docker exec` on kind's control-plane node, as docker answers: the scheduler's container runs
    until its manifest leaves the kubelet's folder (then `crictl ps` lists it `lingers` more times)."""

    def __init__(self, node_up: bool = True, lingers: int = 1, daemon_up: bool = True):
        self.calls: list[tuple[str, ...]] = []
        self.node_up, self.lingers, self.daemon_up = node_up, lingers, daemon_up
        self.manifest_in = True

    def __call__(self, *args, timeout=60):
        self.calls.append(args)
        if not self.daemon_up:
            return subprocess.CompletedProcess(args, 1, "", "Cannot connect to the Docker daemon at "
                                               "unix:///var/run/docker.sock. Is the docker daemon running?\n")
        assert args[:2] == ("exec", "labs-monday-control-plane"), args
        if not self.node_up:
            return subprocess.CompletedProcess(args, 1, "", "Error response from daemon: container 4f0c1e2d is not "
                                               "running\n")
        command = args[2:]
        if command[0] == "mv":
            source, destination = command[1:]
            if source != (kind.SCHEDULER_MANIFEST if self.manifest_in else kind.SCHEDULER_PARKED):
                return subprocess.CompletedProcess(args, 1, "", f"mv: cannot stat '{source}': No such file or "
                                                   "directory\n")
            self.manifest_in = destination == kind.SCHEDULER_MANIFEST
            return subprocess.CompletedProcess(args, 0, "", "")
        assert command[:2] == ("crictl", "ps"), command
        if self.manifest_in or self.lingers > 0:
            self.lingers -= 0 if self.manifest_in else 1
            return subprocess.CompletedProcess(args, 0, "8d2f3c9a1b4e\n", "")
        return subprocess.CompletedProcess(args, 0, "", "")


def test_kind_moves_the_static_manifest_out_until_the_scheduler_stops_then_back(monkeypatch):
    docker = FakeDocker(lingers=2)
    monkeypatch.setattr(kind, "_docker", docker)
    kind.restart_scheduler("monday", sleep=lambda s: None)
    moves = [call[2:] for call in docker.calls if call[2] == "mv"]
    assert moves == [("mv", kind.SCHEDULER_MANIFEST, kind.SCHEDULER_PARKED),
                     ("mv", kind.SCHEDULER_PARKED, kind.SCHEDULER_MANIFEST)]
    assert sum(call[2] == "crictl" for call in docker.calls) == 3  # running, running, stopped
    assert docker.manifest_in


def test_kind_puts_the_manifest_back_when_the_scheduler_does_not_stop(monkeypatch):
    docker = FakeDocker(lingers=10**6)
    monkeypatch.setattr(kind, "_docker", docker)
    ticks = iter(range(0, 10**6, 30))
    with pytest.raises(LabsError, match=r"kube-scheduler still runs on labs-monday-control-plane 90 s after its "
                                        r"manifest left /etc/kubernetes/manifests: is the kubelet running\?"):
        kind.restart_scheduler("monday", sleep=lambda s: None, clock=lambda: next(ticks))
    assert docker.manifest_in  # never left without a scheduler


@pytest.mark.parametrize("docker, line", [
    (FakeDocker(node_up=False), "`docker exec labs-monday-control-plane mv /etc/kubernetes/manifests/kube-scheduler.yaml "
                                "/root/kube-scheduler.yaml` failed: Error response from daemon: container 4f0c1e2d is "
                                "not running"),
    (FakeDocker(daemon_up=False), "failed: Cannot connect to the Docker daemon"),
])
def test_kind_restart_failures_are_dockers_last_line(monkeypatch, docker, line):
    monkeypatch.setattr(kind, "_docker", docker)
    with pytest.raises(LabsError, match=line.replace(".", r"\.")):
        kind.restart_scheduler("monday", sleep=lambda s: None)
    assert len(docker.calls) == 1  # nothing else was tried


def test_kind_restart_when_the_scheduler_was_already_stopped_says_mvs_words(monkeypatch):
    docker = FakeDocker()
    docker.manifest_in = False  # a student's step 5, half done
    monkeypatch.setattr(kind, "_docker", docker)
    with pytest.raises(LabsError, match="mv: cannot stat '/etc/kubernetes/manifests/kube-scheduler.yaml'"):
        kind.restart_scheduler("monday")


def _fake_scheduler_binary(folder):
    """A stand-in for the kube-scheduler binary: sleep, under that name (its command line says so)."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "kube-scheduler"
    shutil.copy(shutil.which("sleep"), binary)
    return binary


def _kwokctl(folder, script: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kubectl").write_text("#!/bin/sh\nexit 0\n")
    (folder / "kwokctl").write_text(script)
    for path in folder.iterdir():
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _start_scheduler(binary, pid_file):
    process = subprocess.Popen([str(binary), "300"], start_new_session=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(process.pid))
    return process


@pytest.fixture
def kwok_cluster(isolated_user_dirs):
    """A kwok cluster as kwokctl's binary runtime leaves it: its folder, and a running kube-scheduler
    whose pid is in pids/kube-scheduler.pid. kwokctl (a script) lists it and, on `start cluster`,
    starts the scheduler again when its pid file is gone, as kwokctl does."""
    bin_dir = isolated_user_dirs / "tools" / "bin"
    binary = _fake_scheduler_binary(isolated_user_dirs / "scheduler")
    pid_file = kwok.scheduler_pid_file("monday")
    log = isolated_user_dirs / "kwokctl.log"
    _kwokctl(bin_dir, f"""#!/bin/sh
echo "$*" >> {log}
case "$1 $2" in
  "get clusters") echo labs-monday ;;
  "start cluster") [ -f {pid_file} ] || {{ {binary} 300 >/dev/null 2>&1 & echo $! > {pid_file}; }} ;;
esac
""")
    first = _start_scheduler(binary, pid_file)
    yield first, pid_file, log
    if first.poll() is None:
        first.kill()
        first.wait()
    restarted = kwok.running_scheduler(pid_file)
    if restarted is not None and restarted != first.pid:
        os.kill(restarted, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kwok_stops_the_scheduler_process_and_kwokctl_starts_it_again(kwok_cluster):
    first, pid_file, log = kwok_cluster
    kwok.restart_scheduler("monday")
    assert first.wait(timeout=10) == -signal.SIGTERM  # stopped as a kubelet stops a container
    new_pid = int(pid_file.read_text())
    assert new_pid != first.pid and kwok.running_scheduler(pid_file) == new_pid
    assert log.read_text().splitlines() == ["get clusters", "start cluster --name labs-monday"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kwok_never_signals_a_pid_that_is_no_longer_the_scheduler(kwok_cluster):
    first, pid_file, _ = kwok_cluster
    other = subprocess.Popen([shutil.which("sleep"), "300"])  # the pid file names a process of another name
    try:
        pid_file.write_text(str(other.pid))
        kwok.restart_scheduler("monday")
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_kwok_restart_without_the_sessions_cluster_is_one_line(isolated_user_dirs):
    _kwokctl(isolated_user_dirs / "tools" / "bin", "#!/bin/sh\n[ \"$1 $2\" = 'get clusters' ] && exit 0\nexit 1\n")
    kwok.workdir("monday").mkdir(parents=True)
    with pytest.raises(LabsError, match=r"^session 'monday' has no kwok cluster labs-monday: run "
                                        r"`invoke lab up --target=kwok --session=monday` first$"):
        kwok.restart_scheduler("monday")


def test_kwok_restart_when_kwokctl_cannot_start_names_its_error_and_the_logs(isolated_user_dirs):
    _kwokctl(isolated_user_dirs / "tools" / "bin",
             "#!/bin/sh\n[ \"$1 $2\" = 'get clusters' ] && { echo labs-monday; exit 0; }\n"
             "echo 'Error: failed to start kube-scheduler: fork/exec: permission denied' >&2\nexit 1\n")
    kwok.workdir("monday").mkdir(parents=True)
    with pytest.raises(LabsError, match=r"kwokctl start cluster labs-monday failed: Error: failed to start "
                                        r"kube-scheduler: fork/exec: permission denied: kube-scheduler is stopped; "
                                        r"see .*/clusters/labs-monday/logs"):
        kwok.restart_scheduler("monday")


class LeaseKubectl:
    """kubectl answering `get lease kube-scheduler -n kube-system` from a list of holders (None: the
    API server's NotFound)."""

    def __init__(self, holders):
        self.holders = list(holders)

    def __call__(self, args, kubeconfig, context, check=True, stdin=None):
        assert args[:3] == ["get", "lease", "kube-scheduler"], args
        holder = self.holders.pop(0) if len(self.holders) > 1 else self.holders[0]
        if holder is None:
            return subprocess.CompletedProcess(args, 1, "", 'Error from server (NotFound): leases.coordination.k8s.io '
                                               '"kube-scheduler" not found\n')
        spec = {"holderIdentity": holder[0], "acquireTime": holder[1], "leaseDurationSeconds": 15}
        return subprocess.CompletedProcess(args, 0, json.dumps({"kind": "Lease", "spec": spec}), "")


class RestartingTarget:
    def __init__(self):
        self.restarted = []

    def restart_scheduler(self, settings):
        self.restarted.append(settings.session)


def _lab(slug="architecture"):
    return Catalog.load(LABS_DIR).resolve(slug)


OLD = ("labs-control-plane_1a2b", "2026-12-05T08:00:00.000000Z")
NEW = ("labs-control-plane_9f8e", "2026-12-05T09:30:12.000000Z")


def test_a_restart_waits_until_the_leases_holder_changes(monkeypatch, capsys):
    target = RestartingTarget()
    monkeypatch.setattr(commands, "get_target", lambda name: target)
    kubectl = LeaseKubectl([OLD, OLD, OLD, NEW])
    monkeypatch.setattr(commands, "kubectl", kubectl)
    naps = []
    assert commands.restart_scheduler(_lab(), StackSettings(session="monday", target="kwok"), None, None,
                                      sleep=naps.append, clock=lambda: 0.0)
    assert target.restarted == ["monday"] and len(naps) == 2
    assert f"Lease kube-scheduler held by {NEW[0]} since {NEW[1]}" in capsys.readouterr().err


def test_a_restart_whose_lease_never_changes_fails_in_one_line(monkeypatch):
    monkeypatch.setattr(commands, "get_target", lambda name: RestartingTarget())
    monkeypatch.setattr(commands, "kubectl", LeaseKubectl([OLD]))
    ticks = iter(range(0, 10**6, 10))
    with pytest.raises(LabsError, match=rf"its Lease kube-scheduler \(kube-system\) still shows {OLD[0]} since "
                                        rf"{OLD[1]} after 120 s"):
        commands.restart_scheduler(_lab(), StackSettings(target="kind"), None, None, sleep=lambda s: None,
                                   clock=lambda: next(ticks))


def test_a_scheduler_that_had_no_lease_counts_once_it_has_one(monkeypatch):
    monkeypatch.setattr(commands, "get_target", lambda name: RestartingTarget())
    monkeypatch.setattr(commands, "kubectl", LeaseKubectl([None, None, NEW]))
    assert commands.restart_scheduler(_lab(), StackSettings(target="kind"), None, None, sleep=lambda s: None,
                                      clock=lambda: 0.0)


@pytest.mark.parametrize("cloud", ["gke", "eks", "aks"])
def test_a_managed_cloud_cannot_restart_the_scheduler_and_says_so_in_one_line(monkeypatch, capsys, cloud):
    def no_kubectl(*args, **kwargs):
        raise AssertionError("nothing is asked of the cluster")

    monkeypatch.setattr(commands, "kubectl", no_kubectl)
    assert commands.restart_scheduler(_lab(), StackSettings.for_target(cloud), None, None) is False
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"18-architecture: the scheduler cannot be restarted on {cloud}: its control plane is "
                          "managed by the provider")


def test_the_local_targets_restart_their_scheduler_and_the_clouds_do_not():
    from infra.clusters import get_target

    assert hasattr(get_target("kind"), "restart_scheduler") and hasattr(get_target("kwok"), "restart_scheduler")
    for cloud in ("gke", "eks", "aks"):
        assert not hasattr(get_target(cloud), "restart_scheduler")


def test_lab_solve_of_architecture_restarts_through_the_target_after_the_files(driver, monkeypatch):
    order = []
    monkeypatch.setattr(commands, "kubectl", lambda args, *a, **k: order.append(args[0]))
    monkeypatch.setattr(commands, "restart_scheduler", lambda lab, settings, *a: order.append(f"restart {lab.slug}"))
    invoke("lab", "solve", "--lab=architecture")
    assert order == ["apply", "apply", "restart architecture"]


def test_lab_solve_of_architecture_for_a_student_leaves_the_shared_scheduler_alone(driver, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(commands, "restart_scheduler", lambda lab, settings, *a: calls.append(settings.session))
    invoke("lab", "solve", "--lab=architecture", "--student=student-01")
    assert calls == []  # one student's solve does not stop everyone's scheduler
    err = " ".join(capsys.readouterr().err.split())
    assert "step 1/1 (guide step 5): not run for student-01: the scheduler is the whole cluster's; restart it once " \
           "for everyone with `invoke lab solve --lab=architecture` (no --student/--namespace)" in err
    assert "18-architecture: solution applied in student-01" in err


def test_steps_that_need_running_containers_are_not_run_on_kwok_and_said(driver, monkeypatch, capsys):
    """Lab 12's claim binds only once a CSI driver (a pod) provisions it, and the API server lets a claim
    grow only once Bound: on kwok the wait and the patch are not run, the snapshot is still taken."""
    from infra.clusters.kwok import KwokTarget

    monkeypatch.setattr(KwokTarget, "preflight", lambda self, settings: None, raising=False)
    invoke("lab", "solve", "--lab=persistent-volume-claim", "--target=kwok")
    assert [call[:2] for call in KUBECTL_CALLS] == [["apply", "-R"], ["apply", "-R"], ["apply", "-f"]]
    err = capsys.readouterr().err
    assert "12-persistent-volume-claim: step 1/3 (guide step 4): not run on kwok: needs running containers" in err
    assert "step 2/3 (guide step 4): not run on kwok: needs running containers" in err


def test_a_tools_error_is_its_error_line_not_the_diff_kubectl_prints_after_it():
    # As kubectl 1.36 answers a patch of a claim that is not Bound: the reason, then the object's diff.
    stderr = ('The PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation '
              'except resources.requests and volumeAttributesClassName for bound claims\n'
              '  core.PersistentVolumeClaimSpec{\n    AccessModes: {"ReadWriteOnce"},\n    "VolumeName": "",\n  }\n')
    done = subprocess.CompletedProcess(["kubectl"], 1, "", stderr)
    assert commands.error_line(done).startswith('The PersistentVolumeClaim "data" is invalid: spec: Forbidden')
    helm = subprocess.CompletedProcess(["helm"], 1, "", "history of web:\nError: UPGRADE FAILED: context deadline exceeded\n")
    assert commands.error_line(helm) == "Error: UPGRADE FAILED: context deadline exceeded"
    quiet = subprocess.CompletedProcess(["kubectl"], 1, "", "")
    assert commands.error_line(quiet) == "no output"
    last = subprocess.CompletedProcess(["kubectl"], 1, "", "first\nsecond words\n")
    assert commands.error_line(last) == "second words"
    # kubectl apply goes on past an object it cannot apply: one "Error from server" line per object, all said.
    both = subprocess.CompletedProcess(["kubectl"], 1, "", (
        'Error from server (Forbidden): error when creating "STDIN": gateways.gateway.networking.k8s.io is forbidden\n'
        'httproute.gateway.networking.k8s.io/web-split created\n'
        'Error from server (Forbidden): error when creating "STDIN": httproutes ... denied request: hostnames\n'))
    assert commands.error_line(both) == (
        'Error from server (Forbidden): error when creating "STDIN": gateways.gateway.networking.k8s.io is forbidden; '
        'Error from server (Forbidden): error when creating "STDIN": httproutes ... denied request: hostnames')


GROWN_CLAIM_REFUSED = ('The PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: '
                       'field can not be less than status.capacity')  # kube-apiserver v1.36.1, a claim grown to 2Gi


@pytest.mark.parametrize("refusal, starts_over", [(GROWN_CLAIM_REFUSED, True), (
    'Error from server (Forbidden): persistentvolumes is forbidden: User "system:serviceaccount:student-01:student" '
    'cannot create resource "persistentvolumes"', False)])
def test_a_solution_the_cluster_cannot_update_to_says_to_start_over(driver, monkeypatch, refusal, starts_over):
    """Lab 12 solved once: its claim was grown to 2Gi by a solve step, and the solution's 1Gi claim cannot
    be applied again (seen on kwok with a claim bound by hand). A refusal of another kind stays as it is."""
    def kubectl(args, kubeconfig, context, check=True, stdin=None):
        if args[-1].endswith("solution") or (stdin and "data-restored" in stdin):
            raise LabsError(f"`kubectl {' '.join(args)}` failed: {refusal}")

    monkeypatch.setattr(commands, "kubectl", kubectl)
    for student, reset in ((None, "`invoke lab reset --lab=persistent-volume-claim`"),
                           ("student-01", "`invoke lab reset --lab=persistent-volume-claim --student=student-01`")):
        with pytest.raises(LabsError) as error:
            commands.lab_solve("persistent-volume-claim", commands.stack_settings(), student=student)
        message = str(error.value)
        assert refusal in message
        assert (f"start over with {reset}, then solve again" in message) is starts_over, message
