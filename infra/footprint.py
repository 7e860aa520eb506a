"""Resource requests per layer, read from the very values and objects the program registers.

For a Helm release, each layer module's `WORKLOADS` says which containers its chart runs and where
their `resources` sit in the values; for objects a layer creates itself (Deployments, DaemonSets, ...)
the containers are read from the registered manifests. DaemonSets count once per node.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path

from infra.catalog import Catalog
from infra.layers import LAYERS
from infra.quantities import cpu_millicores, memory_mebibytes
from infra.settings import StackSettings

BUDGET_CPU_M = 1500
BUDGET_MEMORY_MI = 3072
_POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "Pod"}


@dataclass(frozen=True)
class ContainerRequests:
    layer: str
    owner: str  # release name or Kind/name
    container: str
    count: int  # replicas, or nodes for a DaemonSet
    cpu_m: float | None
    memory_mi: float | None
    memory_limit_mi: float | None
    source: str = ""  # values path (releases) or "" (objects)
    chart: str = ""  # "<chart>/<version>" for release containers

    @property
    def lacks_requests(self) -> bool:
        return self.cpu_m is None or self.memory_mi is None


def _at(values: dict, dotted: str):
    node = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _from_resources(layer, owner, container, count, resources, source="", chart="") -> ContainerRequests:
    resources = resources if isinstance(resources, dict) else {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return ContainerRequests(layer, owner, container, count, cpu_millicores(requests.get("cpu")),
                             memory_mebibytes(requests.get("memory")), memory_mebibytes(limits.get("memory")),
                             source, chart)


def workloads_of(layer: str) -> dict:
    module = importlib.import_module(LAYERS[layer].component.partition(":")[0])
    return getattr(module, "WORKLOADS", {})


def _layer_of(reg, by_urn) -> str | None:
    while reg is not None:
        if reg.type.startswith("labs:layer:"):
            return reg.name
        reg = by_urn.get(reg.parent)
    return None


def lab_footprint(settings: StackSettings, catalog: Catalog, nodes: int) -> list[ContainerRequests]:
    """Every container the lab's layers run, with its requests."""
    from infra.render import RELEASE_TYPE, record_program

    registrations, _ = record_program(settings, catalog)
    by_urn = {reg.urn: reg for reg in registrations}
    rows: list[ContainerRequests] = []
    for reg in registrations:
        layer = _layer_of(reg, by_urn)
        if layer is None:
            continue
        if reg.type == RELEASE_TYPE:
            release, values = reg.inputs["name"], reg.inputs.get("values") or {}
            chart = f"{reg.inputs['chart']}/{reg.inputs['version']}"
            for workload in workloads_of(layer).get(release, []):
                count = nodes if workload.per_node else workload.replicas
                rows.append(_from_resources(layer, release, workload.container_in(values), count,
                                            _at(values, workload.resources_path), workload.resources_path, chart))
        elif reg.custom and reg.inputs.get("kind") in _POD_OWNERS:
            kind, spec = reg.inputs["kind"], reg.inputs.get("spec") or {}
            pod = spec if kind == "Pod" else ((spec.get("template") or {}).get("spec") or {})
            count = nodes if kind == "DaemonSet" else int(spec.get("replicas", 1) or 1)
            owner = f"{kind}/{(reg.inputs.get('metadata') or {}).get('name', reg.name)}"
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                rows.append(_from_resources(layer, owner, container.get("name", "?"), count, container.get("resources")))
    return rows


def footprint(ref: str, settings: StackSettings, catalog: Catalog | None = None) -> dict[str, list[ContainerRequests]]:
    """Requests per layer over the selected labs (a layer shared by labs renders identically: counted once)."""
    from infra.clusters.capabilities import target_capabilities

    catalog = catalog or Catalog.load()
    nodes = target_capabilities(settings).nodes
    per_layer: dict[str, list[ContainerRequests]] = {}
    for lab in catalog.select(ref):
        rows = lab_footprint(replace(settings, lab=lab.slug), catalog, nodes)
        for layer in dict.fromkeys(row.layer for row in rows):
            per_layer.setdefault(layer, [row for row in rows if row.layer == layer])
    return per_layer


def totals(rows: list[ContainerRequests]) -> tuple[float, float]:
    """(CPU millicores, memory MiB) requested, counting replicas and DaemonSet pods."""
    return (sum((r.cpu_m or 0) * r.count for r in rows), sum((r.memory_mi or 0) * r.count for r in rows))


def chart_default_resources(chart_dir: Path, path: str):
    """The chart's own default `resources` at `path` (subchart values and Istio's internal defaults
    included), from the reference values.yaml files: what the layer would request without our values."""
    import yaml

    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    found = _at(defaults, path)
    if found is None:
        found = _at(defaults, f"_internal_defaults_do_not_set.{path}")
    head, _, rest = path.partition(".")
    subchart = chart_dir.parent.parent / head
    if found is None and rest and subchart.is_dir():
        versions = sorted(p for p in subchart.iterdir() if p.is_dir())
        if versions:
            return chart_default_resources(versions[-1], rest)
    return found
