"""The check engine against a fake Kubernetes API server the official client really talks to.

For every lab: its checks fail on the starting point and pass on the solution (with the statuses a
converged cluster reports). Live-data kinds (http, promql, alert, loki, mtls) are answered in the real
APIs' formats for the solved state only (see infra/checks.py).
"""
from __future__ import annotations

import time

import pytest

from infra.catalog import Catalog
from infra.check_spec import validate_spec
from infra.checks import ClusterReader, ClusterUnreachable, evaluate, run_checks
from infra.errors import LabsError
from infra.paths import LABS_DIR
from tests.fake_cluster import PROMETHEUS, FakeCluster, load_objects, rfc3339

# What each lab's services answer once it is solved on a cluster whose containers run: the whoami page,
# the series and log lines its solution's workloads produce (recorded per host and query, as the real
# services answer them, never derived from the checks under test).
SOLVED_ANSWERS = {
    "ingress": {"http": {("blue.localhost", "/"): (200, "Hostname: blue-7d4b9c\nName: blue\n"),
                         ("green.localhost", "/"): (200, "Hostname: green-5f6a8b\nName: green\n"),
                         ("apps.localhost", "/green"): (200, "Hostname: green-5f6a8b\nName: green\nGET / HTTP/1.1\n"),
                         ("gw.localhost", "/blue"): (200, "Hostname: blue-7d4b9c\nName: blue\nGET / HTTP/1.1\n")}},
    "logging": {"logs": {'{namespace="lab-logging", app="orders"} | json | level="error" | duration_ms > 0':
                         '{"ts":"2026-11-28T10:02:20Z","level":"error","service":"orders","order_id":1010,'
                         '"duration_ms":120,"msg":"payment declined"}'}},
    "monitoring": {"promql": {'count(up{namespace="lab-monitoring", job="podinfo"} == 1)': 2}},  # 2 podinfo pods
    "alerting": {"alerts": {"LabHighErrorRate": {"namespace": "lab-alerting", "severity": "warning"}}},
    "service-mesh": {"promql": {
        'sum(istio_tcp_connections_opened_total{connection_security_policy="mutual_tls",source_workload="waypoint",'
        'destination_workload="web-v1",destination_workload_namespace="lab-service-mesh"})': 12}},
}


def answer_solved(cluster: FakeCluster, lab, namespace: str | None = None, student: str | None = None) -> None:
    """The lab's services answer as once solved; in a student's namespace (`namespace`, `student`), for
    the student's objects (their namespace in series and streams, their host names)."""
    from infra.manifests import Rewriter

    moved = Rewriter(lab.namespace, namespace or lab.namespace, student)
    answers = SOLVED_ANSWERS.get(lab.slug, {})
    for (host, path), answer in answers.get("http", {}).items():
        cluster.http_answers[(moved.host(host), path)] = answer
    for query, line in answers.get("logs", {}).items():
        cluster.log(moved.deep(query), line)
    for query, value in answers.get("promql", {}).items():
        cluster.answer_promql(moved.deep(query), value)
    for name, labels in answers.get("alerts", {}).items():
        cluster.fire_alert(name, **moved.deep(labels))
    cluster.add(*(moved.deep(obj) for obj in [*applied_by_solve_steps(lab), *left_by_tools(lab.slug)]))


def applied_by_solve_steps(lab) -> list[dict]:
    """The objects of the files a lab's kubectl solve steps apply (`-f <path>`, from the repository
    root): lab 12's VolumeSnapshot, which CI's contract check keeps out of solution/."""
    from infra.manifests import kubectl_files

    paths = [path for step in lab.solve if step["action"] == "kubectl" and step["args"][0] == "apply"
             for path in kubectl_files(step["args"])[1]]
    return load_objects(*(LABS_DIR.parent / path for path in paths), namespace=lab.namespace)


def left_by_tools(slug: str) -> list[dict]:
    """What a solved lab leaves beyond its files, written by the tools the student ran: Helm's release
    Secrets (lab 20: install, upgrade, failed upgrade, rollback), the ephemeral container `kubectl debug`
    adds to a pod (lab 03), the scheduler's Lease once it was stopped and restarted (lab 18), the label
    istiod's injector puts on a restarted pod (lab 21). No `kubectl apply` of a solution leaves them."""
    if slug == "helm":
        return [{"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                 "metadata": {"name": f"sh.helm.release.v1.web.v{revision}", "namespace": "lab-helm",
                              "labels": {"owner": "helm", "name": "web", "status": status, "version": str(revision)}}}
                for revision, status in enumerate(("superseded", "superseded", "failed", "deployed"), start=1)]
    if slug == "pods":
        solo = next(obj for obj in load_objects(LABS_DIR / "03-pods" / "manifests", namespace="lab-pods")
                    if obj["kind"] == "Pod")
        solo["spec"]["ephemeralContainers"] = [{"name": "debugger-8xk2p", "image": "busybox:1.36.1",
                                                "targetContainerName": "whoami", "stdin": True, "tty": True}]
        return [solo]
    if slug == "architecture":
        return [{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
                 "spec": {"holderIdentity": "labs-default-control-plane_6f1c2d3e", "leaseTransitions": 1,
                          "acquireTime": rfc3339(time.time() + 60)}}]  # a minute after the lab started
    if slug == "persistent-volume-claim":
        # `kubectl patch` grew the claim solution/ creates at 1Gi (solve step); the kubelet then grew the
        # mounted filesystem and said so on the claim (the event `data-claim-grown` looks for).
        data = next(obj for obj in load_objects(LABS_DIR / "12-persistent-volume-claim" / "solution",
                                                namespace="lab-persistent-volume-claim") if obj["metadata"]["name"] == "data")
        data["spec"]["resources"]["requests"]["storage"] = "2Gi"
        return [data, resize_event("data", "FileSystemResizeSuccessful")]
    if slug == "service-mesh":
        return [{"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": "web-7c8b9d6f5-h3j5k", "namespace": "lab-service-mesh-sidecar",
                    "labels": {"app.kubernetes.io/name": "web", "security.istio.io/tlsMode": "istio"}},
                 "spec": {"containers": [{"name": "whoami", "image": "traefik/whoami:v1.11.0"}],
                          "initContainers": [{"name": "istio-proxy", "image": "istio/proxyv2", "restartPolicy": "Always"}]}}]
    return []


def resize_event(claim: str, reason: str, namespace: str = "lab-persistent-volume-claim") -> dict:
    """An events.k8s.io/v1 Event on a claim, as the kubelet or a CSI sidecar records it."""
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": f"{claim}.{reason.lower()}", "namespace": namespace},
            "regarding": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": claim, "namespace": namespace},
            "reason": reason, "type": "Normal", "eventTime": rfc3339(time.time()),
            "reportingController": "kubelet", "reportingInstance": "labs-default-worker", "action": "Resize"}


def run_lab(lab, tmp_path, folders, solved: bool):
    with FakeCluster() as cluster:
        cluster.add(*load_objects(*(lab.path / f for f in folders), namespace=lab.namespace))
        if solved:
            answer_solved(cluster, lab)
        reader = ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url)
        return run_checks(list(lab.checks), reader, lab.namespace, "fr")


@pytest.mark.parametrize("lab", Catalog.load(LABS_DIR).labs, ids=lambda lab: lab.id)
def test_checks_fail_on_the_starting_point(lab, tmp_path):
    run = run_lab(lab, tmp_path, ["manifests"], solved=False)
    assert not run.passed, [r.id for r in run.results]
    assert all(r.hint for r in run.results if not r.passed)


@pytest.mark.parametrize("lab", Catalog.load(LABS_DIR).labs, ids=lambda lab: lab.id)
def test_checks_pass_on_the_solution(lab, tmp_path):
    run = run_lab(lab, tmp_path, ["manifests", "solution"], solved=True)
    assert run.passed, [(r.id, r.detail) for r in run.results if not r.passed]


def spec(**fields):
    return validate_spec({"id": "c", "hint": {"fr": "indice", "en": "hint"}, **fields}, "lab.yaml: checks[0]")


@pytest.fixture
def cluster(tmp_path):
    with FakeCluster() as fake:
        fake.reader = ClusterReader(fake.kubeconfig(tmp_path), ingress_url=fake.url)
        yield fake


def deployment(name, replicas=2, labels=None):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "lab"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_exists_compares_fields_by_path(cluster):
    cluster.add(deployment("web"))
    ok = spec(kind="exists", apiVersion="apps/v1", object="Deployment", name="web", fields={"spec.replicas": 2})
    wrong = spec(kind="exists", apiVersion="apps/v1", object="Deployment", name="web", fields={"spec.replicas": 3})
    missing = spec(kind="exists", apiVersion="apps/v1", object="Deployment", name="api")
    assert evaluate(ok, cluster.reader, "lab")[0]
    passed, detail = evaluate(wrong, cluster.reader, "lab")
    assert not passed and "spec.replicas is 2, expected 3" in detail
    assert not evaluate(missing, cluster.reader, "lab")[0]


def test_cluster_scoped_objects_are_found_without_a_namespace(cluster):
    cluster.add({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                 "provisioner": "x"})
    assert evaluate(spec(kind="exists", apiVersion="storage.k8s.io/v1", object="StorageClass", name="fast"),
                    cluster.reader, "lab")[0]


def test_rollout_waits_for_ready_replicas(cluster):
    stuck = deployment("web")
    cluster.add(stuck)
    path = "/apis/apps/v1/namespaces/lab/deployments/web"
    cluster.objects[path]["status"]["readyReplicas"] = 1
    passed, detail = evaluate(spec(kind="rollout", object="Deployment", name="web"), cluster.reader, "lab")
    assert not passed and "1/2 ready" in detail


def test_pods_ready_counts_by_label_selector(cluster):
    cluster.add(deployment("web", replicas=3, labels={"app": "web", "tier": "front"}), deployment("db", 1))
    assert evaluate(spec(kind="pods_ready", selector="app=web,tier=front", count=3), cluster.reader, "lab")[0]
    assert not evaluate(spec(kind="pods_ready", selector="app=web", count=4), cluster.reader, "lab")[0]


def test_pvc_bound_and_resized(cluster):
    cluster.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert evaluate(spec(kind="pvc", name="data"), cluster.reader, "lab")[0]
    passed, detail = evaluate(spec(kind="pvc", name="data", capacity="2Gi"), cluster.reader, "lab")
    assert not passed and "capacity 1Gi" in detail



@pytest.mark.parametrize("default_class", ["standard", "gp3", "managed-csi"])
def test_pvc_in_the_default_class_whatever_the_target_names_it(default_class, tmp_path):
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    with FakeCluster(default_storage_class=default_class) as fake:
        fake.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "plain", "namespace": "lab"},
                  "spec": claim},
                 {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "fast", "namespace": "lab"},
                  "spec": {**claim, "storageClassName": "csi-hostpath-sc"}})
        reader = ClusterReader(fake.kubeconfig(tmp_path))
        passed, detail = evaluate(spec(kind="pvc", name="plain", storage_class="default"), reader, "lab")
        assert passed and f"class {default_class}" in detail
        passed, detail = evaluate(spec(kind="pvc", name="fast", storage_class="default"), reader, "lab")
        assert not passed and f"expected '{default_class}'" in detail
        assert evaluate(spec(kind="pvc", name="fast", storage_class="csi-hostpath-sc"), reader, "lab")[0]

def test_promql_reads_a_vector_through_the_service_proxy(cluster):
    cluster.answer_promql("up", 3)
    assert evaluate(spec(kind="promql", query="up", min=2), cluster.reader, "lab")[0]
    assert not evaluate(spec(kind="promql", query="up", min=5), cluster.reader, "lab")[0]


def test_http_goes_through_the_ingress_with_the_host_header(cluster):
    cluster.http_answers[("blue.localhost", "/")] = (200, "Name: blue")
    assert evaluate(spec(kind="http", host="blue.localhost", contains="Name: blue"), cluster.reader, "lab")[0]
    assert not evaluate(spec(kind="http", host="green.localhost"), cluster.reader, "lab")[0]


def test_a_failing_check_is_retried_until_it_converges(cluster):
    cluster.add(deployment("web"))
    path = "/apis/apps/v1/namespaces/lab/deployments/web"
    cluster.objects[path]["status"]["readyReplicas"] = 0
    timer = __import__("threading").Timer(0.3, lambda: cluster.objects[path]["status"].update(readyReplicas=2))
    timer.start()
    run = run_checks([spec(kind="rollout", object="Deployment", name="web")], cluster.reader, "lab",
                     timeout_s=5, interval_s=0.1)
    assert run.passed


def test_hints_come_in_the_requested_language(cluster):
    run = run_checks([spec(kind="rollout", object="Deployment", name="nope")], cluster.reader, "lab", lang="en")
    assert not run.passed and run.results[0].hint == "hint"


@pytest.mark.parametrize("fields, message", [
    ({"kind": "teleport"}, "unknown check kind 'teleport'"),
    ({"kind": "rollout", "name": "web"}, "field 'object': missing"),
    ({"kind": "rollout", "object": "Pod", "name": "web"}, "a rollout check takes"),
    ({"kind": "http", "host": "x.localhost", "colour": "blue"}, "field 'colour': not a field"),
])
def test_bad_check_specs_name_the_field(fields, message):
    with pytest.raises(LabsError, match=message):
        spec(**fields)


def test_a_check_without_both_hints_is_rejected():
    with pytest.raises(LabsError, match="French and an English hint"):
        validate_spec({"id": "c", "kind": "http", "host": "x", "hint": {"fr": "indice"}}, "lab.yaml")


def test_field_paths_reach_keys_with_dots_in_brackets(cluster):
    web = deployment("web")
    web["spec"]["template"]["spec"]["nodeSelector"] = {"labs.k8s/autoscaled": "true"}
    cluster.add(web)
    check = spec(kind="exists", apiVersion="apps/v1", object="Deployment", name="web",
                  fields={"spec.template.spec.nodeSelector[labs.k8s/autoscaled]": "true",
                          "spec.template.spec.containers.0.name": "c"})
    assert evaluate(check, cluster.reader, "lab")[0]


def test_rollout_is_not_complete_while_pods_of_the_old_revision_remain(cluster):
    # The last step of a maxSurge: 1 rollout: 4 new pods (3 ready) and 1 old pod, still ready.
    cluster.add(deployment("web", replicas=4))
    path = "/apis/apps/v1/namespaces/lab/deployments/web"
    cluster.objects[path]["status"].update(replicas=5, updatedReplicas=4, readyReplicas=4)
    check = spec(kind="rollout", object="Deployment", name="web")
    assert not evaluate(check, cluster.reader, "lab")[0]
    cluster.objects[path]["status"].update(replicas=4, updatedReplicas=4, readyReplicas=4)
    assert evaluate(check, cluster.reader, "lab")[0]


def test_http_goes_straight_to_the_ingress_whatever_http_proxy_says(cluster, monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    cluster.http_answers[("blue.localhost", "/")] = (200, "Name: blue")
    assert evaluate(spec(kind="http", host="blue.localhost", contains="Name: blue"), cluster.reader, "lab")[0]


def test_a_file_that_is_not_a_kubeconfig_is_one_line(tmp_path):
    wrong = tmp_path / "notes.txt"
    wrong.write_text("just some text\n")
    with pytest.raises(LabsError, match="cannot load kubeconfig") as error:
        ClusterReader(str(wrong))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("answer, passed, seen", [
    ({"resultType": "scalar", "result": [1, "2"]}, True, "[2.0]"),  # scalar(...), `1 > bool 0`
    ({"resultType": "scalar", "result": [1, "0"]}, False, "[0.0]"),
    ({"resultType": "string", "result": [1, "two"]}, False, "no data"),
    ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}, {"metric": {}}]}, False, "no data"),
])
def test_promql_reads_scalars_and_never_crashes_on_other_answers(cluster, answer, passed, seen):
    cluster.services.add(PROMETHEUS)
    cluster.promql["scalar(up)"] = answer
    assert evaluate(spec(kind="promql", query="scalar(up)", min=1), cluster.reader, "lab") == (
        passed, f"scalar(up) -> {seen}")


def daemonset(name="agent"):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "lab"},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


@pytest.mark.parametrize("status, done", [
    ({}, True),  # converged: 3 desired, updated and available
    ({"numberAvailable": 2}, False),  # 3 ready, one not yet for minReadySeconds
    ({"updatedNumberScheduled": 2}, False),  # a pod of the old template still runs
    ({"observedGeneration": 0}, False),  # the controller has not seen the new spec yet
    ({"desiredNumberScheduled": 0, "numberReady": 0, "numberAvailable": 0, "updatedNumberScheduled": 0}, True),
])
def test_daemonset_rollout_is_complete_as_kubectl_rollout_status_says(cluster, status, done):
    cluster.add(daemonset())
    cluster.objects["/apis/apps/v1/namespaces/lab/daemonsets/agent"]["status"].update(status)
    passed, detail = evaluate(spec(kind="rollout", object="DaemonSet", name="agent"), cluster.reader, "lab")
    assert passed is done and detail.startswith("DaemonSet agent: ")


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reader_at(cluster, tmp_path, server: str) -> ClusterReader:
    kubeconfig = tmp_path / "elsewhere"
    kubeconfig.write_text((tmp_path / "kubeconfig").read_text().replace(cluster.url, server))
    return ClusterReader(str(kubeconfig))


@pytest.mark.parametrize("server, reason", [
    ("http://127.0.0.1:{port}", "Connection refused"),  # nothing listens
    ("https://127.0.0.1:{fake}", "SSL"),  # TLS to a server speaking plain HTTP: a TLS failure
])
def test_an_api_server_that_does_not_answer_stops_the_run_at_once(cluster, tmp_path, monkeypatch, server, reason):
    server = server.format(port=closed_port(), fake=cluster.url.rsplit(":", 1)[1])
    reader = reader_at(cluster, tmp_path, server)
    # Retrying would sleep between attempts: the run must stop before any.
    monkeypatch.setattr("infra.checks.time.sleep", lambda s: pytest.fail("a connection failure was retried"))
    seen = []
    checks = [spec(kind="rollout", object="Deployment", name="web"), spec(kind="pods_ready", selector="app=web")]
    with pytest.raises(ClusterUnreachable) as error:
        run_checks(checks, reader, "lab", timeout_s=3600, on_result=seen.append)
    assert str(error.value).startswith(f"cannot reach the Kubernetes API server {server} (")
    assert reason in str(error.value) and "\n" not in str(error.value)
    assert seen == []  # no check reported as merely failed


def test_a_tls_failure_the_client_reports_as_status_0_stops_the_run(cluster, monkeypatch):
    from kubernetes.client.exceptions import ApiException

    def refuse(*args, **kwargs):
        raise ApiException(status=0, reason="SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    monkeypatch.setattr(cluster.reader.api, "call_api", refuse)
    with pytest.raises(ClusterUnreachable, match=r"\(\[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed\)$"):
        run_checks([spec(kind="rollout", object="Deployment", name="web")], cluster.reader, "lab", timeout_s=3600)


def test_answers_that_are_not_there_yet_are_still_failed_attempts(cluster, monkeypatch):
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError

    # A 404 from the service proxy (no Prometheus yet): a failed check, not an unreachable cluster.
    run = run_checks([spec(kind="promql", query="up")], cluster.reader, "lab")
    assert not run.passed and "answered 404" in run.results[0].detail

    def slow(*args, **kwargs):  # connected, but no answer in time: the server is there
        raise MaxRetryError(None, "/api", ReadTimeoutError(None, "/api", "Read timed out."))

    monkeypatch.setattr(cluster.reader.api, "call_api", slow)
    run = run_checks([spec(kind="rollout", object="Deployment", name="web")], cluster.reader, "lab")
    assert not run.passed and run.results[0].detail.startswith("MaxRetryError")


# --- checks a target cannot decide: skipped, never passed -------------------------------------------

class RecordingCluster(FakeCluster):
    """The fake API server (and ingress) noting every GET it answers: (Host header, path)."""

    def __init__(self, *args, **kwargs):
        self.asked: list[tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    def _handler(self):
        base, cluster = super()._handler(), self

        class Recording(base):
            def do_GET(self):
                import urllib.parse

                cluster.asked.append(((self.headers.get("Host") or "").split(":")[0],
                                         urllib.parse.urlsplit(self.path).path))
                return super().do_GET()

        return Recording


def capabilities_of(target: str):
    from infra.clusters.capabilities import BY_TARGET
    from infra.settings import StackSettings

    return BY_TARGET[target](StackSettings.for_target(target))


# One check of each kind that needs running containers, with what answers it once solved, and what the
# fake sees when it is asked: (Host header or "", a piece of the path).
DATA_PATH_CHECKS = {
    "http": (dict(host="blue.localhost", contains="Name: blue"), ("blue.localhost", "/")),
    "promql": (dict(query="up", min=1), ("", "prometheus-operated:9090/proxy/api/v1/query")),
    "alert": (dict(alertname="PodCrashLooping"), ("", "prometheus-operated:9090/proxy/api/v1/alerts")),
    "loki": (dict(query='{app="web"}', contains="GET /"), ("", "loki:3100/proxy/loki/api/v1/query_range")),
    "mtls": (dict(source="web", destination="api"), ("", "prometheus-operated:9090/proxy/api/v1/query")),
    "hpa": (dict(name="web", min_replicas=2), ("", "/horizontalpodautoscalers/web")),
    "pvc": (dict(name="data"), ("", "/persistentvolumeclaims/data")),
}


def solved_data_path(cluster: FakeCluster) -> None:
    """What the ingress, Prometheus and Loki answer, and the scaled-out HPA, when the data path works."""
    cluster.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}})
    cluster.http_answers[("blue.localhost", "/")] = (200, "Name: blue\n")
    cluster.answer_promql("up", 1)
    cluster.fire_alert("PodCrashLooping", namespace="lab")
    cluster.log('{app="web"}', '10.0.0.1 - "GET / HTTP/1.1" 200')
    cluster.answer_promql('sum(istio_tcp_connections_opened_total{connection_security_policy="mutual_tls",'
                          'source_workload="web",destination_workload="api",destination_workload_namespace="lab"})', 3)
    cluster.add({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                 "metadata": {"name": "web", "namespace": "lab"},
                 "spec": {"minReplicas": 1, "maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}})
    cluster.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                 "spec": {}, "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}})


def asked_for(cluster: RecordingCluster, seen: tuple[str, str]) -> bool:
    host, piece = seen
    return any((not host or asked_host == host) and piece in path for asked_host, path in cluster.asked)


def test_the_kinds_that_need_running_containers_are_the_data_path_and_hpa():
    from infra.check_spec import KINDS
    from infra.checks import NEEDS_CONTAINERS

    assert NEEDS_CONTAINERS == set(DATA_PATH_CHECKS) and NEEDS_CONTAINERS <= set(KINDS)
    assert not NEEDS_CONTAINERS & {"exists", "rollout", "pods_ready"}


@pytest.mark.parametrize("kind", sorted(DATA_PATH_CHECKS))
def test_a_data_path_check_where_no_container_runs_is_skipped_with_its_reason_and_not_asked(kind, tmp_path):
    from infra.checks import skips_for

    caps = capabilities_of("kwok")
    assert caps.containers_run is False
    fields, seen = DATA_PATH_CHECKS[kind]
    with RecordingCluster() as cluster:
        solved_data_path(cluster)  # the answers are there: skipping is not failing to find them
        reader = ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url)
        reported = []
        run = run_checks([spec(kind=kind, **fields)], reader, "lab", timeout_s=60, on_result=reported.append,
                         skip=skips_for(caps))
    (result,) = run.results
    assert result.skipped and not result.passed and result.hint == ""
    assert result.detail == "skipped on kwok: needs running containers"
    assert reported == [result]
    assert not asked_for(cluster, seen) and cluster.asked == []  # not queried at all
    assert not run.passed and run.undecided and run.failed == []


@pytest.mark.parametrize("kind", sorted(DATA_PATH_CHECKS))
def test_on_kind_the_same_check_is_evaluated(kind, tmp_path):
    from infra.checks import skips_for

    caps = capabilities_of("kind")
    assert caps.containers_run is True and skips_for(caps) == {}
    fields, seen = DATA_PATH_CHECKS[kind]
    with RecordingCluster() as cluster:
        solved_data_path(cluster)
        reader = ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url)
        run = run_checks([spec(kind=kind, **fields)], reader, "lab", skip=skips_for(caps))
    (result,) = run.results
    assert not result.skipped and result.passed, result.detail
    assert asked_for(cluster, seen)
    assert run.passed and not run.undecided


def test_skipping_follows_the_capability_not_the_target_name():
    from dataclasses import replace

    from infra.checks import NEEDS_CONTAINERS, skips_for

    assert set(skips_for(replace(capabilities_of("kind"), containers_run=False))) == NEEDS_CONTAINERS
    assert skips_for(replace(capabilities_of("kind"), containers_run=False))["http"] == \
        "skipped on kind: needs running containers"
    assert skips_for(replace(capabilities_of("kwok"), containers_run=True)) == {}


def test_a_run_with_skips_judges_only_the_decidable_checks(cluster):
    from infra.checks import skips_for

    skip = skips_for(capabilities_of("kwok"))
    rollout = spec(kind="rollout", object="Deployment", name="web")
    http = validate_spec({"id": "reachable", "kind": "http", "host": "blue.localhost",
                          "hint": {"fr": "indice", "en": "hint"}}, "lab.yaml")
    run = run_checks([rollout, http], cluster.reader, "lab", skip=skip)  # no Deployment yet
    assert [(r.id, r.passed, r.skipped) for r in run.results] == [("c", False, False), ("reachable", False, True)]
    assert not run.passed and [r.id for r in run.failed] == ["c"] and not run.undecided
    cluster.add(deployment("web"))
    run = run_checks([rollout, http], cluster.reader, "lab", skip=skip)
    assert run.passed and [r.id for r in run.skipped] == ["reachable"] and [r.id for r in run.decided] == ["c"]


def test_a_check_of_any_kind_that_needs_containers_is_skipped_where_none_run_and_decided_elsewhere(tmp_path):
    from infra.checks import skips_for

    worker = spec(kind="rollout", object="Deployment", name="worker", needs_containers=True)
    with RecordingCluster() as cluster:
        reader = ClusterReader(cluster.kubeconfig(tmp_path))
        kwok = run_checks([worker], reader, "lab", skip=skips_for(capabilities_of("kwok")))
        assert cluster.asked == []  # nothing asked for it
        kind = run_checks([worker], reader, "lab", skip=skips_for(capabilities_of("kind")))
    assert kwok.results[0].skipped and kwok.results[0].detail == "skipped on kwok: needs running containers"
    assert not kind.results[0].skipped and not kind.results[0].passed  # decided: the Deployment is absent
    assert cluster.asked  # and asked for


def test_needs_containers_is_a_boolean():
    with pytest.raises(LabsError, match="field 'needs_containers': true or false"):
        validate_spec({**spec(kind="rollout", object="Deployment", name="w"), "needs_containers": "yes"}, "lab.yaml")


def test_the_starters_rollouts_are_awaited_where_the_starter_puts_them():
    """`lab test` waits for the starting point's rollouts before judging it: lab 21's sidecar demo lives
    in a namespace of its own, and its Deployments must be awaited there, not in the lab's."""
    from infra import commands

    lab = Catalog.load(LABS_DIR).resolve("service-mesh")
    awaited = {(r["kind_of"], r["name"], r["namespace"]) for r in commands.starter_rollouts(lab)}
    assert ("Deployment", "web", "lab-service-mesh-sidecar") in awaited
    assert ("Deployment", "web-v1", "lab-service-mesh") in awaited
