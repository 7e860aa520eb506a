"""The students' quota and limit range are sized for the labs: every lab's starting point plus its
solution fits in one student's namespace (pods, CPU and memory, claims, services)."""
from __future__ import annotations

import pytest
import yaml

from infra.catalog import Catalog
from infra.classroom.objects import LIMITS, QUOTA, WHOLE_CLUSTER_LABS
from infra.quantities import cpu_millicores, memory_mebibytes
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


MEASURE = {"cpu": cpu_millicores, "memory": memory_mebibytes}


def effective(container: dict) -> dict[str, dict[str, float]]:
    """A container's requests and limits once admitted: the API server's defaulting first (a limit
    without a request makes the request equal to it), then the LimitRange's defaults for the rest."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return {
        "requests": {r: measure(requests.get(r, limits.get(r, DEFAULTS["defaultRequest"][r]))) for r, measure in MEASURE.items()},
        "limits": {r: measure(limits.get(r, DEFAULTS["default"][r])) for r, measure in MEASURE.items()},
    }


def limit_range_refusals(objects: list[dict]) -> list[str]:
    """What the LimitRange admission refuses: a request above its (possibly defaulted) limit, a limit
    above the maximum, a claim above the claim maximum. Init containers are containers too."""
    refused = []
    claim_max = memory_mebibytes(next(i for i in LIMITS if i["type"] == "PersistentVolumeClaim")["max"]["storage"])
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            size = memory_mebibytes(((obj.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage"))
            if size and size > claim_max:
                refused.append(f"claim {obj['metadata']['name']}: {size}Mi > {claim_max}Mi")
        if obj["kind"] not in WORKLOADS:
            continue
        _, pod = pods_of(obj, {})
        for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            values = effective(container)
            for r, measure in MEASURE.items():
                where = f"{obj['kind']} {obj['metadata']['name']}, container {container.get('name')}, {r}"
                if values["requests"][r] > values["limits"][r]:
                    refused.append(f"{where}: request {values['requests'][r]} > limit {values['limits'][r]}")
                if values["limits"][r] > measure(DEFAULTS["max"][r]):
                    refused.append(f"{where}: limit {values['limits'][r]} > max {DEFAULTS['max'][r]}")
    return refused


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
        # What the quota charges a pod: its containers' sum, or its largest init container if more
        # (they run one at a time, before the others), after the LimitRange's defaults.
        apps = [effective(c) for c in pod.get("containers") or []]
        inits = [effective(c) for c in pod.get("initContainers") or []]
        for kind in ("requests", "limits"):
            for r in MEASURE:
                charged = max([sum(c[kind][r] for c in apps), *(c[kind][r] for c in inits)])
                total[f"{kind}.{r}"] += count * charged
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


@pytest.mark.parametrize("lab", [lab for lab in Catalog.load(LABS_DIR).labs if lab.slug not in WHOLE_CLUSTER_LABS],
                         ids=lambda lab: lab.id)
def test_each_labs_containers_and_claims_pass_the_students_limit_range(lab):
    assert not limit_range_refusals(lab_objects(lab)), lab.id


def test_the_limit_range_check_sees_defaulted_limits_maximums_init_containers_and_claims():
    def pod(init=(), containers=()):
        return {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": list(init), "containers": list(containers)}}

    fine = pod(containers=[{"name": "a"}, {"name": "b", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}])
    assert not limit_range_refusals([fine])
    # A request alone above the default limit (500m): the LimitRange gives it that limit, then refuses it.
    above_default = pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "1"}}}])
    assert limit_range_refusals([above_default]) == ["Pod p, container a, cpu: request 1000.0 > limit 500.0"]
    too_big_init = pod(init=[{"name": "i", "resources": {"limits": {"memory": "3Gi"}}}], containers=[{"name": "a"}])
    assert limit_range_refusals([too_big_init]) == ["Pod p, container i, memory: limit 3072.0 > max 2Gi"]
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "big"}, "spec": {"resources": {"requests": {"storage": "8Gi"}}}}
    assert limit_range_refusals([claim]) == ["claim big: 8192.0Mi > 5120.0Mi"]


def test_the_usage_count_charges_the_largest_init_container_when_it_exceeds_the_others():
    init = {"name": "i", "resources": {"requests": {"cpu": "300m", "memory": "32Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}}}
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": [init], "containers": [{"name": "a"}]}}
    total = usage([pod])
    assert total["requests.cpu"] == 300 and total["limits.cpu"] == 1000  # the init container's, above a's 50m/500m
    assert total["requests.memory"] == 64 and total["limits.memory"] == 256  # a's defaults, above the init's


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
