"""Cloud `lab up` (cost shown, confirmation, fixed expiry), `session down` (billable things released
before the destroy) and `session orphans`, with a fake Pulumi driver and a fake kubectl: no SDK,
no cloud, no cluster."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import pytest
from invoke import Program

import tasks
from infra import commands, paths
from infra.clusters import cloud
from infra.errors import LabsError
from infra.settings import StackSettings
from tests.conftest import write_pulumi_state

EVENTS: list[tuple] = []
PROVISIONED = {"pv.kubernetes.io/provisioned-by": "pd.csi.storage.gke.io"}  # as the CSI provisioner annotates


class FakeDriver:
    """Records what it is asked, in one event log shared with the fake kubectl."""

    stacks: list[str] = []
    config: dict[str, StackSettings] = {}
    instances: list["FakeDriver"] = []
    ups: list[StackSettings] = []  # the settings of each up, in order

    def __init__(self, session):
        self.session = session
        FakeDriver.instances.append(self)

    def list_stacks(self):
        return list(FakeDriver.stacks)

    def stack_settings(self, name):
        return FakeDriver.config[name]

    failing_up = ""  # stderr of a `pulumi up` that fails (the real driver turns it into one LabsError)
    failing_destroy = ""

    def up(self, settings, title):
        EVENTS.append(("up", settings.stack_name, settings.lab, settings.expires_at))
        FakeDriver.ups.append(settings)
        write_pulumi_state(self.session, settings.stack_name)
        if FakeDriver.failing_up:
            self._fail(title, FakeDriver.failing_up)
        kubeconfig = paths.session_dir(self.session) / "kubeconfig"  # as the real driver writes it
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        return {}

    def destroy_session(self):
        EVENTS.append(("destroy", tuple(FakeDriver.stacks)))
        if FakeDriver.failing_destroy:
            self._fail(f"destroying session '{self.session}'", FakeDriver.failing_destroy)
        return list(FakeDriver.stacks)

    def _fail(self, title, stderr):
        """Fail as the Pulumi CLI does (exit code 255, its stderr), through the real driver's error handling."""
        from types import SimpleNamespace

        from pulumi import automation as auto
        from rich.console import Console

        from infra.driver import PulumiDriver

        real = PulumiDriver(self.session, Console(file=open("/dev/null", "w")))
        with real._pulumi_errors(title, SimpleNamespace(failures=[])):
            raise auto.CommandError(auto.CommandResult(stdout="Updating (monday-gke):\n", stderr=stderr, code=255))


class FakeKubectl:
    """Answers `get ... -o json` from a small cluster state and records every other call."""

    def __init__(self, reachable=True):
        self.reachable = reachable
        self.timing_out: set[str] = set()  # kubectl verbs that reach their --timeout
        self.kubeconfigs: set = set()
        self.state = {
            "services": [
                {"metadata": {"namespace": "traefik", "name": "traefik"}, "spec": {"type": "LoadBalancer"}},
                {"metadata": {"namespace": "lab-services", "name": "web"}, "spec": {"type": "LoadBalancer"}},
                {"metadata": {"namespace": "default", "name": "kubernetes"}, "spec": {"type": "ClusterIP"}},
            ],
            "persistentvolumes": [
                {"metadata": {"name": "pv-kept", "annotations": PROVISIONED},
                 "spec": {"persistentVolumeReclaimPolicy": "Retain"}},
                {"metadata": {"name": "pv-data", "annotations": PROVISIONED},
                 "spec": {"persistentVolumeReclaimPolicy": "Delete"}},
                # its claim is gone already (deleted by a student, or by the no-lab `up` just before)
                {"metadata": {"name": "pv-released", "annotations": PROVISIONED},
                 "spec": {"persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Released"}},
                # made by hand (a lab's hostPath volume): no disk behind it, nothing deletes it
                {"metadata": {"name": "pv-static"}, "spec": {"persistentVolumeReclaimPolicy": "Delete"}},
            ],
            "persistentvolumeclaims": [
                {"metadata": {"namespace": "lab-storage", "name": "data"}, "spec": {"volumeName": "pv-data"}},
                {"metadata": {"namespace": "default", "name": "scratch"}, "spec": {"volumeName": "pv-kept"}},
            ],
            "volumesnapshots": [{"metadata": {"namespace": "lab-storage", "name": "before-upgrade"}}],
            "volumesnapshotcontents": [
                {"metadata": {"name": "snapcontent-1"}, "spec": {"deletionPolicy": "Retain"}}],
            "pods": [
                {"metadata": {"namespace": "default", "name": "writer"},
                 "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "scratch"}}]}},
                {"metadata": {"namespace": "default", "name": "bystander"}, "spec": {"volumes": []}},
            ],
        }

    def __call__(self, args, kubeconfig, context, check=True):
        self.kubeconfigs.add((kubeconfig, context))
        if args[0] == "get":
            if not self.reachable:
                return subprocess.CompletedProcess(
                    args, 1, "", "E1204 10:00:00.000000 memcache.go:265] couldn't get current server API group list\n"
                    "Unable to connect to the server: dial tcp 34.1.2.3:443: i/o timeout\n")
            if args[1] == "--raw":
                return subprocess.CompletedProcess(args, 0, "ok", "")
            if args[1] not in self.state:  # as kubectl answers for a kind the cluster does not serve
                return subprocess.CompletedProcess(
                    args, 1, "", f'error: the server doesn\'t have a resource type "{args[1]}"\n')
            return subprocess.CompletedProcess(args, 0, json.dumps({"items": self.state[args[1]]}), "")
        EVENTS.append(("kubectl", *args))
        if args[0] in self.timing_out:  # as kubectl reports a --timeout reached (exit code 1)
            return subprocess.CompletedProcess(
                args, 1, "", "error: timed out waiting for the condition on persistentvolumes/pv-data\n")
        return subprocess.CompletedProcess(args, 0, "", "")


@pytest.fixture
def fakes(monkeypatch):
    EVENTS.clear()
    FakeDriver.instances, FakeDriver.stacks, FakeDriver.config, FakeDriver.ups = [], [], {}, []
    FakeDriver.failing_up = FakeDriver.failing_destroy = ""
    kubectl = FakeKubectl()
    monkeypatch.setattr(commands, "make_driver", FakeDriver)
    monkeypatch.setattr(commands, "kubectl", kubectl)
    monkeypatch.setattr(commands, "require_target_sdk", lambda settings: None)
    for target in ("gke", "eks", "aks", "kind"):
        monkeypatch.setattr(f"infra.clusters.{target}.{target.capitalize()}Target.preflight", lambda self, s: None)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.cleanup", lambda self, settings: EVENTS.append(("kind-cleanup",)))
    monkeypatch.setattr("infra.toolchain.find_tool", lambda name: f"/usr/local/bin/{name}")  # kind is installed
    return kubectl


def invoke(*argv: str) -> None:
    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


# --- lab up on a cloud: the estimate, the confirmation, the expiry ----------------------------------

def test_without_a_terminal_and_without_yes_nothing_is_created(fakes, capsys):
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "up", "--lab=ingress", "--target=gke", "--session=monday")
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "INDICATIVE cost estimate, gke" in err  # shown before the question
    assert err.strip().splitlines()[-1] == ("error: no terminal to confirm the cost estimate above: nothing was "
                                            "created (re-run with --yes to accept it)")
    assert err.index("INDICATIVE") < err.index("error: no terminal")
    assert EVENTS == [] and not (paths.session_dir("monday") / cloud.EXPIRY_FILE).exists()


def test_yes_accepts_the_estimate_and_fixes_the_sessions_expiry(fakes, capsys):
    invoke("lab", "up", "--lab=ingress", "--target=eks", "--session=monday", "--yes", "--students=12")
    (up,) = [event for event in EVENTS if event[0] == "up"]
    assert up[:3] == ("up", "monday-eks", "ingress")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dt\d\d-\d\dz", up[3])
    assert "INDICATIVE cost estimate, eks: 12 students, 8 h" in " ".join(capsys.readouterr().err.split())
    invoke("lab", "up", "--lab=ingress", "--target=eks", "--session=monday", "--yes")
    invoke("lab", "down", "--target=eks", "--session=monday")
    expiries = {event[3] for event in EVENTS if event[0] == "up"}
    assert expiries == {up[3]}  # the same tag on every later up of the session
    assert (paths.session_dir("monday") / cloud.EXPIRY_FILE).read_text().strip() == up[3]


@pytest.mark.parametrize("answer, created", [("y", True), ("oui", True), ("n", False), ("", False)])
def test_at_a_terminal_the_instructor_answers(fakes, monkeypatch, answer, created):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr(commands.console, "input", lambda prompt: answer)
    settings = commands.stack_settings(target="aks", session="monday")
    if created:
        commands.lab_up("ingress", settings)
        assert [event[:3] for event in EVENTS if event[0] == "up"] == [("up", "monday-aks", "ingress")]
    else:
        with pytest.raises(LabsError, match="cancelled: nothing was created"):
            commands.lab_up("ingress", settings)
        assert EVENTS == []


def test_ctrl_d_at_the_question_is_no_not_a_traceback(fakes, monkeypatch):
    def end_of_input(prompt):
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr(commands.console, "input", end_of_input)
    with pytest.raises(LabsError, match="cancelled: nothing was created"):
        commands.lab_up("ingress", commands.stack_settings(target="gke", session="monday"))
    assert EVENTS == []


def test_kind_asks_nothing(fakes):
    invoke("lab", "up", "--lab=ingress", "--session=monday")
    assert [event[:3] for event in EVENTS if event[0] == "up"] == [("up", "monday-kind", "ingress")]


# --- web UIs on a cloud: under the ingress load balancer's address ---------------------------------

def _load_balancer(fakes, monkeypatch, status: dict):
    """The Traefik Service as the cloud controller left it; every other kubectl call as before."""
    def kubectl(args, kubeconfig, context, check=True):
        if args[:5] == ["-n", "traefik", "get", "service", "traefik"]:
            return subprocess.CompletedProcess(args, 0, json.dumps({"status": {"loadBalancer": status}}), "")
        return fakes(args, kubeconfig, context, check)

    monkeypatch.setattr(commands, "kubectl", kubectl)


def test_web_uis_move_under_the_load_balancers_address_and_stay_there(fakes, monkeypatch):
    _load_balancer(fakes, monkeypatch, {"ingress": [{"ip": "34.1.2.3"}]})
    invoke("lab", "up", "--lab=ingress", "--target=gke", "--session=monday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups] == ["", "34.1.2.3.sslip.io"]  # a second up: host names only
    invoke("lab", "up", "--lab=monitoring", "--target=gke", "--session=monday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups[2:]] == ["34.1.2.3.sslip.io"]  # kept: one up, no new domain


def test_web_uis_follow_the_load_balancer_when_its_address_changes(fakes, monkeypatch, capsys):
    """Switching labs recreated Traefik's load balancer with another address: the freed one may go to
    someone else, so web UIs and lab apps move to the new one (one more quick up)."""
    _load_balancer(fakes, monkeypatch, {"ingress": [{"ip": "34.1.2.3"}]})
    invoke("lab", "up", "--lab=ingress", "--target=gke", "--session=monday", "--yes")
    _load_balancer(fakes, monkeypatch, {"ingress": [{"ip": "35.9.8.7"}]})
    invoke("lab", "up", "--lab=monitoring", "--target=gke", "--session=monday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups[2:]] == ["34.1.2.3.sslip.io", "35.9.8.7.sslip.io"]
    assert "address changed (34.1.2.3 -> 35.9.8.7)" in " ".join(capsys.readouterr().err.split())
    invoke("lab", "up", "--lab=monitoring", "--target=gke", "--session=monday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups[4:]] == ["35.9.8.7.sslip.io"]  # remembered: no extra up


def test_an_aws_load_balancer_name_is_resolved_and_no_address_yet_is_said(fakes, monkeypatch, capsys):
    _load_balancer(fakes, monkeypatch, {"ingress": [{"hostname": "k8s-traefik-0123.elb.us-east-1.amazonaws.com"}]})
    monkeypatch.setattr("socket.gethostbyname", lambda name: "52.20.30.40")
    invoke("lab", "up", "--lab=ingress", "--target=eks", "--session=monday", "--yes")
    assert FakeDriver.ups[-1].base_domain == "52.20.30.40.sslip.io"
    _load_balancer(fakes, monkeypatch, {})
    invoke("lab", "up", "--lab=ingress", "--target=aks", "--session=tuesday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups[2:]] == [""]
    assert "the ingress load balancer has no address yet" in " ".join(capsys.readouterr().err.split())


def test_a_given_base_domain_or_a_lab_without_ingress_is_left_alone(fakes, monkeypatch):
    _load_balancer(fakes, monkeypatch, {"ingress": [{"ip": "34.1.2.3"}]})
    invoke("lab", "up", "--lab=ingress", "--target=gke", "--session=monday", "--yes", "--base-domain=labs.school.org")
    invoke("lab", "up", "--lab=pods", "--target=gke", "--session=tuesday", "--yes")
    assert [s.base_domain for s in FakeDriver.ups] == ["labs.school.org", ""]


# --- session down: billable things first, then the destroy ----------------------------------------

def _cloud_session(target="gke"):
    stack = f"monday-{target}"
    FakeDriver.stacks = [stack, "monday-kind"]
    FakeDriver.config = {stack: replace(StackSettings.for_target(target), session="monday", lab="ingress",
                                        expires_at="2026-07-23t18-00z")}
    cloud.session_expiry(StackSettings(session="monday", target=target))  # as the first `lab up` left it
    (paths.session_dir("monday") / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")  # and this
    for name in FakeDriver.stacks:
        write_pulumi_state("monday", name)


def _index(predicate):
    return next(i for i, event in enumerate(EVENTS) if predicate(event))


def test_session_down_releases_load_balancers_and_disks_before_the_destroy(fakes):
    _cloud_session("gke")
    invoke("session", "down", "--session=monday")
    layers_gone = _index(lambda e: e[:3] == ("up", "monday-gke", ""))
    retain_patched = _index(lambda e: e[1:4] == ("patch", "persistentvolume", "pv-kept"))
    lb_deletes = [i for i, e in enumerate(EVENTS) if e[1:3] == ("delete", "service")]
    namespace_deleted = _index(lambda e: e[1:4] == ("delete", "namespace", "lab-storage"))
    claim_deleted = _index(lambda e: e[1:4] == ("delete", "persistentvolumeclaim", "scratch"))
    pod_deleted = _index(lambda e: e[1:4] == ("delete", "pod", "writer"))
    volumes_waited = _index(lambda e: e[1:3] == ("wait", "--for=delete") and e[3].startswith("persistentvolume/"))
    destroyed = _index(lambda e: e[0] == "destroy")
    assert layers_gone < retain_patched < min(lb_deletes)
    assert max(lb_deletes) < namespace_deleted < claim_deleted < pod_deleted < volumes_waited < destroyed
    # exactly the LoadBalancer Services, waited for; only the pod that mounts a claim in `default`
    assert sorted(EVENTS[i][3] for i in lb_deletes) == ["traefik", "web"]
    assert all("--wait=true" in EVENTS[i] for i in lb_deletes)
    assert not any(e[1:4] == ("delete", "pod", "bystander") for e in EVENTS)
    assert not any(e[1:4] == ("delete", "namespace", "default") for e in EVENTS)
    waited = {arg for arg in EVENTS[volumes_waited] if arg.startswith("persistentvolume/")}
    # every volume a provisioner made, Released ones included; never a hand-made one (nothing deletes it)
    assert waited == {"persistentvolume/pv-data", "persistentvolume/pv-kept", "persistentvolume/pv-released"}
    # the cluster's own kubeconfig (from the no-lab up), never a kind context
    assert fakes.kubeconfigs == {(str(paths.session_dir("monday") / "kubeconfig"), None)}
    assert EVENTS[-1] == ("kind-cleanup",) and not paths.session_dir("monday").exists()
    # volume snapshots (a cloud snapshot outlives the cluster): deleted, their contents waited for
    content_patched = _index(lambda e: e[1:4] == ("patch", "volumesnapshotcontent", "snapcontent-1"))
    snapshot_deleted = _index(lambda e: e[1:4] == ("delete", "volumesnapshot", "before-upgrade"))
    contents_waited = _index(lambda e: e[1:4] == ("wait", "--for=delete", "volumesnapshotcontent/snapcontent-1"))
    assert content_patched < snapshot_deleted < contents_waited < namespace_deleted


def test_a_cluster_without_snapshot_crds_has_no_snapshot_to_wait_for(fakes):
    _cloud_session("gke")
    del fakes.state["volumesnapshots"], fakes.state["volumesnapshotcontents"]
    invoke("session", "down", "--session=monday")
    assert not [e for e in EVENTS if "volumesnapshot" in " ".join(map(str, e))]
    assert "destroy" in [e[0] for e in EVENTS]


def test_the_no_lab_up_keeps_the_stacks_settings_and_expiry(fakes):
    _cloud_session("eks")
    kept = cloud.session_expiry(StackSettings(session="monday", target="eks"), create=False)
    invoke("session", "down", "--session=monday")
    (up,) = [e for e in EVENTS if e[0] == "up"]
    assert up == ("up", "monday-eks", "", kept)


def test_an_unreachable_cluster_gets_no_up_and_is_still_destroyed(fakes, capsys):
    """A cluster that cannot be reached (deleted, expired credentials): no `up` (it would create a
    deleted cluster again), the destroy runs, and the command says what was not released, exit 1."""
    _cloud_session("aks")
    fakes.reachable = False
    with pytest.raises(SystemExit) as exit_:
        invoke("session", "down", "--session=monday")
    assert exit_.value.code == 1
    assert [e[0] for e in EVENTS] == ["destroy", "kind-cleanup"]
    assert not paths.session_dir("monday").exists()
    err = " ".join(capsys.readouterr().err.split())
    assert ("monday-aks: cannot reach its cluster (Unable to connect to the server: dial tcp 34.1.2.3:443: i/o "
            "timeout): its load balancers and disks were not released") in err
    assert "check what may remain: invoke session orphans --target=aks --session=monday" in err


GKE_AUTH_EXPIRED = (
    "error: update failed\n"
    "error: kubernetes:helm.sh/v3:Release resource 'traefik': Get \"https://34.1.2.3/api?timeout=32s\": getting "
    "credentials: exec: executable gke-gcloud-auth-plugin failed with exit code 1\n")


def test_a_failed_first_step_is_reported_and_the_destroy_still_runs(fakes, capsys):
    """The no-lab `up` fails as `pulumi up` does (exit 255, its stderr): load balancers and disks are still
    released through the cluster's API, the destroy runs, and every failure is in the last line."""
    _cloud_session("gke")
    FakeDriver.failing_up = GKE_AUTH_EXPIRED
    with pytest.raises(SystemExit) as exit_:
        invoke("session", "down", "--session=monday")
    assert exit_.value.code == 1
    kinds = [e[0] for e in EVENTS]
    assert kinds[0] == "up" and "destroy" in kinds and kinds[-1] == "kind-cleanup"
    assert any(e[1:3] == ("delete", "service") for e in EVENTS[:kinds.index("destroy")])  # released anyway
    assert not paths.session_dir("monday").exists()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: 1 step(s) of the teardown failed: monday-gke: removing lab layers from monday-gke "
                           "before destroying it failed: update failed")
    assert last.endswith("check what may remain: invoke session orphans --target=gke --session=monday")


def test_no_kubectl_still_destroys_the_cluster(fakes, monkeypatch, capsys):
    """kubectl missing (the real toolchain lookup's error): nothing can be released through the API,
    the destroy runs all the same."""
    from infra import toolchain

    monkeypatch.setattr(commands, "kubectl", lambda *args, **kwargs: toolchain.require_tool("kubectl"))
    monkeypatch.setattr(toolchain, "find_tool", lambda name: None)
    _cloud_session("gke")
    with pytest.raises(SystemExit):
        invoke("session", "down", "--session=monday")
    assert [e[0] for e in EVENTS] == ["destroy"]
    last = " ".join(capsys.readouterr().err.split())
    assert "monday-gke: kubectl not found" in last and "its load balancers and disks were not released" in last


def test_disks_still_deleting_at_the_timeout_are_reported_after_the_destroy(fakes, capsys):
    _cloud_session("gke")
    fakes.timing_out = {"wait"}
    with pytest.raises(SystemExit):
        invoke("session", "down", "--session=monday")
    assert "destroy" in [e[0] for e in EVENTS]
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "monday-gke: volumes not deleted within 600 s (error: timed out waiting for the condition on " \
           "persistentvolumes/pv-data): their disks may remain" in " ".join(last.split())


def test_a_failed_destroy_keeps_the_state_and_names_every_failure(fakes, capsys):
    _cloud_session("eks")
    FakeDriver.failing_up = GKE_AUTH_EXPIRED
    FakeDriver.failing_destroy = ("error: deleting EKS Cluster (labs-monday): operation error EKS: DeleteCluster, "
                                  "https response error StatusCode: 409, ResourceInUseException: Cluster has nodegroups "
                                  "attached\n")
    with pytest.raises(SystemExit) as exit_:
        invoke("session", "down", "--session=monday")
    assert exit_.value.code == 1
    assert [e[0] for e in EVENTS][-1] == "destroy"  # no local cleanup, no file removed: run it again
    assert paths.session_dir("monday").exists()
    last = " ".join(capsys.readouterr().err.split())
    assert "2 step(s) of the teardown failed: monday-eks: removing lab layers" in last
    assert "destroying session 'monday' failed: deleting EKS Cluster (labs-monday)" in last
    assert "the session's state is kept: run `invoke session down --session=monday` again" in last


def test_a_kind_only_session_goes_straight_to_the_destroy(fakes):
    FakeDriver.stacks = ["monday-kind"]
    write_pulumi_state("monday", "monday-kind")
    invoke("session", "down", "--session=monday")
    assert [e[0] for e in EVENTS] == ["destroy", "kind-cleanup"]


def test_the_final_destroy_drops_objects_of_a_vanished_cluster(monkeypatch):
    """PULUMI_K8S_DELETE_UNREACHABLE only for the destroy, never for an up."""
    from rich.console import Console

    from infra import driver

    seen = {}

    class Workspace:
        def __init__(self, **kwargs):
            seen.setdefault("env", []).append(kwargs["env_vars"])

        def list_stacks(self):
            return []

    monkeypatch.setattr("pulumi.automation.LocalWorkspace", Workspace)
    monkeypatch.setattr("pulumi.automation.PulumiCommand", lambda **kwargs: None)
    monkeypatch.setattr(driver, "require_tool", lambda name: "/opt/pulumi/bin/pulumi")
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    pulumi_driver.destroy_session()
    pulumi_driver.list_stacks()
    destroy_env, list_env = seen["env"]
    assert destroy_env["PULUMI_K8S_DELETE_UNREACHABLE"] == "true"
    assert "PULUMI_K8S_DELETE_UNREACHABLE" not in list_env


# --- session orphans ------------------------------------------------------------------------------

READ_ONLY_VERBS = {"list", "get-resources"}


def fake_cli(outputs: dict[str, object]):
    calls = []

    def run(argv):
        calls.append(argv)
        key = next(k for k in outputs if k in " ".join(argv))
        return subprocess.CompletedProcess(argv, 0, json.dumps(outputs[key]), "")

    return run, calls


def test_eks_orphans_come_from_the_tagging_api_and_include_students_load_balancers(monkeypatch):
    """A student's LoadBalancer Service makes an untagged load balancer: the AWS cloud provider's own
    `kubernetes.io/cluster/<cluster>=owned` tag finds it."""
    monkeypatch.setattr("shutil.which", lambda command: f"/usr/bin/{command}")
    student_nlb = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/a1b2c3/d4e5"
    run, calls = fake_cli({
        "kubernetes.io/cluster/labs-monday": {"ResourceTagMappingList": [
            {"ResourceARN": student_nlb, "Tags": [{"Key": "kubernetes.io/cluster/labs-monday", "Value": "owned"}]}]},
        "Key=session": {"ResourceTagMappingList": [
            {"ResourceARN": "arn:aws:ec2:us-east-1:1:volume/vol-1",
             "Tags": [{"Key": "session", "Value": "monday"}, {"Key": "expires-at", "Value": "2026-07-23t18-00z"}]}]}})
    found = cloud.list_orphans(StackSettings(session="monday", target="eks", region="us-east-1"), run)
    assert found == [{"kind": "tagged resource", "id": "arn:aws:ec2:us-east-1:1:volume/vol-1",
                      "expires-at": "2026-07-23t18-00z"},
                     {"kind": "cluster-owned resource (a LoadBalancer Service's)", "id": student_nlb, "expires-at": ""}]
    tagged, owned = calls
    assert tagged[:3] == owned[:3] == ["aws", "resourcegroupstaggingapi", "get-resources"]
    assert "Key=session,Values=monday" in tagged and "Key=project,Values=k8s-labs" in tagged
    assert "Key=kubernetes.io/cluster/labs-monday,Values=owned" in owned  # not our subnets' `shared`
    assert tagged[tagged.index("--region") + 1] == owned[owned.index("--region") + 1] == "us-east-1"


def test_aks_orphans_keep_only_this_projects_tags(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda command: f"/usr/bin/{command}")
    ours = {"id": "/subscriptions/s/resourceGroups/labs-monday-nodes/providers/Microsoft.Compute/disks/pvc-1",
            "type": "Microsoft.Compute/disks", "tags": {"project": "k8s-labs", "session": "monday"}}
    theirs = {"id": "/subscriptions/s/resourceGroups/other/x", "type": "X", "tags": {"session": "monday"}}
    run, calls = fake_cli({"group list": [], "resource list": [ours, theirs]})
    found = cloud.list_orphans(StackSettings(session="monday", target="aks"), run)
    assert [row["id"] for row in found] == [ours["id"]] and found[0]["kind"] == "Microsoft.Compute/disks"
    assert all(argv[0] == "az" and argv[2] == "list" and "session=monday" in argv for argv in calls)


def test_gke_orphans_list_clusters_instances_disks_addresses_and_unlabelled_forwarding_rules(monkeypatch):
    """Disks of GKE's own default class carry no label of ours: the PD CSI driver's description finds them."""
    monkeypatch.setattr("shutil.which", lambda command: f"/usr/bin/{command}")
    default_class_disk = {"name": "pvc-2", "zone": "zones/us-central1-a", "description": json.dumps({
        "kubernetes.io/created-for/pvc/name": "data", "storage.gke.io/created-by": "pd.csi.storage.gke.io"})}
    run, calls = fake_cli({"clusters": [], "instances": [], "created-by": [default_class_disk],
                           "disks": [{"name": "pvc-1", "zone": "zones/us-central1-a", "labels": {"session": "monday"}}],
                           "addresses": [], "forwarding-rules": []})
    found = cloud.list_orphans(StackSettings(session="monday", target="gke", gcp_project="p",
                                             zones="us-central1-a"), run)
    assert found == [{"kind": "disk", "id": "pvc-1 us-central1-a", "expires-at": ""},
                     {"kind": "disk (unlabelled, from the PD CSI driver)", "id": "pvc-2 us-central1-a", "expires-at": ""}]
    assert [argv[1:3] for argv in calls] == [["container", "clusters"], ["compute", "instances"],
                                             ["compute", "disks"], ["compute", "addresses"],
                                             ["compute", "forwarding-rules"], ["compute", "disks"]]
    assert calls[-1][-1] == ("--filter=description~storage.gke.io/created-by AND -users:* AND -labels.session:* "
                             "AND zone:(us-central1-a)")
    assert all(argv[3] == "list" and argv[argv.index("--project") + 1] == "p" for argv in calls)


def test_orphans_are_read_only_for_every_cloud():
    for target in ("gke", "eks", "aks"):
        for _, argv in cloud.orphan_commands(StackSettings(session="monday", target=target)):
            assert READ_ONLY_VERBS & set(argv), argv
            assert not {"delete", "remove", "create", "update", "tag-resources"} & set(argv), argv


def test_session_orphans_exits_1_while_something_remains(monkeypatch, capsys):
    monkeypatch.setattr(cloud, "list_orphans", lambda settings: [{"kind": "disk", "id": "pvc-1", "expires-at": ""}])
    with pytest.raises(SystemExit) as exit_:
        invoke("session", "orphans", "--target=gke", "--session=monday")
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "pvc-1" in captured.out and "remain on gke" in captured.err
    monkeypatch.setattr(cloud, "list_orphans", lambda settings: [])
    invoke("session.orphans", "--target=gke", "--session=monday")
    assert "nothing on gke carries session 'monday''s tags" in capsys.readouterr().out


def test_session_orphans_needs_a_cloud_target_and_its_cli(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        invoke("session", "orphans", "--session=monday")
    assert "needs --target=<gke|eks|aks>" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        invoke("session", "orphans", "--target=kind", "--session=monday")
    assert "for cloud targets" in capsys.readouterr().err
    monkeypatch.setattr("shutil.which", lambda command: None)
    with pytest.raises(SystemExit):
        invoke("session", "orphans", "--target=eks", "--session=monday")
    assert "`aws` is not on PATH" in capsys.readouterr().err


def test_lab_commands_on_a_cloud_never_fall_back_to_a_kind_context(fakes, monkeypatch):
    monkeypatch.setattr(commands, "kubectl", lambda *args, **kwargs: None)
    with pytest.raises(LabsError, match="no kubeconfig for session 'monday' yet"):
        commands._kube_target(StackSettings(session="monday", target="gke"), None, None)


# --- capacity follows the class ---------------------------------------------------------------------

def test_the_pool_holds_the_class_it_is_priced_for(fakes, capsys):
    """30 students on EKS S nodes (t3.large: 2 vCPUs, 4 students each): 8 nodes, within maxNodes raised
    from 5, the pool created with them, and the estimate prices those 8, not 2 that never grow."""
    invoke("lab", "up", "--lab=pods", "--target=eks", "--session=monday", "--yes", "--students=30")
    (settings,) = FakeDriver.ups
    assert (settings.workers, settings.max_nodes) == (8, 8)
    err = " ".join(capsys.readouterr().err.split())
    assert "8 × 8 h" in err and "maxNodes" not in err
    with pytest.raises(SystemExit):
        invoke("lab", "up", "--lab=pods", "--target=eks", "--session=tuesday", "--yes", "--students=500")
    assert "500 students need more than 50 t3.large nodes: choose a larger --node-size" in capsys.readouterr().err
    assert len(FakeDriver.ups) == 1
