"""Security properties of the classroom render: what a student can do, and what no render ever shows.

Each test walks the objects of `classroom render` (the program under the mock runtime), not the
builders: a change anywhere on the way (tenancy, render, a layer) is caught here.
"""
from __future__ import annotations

import json
import re

import pytest

from infra.catalog import Catalog
from infra.classroom.commands import render_classroom
from infra.classroom.roster import parse_roster
from infra.settings import StackSettings
from tests.conftest import lab_yaml, write_lab

READ_ONLY = {"get", "list", "watch"}
GUARD_RAILS = {"resourcequotas", "limitranges", "networkpolicies", "roles", "rolebindings", "clusterroles",
               "clusterrolebindings", "namespaces"}
ESCALATING = {"escalate", "bind", "impersonate", "*"}


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("labs")
    write_lab(root, "07-ingress", lab_yaml("ingress"))
    catalog = Catalog.load(root)
    students = parse_roster("name,email,group\nÉlodie Martin,e@x.fr,A\nPaul,p@x.fr,A\nélodie martin,,B\n"
                            "Monitoring,,B\nZoë,,C\n", "r.csv")
    return render_classroom(StackSettings(session="monday"), students, catalog.resolve("ingress"), catalog)


def by_kind(document, kind):
    return [obj for obj in document["objects"] if obj["kind"] == kind]


def student_ids(document) -> set[str]:
    return {s["id"] for s in document["students"]}


def student_subjects(binding, ids) -> list[dict]:
    return [s for s in binding.get("subjects") or [] if s.get("kind") == "ServiceAccount" and s.get("namespace") in ids]


def test_no_student_is_bound_to_a_cluster_role_with_write_verbs(document):
    cluster_roles = {obj["metadata"]["name"]: obj for obj in by_kind(document, "ClusterRole")}
    ids = student_ids(document)
    seen = 0
    for binding in by_kind(document, "ClusterRoleBinding") + by_kind(document, "RoleBinding"):
        if binding["roleRef"]["kind"] != "ClusterRole" or not student_subjects(binding, ids):
            continue
        role = cluster_roles.get(binding["roleRef"]["name"])
        assert role is not None, f"{binding['metadata']['name']} binds students to a ClusterRole the render lacks"
        verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
        assert verbs <= READ_ONLY, f"{role['metadata']['name']} grants {sorted(verbs - READ_ONLY)}"
        assert not any("*" in rule.get("resources", []) + rule.get("apiGroups", []) for rule in role["rules"])
        seen += 1
    assert seen == len(ids)  # every student has the read-only cluster view, and only that


def test_every_student_role_binding_lives_in_that_students_namespace(document):
    ids = student_ids(document)
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in by_kind(document, "Role")}
    bound = set()
    for binding in by_kind(document, "RoleBinding"):
        subjects = student_subjects(binding, ids)
        namespace = binding["metadata"]["namespace"]
        assert all(s["namespace"] == namespace for s in subjects), binding["metadata"]
        assert binding["roleRef"]["kind"] == "Role" and (namespace, binding["roleRef"]["name"]) in roles
        bound.update(s["namespace"] for s in subjects)
    assert bound == ids


def test_student_roles_cannot_lift_their_own_guard_rails_or_escalate(document):
    for role in by_kind(document, "Role"):
        for rule in role["rules"]:
            verbs = set(rule["verbs"])
            assert not verbs & ESCALATING and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            if verbs - READ_ONLY:
                assert not set(rule["resources"]) & GUARD_RAILS, rule
                assert "rbac.authorization.k8s.io" not in rule["apiGroups"], rule


def test_every_student_namespace_has_its_quota_limits_default_deny_and_psa_labels(document):
    ids = student_ids(document)
    namespaces = {o["metadata"]["name"]: o for o in by_kind(document, "Namespace")}

    def in_ns(kind, ns):
        return [o for o in by_kind(document, kind) if o["metadata"].get("namespace") == ns]

    for ns in ids:
        labels = namespaces[ns]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        (quota,) = in_ns("ResourceQuota", ns)
        assert {"requests.cpu", "requests.memory", "limits.memory", "pods"} <= set(quota["spec"]["hard"])
        (limits,) = in_ns("LimitRange", ns)
        container = next(item for item in limits["spec"]["limits"] if item["type"] == "Container")
        assert container["default"] and container["defaultRequest"] and container["max"]
        policies = in_ns("NetworkPolicy", ns)
        deny = [p for p in policies if p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"]
                and not p["spec"].get("ingress")]
        assert deny, f"{ns} has no default-deny ingress policy"


def test_no_policy_lets_another_students_namespace_in(document):
    allowed = {"traefik", "monitoring"}
    for policy in by_kind(document, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                if "namespaceSelector" in peer:  # exactly one named namespace, never a selector matching many
                    selector = peer["namespaceSelector"]
                    assert set(selector) == {"matchLabels"} and set(selector["matchLabels"]) == {"kubernetes.io/metadata.name"}
                    assert selector["matchLabels"]["kubernetes.io/metadata.name"] in allowed
                else:
                    assert peer == {"podSelector": {}}  # the policy's own namespace
                assert "ipBlock" not in peer


def test_students_host_names_are_confined_to_their_own_subdomain(document):
    bindings = {b["spec"]["policyName"]: b for b in by_kind(document, "ValidatingAdmissionPolicyBinding")}
    policies = {p["metadata"]["name"] for p in by_kind(document, "ValidatingAdmissionPolicy")}
    assert set(bindings) == policies == {"classroom-student-hostnames", "classroom-student-middlewares"}
    for binding in bindings.values():
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
            {"key": "k8s-labs/student", "operator": "Exists"}]
    assert all(o["metadata"]["labels"].get("k8s-labs/student") == o["metadata"]["name"]
               for o in by_kind(document, "Namespace") if o["metadata"]["name"] in student_ids(document))


CREDENTIAL = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.|-----BEGIN [A-Z ]*PRIVATE KEY|client-key-data|\"token\"\s*:\s*\"(?!\[secret\])"
                        r"|token-of-|password\"\s*:\s*\"(?!\[secret\])")


def test_no_credential_in_clear_in_the_render(document, tmp_path, monkeypatch):
    text = json.dumps(document)
    assert not CREDENTIAL.search(text)
    assert not by_kind(document, "Secret")  # tokens come from the TokenRequest API, never a Secret
    assert all(set(s) <= {"id", "name", "group", "namespace", "service_account", "host_suffix", "lab_hosts"}
               for s in document["students"])
    assert "e@x.fr" not in text  # emails stay in the instructor's files


def test_the_credential_pattern_catches_what_it_must():
    for leak in ('{"token": "abc"}', "eyJhbGciOiJSUzI1NiIsImtpZCI6.x", "-----BEGIN RSA PRIVATE KEY", "client-key-data",
                 '{"password": "hunter2"}'):
        assert CREDENTIAL.search(leak), leak
    assert not CREDENTIAL.search('{"token": "[secret]", "password": "[secret]"}')


def test_student_middlewares_cannot_make_traefik_fetch_another_namespace(shared):
    """forwardAuth, errors and plugin reach a service or URL of the author's choosing through Traefik,
    which every student's NetworkPolicy lets in: the policy admits only kinds that act on the request."""
    from infra.classroom.objects import STUDENT_MIDDLEWARES, middleware_policy
    from infra.manifests import load_folder
    from infra.paths import LABS_DIR

    policy, _ = middleware_policy()
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert (rule["apiGroups"], rule["resources"]) == (["traefik.io"], ["middlewares"])
    (validation,) = policy["spec"]["validations"]
    allowed = set(re.findall(r"'([A-Za-z]+)'", validation["expression"]))
    assert allowed == set(STUDENT_MIDDLEWARES)
    assert not allowed & {"forwardAuth", "errors", "plugin"}
    crd = json.loads((shared / "schemas" / "crds" / "traefik.io" / "middleware_v1alpha1.json").read_text())
    assert allowed <= set(crd["properties"]["spec"]["properties"])  # real Middleware kinds, spelt right
    used = {key for lab in Catalog.load(LABS_DIR).labs for folder in ("manifests", "solution")
            for obj in load_folder(lab.path / folder) if obj["kind"] == "Middleware" for key in obj["spec"]}
    assert used and used <= allowed  # the labs' own middlewares still work in a student's namespace


def allows(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"] for rule in rules)


# What the labs' guides have a student run in their own namespace, as (API group, resource, verb).
LAB_NEEDS = [
    ("", "pods/ephemeralcontainers", "patch"),  # lab 03: kubectl debug --target (an ephemeral container)
    ("", "pods/exec", "create"), ("", "pods/portforward", "create"), ("", "services/proxy", "get"),  # 03, 16
    ("metrics.k8s.io", "pods", "list"),  # lab 04: kubectl top pods
    ("snapshot.storage.k8s.io", "volumesnapshots", "create"),  # lab 12
    ("apps", "deployments/scale", "patch"), ("", "persistentvolumeclaims", "patch"),
]
# ... and the cluster-scoped kinds they read.
LAB_VIEWS = [
    ("", "nodes"), ("metrics.k8s.io", "nodes"), ("storage.k8s.io", "storageclasses"),
    ("snapshot.storage.k8s.io", "volumesnapshotcontents"),  # lab 12: kubectl get volumesnapshotcontent
    ("apiregistration.k8s.io", "apiservices"),  # lab 04, step 0: kubectl get apiservice v1beta1.metrics.k8s.io
    ("gateway.networking.k8s.io", "gatewayclasses"), ("networking.k8s.io", "ingressclasses"),
]


def test_students_can_do_what_the_lab_guides_ask_in_their_namespace(document):
    role = next(o for o in by_kind(document, "Role") if o["metadata"]["namespace"] == "paul")
    missing = [need for need in LAB_NEEDS if not allows(role["rules"], *need)]
    assert not missing
    (view,) = [o for o in by_kind(document, "ClusterRole") if o["metadata"]["name"] == "classroom-view"]
    assert not [need for need in LAB_VIEWS if not allows(view["rules"], *need, "list")]


def test_students_cannot_write_endpoints_that_would_point_traefik_at_another_namespace(document):
    """A selector-less Service with a hand-written Endpoints (mirrored to an EndpointSlice) names any pod
    IP, and Traefik, which every namespace lets in, would forward to it (CVE-2021-25740: the built-in
    `edit` role dropped this write in Kubernetes 1.22)."""
    for role in by_kind(document, "Role"):
        for group, resource in (("", "endpoints"), ("discovery.k8s.io", "endpointslices")):
            assert not any(allows(role["rules"], group, resource, verb) for verb in ("create", "update", "patch"))
            assert allows(role["rules"], group, resource, "list")


def test_every_route_kind_a_student_can_write_is_under_the_hostname_policy(document):
    (role,) = [o for o in by_kind(document, "Role") if o["metadata"]["namespace"] == "paul"]
    (policy,) = [p for p in by_kind(document, "ValidatingAdmissionPolicy")
                 if p["metadata"]["name"] == "classroom-student-hostnames"]
    policed = {(group, resource) for rule in policy["spec"]["matchConstraints"]["resourceRules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    kinds = {"ingresses": "Ingress", "httproutes": "HTTPRoute", "grpcroutes": "GRPCRoute", "tlsroutes": "TLSRoute",
             "tcproutes": "TCPRoute", "udproutes": "UDPRoute", "ingressroutes": "IngressRoute"}
    writable = {(group, resource) for rule in role["rules"] if "create" in rule["verbs"]
                for group in rule["apiGroups"] for resource in rule["resources"] if resource in kinds}
    assert writable and writable <= policed, writable - policed
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert all(f"'{kinds[resource]}'" in expressions for _, resource in writable)
