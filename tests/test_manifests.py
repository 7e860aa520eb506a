"""infra.manifests: a lab's objects retargeted to a student's namespace (classroom, namespace tenancy).

The rewrite itself on small objects, then for every lab: its retargeted starting point and solution
are valid Kubernetes 1.36 objects (CRDs against ../shared), live in the student's namespace only, keep
no reference to the lab's namespace, route only the student's host names, ask only for what the
student's Role grants, and the lab's retargeted checks pass on them in the fake cluster (and fail on
the starting point). Known exceptions are listed here, with why: a test fails when one disappears.
"""
from __future__ import annotations

import json
import re

import pytest
import yaml

from infra.catalog import Catalog
from infra.checks import ClusterReader, plural, run_checks
from infra.classroom.objects import EDIT_RULES, SHARED_CLUSTER_NOTES, WHOLE_CLUSTER_LABS, student_objects
from infra.errors import LabsError
from infra.kinds import CLUSTER_SCOPED
from infra.manifests import (check_namespace, lab_hosts, lab_objects_for, load_folder, load_lab_objects, retarget,
                             retarget_checks, student_hosts, to_yaml)
from infra.paths import LABS_DIR
from tests.fake_cluster import FakeCluster
from tests.test_checks import answer_solved

LABS = Catalog.load(LABS_DIR).labs
STUDENT = "student-01"
SUFFIX = f".{STUDENT}.localhost"

# What a student's Role does not grant, per lab (the instructor applies it, or shows it): see
# infra.classroom.objects.SHARED_CLUSTER_NOTES.
NOT_FOR_STUDENTS = {
    "persistent-volume": {"PersistentVolume"},  # cluster-scoped: students read PVs, they do not make them
    "service-mesh": {"Gateway"},  # the waypoint: students only read Gateways (the platform's)
}
# Routes the classroom's hostname policy refuses in a student's namespace.
REFUSED_ROUTES = {
    "service-mesh": {"HTTPRoute/web-split"},  # a mesh (GAMMA) route has no hostnames; the policy requires them
}
# Checks a student's namespace cannot pass, even with the instructor's solution.
UNSOLVABLE = {
    # The mesh is switched on by labels on the namespace (the classroom's, which the solution's
    # Namespace objects do not change once dropped), and compared in a second namespace.
    "service-mesh": {"ambient-namespace", "sidecar-namespace"},
}


def deployment(namespace="lab-x", name="web", **extra):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "x", **extra}]}}}}


def ingress(*hosts, namespace="lab-x", annotations=None):
    meta = {"name": "routes", "namespace": namespace, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": {"rules": [{"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": "web", "port": {"number": 80}}}}]}} for h in hosts],
                     "tls": [{"hosts": list(hosts), "secretName": "tls"}]}}


# --- the rewrite ----------------------------------------------------------------------------------

def test_namespaced_objects_move_cluster_scoped_ones_stay_and_the_namespace_goes():
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-x"}},
        deployment(),
        deployment(namespace=None, name="no-namespace"),
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "lab-pv"}, "spec": {}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
         "provisioner": "x"},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}},
    ]
    before = json.dumps(objects)
    result = retarget(objects, "lab-x", STUDENT)
    assert json.dumps(objects) == before  # the input is not changed
    kinds = [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in result.objects]
    assert kinds == [("Deployment", "web", STUDENT), ("Deployment", "no-namespace", STUDENT),
                     ("PersistentVolume", "lab-pv", None), ("StorageClass", "fast", None),
                     ("ClusterRole", "reader", None)]
    assert result.skipped == []


def test_references_to_the_lab_namespace_follow_it_and_other_names_do_not():
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "b", "namespace": "lab-x"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "lab-x"},
                            {"kind": "ServiceAccount", "name": "sa", "namespace": "monitoring"}]}
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "lab-x"},
             "spec": {"parentRefs": [{"name": "traefik-gateway", "namespace": "traefik"}],
                      "hostnames": ["gw.localhost"],
                      "rules": [{"backendRefs": [{"name": "web", "namespace": "lab-x", "port": 80}]}]}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "lab-x"},
              "data": {"url": "http://web.lab-x.svc.cluster.local:80/",
                       "query": 'sum(rate(http_requests_total{namespace="lab-x"}[1m]))',
                       "script": "kubectl get pods -n lab-x\n",
                       "others": "lab-x-sidecar my-lab-x lab-xy lab-x_1"}}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "p", "namespace": "lab-x"},
              "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                  "kubernetes.io/metadata.name": "lab-x"}}}]}]}}
    paths = ingress("apps.localhost", annotations={
        "traefik.ingress.kubernetes.io/router.middlewares": "lab-x-strip@kubernetescrd, lab-x-auth@kubernetescrd,"
                                                            "other-strip@kubernetescrd,lab-x-z@file"})
    out = {o["kind"]: o for o in retarget([binding, route, config, policy, paths], "lab-x", STUDENT).objects}
    assert [s["namespace"] for s in out["RoleBinding"]["subjects"]] == [STUDENT, "monitoring"]
    spec = out["HTTPRoute"]["spec"]
    assert spec["rules"][0]["backendRefs"][0]["namespace"] == STUDENT
    assert spec["parentRefs"][0]["namespace"] == "traefik"
    data = out["ConfigMap"]["data"]
    assert data["url"] == f"http://web.{STUDENT}.svc.cluster.local:80/"
    assert data["query"] == f'sum(rate(http_requests_total{{namespace="{STUDENT}"}}[1m]))'
    assert data["script"] == f"kubectl get pods -n {STUDENT}\n"
    assert data["others"] == "lab-x-sidecar my-lab-x lab-xy lab-x_1"  # other names, not the namespace
    assert out["NetworkPolicy"]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": STUDENT}
    assert out["Ingress"]["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"] == (
        f"{STUDENT}-strip@kubernetescrd, {STUDENT}-auth@kubernetescrd,other-strip@kubernetescrd,lab-x-z@file")
    assert spec["hostnames"] == ["gw.localhost"]  # no student: host names unchanged


def test_a_students_host_names_are_under_their_own_subdomain():
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "lab-x"}, "spec": {"hostnames": ["gw.localhost", "*.localhost"]}}
    traefik_route = {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
                     "metadata": {"name": "t", "namespace": "lab-x"},
                     "spec": {"routes": [{"match": "Host(`a.localhost`) || Host(`b.localhost`) && PathPrefix(`/x`)",
                                          "kind": "Rule", "services": [{"name": "web", "port": 80}]}]}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "lab-x"},
              "data": {"grafana": "grafana.localhost", "url": "http://blue.localhost/"}}
    objects = [ingress("blue.localhost", "green.localhost", f"done{SUFFIX}", "example.com"), route, traefik_route,
               config]
    out = {o["kind"]: o for o in retarget(objects, "lab-x", STUDENT, student=STUDENT).objects}
    hosts = [rule["host"] for rule in out["Ingress"]["spec"]["rules"]]
    assert hosts == [f"blue{SUFFIX}", f"green{SUFFIX}", f"done{SUFFIX}", "example.com"]  # idempotent, others kept
    assert out["Ingress"]["spec"]["tls"][0]["hosts"] == hosts
    assert out["HTTPRoute"]["spec"]["hostnames"] == [f"gw{SUFFIX}", f"*{SUFFIX}"]
    assert out["IngressRoute"]["spec"]["routes"][0]["match"] == (
        f"Host(`a{SUFFIX}`) || Host(`b{SUFFIX}`) && PathPrefix(`/x`)")
    assert out["ConfigMap"]["data"] == config["data"]  # only routes' host names: shared UIs keep theirs
    cloud = retarget([route], "lab-x", STUDENT, student=STUDENT, domain="k8s-labs.example").objects[0]
    assert cloud["spec"]["hostnames"] == [f"gw.{STUDENT}.k8s-labs.example", f"*.{STUDENT}.k8s-labs.example"]


def test_objects_of_another_namespace_of_the_lab_are_left_out_and_said():
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-x"}},
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-x-sidecar"}},
               deployment(), deployment(namespace="lab-x-sidecar")]
    result = retarget(objects, "lab-x", STUDENT)
    assert [(o["metadata"]["name"], o["metadata"]["namespace"]) for o in result.objects] == [("web", STUDENT)]
    assert result.skipped == ["Deployment/web (namespace lab-x-sidecar)"]


def test_a_grafana_dashboard_gets_a_uid_and_title_of_its_own():
    board = {"uid": "lab16-podinfo", "title": "Lab 16", "panels": [{"expr": 'up{namespace="lab-x"}'}]}
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "d", "namespace": "lab-x", "labels": {"grafana_dashboard": "1"}},
              "data": {"d.json": json.dumps(board)}}
    (out,) = retarget([config], "lab-x", STUDENT).objects
    loaded = json.loads(out["data"]["d.json"])
    assert loaded["uid"] == f"lab16-podinfo-{STUDENT}" and loaded["title"] == f"Lab 16 ({STUDENT})"
    assert loaded["panels"][0]["expr"] == f'up{{namespace="{STUDENT}"}}'
    (same,) = retarget([config], "lab-x", "lab-x").objects
    assert same == config  # its own namespace: nothing changes


def test_the_yaml_is_what_kubectl_apply_reads(tmp_path):
    folder = tmp_path / "manifests"
    (folder / "sub").mkdir(parents=True)
    (folder / "00-ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: lab-x}\n---\n")
    (folder / "sub" / "10-web.yml").write_text(yaml.safe_dump_all([deployment(), deployment(name="api")]))
    (folder / "notes.txt").write_text("not yaml: ignored")
    objects = load_folder(folder)
    assert [o["kind"] for o in objects] == ["Namespace", "Deployment", "Deployment"]
    text = retarget(objects, "lab-x", STUDENT).yaml
    assert [o["metadata"]["name"] for o in yaml.safe_load_all(text)] == ["web", "api"]
    assert to_yaml([]) == ""
    (folder / "20-bad.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(LabsError, match="20-bad.yaml: not valid YAML at line"):
        load_folder(folder)
    (folder / "20-bad.yaml").write_text("just text\n")
    with pytest.raises(LabsError, match="every document is a Kubernetes object"):
        load_folder(folder)


@pytest.mark.parametrize("name", ["Student-01", "a_b", "-a", "x" * 64, ""])
def test_a_bad_namespace_name_is_refused(name):
    with pytest.raises(LabsError, match="--namespace must be a namespace name"):
        check_namespace(name)


def test_checks_follow_the_same_rewrite():
    lab = Catalog.load(LABS_DIR).resolve("ingress")
    checks = {c["id"]: c for c in retarget_checks(lab.checks, lab.namespace, STUDENT, STUDENT)}
    assert checks["blue-reachable"]["host"] == f"blue{SUFFIX}"
    assert f"http://blue{SUFFIX}/" in checks["blue-reachable"]["hint"]["en"]
    assert checks["ingress-by-host"]["fields"] == {"spec.rules.0.host": f"blue{SUFFIX}",
                                                   "spec.rules.1.host": f"green{SUFFIX}"}
    assert checks["httproute-attached"]["fields"]["spec.parentRefs.0.namespace"] == "traefik"
    unchanged = retarget_checks(lab.checks, lab.namespace, "team-a")  # another namespace, no student
    assert unchanged[4]["host"] == "blue.localhost" and list(lab.checks)[4]["host"] == "blue.localhost"
    monitoring = Catalog.load(LABS_DIR).resolve("monitoring")
    query = next(c for c in retarget_checks(monitoring.checks, monitoring.namespace, STUDENT, STUDENT)
                 if c["kind"] == "promql")["query"]
    assert f'namespace="{STUDENT}"' in query and "lab-monitoring" not in query
    alerting = Catalog.load(LABS_DIR).resolve("alerting")
    hint = retarget_checks(alerting.checks, alerting.namespace, STUDENT)[1]["hint"]["fr"]
    assert f"-n {STUDENT} ERRORS_PER_TEN=3" in hint


# --- every lab, retargeted --------------------------------------------------------------------------

def _validate(obj: dict, request) -> None:
    """Kubernetes 1.36's schema; a custom resource against ../shared's CRD schema (only then is the
    reference data asked for: without it, the test skips at the lab's first custom resource)."""
    import jsonschema
    import kubernetes_validate

    from tests.test_render import K8S_MINOR, _crd_schema

    try:
        kubernetes_validate.validate(obj, K8S_MINOR, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        schema = _crd_schema(request.getfixturevalue("shared"), obj)
        assert schema and schema.is_file(), f"no schema for {obj['apiVersion']} {obj['kind']}"
        errors = [e.message for e in jsonschema.Draft7Validator(json.loads(schema.read_text())).iter_errors(obj)]
        assert errors == [], f"{obj['kind']}/{obj['metadata']['name']}: {errors[:3]}"


def _granted(obj: dict) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return any(group in rule["apiGroups"] and plural(obj["kind"]) in rule["resources"] and "create" in rule["verbs"]
               for rule in EDIT_RULES)


def _route_refused(obj: dict) -> bool:
    """The classroom's hostname policy (infra.classroom.objects.hostname_policy), in Python."""
    spec = obj.get("spec") or {}
    if obj["kind"] == "Ingress":
        rules = spec.get("rules") or []
        return "defaultBackend" in spec or any(not (r.get("host") or "").endswith(SUFFIX) for r in rules)
    if obj["kind"] == "HTTPRoute":
        return not spec.get("hostnames") or any(not h.endswith(SUFFIX) for h in spec["hostnames"])
    return False


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_a_labs_retargeted_objects_are_valid(lab, request):
    """Valid objects (`_validate`); the confinement test below needs no reference data at all."""
    for obj in lab_objects_for(lab, ("manifests", "solution"), STUDENT, STUDENT).objects:
        _validate(obj, request)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_a_labs_retargeted_objects_are_all_the_students(lab):
    """The student's namespace only, host names under theirs, kinds their Role lets them create."""
    result = lab_objects_for(lab, ("manifests", "solution"), STUDENT, STUDENT)
    assert result.objects or lab.slug == "storageclass"
    for obj in result.objects:
        assert obj["kind"] != "Namespace"
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == STUDENT
    text = result.yaml
    leftover = re.findall(rf"(?<![A-Za-z0-9_-]){re.escape(lab.namespace)}(?![A-Za-z0-9_-])", text)
    assert not leftover, f"{lab.id}: the lab namespace is still named in the retargeted objects"
    assert not re.search(r"[a-z0-9-]+\.localhost\b", "\n".join(
        yaml.safe_dump(o) for o in result.objects if o["kind"] in ("Ingress", "HTTPRoute")).replace(SUFFIX, "")), \
        f"{lab.id}: a route keeps a host name outside the student's"
    refused = {f"{o['kind']}/{o['metadata']['name']}" for o in result.objects if _route_refused(o)}
    assert refused == REFUSED_ROUTES.get(lab.slug, set())
    not_granted = {o["kind"] for o in result.objects if not _granted(o)}
    assert not_granted == NOT_FOR_STUDENTS.get(lab.slug, set()), f"{lab.id}: the student's Role lacks {not_granted}"


def _routed_hosts(objects: list[dict]) -> set[str]:
    """Host names the objects route, read independently of infra.manifests."""
    hosts = set()
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj["kind"] == "Ingress":
            hosts |= {rule["host"] for rule in spec.get("rules") or [] if rule.get("host")}
        elif obj["kind"] == "HTTPRoute":
            hosts |= set(spec.get("hostnames") or [])
        elif obj["kind"] == "IngressRoute":
            for route in spec.get("routes") or []:
                hosts |= set(re.findall(r"`([^`]+)`", route.get("match", "")))
    return hosts


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_a_students_lab_hosts_are_the_ones_their_routes_and_checks_use(lab):
    """What a classroom card lists: the host names the student's retargeted routes and checks use."""
    objects = lab_objects_for(lab, ("manifests", "solution"), STUDENT, STUDENT).objects
    checked = {c["host"] for c in retarget_checks(lab.checks, lab.namespace, STUDENT, STUDENT) if c["kind"] == "http"}
    expected = {host for host in _routed_hosts(objects) | checked if host.endswith(SUFFIX)}
    assert set(student_hosts(lab, STUDENT, "localhost")) == expected
    assert all(host.endswith(".localhost") and SUFFIX not in host for host in lab_hosts(lab))


def test_lab_07_hosts_and_a_lab_without_routes():
    ingress, = (lab for lab in LABS if lab.slug == "ingress")
    assert student_hosts(ingress, "anne", "class.example.org") == [
        f"{app}.anne.class.example.org" for app in ("apps", "blue", "canary", "green", "gw")]
    pods, = (lab for lab in LABS if lab.slug == "deployment")
    assert lab_hosts(pods) == []


def _students_cluster(tmp_path, lab, folders, solved):
    cluster = FakeCluster().__enter__()
    cluster.add(*student_objects(STUDENT))  # the classroom's namespace (no lab label on it)
    cluster.add(*lab_objects_for(lab, folders, STUDENT, STUDENT).objects)
    checks = retarget_checks(lab.checks, lab.namespace, STUDENT, STUDENT)
    if solved:
        answer_solved(cluster, lab, STUDENT, STUDENT)
    reader = ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url)
    return cluster, checks, reader


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_a_labs_checks_pass_in_a_students_namespace_on_the_retargeted_solution(lab, tmp_path):
    cluster, checks, reader = _students_cluster(tmp_path, lab, ("manifests", "solution"), solved=True)
    try:
        run = run_checks(checks, reader, STUDENT, "en")
    finally:
        cluster.__exit__(None, None, None)
    failed = {r.id for r in run.results if not r.passed}
    assert failed == UNSOLVABLE.get(lab.slug, set()), [(r.id, r.detail) for r in run.results if not r.passed]


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_a_labs_checks_fail_in_a_students_namespace_on_the_retargeted_starting_point(lab, tmp_path):
    cluster, checks, reader = _students_cluster(tmp_path, lab, ("manifests",), solved=False)
    try:
        run = run_checks(checks, reader, STUDENT, "en")
    finally:
        cluster.__exit__(None, None, None)
    assert not run.passed


def test_the_solution_in_the_labs_own_namespace_does_not_pass_a_students_checks(tmp_path):
    lab = Catalog.load(LABS_DIR).resolve("ingress")
    with FakeCluster() as cluster:
        cluster.add(*lab_objects_for(lab, ("manifests", "solution"), lab.namespace).objects)
        checks = retarget_checks(lab.checks, lab.namespace, STUDENT, STUDENT)
        answer_solved(cluster, lab)  # the ingress answers the lab's own host names only
        run = run_checks(checks, ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url), STUDENT, "en")
    assert not any(r.passed for r in run.results)


def test_load_lab_objects_reads_manifests_then_solution():
    lab = Catalog.load(LABS_DIR).resolve("ingress")
    kinds = [o["kind"] for o in load_lab_objects(lab, ("manifests", "solution"))]
    assert kinds[0] == "Namespace" and kinds[-1] == "HTTPRoute" and kinds.count("Ingress") == 2


def test_the_exception_lists_name_real_labs_with_a_classroom_note():
    slugs = {lab.slug for lab in LABS}
    for listed in (NOT_FOR_STUDENTS, REFUSED_ROUTES, UNSOLVABLE):
        assert set(listed) <= set(SHARED_CLUSTER_NOTES), "each exception is told to the instructor"
    assert set(SHARED_CLUSTER_NOTES) <= slugs and not set(SHARED_CLUSTER_NOTES) & set(WHOLE_CLUSTER_LABS)


# --- the guides' classroom section ----------------------------------------------------------------

GUIDE = {"fr": ("## Prérequis", "## En classe", "--namespace=<ton namespace>", "<app>.<ton-id>.localhost"),
         "en": ("## Prerequisites", "## In a classroom", "--namespace=<your namespace>", "<app>.<your-id>.localhost")}


@pytest.mark.parametrize("lang", GUIDE)
@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_every_guide_has_the_classroom_section_right_after_its_prerequisites(lab, lang):
    prerequisites, title, set_context, host = GUIDE[lang]
    text = (lab.path / f"README.{lang}.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings.count(title) == 1 and headings[headings.index(prerequisites) + 1] == title
    section = text.split(f"{title}\n", 1)[1].split("\n## ", 1)[0]
    assert f"kubectl config set-context --current {set_context}" in section and host in section
    assert f"`{lab.namespace}`" in section and f"labs/{lab.path.name}/manifests/" in section
    assert f"invoke lab solve --lab={lab.slug} --student=" in section
    # Where the lab has Grafana, the student logs in with the login `classroom up` made (on the card).
    assert ("Grafana" in section) == ("monitoring" in lab.layer_closure())
    assert len(section.strip().splitlines()) <= 11  # short: an intro and 8 bullets at most
