"""Each check kind fails for each reason it should, against a fake API server (and Prometheus, Loki,
ingress) that answers per object and per query as the real ones do (tests/fake_cluster.py).

The false passes of issue 14 each have a test here: an alert without a namespace label, an empty PromQL
answer made NaN or 0, `storage_class: default` with no default class, a 200 that is not an object, a
threshold of 0, log lines from before the lab started.
"""
from __future__ import annotations

import time

import pytest

from infra.checks import resource_path, run_checks
from infra.errors import LabsError
from infra.kinds import CLUSTER_SCOPED
from tests.fake_cluster import PROMETHEUS, rfc3339
from tests.test_checks import cluster, spec  # noqa: F401 (fixture)

HOUR = 3600


def check(cluster, **fields) -> tuple[bool, str]:
    """(passed, detail) of one check run as `lab check` runs it (an error answer is a failed attempt)."""
    (result,) = run_checks([spec(**fields)], cluster.reader, "lab").results
    return result.passed, result.detail


def started(cluster, at: float) -> None:
    """The lab's namespace, created (by `lab up` or `lab reset`) at `at`."""
    cluster.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "creationTimestamp": rfc3339(at)}})


def service(name="web", conditions=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "lab"},
            "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]},
            "status": {"conditions": conditions or []}}


# --- exists: comparisons and conditions by type -----------------------------------------------------

@pytest.mark.parametrize("expected, passed", [
    ({">=": 2}, True), ({">=": 3}, False), ({"<=": 2}, True), ({"<=": 1}, False),
    ({"in": [1, 2]}, True), ({"in": [3]}, False),
    ({"matches": "[0-9]"}, True), ({"matches": "2[0-9]"}, False),  # the whole value must match
    (2, True), (3, False),
])
def test_exists_compares_a_field(cluster, expected, passed):
    cluster.add(service())
    cluster.objects["/api/v1/namespaces/lab/services/web"]["spec"]["replicas"] = 2
    ok, detail = check(cluster, kind="exists", apiVersion="v1", object="Service", name="web",
                       fields={"spec.replicas": expected})
    assert ok is passed and ("spec.replicas is 2" in detail) is not passed


@pytest.mark.parametrize("field, expected", [
    ("spec.absent", {">=": 0.5}), ("spec.absent", {"<=": 5}), ("spec.absent", {"matches": ".*"}),
    ("spec.type", {">=": 1}),  # a string is not a number
    ("spec.selector", {"matches": ".*"}),  # a mapping is not a value to match
    ("status.loadBalancer.ingress", {">=": 1}),  # a LoadBalancer with no address
    ("spec.ports.1.port", {">=": 1}),  # past the end of a list
    ("spec.type.a", {"matches": ".*"}),  # into a string
    ("status.conditions[type=Ready].status", {"in": ["True"]}),  # no such element
])
def test_a_comparison_never_holds_on_what_is_absent_or_of_another_type(cluster, field, expected):
    cluster.add(service())
    ok, detail = check(cluster, kind="exists", apiVersion="v1", object="Service", name="web", fields={field: expected})
    assert not ok and detail.startswith(f"Service web: {field} is ")  # judged, not crashed


def test_a_check_may_look_in_another_namespace(cluster):
    other = service()
    other["metadata"]["namespace"] = "tools"
    cluster.add(other)
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web", namespace="tools")[0]
    assert not check(cluster, kind="exists", apiVersion="v1", object="Service", name="web")[0]


def test_a_list_is_compared_by_its_length(cluster):
    web = service()
    web["status"]["loadBalancer"] = {"ingress": [{"ip": "172.18.0.5"}]}
    cluster.add(web)
    fields = {"status.loadBalancer.ingress": {">=": 1}, "status.loadBalancer.ingress.0.ip": {"matches": r"[0-9.]+"}}
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web", fields=fields)[0]
    assert not check(cluster, kind="exists", apiVersion="v1", object="Service", name="web",
                     fields={"status.loadBalancer.ingress": {">=": 2}})[0]


@pytest.mark.parametrize("conditions, passed", [
    ([{"type": "Accepted", "status": "False"}, {"type": "Ready", "status": "True"}], True),
    ([{"type": "Ready", "status": "False"}, {"type": "Accepted", "status": "True"}], False),
    ([{"type": "Accepted", "status": "True"}], False),  # no Ready condition at all
    ([], False),
])
def test_a_condition_is_found_by_its_type(cluster, conditions, passed):
    cluster.add(service(conditions=conditions))
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web",
                 fields={"status.conditions[type=Ready].status": "True"})[0] is passed


def test_a_200_that_is_not_an_object_is_not_an_object_that_exists(cluster):
    # A proxy or login page in front of the API server: nothing is known about the object.
    path = "/api/v1/namespaces/lab/configmaps/settings"
    exists = spec(kind="exists", apiVersion="v1", object="ConfigMap", name="settings")
    cluster.http_answers[("127.0.0.1", path)] = (200, "<html>sign in</html>")
    (result,) = run_checks([exists], cluster.reader, "lab").results
    assert not result.passed and result.detail == f"RuntimeError: GET {path} answered 200 with no JSON"
    cluster.http_answers[("127.0.0.1", path)] = (200, '"just a string"')
    (result,) = run_checks([exists], cluster.reader, "lab").results
    assert not result.passed and result.detail == f"RuntimeError: GET {path} answered no object"


# --- pvc -----------------------------------------------------------------------------------------

def test_storage_class_default_fails_where_no_class_is_default(cluster):
    cluster.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                 "spec": {"storageClassName": None, "resources": {"requests": {"storage": "1Gi"}}}})
    del cluster.objects["/apis/storage.k8s.io/v1/storageclasses/standard"]  # a cluster without a default class
    ok, detail = check(cluster, kind="pvc", name="data", storage_class="default")
    assert not ok and "no StorageClass is marked default" in detail


def test_a_claim_with_no_capacity_yet_is_not_of_any_size(cluster):
    cluster.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                 "spec": {"resources": {"requests": {"storage": "1Mi"}}}})
    del cluster.objects["/api/v1/namespaces/lab/persistentvolumeclaims/data"]["status"]["capacity"]
    assert check(cluster, kind="pvc", name="data", capacity="1Mi") == (False, "PVC data: Bound, capacity none")


def test_pvc_fails_when_missing_pending_or_too_small(cluster):
    assert not check(cluster, kind="pvc", name="data")[0]
    cluster.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                 "spec": {"resources": {"requests": {"storage": "1Gi"}}}})
    assert check(cluster, kind="pvc", name="data", capacity="1Gi")[0]
    assert not check(cluster, kind="pvc", name="data", capacity="2Gi")[0]
    cluster.objects["/api/v1/namespaces/lab/persistentvolumeclaims/data"]["status"]["phase"] = "Pending"
    assert not check(cluster, kind="pvc", name="data")[0]
    assert check(cluster, kind="pvc", name="data", phase="Pending")[0]


# --- hpa, http -------------------------------------------------------------------------------------

def test_hpa_fails_below_min_replicas_or_when_missing(cluster):
    assert not check(cluster, kind="hpa", name="web", min_replicas=2)[0]
    cluster.add({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "lab"},
                 "spec": {"minReplicas": 1, "maxReplicas": 3}})
    assert check(cluster, kind="hpa", name="web", min_replicas=3)[0]
    ok, detail = check(cluster, kind="hpa", name="web", min_replicas=4)
    assert not ok and detail == "HPA web: 3 replica(s) (want >= 4)"


@pytest.mark.parametrize("answer, fields, passed", [
    ((200, "Name: blue\n"), {"contains": "Name: blue"}, True),
    ((200, "Name: green\n"), {"contains": "Name: blue"}, False),  # a wrong backend
    ((404, "404 page not found\n"), {}, False),
    ((404, "404 page not found\n"), {"status": 404}, True),
    ((503, "Name: blue\n"), {"contains": "Name: blue"}, False),
])
def test_http_fails_on_a_wrong_status_or_body(cluster, answer, fields, passed):
    cluster.http_answers[("blue.localhost", "/")] = answer
    assert check(cluster, kind="http", host="blue.localhost", **fields)[0] is passed


# --- promql, mtls ----------------------------------------------------------------------------------

def test_promql_or_vector_0_without_min_fails(cluster):
    cluster.answer_promql('sum(up{job="web"}) or vector(0)', 0)
    ok, detail = check(cluster, kind="promql", query='sum(up{job="web"}) or vector(0)')
    assert not ok and detail.endswith("-> [0.0]")
    cluster.answer_promql('sum(up{job="web"}) or vector(0)', 2)
    assert check(cluster, kind="promql", query='sum(up{job="web"}) or vector(0)')[0]


def test_promql_reads_every_series_past_one_without_a_value(cluster):
    cluster.services.add(__import__("tests.fake_cluster", fromlist=["PROMETHEUS"]).PROMETHEUS)
    cluster.promql["up"] = {"resultType": "vector", "result": [{"metric": {}}, {"metric": {}, "value": [0, "3"]}]}
    assert check(cluster, kind="promql", query="up", min=3) == (True, "up -> [3.0]")


def test_promql_scalar_of_nothing_is_no_data(cluster):
    cluster.answer_promql('scalar(up{job="web"})', "NaN", result_type="scalar")
    assert check(cluster, kind="promql", query='scalar(up{job="web"})') == (False, 'scalar(up{job="web"}) -> no data')


def test_promql_below_min_or_empty_fails(cluster):
    cluster.answer_promql("count(up)", 2)
    assert check(cluster, kind="promql", query="count(up)", min=2)[0]
    assert not check(cluster, kind="promql", query="count(up)", min=3)[0]
    cluster.answer_promql("up", )  # no series
    assert check(cluster, kind="promql", query="up") == (False, "up -> no data")


def test_a_query_prometheus_rejects_or_a_missing_prometheus_fails(cluster):
    ok, detail = check(cluster, kind="promql", query="up")
    assert not ok and "404" in detail  # no Prometheus in the cluster
    cluster.answer_promql("up", 1)
    ok, detail = check(cluster, kind="promql", query="up{")
    assert not ok and "answered 400" in detail


def test_mtls_fails_without_mutual_tls_connections(cluster):
    query = ('sum(istio_tcp_connections_opened_total{connection_security_policy="mutual_tls",'
             'source_workload="web",destination_workload="api",destination_workload_namespace="lab"})')
    cluster.answer_promql(query)  # no series: nothing went through the mesh
    assert check(cluster, kind="mtls", source="web", destination="api") == (False, "mTLS connections web -> api: none")
    cluster.answer_promql(query, 0)
    assert not check(cluster, kind="mtls", source="web", destination="api")[0]
    cluster.answer_promql(query, 4)
    assert check(cluster, kind="mtls", source="web", destination="api") == (True, "mTLS connections web -> api: 4")
    assert not check(cluster, kind="mtls", source="web", destination="db")[0]  # a query Prometheus was not given


# --- alert -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, state, passed", [
    ({"namespace": "lab"}, "firing", True),
    ({}, "firing", False),  # written without by (namespace): anybody's rule in a classroom
    ({"namespace": "student-02"}, "firing", False),  # another student's
    ({"namespace": "lab"}, "pending", False),  # not for: long enough yet
])
def test_an_alert_counts_for_its_own_namespace_only(cluster, labels, state, passed):
    cluster.fire_alert("LabHighErrorRate", state, **labels)
    assert check(cluster, kind="alert", alertname="LabHighErrorRate")[0] is passed
    assert not check(cluster, kind="alert", alertname="OtherAlert")[0]


def test_alert_state_pending_can_be_asked_for(cluster):
    cluster.fire_alert("LabHighErrorRate", "pending", namespace="lab")
    assert check(cluster, kind="alert", alertname="LabHighErrorRate", state="pending")[0]


# --- loki ----------------------------------------------------------------------------------------------

QUERY = '{namespace="lab", app="orders"} | json | level="error"'


def test_loki_ignores_lines_from_before_the_lab_started(cluster):
    now = time.time()
    started(cluster, now - 60)  # `lab reset` a minute ago
    cluster.log(QUERY, '{"level":"error","msg":"payment declined"}', at=now - 600)  # before the reset
    ok, detail = check(cluster, kind="loki", query=QUERY, contains="payment declined")
    assert not ok and detail.startswith("0 log line(s)")
    cluster.log(QUERY, '{"level":"error","msg":"payment declined"}', at=now - 10)
    assert check(cluster, kind="loki", query=QUERY, contains="payment declined")[0]


def test_loki_fails_on_other_lines_a_rejected_query_or_no_namespace(cluster):
    assert check(cluster, kind="loki", query=QUERY) == (False, "namespace lab not found: the lab has not started")
    started(cluster, time.time() - 60)
    cluster.log(QUERY, '{"level":"error","msg":"stock empty"}')
    assert not check(cluster, kind="loki", query=QUERY, contains="payment declined")[0]
    ok, detail = check(cluster, kind="loki", query="{app=", contains="x")
    assert not ok and "answered 400" in detail


# --- endpoints ------------------------------------------------------------------------------------------

def endpoint_slice(name, service_name, *ready):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": "lab", "labels": {"kubernetes.io/service-name": service_name}},
            "endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r}} for i, r in enumerate(ready)]}


@pytest.mark.parametrize("slices, count, passed", [
    ([endpoint_slice("web-abc", "web", True, True)], 2, True),
    ([endpoint_slice("web-abc", "web", True, False)], 2, False),  # one pod not ready
    ([endpoint_slice("web-abc", "web")], 1, False),  # a selector that matches nothing: an empty slice
    ([endpoint_slice("web-abc", "web", None)], 1, False),  # readiness unknown
    ([endpoint_slice("api-abc", "api", True)], 1, False),  # another Service's endpoints
    ([endpoint_slice("web-a", "web", True), endpoint_slice("web-b", "web", True)], 2, True),
])
def test_endpoints_counts_ready_endpoints_of_the_service(cluster, slices, count, passed):
    cluster.add(*slices)
    assert check(cluster, kind="endpoints", service="web", count=count)[0] is passed


# --- helm_release --------------------------------------------------------------------------------------

def release_secret(release, version, status, type_="helm.sh/release.v1"):
    return {"apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{version}", "namespace": "lab",
                         "labels": {"owner": "helm", "name": release, "status": status, "version": str(version)}}}


HISTORY = [("web", 1, "superseded"), ("web", 2, "failed"), ("web", 3, "deployed")]  # install, bad upgrade, rollback


@pytest.mark.parametrize("secrets, fields, passed", [
    (HISTORY, {"revisions": 3, "history": ["failed"]}, True),
    ([], {}, False),  # applied with kubectl: no release
    (HISTORY[:1], {"revisions": 3}, False),  # installed, never upgraded
    ([("web", 1, "deployed")], {"history": ["failed"]}, False),  # the failed upgrade skipped
    (HISTORY[:2], {}, False),  # the failed upgrade not rolled back
    ([("api", 1, "deployed")], {}, False),  # another release
    (HISTORY, {"status": "failed"}, False),
])
def test_helm_release_reads_the_release_secrets(cluster, secrets, fields, passed):
    cluster.add(*(release_secret(*s) for s in secrets))
    assert check(cluster, kind="helm_release", release="web", **fields)[0] is passed


def test_a_secret_labelled_like_a_release_but_not_of_its_type_is_no_release(cluster):
    cluster.add(release_secret("web", 1, "deployed", type_="Opaque"))
    ok, detail = check(cluster, kind="helm_release", release="web")
    assert not ok and "not installed by Helm" in detail


# --- lease ------------------------------------------------------------------------------------------------

def lease(transitions, acquired):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "kube-scheduler", "namespace": "lab"},
            "spec": {"holderIdentity": "node_1234", "leaseTransitions": transitions, "acquireTime": rfc3339(acquired)}}


def test_lease_changed_holder_by_its_transitions(cluster):
    assert not check(cluster, kind="lease", name="kube-scheduler", transitions=1)[0]  # no Lease
    cluster.add(lease(1, time.time() - HOUR))
    assert check(cluster, kind="lease", name="kube-scheduler", transitions=1)[0]
    assert not check(cluster, kind="lease", name="kube-scheduler", transitions=2)[0]


def test_lease_acquired_since_the_lab_started(cluster):
    now = time.time()
    started(cluster, now - 600)
    cluster.add(lease(0, now - HOUR))  # held since before the lab: the scheduler was never stopped
    assert not check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True)[0]
    cluster.add(lease(1, now - 60))
    assert check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True)[0]


# --- event ------------------------------------------------------------------------------------------------

def event(reason, kind, name):
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": f"{name}.1", "namespace": "lab"},
            "reason": reason, "regarding": {"kind": kind, "name": name, "namespace": "lab"}}


@pytest.mark.parametrize("events, fields, passed", [
    ([event("Unhealthy", "Pod", "web-5d9c-x2")], {"object": "Pod", "name": "web-.*"}, True),
    ([event("Unhealthy", "Pod", "web-5d9c-x2")], {}, True),
    ([event("Pulled", "Pod", "web-5d9c-x2")], {"object": "Pod"}, False),  # another reason
    ([event("Unhealthy", "Pod", "api-5d9c-x2")], {"name": "web-.*"}, False),  # another pod
    ([event("Unhealthy", "Node", "web-1")], {"object": "Pod"}, False),  # another kind
    ([], {}, False),
])
def test_event_matches_reason_and_object(cluster, events, fields, passed):
    cluster.add(*events)
    assert check(cluster, kind="event", reason="Unhealthy", **fields)[0] is passed


# --- written_by ---------------------------------------------------------------------------------------------

def written(*entries):
    web = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "lab", "managedFields": [
        {"manager": manager, "operation": "Update", "time": at, **({"subresource": sub} if sub else {})}
        for manager, at, sub in entries]}}
    return web


@pytest.mark.parametrize("entries, passed", [
    ([("helm", "2026-12-01T10:00:00Z", None)], True),
    ([("helm", "2026-12-01T10:00:00Z", None), ("kubectl-client-side-apply", "2026-12-01T10:05:00Z", None)], False),
    ([("kubectl-client-side-apply", "2026-12-01T10:00:00Z", None), ("helm", "2026-12-01T10:05:00Z", None)], True),
    ([("helm", "2026-12-01T10:00:00Z", None), ("kube-controller-manager", "2026-12-01T10:05:00Z", "status")], True),
    ([], False),  # nobody known
])
def test_written_by_is_the_last_writer_of_the_spec(cluster, entries, passed):
    cluster.add(written(*entries))
    ok, detail = check(cluster, kind="written_by", apiVersion="v1", object="ConfigMap", name="web", manager="helm")
    last = max((e for e in entries if not e[2]), key=lambda e: e[1], default=None)
    assert ok is passed and detail == f"ConfigMap web: last written by {last[0] if last else 'unknown (no managedFields)'}"


def test_written_by_a_missing_object_fails(cluster):
    ok, detail = check(cluster, kind="written_by", apiVersion="v1", object="ConfigMap", name="web", manager="helm")
    assert not ok and detail == "ConfigMap web not found in lab"


# --- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    ({"kind": "pods_ready", "selector": "app=web", "count": 0}, "field 'count': a number above 0"),
    ({"kind": "hpa", "name": "web", "min_replicas": 0}, "field 'min_replicas': a number above 0"),
    ({"kind": "promql", "query": "up", "min": 0}, "field 'min': a number above 0"),
    ({"kind": "promql", "query": "up", "min": -1}, "field 'min': a number above 0"),
    ({"kind": "pods_ready", "selector": "app=web", "count": True}, "field 'count': a number above 0"),
    ({"kind": "endpoints", "service": "web", "count": "2"}, "field 'count': a number above 0"),
    ({"kind": "helm_release", "release": "web", "revisions": 0}, "field 'revisions': a number above 0"),
    ({"kind": "helm_release", "release": "web", "history": "failed"}, "field 'history': a list"),
    ({"kind": "lease", "name": "kube-scheduler"}, "needs transitions or acquired_since_start"),
    ({"kind": "lease", "name": "kube-scheduler", "acquired_since_start": "yes"}, "needs transitions"),
    ({"kind": "lease", "name": "s", "transitions": 1, "acquired_since_start": "yes"}, "'acquired_since_start': true or false"),
    ({"kind": "written_by", "apiVersion": "v1", "object": "ConfigMap", "name": "w", "manager": "(helm"},
     "field 'manager': not a regular expression"),
    ({"kind": "event", "reason": "Unhealthy", "name": "web-["}, "field 'name': not a regular expression"),
    ({"kind": "exists", "apiVersion": "v1", "object": "Service", "name": "w", "fields": {"spec.replicas": {">=": "2"}}},
     "'>=' takes a number"),
    ({"kind": "exists", "apiVersion": "v1", "object": "Service", "name": "w", "fields": {"spec.type": {"in": "ClusterIP"}}},
     "'in' takes a list"),
    ({"kind": "exists", "apiVersion": "v1", "object": "Service", "name": "w", "fields": {"spec.type": {"matches": "("}}},
     "not a regular expression"),
    ({"kind": "exists", "apiVersion": "v1", "object": "Service", "name": "w", "fields": ["spec.type"]},
     "field 'fields': a mapping"),
])
def test_bad_checks_are_rejected_naming_the_field(fields, message):
    with pytest.raises(LabsError, match=message.replace("(", r"\(").replace("[", r"\[")):
        spec(**fields)


def test_a_mapping_that_is_not_one_comparison_is_compared_whole(cluster):
    cluster.add(service())
    fields = {"spec.selector": {"app": "web"}}
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web", fields=fields)[0]
    assert not check(cluster, kind="exists", apiVersion="v1", object="Service", name="web",
                     fields={"spec.selector": {"app": "api"}})[0]


def test_labs_readme_shows_every_kind_with_an_example_that_validates():
    import re

    import yaml

    from infra.check_spec import KINDS
    from infra.paths import LABS_DIR

    block = re.search(r"```yaml\n(.*?)```", (LABS_DIR / "README.md").read_text(), re.S).group(1)
    examples = yaml.safe_load(block)
    for example in examples:
        spec(**{**example, "hint": {"fr": "indice", "en": "hint"}})
    assert sorted({example["kind"] for example in examples}) == sorted(KINDS)


def test_pods_ready_counts_only_pods_whose_ready_condition_is_true(cluster):
    def pod(name, conditions):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "lab", "labels": {"app": "web"}},
                "status": {"phase": "Running", "conditions": conditions}}

    cluster.add(pod("web-1", []))
    for name, conditions in (("web-1", [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]),
                             ("web-2", [{"type": "Ready", "status": "True"}])):
        cluster.add(pod(name, []))
        cluster.objects[f"/api/v1/namespaces/lab/pods/{name}"]["status"]["conditions"] = conditions
    assert check(cluster, kind="pods_ready", selector="app=web", count=1) == (True, "1 ready pod(s) for 'app=web' (want 1)")
    assert check(cluster, kind="pods_ready", selector="app=web", count=2) == (False, "1 ready pod(s) for 'app=web' (want 2)")


def workload(kind, status, replicas=None):
    spec = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "namespace": "lab", "generation": 1},
            "spec": spec, "status": status}


@pytest.mark.parametrize("kind, status, replicas, seen", [
    ("Deployment", {}, 2, (False, "Deployment web: 0/2 ready")),  # nothing reported yet
    ("Deployment", {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "replicas": 1}, None,
     (True, "Deployment web: 1/1 ready")),  # no spec.replicas: 1
    ("Deployment", {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1}, 1, (True, "Deployment web: 1/1 ready")),
    ("DaemonSet", {"observedGeneration": 1, "desiredNumberScheduled": 1, "numberAvailable": 1}, None,
     (False, "DaemonSet web: 1/1 available, 0 updated")),
    ("DaemonSet", {"desiredNumberScheduled": 1, "numberAvailable": 1, "updatedNumberScheduled": 1}, None,
     (False, "DaemonSet web: 1/1 available, 1 updated")),  # generation 1 not observed yet
])
def test_rollout_reads_a_partial_status_as_not_done(cluster, kind, status, replicas, seen):
    cluster.add(workload(kind, {}, replicas))
    cluster.objects[f"/apis/apps/v1/namespaces/lab/{kind.lower()}s/web"]["status"] = status
    assert check(cluster, kind="rollout", object=kind, name="web") == seen


def test_a_missing_workload_is_named_and_a_passed_check_has_no_hint(cluster):
    assert check(cluster, kind="rollout", object="StatefulSet", name="db") == (False, "StatefulSet db not found in lab")
    cluster.add(workload("Deployment", {}, 1))
    (result,) = run_checks([spec(kind="exists", apiVersion="apps/v1", object="Deployment", name="web")], cluster.reader, "lab").results
    assert result.passed and result.hint == ""
    own = {"id": "starter-web", "kind": "rollout", "kind_of": "Deployment", "name": "absent"}  # lab test's, no hint
    (result,) = run_checks([own], cluster.reader, "lab").results
    assert not result.passed and result.hint == ""


# --- what each check says, on the edges of what the API server reports --------------------------------
# A check's detail is what the student reads beside ✗: it names what was seen, with the API server's
# defaults for what a status leaves out (a field absent is 0, not 1, nor an error).

def put(cluster, obj: dict, status: dict | None = None, metadata: dict | None = None) -> dict:
    """`obj` in the cluster with exactly `status` (not the converged one the fake would give it)."""
    cluster.add(obj)
    meta = obj["metadata"]
    stored = cluster.objects[resource_path(obj["apiVersion"], obj["kind"],
                                           None if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace"), meta["name"])]
    if status is not None:
        stored["status"] = status
    if metadata is not None:
        stored["metadata"] = {**metadata, "name": meta["name"], **({"namespace": meta["namespace"]} if "namespace" in meta else {})}
    return stored


def test_what_is_not_found_is_named_with_its_namespace_unless_cluster_scoped(cluster):
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web") == \
        (False, "Service web not found in lab")
    assert check(cluster, kind="exists", apiVersion="storage.k8s.io/v1", object="StorageClass", name="fast") == \
        (False, "StorageClass fast not found")
    assert check(cluster, kind="written_by", apiVersion="storage.k8s.io/v1", object="StorageClass", name="fast",
                 manager="helm") == (False, "StorageClass fast not found")
    assert check(cluster, kind="pvc", name="data") == (False, "PersistentVolumeClaim data not found in lab")
    assert check(cluster, kind="lease", name="kube-scheduler", transitions=1) == (False, "Lease kube-scheduler not found in lab")


def test_a_daemonset_that_reports_nothing_yet_has_scheduled_nothing(cluster):
    put(cluster, workload("DaemonSet", {}), status={}, metadata={})  # no generation either: nothing to observe
    assert check(cluster, kind="rollout", object="DaemonSet", name="web") == (True, "DaemonSet web: 0/0 available, 0 updated")
    put(cluster, workload("DaemonSet", {}), status={"desiredNumberScheduled": 2}, metadata={})
    assert check(cluster, kind="rollout", object="DaemonSet", name="web") == (False, "DaemonSet web: 0/2 available, 0 updated")


@pytest.mark.parametrize("replicas, status, metadata, seen", [
    # Ready but not updated: pods of the old template still serve (no updatedReplicas reported: 0).
    (1, {"observedGeneration": 1, "readyReplicas": 1}, None, (False, "Deployment web: 1/1 ready")),
    # Scaled to 0, nothing reported but the generation: done (no replicas reported: 0 left).
    (0, {"observedGeneration": 1}, None, (True, "Deployment web: 0/0 ready")),
    # No generation in metadata (0): any observed generation is the latest.
    (1, {"readyReplicas": 1, "updatedReplicas": 1, "replicas": 1}, {}, (True, "Deployment web: 1/1 ready")),
])
def test_a_deployments_absent_status_fields_are_zero(cluster, replicas, status, metadata, seen):
    put(cluster, workload("Deployment", {}, replicas), status=status, metadata=metadata)
    assert check(cluster, kind="rollout", object="Deployment", name="web") == seen


def test_ready_pods_endpoints_and_events_of_another_namespace_do_not_count(cluster):
    other = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "elsewhere", "labels": {"app": "web"}},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    put(cluster, other, status=other["status"])
    assert check(cluster, kind="pods_ready", selector="app=web") == (False, "0 ready pod(s) for 'app=web' (want 1)")
    piece = endpoint_slice("web-abc", "web", True)
    piece["metadata"]["namespace"] = "elsewhere"
    cluster.add(piece)
    assert check(cluster, kind="endpoints", service="web") == (False, "Service web: 0 ready endpoint(s) (want 1)")
    cluster.add(endpoint_slice("web-abc", "web", True))
    assert check(cluster, kind="endpoints", service="web") == (True, "Service web: 1 ready endpoint(s) (want 1)")
    moved = event("Unhealthy", "Pod", "web-1")
    moved["metadata"]["namespace"] = "elsewhere"
    cluster.add(moved)
    assert check(cluster, kind="event", reason="Unhealthy", object="Pod", name="web-.*") == \
        (False, "0 event(s) Unhealthy on Pod web-.*")


def test_an_event_about_an_unnamed_object_and_what_the_check_says(cluster):
    nameless = event("Evicted", "Pod", "x")
    nameless["regarding"] = {"kind": "Pod"}
    cluster.add(nameless)
    assert check(cluster, kind="event", reason="Evicted", name=".*") == (True, "1 event(s) Evicted on any .*")
    assert check(cluster, kind="event", reason="Evicted", name="web") == (False, "0 event(s) Evicted on any web")
    assert check(cluster, kind="event", reason="Evicted") == (True, "1 event(s) Evicted")


def test_a_claim_says_its_phase_capacity_and_class(cluster):
    put(cluster, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "lab"},
                  "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}}, status={})
    assert check(cluster, kind="pvc", name="data") == (False, "PVC data: no phase, capacity none")
    cluster.objects["/api/v1/namespaces/lab/persistentvolumeclaims/data"]["status"] = {
        "phase": "Bound", "capacity": {"storage": "1Gi"}}
    assert check(cluster, kind="pvc", name="data", storage_class="fast") == (True, "PVC data: Bound, capacity 1Gi, class fast")


def test_an_hpa_that_reports_no_replicas_has_none(cluster):
    put(cluster, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "lab"},
                  "spec": {"minReplicas": 1, "maxReplicas": 3}}, status={})
    assert check(cluster, kind="hpa", name="web", min_replicas=1) == (False, "HPA web: 0 replica(s) (want >= 1)")


def test_http_says_the_url_it_asked(cluster):
    cluster.http_answers[("blue.localhost", "/")] = (200, "Name: blue\n")
    assert check(cluster, kind="http", host="blue.localhost") == (True, "GET http://blue.localhost/ -> 200")


def test_promql_shows_three_values_at_most(cluster):
    cluster.answer_promql("up", 1, 2, 3, 4)
    assert check(cluster, kind="promql", query="up") == (True, "up -> [1.0, 2.0, 3.0]")


def test_one_mtls_connection_is_enough(cluster):
    query = ('sum(istio_tcp_connections_opened_total{connection_security_policy="mutual_tls",'
             'source_workload="web",destination_workload="api",destination_workload_namespace="lab"})')
    cluster.answer_promql(query, 1)
    assert check(cluster, kind="mtls", source="web", destination="api") == (True, "mTLS connections web -> api: 1")


def test_an_alert_says_the_states_it_was_seen_in(cluster):
    cluster.services.add(PROMETHEUS)  # Prometheus runs, no alert yet
    assert check(cluster, kind="alert", alertname="LabHighErrorRate") == (False, "alert LabHighErrorRate: not seen")
    cluster.fire_alert("LabHighErrorRate", "pending", namespace="lab")
    cluster.alerts.append({"labels": {"alertname": "LabHighErrorRate", "namespace": "lab"}})  # no state reported
    assert check(cluster, kind="alert", alertname="LabHighErrorRate") == (False, "alert LabHighErrorRate: pending, ?")


def test_a_loki_check_without_contains_passes_on_any_line(cluster):
    started(cluster, time.time() - 60)
    cluster.log(QUERY, '{"level":"error","msg":"stock empty"}')
    assert check(cluster, kind="loki", query=QUERY) == (True, f"1 log line(s) for {QUERY}")


@pytest.mark.parametrize("secrets, fields, passed", [
    ([("web", 1, "deployed")], {}, True),  # installed once: one revision is enough when none is asked
    (HISTORY, {"history": ["superseded", "failed", "deployed"]}, True),  # exactly the statuses it went through
])
def test_helm_release_without_thresholds(cluster, secrets, fields, passed):
    cluster.add(*(release_secret(*s) for s in secrets))
    assert check(cluster, kind="helm_release", release="web", **fields)[0] is passed


def test_helm_release_says_its_revision_and_history_and_skips_unnumbered_records(cluster):
    cluster.add(*(release_secret(*s) for s in HISTORY))
    unnumbered = release_secret("web", 9, "deployed")
    del unnumbered["metadata"]["labels"]["version"]
    unnumbered["metadata"]["name"] = "sh.helm.release.v1.web.vx"
    cluster.add(unnumbered)
    assert check(cluster, kind="helm_release", release="web") == \
        (True, "Helm release web: revision 3 deployed, history deployed, failed, superseded")


def test_lease_transitions_and_acquisition_on_their_edges(cluster):
    now = time.time()
    started(cluster, now - 600)
    unset = lease(0, now - 60)
    del unset["spec"]["leaseTransitions"]  # a Lease never handed over: the API server leaves it out
    cluster.add(unset)
    assert check(cluster, kind="lease", name="kube-scheduler", transitions=1) == \
        (False, f"Lease kube-scheduler: held by node_1234, 0 transition(s), acquired {rfc3339(now - 60)}")
    assert check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True)[0]
    # Acquired the very second the lab started: not since.
    namespace_created = cluster.objects["/api/v1/namespaces/lab"]["metadata"]["creationTimestamp"]
    cluster.objects["/apis/coordination.k8s.io/v1/namespaces/lab/leases/kube-scheduler"]["spec"]["acquireTime"] = namespace_created
    assert not check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True)[0]
    del cluster.objects["/apis/coordination.k8s.io/v1/namespaces/lab/leases/kube-scheduler"]["spec"]["acquireTime"]
    assert check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True) == \
        (False, "Lease kube-scheduler: held by node_1234, 0 transition(s), acquired never")


def test_a_lease_acquired_with_no_lab_started_is_not_since_its_start(cluster):
    cluster.add(lease(1, time.time() - 60))
    assert not check(cluster, kind="lease", name="kube-scheduler", acquired_since_start=True)[0]


def test_an_error_with_no_message_is_named_by_its_type(cluster, monkeypatch):
    import infra.checks as checks

    def broken(check, reader, namespace):
        raise ValueError()

    monkeypatch.setattr(checks, "evaluate", broken)
    assert check(cluster, kind="exists", apiVersion="v1", object="Service", name="web") == (False, "ValueError: ")


@pytest.mark.parametrize("kind, plural", [
    ("NetworkPolicy", "networkpolicies"), ("Gateway", "gateways"), ("Ingress", "ingresses"),
    ("HTTPRoute", "httproutes"), ("PersistentVolumeClaim", "persistentvolumeclaims"), ("PriorityClass", "priorityclasses"),
    ("VolumeSnapshot", "volumesnapshots"), ("ServiceMonitor", "servicemonitors"),
])
def test_a_kinds_path_uses_the_plural_the_api_server_serves(kind, plural):
    # As kube-apiserver v1.36 and the CRDs (spec.names.plural) name these resources.
    from infra.checks import plural as plural_of

    assert plural_of(kind) == plural
