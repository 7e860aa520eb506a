"""The students' quota and limit range are sized for the labs: every lab's starting point plus its
solution fits in one student's namespace (pods, CPU and memory, claims, services)."""
from __future__ import annotations

import pytest
import yaml

from infra.catalog import Catalog
from infra.classroom.objects import LIMITS, QUOTA, WHOLE_CLUSTER_LABS
from infra.footprint import cpu_millicores, memory_mebibytes
from infra.paths import LABS_DIR

NODES = 3  # a DaemonSet runs a pod on each node (kind: control plane + 2 workers)
WORKLOADS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job", "Pod"}
DEFAULTS = next(item for item in LIMITS if item["type"] == "Container")


def lab_objects(lab) -> list[dict]:
    objects = {}
    for folder in ("manifests", "solution"):
        for file in sorted((lab.path / folder).rglob("*.y*ml")):
            for doc in yaml.safe_load_all(file.read_text()):
                if isinstance(doc, dict) and "kind" in doc:  # the solution replaces the starting point's object
                    objects[(doc["kind"], (doc.get("metadata") or {}).get("name"))] = doc
    return list(objects.values())


def pods_of(obj: dict, hpa_max: dict) -> tuple[int, dict]:
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind == "Pod":
        return 1, spec
    template = (spec.get("template") or {}).get("spec") or {}
    if kind == "DaemonSet":
        return NODES, template
    if kind == "Job":
        return max(spec.get("parallelism", 1), 1), template
    return max(spec.get("replicas", 1), hpa_max.get(obj["metadata"]["name"], 0)), template


def usage(objects: list[dict]) -> dict[str, float]:
    hpa_max = {o["spec"]["scaleTargetRef"]["name"]: o["spec"].get("maxReplicas", 1)
               for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    total = {"pods": 0, "requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0, "limits.memory": 0.0,
             "persistentvolumeclaims": 0, "services": 0}
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            total["persistentvolumeclaims"] += 1
        if obj["kind"] == "Service":
            total["services"] += 1
        if obj["kind"] not in WORKLOADS:
            continue
        count, pod = pods_of(obj, hpa_max)
        total["pods"] += count
        for container in pod.get("containers") or []:
            resources = container.get("resources") or {}
            requests = resources.get("requests") or {}
            limits = resources.get("limits") or {}
            # What the LimitRange fills in for a container that says nothing.
            total["requests.cpu"] += count * cpu_millicores(requests.get("cpu", limits.get("cpu", DEFAULTS["defaultRequest"]["cpu"])))
            total["requests.memory"] += count * memory_mebibytes(requests.get("memory", limits.get("memory", DEFAULTS["defaultRequest"]["memory"])))
            total["limits.cpu"] += count * cpu_millicores(limits.get("cpu", DEFAULTS["default"]["cpu"]))
            total["limits.memory"] += count * memory_mebibytes(limits.get("memory", DEFAULTS["default"]["memory"]))
    return total


def quota() -> dict[str, float]:
    return {"pods": int(QUOTA["pods"]), "requests.cpu": cpu_millicores(QUOTA["requests.cpu"]),
            "requests.memory": memory_mebibytes(QUOTA["requests.memory"]), "limits.cpu": cpu_millicores(QUOTA["limits.cpu"]),
            "limits.memory": memory_mebibytes(QUOTA["limits.memory"]),
            "persistentvolumeclaims": int(QUOTA["persistentvolumeclaims"]), "services": int(QUOTA["services"])}


@pytest.mark.parametrize("lab", [lab for lab in Catalog.load(LABS_DIR).labs if lab.slug not in WHOLE_CLUSTER_LABS],
                         ids=lambda lab: lab.id)
def test_each_labs_starting_point_and_solution_fit_in_a_students_quota(lab):
    used, allowed = usage(lab_objects(lab)), quota()
    over = {key: (used[key], allowed[key]) for key in used if used[key] > allowed[key]}
    assert not over, f"{lab.id} needs more than a student's quota (used, quota): {over}"


def test_the_usage_count_sees_replicas_hpas_daemonsets_and_defaults():
    deployment = {"kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 2, "template": {"spec": {"containers": [
                      {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}, {"name": "b"}]}}}}
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"name": "web"}, "maxReplicas": 5}}
    daemonset = {"kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    total = usage([deployment, hpa, daemonset])
    assert total["pods"] == 5 + NODES
    assert total["requests.cpu"] == 5 * (100 + 50) + NODES * 50
    assert total["limits.memory"] == (5 * 2 + NODES) * 256


def test_whole_cluster_labs_are_real_labs_that_do_exceed_a_quota():
    catalog = Catalog.load(LABS_DIR)
    for slug in WHOLE_CLUSTER_LABS:
        used, allowed = usage(lab_objects(catalog.resolve(slug))), quota()
        assert any(used[key] > allowed[key] for key in used), f"{slug} fits a namespace: drop it from WHOLE_CLUSTER_LABS"
