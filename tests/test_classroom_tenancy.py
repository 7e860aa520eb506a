"""The classroom tenancy in the Pulumi program (mock runtime) and `classroom render`'s contract."""
from __future__ import annotations

import json
from dataclasses import replace

import kubernetes_validate
import pytest

from infra.catalog import Catalog
from infra.classroom import objects
from infra.classroom.commands import render_classroom
from infra.classroom.roster import dump_roster, numbered, parse_roster
from infra.render import record_program
from infra.settings import StackSettings
from tests.conftest import check_k8s_render, lab_yaml, write_lab

K8S_MINOR = "1.36.0"
PER_STUDENT = 9  # Namespace, ServiceAccount, Role, RoleBinding, ClusterRoleBinding, quota, limits, 2 policies


@pytest.fixture(scope="module")
def one_lab(tmp_path_factory) -> Catalog:
    root = tmp_path_factory.mktemp("labs")
    lab = write_lab(root, "07-ingress", lab_yaml("ingress"))
    (lab / "solution" / "ingress.yaml").write_text(  # the students' summaries list the hosts it routes
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: lab-ingress}\n"
        "spec:\n  rules:\n    - host: web.localhost\n    - host: api.localhost\n")
    return Catalog.load(root)


@pytest.fixture(scope="module")
def three(one_lab) -> dict:
    students = parse_roster("name,group\nÉlodie Martin,A\nPaul Durand,A\nélodie martin,B\n", "r.csv")
    return render_classroom(StackSettings(session="monday"), students, one_lab.resolve("ingress"), one_lab)


def record(tmp_path, students, settings=StackSettings(session="monday"), tenancy="namespace"):
    file = tmp_path / "roster.json"
    file.write_text(dump_roster(students, tenancy))
    return record_program(replace(settings, roster=str(file)), Catalog([]))


def test_no_roster_no_tenancy(tmp_path):
    registrations, _ = record_program(StackSettings(), Catalog([]))
    assert not [reg for reg in registrations if reg.type.startswith("labs:classroom:")]


def test_the_tenancy_is_a_component_whose_children_use_the_cluster_provider(tmp_path):
    registrations, outputs = record(tmp_path, numbered(2))
    (tenancy,) = [reg for reg in registrations if reg.type == "labs:classroom:Tenancy"]
    (provider,) = [reg for reg in registrations if reg.type == "pulumi:providers:kubernetes"]
    children = [reg for reg in registrations if reg.parent == tenancy.urn]
    assert len(children) == 2 * PER_STUDENT + 5  # + the view ClusterRole, two policies and their bindings
    assert all(child.custom and child.provider.startswith(provider.urn) for child in children)
    namespaces = {reg.inputs["metadata"]["name"]: reg.urn for reg in children if reg.inputs["kind"] == "Namespace"}
    for child in children:
        namespace = child.inputs["metadata"].get("namespace")
        if namespace:  # everything in a student's namespace waits for that namespace
            assert namespaces[namespace] in child.dependencies
    assert [s["id"] for s in outputs[tenancy.urn]["students"]] == ["student-01", "student-02"]


def test_registered_objects_are_exactly_the_plain_manifests(tmp_path):
    registrations, _ = record(tmp_path, numbered(1))
    registered = sorted((json.dumps(reg.inputs, sort_keys=True) for reg in registrations
                         if reg.type.startswith("kubernetes:") and reg.custom and "kind" in reg.inputs))
    expected = sorted(json.dumps(obj, sort_keys=True) for obj in
                      [*objects.student_objects("student-01"), objects.view_cluster_role(),
                       *objects.hostname_policy("localhost"), *objects.middleware_policy()])
    assert registered == expected


def test_render_lists_students_beside_the_objects(three):
    assert {k: three[k] for k in ("lab", "target", "tenancy")} == {"lab": "07-ingress", "target": "kind",
                                                                    "tenancy": "namespace"}
    assert three["layers"] == ["gateway-api", "ingress"] and [r["name"] for r in three["releases"]] == ["traefik"]
    assert three["students"] == [
        {"id": ids, "name": name, "group": group, "namespace": ids, "service_account": f"{ids}/student",
         "host_suffix": f"{ids}.localhost",
         "lab_hosts": [f"api.{ids}.localhost", f"web.{ids}.localhost"]}
        for ids, name, group in (("elodie-martin", "Élodie Martin", "A"), ("paul-durand", "Paul Durand", "A"),
                                 ("elodie-martin-2", "élodie martin", "B"))
    ]
    namespaces = [o["metadata"]["name"] for o in three["objects"] if o["kind"] == "Namespace"]
    assert sorted(namespaces) == ["elodie-martin", "elodie-martin-2", "paul-durand", "traefik"]


def test_render_objects_are_grouped_by_namespace_in_a_stable_order(three):
    order = [(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in three["objects"]]
    first_of = {}
    for index, (kind, namespace, name) in enumerate(order):
        group = name if kind == "Namespace" else namespace
        first_of.setdefault(group, index)
        assert first_of[group] == index or kind != "Namespace"  # a namespace opens its group
    assert order[: 1] == [("ClusterRole", "", "classroom-view")]


def test_every_classroom_object_is_valid_for_kubernetes_1_36(three):
    for obj in three["objects"]:
        kubernetes_validate.validate(obj, K8S_MINOR, strict=True)


def test_check_k8s_accepts_the_classroom_render(three, shared, tmp_path):
    assert " 0 errors" in check_k8s_render(shared, three, tmp_path)


def test_the_shared_layers_namespaces_are_those_the_policies_allow():
    from infra.layers.ingress import NAMESPACE as TRAEFIK
    from infra.layers.monitoring import NAMESPACE as MONITORING

    assert (objects.INGRESS_NAMESPACE, objects.MONITORING_NAMESPACE) == (TRAEFIK, MONITORING)


def test_hostnames_follow_the_target_base_domain(tmp_path, monkeypatch):
    from infra.clusters import capabilities

    real = capabilities.BY_TARGET["kind"]
    monkeypatch.setitem(capabilities.BY_TARGET, "kind", lambda s: replace(real(s), base_domain="class.example"))
    registrations, outputs = record(tmp_path, numbered(1))
    (policy,) = [reg for reg in registrations if reg.inputs.get("kind") == "ValidatingAdmissionPolicy"
                 and reg.inputs["metadata"]["name"] == objects.HOSTNAME_POLICY]
    assert policy.inputs["spec"]["variables"] == [
        {"name": "suffix", "expression": "'.' + namespaceObject.metadata.name + '.class.example'"}]
    (students,) = [out["students"] for out in outputs.values() if "students" in out]
    assert students[0]["host_suffix"] == "student-01.class.example"


def test_cluster_tenancy_makes_each_student_admin_of_their_own_cluster(tmp_path):
    registrations, _ = record(tmp_path, numbered(1), tenancy="cluster")
    kinds = [reg.inputs["kind"] for reg in registrations if reg.custom and "kind" in reg.inputs]
    assert "ClusterRole" not in kinds  # no shared view role: the student's role is cluster-admin
    (binding,) = [reg.inputs for reg in registrations if reg.inputs.get("kind") == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "student", "namespace": "student-01"}]


def test_a_missing_roster_file_is_one_clear_line(tmp_path):
    from infra.errors import LabsError

    with pytest.raises(LabsError, match="the classroom roster is gone"):
        record_program(StackSettings(roster=str(tmp_path / "gone.json")), Catalog([]))


def test_the_roster_setting_is_left_alone_unless_given():
    assert "k8s-labs:roster" not in StackSettings().as_config()
    assert StackSettings(roster="").as_config()["k8s-labs:roster"] == ""
    assert StackSettings().with_config({"k8s-labs:roster": "/x/roster.json"}, "t").roster == "/x/roster.json"
