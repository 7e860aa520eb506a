"""`invoke lab up|solve|reset|check --namespace=NS / --student=ID`: the lab's files retargeted (infra.manifests)
and given to a fake kubectl on stdin; without the options, the lab's folders as before."""
from __future__ import annotations

import pytest
import yaml

from infra import checks
from tests.test_cli import KUBECTL_CALLS, KUBECTL_STDIN, driver, invoke  # noqa: F401 (fixture)


def objects_of(stdin: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(stdin) if doc]


def test_lab_solve_for_a_student_pipes_the_retargeted_files(driver):
    invoke("lab", "solve", "--lab=ingress", "--student=student-01")
    assert KUBECTL_CALLS == [["apply", "-f", "-", "context=kind-labs-default"]] * 2
    starter, solution = (objects_of(text) for text in KUBECTL_STDIN)
    assert [o["kind"] for o in starter] == ["Deployment", "Service", "Deployment", "Service"]  # no Namespace
    assert {o["metadata"]["namespace"] for o in starter + solution} == {"student-01"}
    by_name = {o["metadata"]["name"]: o for o in solution}
    assert [r["host"] for r in by_name["by-host"]["spec"]["rules"]] == ["blue.student-01.localhost",
                                                                        "green.student-01.localhost"]
    assert by_name["by-path"]["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"] == \
        "student-01-strip-prefix@kubernetescrd"
    assert by_name["gw-weighted"]["spec"]["hostnames"] == ["canary.student-01.localhost"]
    assert "lab-ingress" not in "".join(KUBECTL_STDIN)


def test_lab_up_in_a_namespace_keeps_the_host_names(driver):
    invoke("lab", "up", "--lab=ingress", "--namespace=team-a")
    ((_, settings),) = driver.instances[0].calls
    assert settings.lab == "ingress"
    (apply,) = KUBECTL_CALLS
    assert apply == ["apply", "-f", "-", "context=kind-labs-default"]
    starter = objects_of(KUBECTL_STDIN[0])
    assert {o["metadata"]["namespace"] for o in starter} == {"team-a"}
    assert "Namespace" not in {o["kind"] for o in starter}


def test_lab_reset_for_a_student_deletes_their_lab_objects_not_their_namespace(driver):
    invoke("lab.reset", "--lab=7", "--student=student-02", "--namespace=student-02")
    assert [call[:3] for call in KUBECTL_CALLS] == [["delete", "-f", "-"], ["delete", "-f", "-"], ["apply", "-f", "-"]]
    assert all("--ignore-not-found" in call for call in KUBECTL_CALLS[:2])
    deleted = objects_of(KUBECTL_STDIN[0]) + objects_of(KUBECTL_STDIN[1])
    assert {o["kind"] for o in deleted} == {"Ingress", "Middleware", "HTTPRoute", "Deployment", "Service"}
    assert {o["metadata"]["namespace"] for o in deleted} == {"student-02"}
    assert [o["metadata"]["name"] for o in objects_of(KUBECTL_STDIN[2])] == ["blue", "blue", "green", "green"]


@pytest.mark.parametrize("options", [(), ("--namespace=lab-ingress",)])
def test_without_the_options_the_lab_folders_are_applied_as_they_are(driver, options):
    invoke("lab", "solve", "--lab=ingress", *options)  # its own namespace: its Namespace object too
    assert [call[:3] for call in KUBECTL_CALLS] == [["apply", "-R", "-f"]] * 2
    assert KUBECTL_STDIN == [None, None]


def test_a_folder_with_nothing_left_is_not_applied(driver):
    invoke("lab", "up", "--lab=storageclass", "--student=student-01")  # its starting point: the namespace only
    assert KUBECTL_CALLS == []


def test_objects_of_another_namespace_of_the_lab_are_left_out_with_a_note(driver, capsys):
    invoke("lab", "solve", "--lab=service-mesh", "--student=student-01")
    err = capsys.readouterr().err
    assert "left out for student-01" in err and "Deployment/web (namespace lab-service-mesh-sidecar)" in err
    applied = [o for text in KUBECTL_STDIN for o in objects_of(text)]
    assert {o["metadata"]["namespace"] for o in applied} == {"student-01"}


@pytest.mark.parametrize("argv, message", [
    (("lab", "solve", "--lab=ingress", "--namespace=Lab_Ingress"), "--namespace must be a namespace name"),
    (("lab", "up", "--lab=ingress", "--student=Élodie"), "--student must be a namespace name"),
    (("lab", "reset", "--lab=ingress", "--student=a.b"), "--student must be a namespace name"),
    (("lab", "check", "--lab=ingress", "--namespace=-x"), "--namespace must be a namespace name"),
])
def test_a_bad_name_is_one_line_and_nothing_runs(driver, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert KUBECTL_CALLS == [] and all(not instance.calls for instance in driver.instances)


def test_lab_check_for_a_student_reads_their_namespace_and_their_host_names(monkeypatch, tmp_path, capsys):
    from infra.catalog import Catalog
    from infra.manifests import lab_objects_for
    from infra.paths import LABS_DIR
    from tests.fake_cluster import FakeCluster

    from infra.manifests import Rewriter
    from tests.test_checks import SOLVED_ANSWERS

    asked = []
    student = Rewriter("lab-ingress", "student-01", "student-01")
    answers = {(student.host(host), path): answer for (host, path), answer in SOLVED_ANSWERS["ingress"]["http"].items()}

    def http_get(self, host, path):  # the ingress: the student's own host names only
        asked.append(host)
        return answers.get((host, path), (404, "404 page not found"))

    monkeypatch.setattr(checks.ClusterReader, "http_get", http_get)
    lab = Catalog.load(LABS_DIR).resolve("ingress")
    with FakeCluster() as cluster:
        cluster.add(*lab_objects_for(lab, ("manifests", "solution"), "student-01", "student-01").objects)
        kubeconfig = cluster.kubeconfig(tmp_path)
        invoke("lab", "check", "--lab=ingress", "--student=student-01", f"--kubeconfig={kubeconfig}", "--timeout=0")
        assert "07-ingress: 9/9 checks passed" in capsys.readouterr().out
        assert sorted(set(asked)) == sorted({host for host, _ in answers})
        with pytest.raises(SystemExit):  # the same namespace without the student's host names
            invoke("lab", "check", "--lab=ingress", "--namespace=student-01", f"--kubeconfig={kubeconfig}",
                   "--timeout=0", "--lang=en")
        out = capsys.readouterr().out
        assert "07-ingress: 2/9 checks passed" in out and "blue.localhost" in out


def test_lab_check_on_a_cluster_that_does_not_answer_is_one_line_at_once(monkeypatch, tmp_path, capsys):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "gone", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    monkeypatch.setattr("infra.checks.time.sleep", lambda s: pytest.fail("a cluster that is down was waited for"))
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "check", "--lab=deployment", f"--kubeconfig={kubeconfig}", "--timeout=600")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"cannot reach the Kubernetes API server http://127.0.0.1:{port}" in err
    assert "is the cluster up (`invoke lab up --lab=deployment`)?" in err


@pytest.mark.parametrize("target, address, expected", [
    ("kind", None, "http://127.0.0.1:8080"),  # the host port; the cluster is not asked
    ("gke", "34.1.2.3", "http://34.1.2.3"),
    ("eks", "", "no address yet"),
])
def test_http_checks_go_to_the_targets_ingress(monkeypatch, tmp_path, target, address, expected):
    from infra import commands
    from infra.errors import LabsError
    from tests.fake_cluster import FakeCluster

    asked = []

    def ingress_address(kubeconfig, context):
        asked.append(kubeconfig)
        return address

    monkeypatch.setattr(commands, "ingress_address", ingress_address)
    with FakeCluster() as cluster:  # answers, with no traefik Service: the address is not there yet
        kubeconfig = str(cluster.kubeconfig(tmp_path))
        if expected.startswith("http"):
            assert commands.ingress_url(target, 8080, kubeconfig, None) == expected
        else:
            with pytest.raises(LabsError, match=expected):
                commands.ingress_url(target, 8080, kubeconfig, None)
    assert asked == ([] if target == "kind" else [kubeconfig])
