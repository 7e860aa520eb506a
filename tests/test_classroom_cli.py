"""`invoke classroom up|down|render` in process: fake Pulumi driver, fake API server for TokenRequest."""
from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone

import pytest
import yaml

from infra import paths
from infra.classroom.credentials import student_kubeconfig, students_dir
from tests.classroom_helpers import classroom_driver, fake_cluster, fake_grafana, up_calls  # noqa: F401 (fixtures)
from tests.test_cli import invoke


def test_up_brings_the_tenancy_and_writes_one_private_kubeconfig_per_student(classroom_driver, fake_cluster,
                                                                              capsys, tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("name,email,group\nÉlodie Martin,e@x.fr,A\nPaul Durand,,B\n")
    invoke("classroom", "up", f"--roster={roster}", "--session=monday")
    ((_, settings),) = up_calls()
    assert settings.stack_name == "monday-kind" and settings.lab == ""
    roster_json = paths.session_dir("monday") / "classroom" / "roster.json"
    assert settings.roster == str(roster_json) and settings.as_config()["k8s-labs:roster"] == str(roster_json)
    assert stat.S_IMODE(os.stat(roster_json).st_mode) == 0o600
    assert [s["id"] for s in json.loads(roster_json.read_text())["students"]] == ["elodie-martin", "paul-durand"]
    session = json.loads((paths.session_dir("monday") / "session.json").read_text())
    expires = datetime.fromisoformat(session["expires_at"])
    for student in ("elodie-martin", "paul-durand"):
        file = student_kubeconfig("monday", student)
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
        config = yaml.safe_load(file.read_text())
        assert config["clusters"][0]["cluster"]["server"] == fake_cluster.url
        assert config["users"][0]["user"]["token"] == f"token-of-{student}-student"
        assert config["contexts"][0]["context"]["namespace"] == student
    requests = {ns: spec for ns, sa, spec in fake_cluster.token_requests}
    assert set(requests) == {"elodie-martin", "paul-durand"}
    left = (expires - datetime.now(timezone.utc)).total_seconds()
    assert all(abs(spec["expirationSeconds"] - left) < 60 for spec in requests.values())  # bound to the session's expiry
    printed = capsys.readouterr()
    assert "token-of-" not in printed.out + printed.err and "classroom ready" in printed.err


def test_up_again_with_a_smaller_class_drops_the_departed_and_keeps_download_tokens(classroom_driver):
    invoke("classroom", "up", "--students=3")
    downloads = paths.session_dir("default") / "classroom" / "downloads.json"
    first = json.loads(downloads.read_text())
    assert len(set(first.values())) == 3 and all(len(token) >= 32 for token in first.values())
    invoke("classroom", "up", "--students=2")
    assert json.loads(downloads.read_text()) == {k: first[k] for k in ("student-01", "student-02")}
    assert sorted(p.name for p in students_dir("default").iterdir()) == ["student-01", "student-02"]


def test_up_without_a_lab_keeps_the_stacks_current_lab(classroom_driver):
    invoke("classroom", "up", "--students=1", "--lab=ingress")
    invoke("classroom", "up", "--students=1")
    assert [settings.lab for _, settings in up_calls()] == ["ingress", "ingress"]


def test_down_removes_the_tenancy_and_the_files_but_keeps_the_lab(classroom_driver, capsys):
    invoke("classroom", "up", "--students=2", "--lab=ingress")
    invoke("classroom", "down")
    *_, (_, last) = up_calls()
    assert last.roster == "" and last.lab == "ingress" and last.stack_name == "default-kind"
    assert not students_dir("default").exists()
    assert not (paths.session_dir("default") / "classroom").exists()
    assert "the cluster stays" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (("classroom", "up"), "give the class as --students=N"),
    (("classroom", "up", "--students=0"), "a classroom has 1 to 500 students, got 0"),
    (("classroom", "up", "--students=3", "--tenancy=shared"), "unknown tenancy 'shared'"),
    (("classroom", "up", "--students=3", "--lab=ingres"), "unknown lab 'ingres'"),
    (("classroom", "up", "--students=3", "--target=minikube"), "unknown target 'minikube'"),
    (("classroom", "up", "--roster=absent.csv"), "absent.csv: no such roster file"),
    (("classroom", "render", "--students=2", "--format=xml"), "unknown format 'xml'"),
    (("classroom", "fly"), "unknown action 'fly'"),
    (("classroom", "down", "--session=nothing"), "session 'nothing' has no classroom"),
    (("classroom", "down", "--students=3"), "`classroom down` takes no --students"),
])
def test_bad_input_is_one_line_and_nothing_is_created(classroom_driver, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert up_calls() == []
    assert not (paths.state_root() / "sessions").exists() or not any((paths.state_root() / "sessions").rglob("*.json"))


def test_a_bad_roster_row_creates_nothing(classroom_driver, capsys, tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("name,email\nAnne,a@x.fr\nBob,not-mail\n")
    with pytest.raises(SystemExit):
        invoke("classroom", "up", f"--roster={roster}")
    assert f"{roster} line 3: 'not-mail' is not an email address" in capsys.readouterr().err
    assert up_calls() == [] and not paths.session_dir("default").exists()


def test_render_prints_the_document_and_writes_nothing(capsys):
    invoke("classroom", "render", "--students=2", "--lab=ingress", "--session=monday")
    document = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in document["students"]] == ["student-01", "student-02"]
    assert document["lab"] == "07-ingress" and document["tenancy"] == "namespace"
    assert not paths.session_dir("monday").exists()


def test_render_yaml_is_the_same_document(capsys):
    invoke("classroom", "render", "--students=1", "--format=yaml")
    from_yaml = yaml.safe_load(capsys.readouterr().out)
    invoke("classroom", "render", "--students=1")
    assert from_yaml == json.loads(capsys.readouterr().out)


def test_an_expired_session_issues_no_token_and_changes_nothing(classroom_driver, capsys):
    from infra import sessions

    invoke("classroom", "up", "--students=1")
    record = sessions.load("default")
    record.expires_at = "2000-01-01T00:00:00+00:00"
    sessions._write(record)
    before = len(up_calls())
    with pytest.raises(SystemExit):
        invoke("classroom", "up", "--students=2")
    assert "no token can outlive it; `invoke session extend --hours=N` first" in capsys.readouterr().err
    assert len(up_calls()) == before


def test_server_override_keeps_the_certificate_name(classroom_driver, fake_cluster):
    invoke("classroom", "up", "--students=1", "--server=https://192.168.1.10:6443")
    cluster = yaml.safe_load(student_kubeconfig("default", "student-01").read_text())["clusters"][0]["cluster"]
    assert cluster["server"] == "https://192.168.1.10:6443" and cluster["tls-server-name"] == "127.0.0.1"
    with pytest.raises(SystemExit):
        invoke("classroom", "up", "--students=1", "--server=192.168.1.10:6443")


def test_a_loopback_server_is_pointed_out(classroom_driver, capsys):
    invoke("classroom", "up", "--students=1")
    err = capsys.readouterr().err
    assert "this machine only" in err and "--api-server-address=" in err


def test_a_lan_classroom_on_kind_listens_on_that_address_and_publishes_apps_under_it(classroom_driver, capsys):
    invoke("classroom", "up", "--students=1", "--api-server-address=192.168.1.10", "--lab=ingress")
    (settings,) = [call[1] for call in up_calls()]
    assert settings.api_server_address == "192.168.1.10"
    record = json.loads((paths.session_dir("default") / "classroom" / "classroom.json").read_text())
    assert record["base_domain"] == "192.168.1.10.sslip.io"
    invoke("classroom", "render", "--students=1", "--api-server-address=192.168.1.10", "--lab=ingress")
    student = json.loads(capsys.readouterr().out)["students"][0]
    assert student["host_suffix"] == "student-01.192.168.1.10.sslip.io"
    assert "blue.student-01.192.168.1.10.sslip.io" in student["lab_hosts"]


def test_switching_tenancy_needs_a_classroom_down_first(classroom_driver, capsys):
    invoke("classroom", "up", "--students=1")
    with pytest.raises(SystemExit):
        invoke("classroom", "up", "--students=1", "--tenancy=cluster")
    assert "already has a namespace-tenancy classroom: `invoke classroom down" in capsys.readouterr().err


# --- `classroom up --lab`: the lab's starting point in every student's namespace --------------------

def _applied_namespaces(kubectl) -> list[str]:
    return sorted(ns for call in kubectl.applied() for ns in {o["metadata"]["namespace"] for o in call["objects"]})


def test_up_with_a_lab_applies_its_starting_point_in_each_students_namespace(classroom_driver, fake_cluster):
    from infra.driver import session_kubeconfig

    invoke("classroom", "up", "--students=3", "--lab=ingress")
    kubectl = classroom_driver.kubectl
    assert _applied_namespaces(kubectl) == ["student-01", "student-02", "student-03"]
    for call in kubectl.applied():
        assert call["args"] == ["apply", "-f", "-"] and call["kubeconfig"] == str(session_kubeconfig("default"))
        assert [o["kind"] for o in call["objects"]] == ["Deployment", "Service", "Deployment", "Service"]
        assert "lab-ingress" not in call["stdin"]
    for student in ("student-01", "student-02", "student-03"):  # in the cluster, where the checks look
        assert f"/apis/apps/v1/namespaces/{student}/deployments/blue" in fake_cluster.objects
    from infra.classroom.record import load_record

    assert load_record("default").started == {f"student-0{i}": "ingress" for i in (1, 2, 3)}


def test_up_again_never_resets_a_students_work_only_new_students_and_a_new_lab_get_it(classroom_driver):
    invoke("classroom", "up", "--students=2", "--lab=ingress")
    kubectl = classroom_driver.kubectl
    kubectl.calls.clear()
    invoke("classroom", "up", "--students=3", "--lab=ingress")  # a late joiner
    assert _applied_namespaces(kubectl) == ["student-03"]
    kubectl.calls.clear()
    invoke("classroom", "up", "--students=3")  # no --lab: the stack's lab, nothing applied
    assert kubectl.calls == []
    invoke("classroom", "up", "--students=3", "--lab=services")  # the next lab: everyone
    assert _applied_namespaces(kubectl) == ["student-01", "student-02", "student-03"]
    assert {o["metadata"]["name"] for call in kubectl.applied() for o in call["objects"]} == {"web", "client"}
    # ...once the previous lab's objects (its starting point and solution, by name) have left each namespace
    from infra.catalog import Catalog
    from infra.manifests import load_lab_objects

    removed = [call for call in kubectl.calls if call["args"][:3] == ["delete", "-f", "-"]]
    assert sorted({o["metadata"]["namespace"] for call in removed for o in call["objects"]}) == [
        "student-01", "student-02", "student-03"]
    ingress_names = {o["metadata"]["name"] for o in load_lab_objects(Catalog.load().resolve("ingress"),
                                                                      ("solution", "manifests"))
                     if o["kind"] != "Namespace"}  # the student's namespace stays
    assert {o["metadata"]["name"] for o in removed[0]["objects"]} == ingress_names
    first_apply = kubectl.calls.index(kubectl.applied("student-01")[0])
    assert kubectl.calls.index(next(c for c in removed if c["objects"][0]["metadata"]["namespace"] == "student-01")) < first_apply


def test_a_previous_labs_kind_whose_crd_went_with_its_layer_counts_as_deleted(classroom_driver, monkeypatch):
    from infra.classroom.starting_points import _delete_objects
    from infra.errors import LabsError

    answers = []
    monkeypatch.setattr("infra.commands.kubectl", lambda *a, **k: answers.pop(0))

    class Done:  # kubectl: what it deleted on stdout, each failure on stderr
        def __init__(self, returncode, stderr, stdout=""):
            self.returncode, self.stderr, self.stdout = returncode, stderr, stdout

    answers.append(Done(1, 'error: resource mapping not found for name: "web" namespace: '
                           '"student-01" from "STDIN": no matches for kind "HTTPRoute" in version '
                           '"gateway.networking.k8s.io/v1"\nensure CRDs are installed first\n',
                        'deployment.apps "web" deleted\n'))
    _delete_objects("kind: HTTPRoute", "kubeconfig")  # no error: HTTPRoutes went with their CRD
    answers.append(Done(1, 'Error from server (Forbidden): deployments.apps "web" is forbidden: User "x" cannot delete\n'))
    with pytest.raises(LabsError, match="previous lab's objects failed: Error from server \\(Forbidden\\)"):
        _delete_objects("kind: Deployment", "kubeconfig")


def test_the_starting_point_is_applied_a_few_students_at_a_time(classroom_driver, monkeypatch):
    import threading
    import time

    kubectl = classroom_driver.kubectl
    lock, state = threading.Lock(), {"active": 0, "most": 0}

    def slow(args, kubeconfig, context, check=True, stdin=None):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        time.sleep(0.05)
        try:
            return kubectl(args, kubeconfig, context, check, stdin)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr("infra.commands.kubectl", slow)
    invoke("classroom", "up", "--students=6", "--lab=ingress", "--parallel=2")
    assert len(kubectl.applied()) == 6 and state["most"] == 2


def test_a_failed_starting_point_is_reported_after_the_others_and_retried(classroom_driver, capsys):
    from infra.classroom.record import load_record

    kubectl = classroom_driver.kubectl
    kubectl.failing = {"student-02"}
    with pytest.raises(SystemExit) as exit_:
        invoke("classroom", "up", "--students=3", "--lab=ingress")
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "the starting point failed in 1 of 3 student namespaces (student-02: " in err
    assert "run the same command again" in err
    assert set(load_record("default").started) == {"student-01", "student-03"}
    assert student_kubeconfig("default", "student-02").is_file()  # the rest of the classroom is there
    kubectl.failing, kubectl.calls[:] = set(), []
    invoke("classroom", "up", "--students=3", "--lab=ingress")
    assert _applied_namespaces(kubectl) == ["student-02"]


def test_a_lab_that_does_not_fit_a_shared_cluster_is_pointed_out(classroom_driver, capsys):
    invoke("classroom", "up", "--students=1", "--lab=service-mesh")
    err = capsys.readouterr().err
    assert "note: on a shared cluster, lab service-mesh:" in err and "--tenancy=cluster" in err
    assert "left out of every student" in err  # the sidecar namespace's objects


def test_cluster_tenancy_applies_it_in_each_students_namespace_of_their_own_cluster(classroom_driver, monkeypatch):
    from infra.classroom import fanout
    from infra.driver import session_kubeconfig

    monkeypatch.setattr(fanout, "make_tenant_driver", classroom_driver)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.cleanup", lambda self, settings: None)
    invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--session=mon", "--lab=ingress")
    applied = {call["objects"][0]["metadata"]["namespace"]: call["kubeconfig"]
               for call in classroom_driver.kubectl.applied()}
    assert applied == {f"student-0{i}": str(session_kubeconfig(f"mon-student-0{i}")) for i in (1, 2)}


def test_tokens_shorter_than_asked_are_pointed_out(classroom_driver, fake_cluster, capsys, monkeypatch):
    """The API server may cap a token's lifetime (--service-account-max-token-expiration) and says so
    only in the TokenRequest's status: the kubeconfigs then stop working before the session ends."""
    from datetime import timedelta

    from infra.classroom import credentials

    asked = credentials.request_token
    capped = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)

    def capping(core_api, student, seconds):
        token, _ = asked(core_api, student, seconds)
        return token, capped.isoformat()

    invoke("classroom", "up", "--students=2")
    assert "issued shorter tokens" not in capsys.readouterr().err  # the fake issues what is asked
    monkeypatch.setattr(credentials, "request_token", capping)
    invoke("classroom", "up", "--students=2")
    err = capsys.readouterr().err
    assert "issued shorter tokens than asked" in err and capped.isoformat() in err.replace("\n", "")
    assert "token-of-" not in err


def test_a_token_expiry_is_compared_with_the_sessions():
    from datetime import timedelta

    from infra.classroom.credentials import shortened

    end = datetime(2030, 1, 1, 18, tzinfo=timezone.utc)
    assert shortened(["2030-01-01T18:00:00+00:00", "2030-01-01T18:00:05Z"], end) is None
    assert shortened(["2030-01-01T19:00:00Z", "2030-01-01T10:00:00Z"], end) == end - timedelta(hours=8)
    assert shortened(["not a date"], end) is None


def test_a_relative_certificate_authority_is_read_beside_the_kubeconfig(tmp_path, monkeypatch):
    """As kubectl reads it: relative to the kubeconfig's folder, wherever the command runs."""
    import base64

    from infra.classroom.credentials import cluster_access
    from infra.errors import LabsError

    folder = tmp_path / "kube"
    (folder / "pki").mkdir(parents=True)
    (folder / "pki" / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nCA\n")
    kubeconfig = folder / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority": "pki/ca.crt"}}]}))
    monkeypatch.chdir(tmp_path)  # not the kubeconfig's folder
    access = cluster_access(kubeconfig)
    assert base64.b64decode(access.ca_data) == b"-----BEGIN CERTIFICATE-----\nCA\n"
    (folder / "pki" / "ca.crt").unlink()
    with pytest.raises(LabsError, match=r"cannot read the cluster's certificate-authority .*pki/ca\.crt") as error:
        cluster_access(kubeconfig)
    assert "\n" not in str(error.value)


def test_namespace_tenancy_refuses_a_cluster_that_does_not_enforce_network_policies(classroom_driver, monkeypatch,
                                                                                     capsys):
    """A kind cluster whose CNI would not enforce NetworkPolicies (its capability says so): one line, nothing made."""
    from dataclasses import replace as change

    from infra.clusters import capabilities

    monkeypatch.setitem(capabilities.BY_TARGET, "kind", lambda settings: change(
        capabilities.kind_capabilities(settings), network_policy_enforced=False))
    with pytest.raises(SystemExit) as exit_:
        invoke("classroom", "up", "--students=2", "--session=monday")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --tenancy=namespace needs NetworkPolicies enforced, and the kind cluster does "
                              "not enforce them")
    assert up_calls() == [] and not (paths.session_dir("monday") / "classroom").exists()
    monkeypatch.setattr("infra.classroom.fanout.make_tenant_driver", classroom_driver)
    invoke("classroom", "up", "--students=2", "--session=mon", "--tenancy=cluster")  # a cluster each: allowed
    assert len(up_calls()) == 2


def test_a_kwok_classroom_isolates_at_the_api_level_and_says_so(classroom_driver, monkeypatch, capsys):
    """kwok runs no container: nothing flows to enforce a policy on, so the classroom goes on with a note."""
    monkeypatch.setattr("infra.clusters.kwok.KwokTarget.preflight", lambda self, settings: None)
    invoke("classroom", "up", "--students=2", "--session=monday", "--target=kwok")
    ((_, settings),) = up_calls()
    assert settings.stack_name == "monday-kwok" and settings.roster
    err = " ".join(capsys.readouterr().err.split())
    assert "kwok runs no container, so its NetworkPolicies are not enforced" in err and "classroom ready" in err


def test_every_target_but_kwok_enforces_network_policies():
    from infra.clusters import TARGETS
    from infra.clusters.capabilities import target_capabilities
    from infra.settings import StackSettings

    enforced = {name: target_capabilities(StackSettings.for_target(name)).network_policy_enforced for name in TARGETS}
    assert enforced == {"kind": True, "kwok": False, "gke": True, "eks": True, "aks": True}
    # kind's claim holds because its program keeps kind's own CNI (kindnetd enforces policies since kind v0.24)
    from infra.clusters import kind

    for settings in (StackSettings(), StackSettings(api_server_address="192.168.1.10")):
        assert not kind.kind_config(settings).get("networking", {}).get("disableDefaultCNI")


def _jwt(claims: dict) -> str:
    import base64
    import json

    encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")  # noqa: E731
    return f"{encode({'alg': 'RS256'})}.{encode(claims)}.signature"


@pytest.mark.parametrize("change, kept", [
    ({}, True),
    ({"uid": "another-uid"}, False),  # the ServiceAccount was re-created: its older tokens are void
    ({"exp_hours": 1}, False),  # a token that ends before the session does (after `session extend`)
    ({"server": "https://10.0.0.9:6443"}, False),
    ({"namespace": "student-02"}, False),
    ({"token": "not-a-jwt"}, False),
])
def test_a_students_kubeconfig_is_kept_only_while_it_says_what_a_new_one_would(tmp_path, change, kept):
    from datetime import datetime, timedelta, timezone

    from infra.classroom.credentials import ClusterAccess, kubeconfig_text, still_valid
    from infra.classroom.roster import Student

    expires = datetime(2026, 12, 5, 8, tzinfo=timezone.utc)
    student = Student(id="student-01", name="Student 01")
    claims = {"exp": int((expires - timedelta(hours=change.get("exp_hours", 0))).timestamp()),
              "kubernetes.io": {"namespace": change.get("namespace", "student-01"),
                                "serviceaccount": {"name": "student", "uid": change.get("uid", "uid-1")}}}
    written = ClusterAccess("kwok", change.get("server", "https://127.0.0.1:6443"), "Q0E=")
    file = tmp_path / "kubeconfig"
    file.write_text(kubeconfig_text(written, student, change.get("token", _jwt(claims))))
    now = ClusterAccess("kwok", "https://127.0.0.1:6443", "Q0E=")
    assert still_valid(file, now, student, "uid-1", expires) is kept
    assert still_valid(tmp_path / "missing", now, student, "uid-1", expires) is False
