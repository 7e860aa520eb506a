"""The layer registry: which layers exist and which layers each one needs.

This module is plain data (no Pulumi import) so the catalog can validate lab.yaml files and resolve
dependency closures instantly. Each layer's component, chart pins and values live in its own
module, named in `component`; the pins (ChartPin) and workloads (Workload) it declares are plain data
defined here, so the bundle, the image list and the footprint read them without Pulumi.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from infra.errors import LabsError


@dataclass(frozen=True)
class ChartPin:
    """A chart at an exact version from ../shared/charts/INDEX.md."""

    chart: str
    repo: str
    version: str


@dataclass(frozen=True)
class Workload:
    """A container a chart runs, and the dotted path of its `resources` in the chart's values."""

    container: str  # may name a top-level value, as a chart's template does: "{cloudProvider}-cluster-autoscaler"
    resources_path: str  # e.g. "prometheus.prometheusSpec.resources"
    per_node: bool = False  # a DaemonSet: one per node
    replicas: int = 1

    def container_in(self, values: dict) -> str:
        """The container's name in a release with these values."""
        return self.container.format_map({k: v for k, v in values.items() if isinstance(v, str)})


@dataclass(frozen=True)
class LayerInfo:
    name: str
    summary: str
    component: str  # "module:Class" of the ComponentResource
    requires: tuple[str, ...] = ()


LAYERS: dict[str, LayerInfo] = {
    info.name: info
    for info in (
        LayerInfo(
            "gateway-api",
            "Gateway API standard CRDs, owned once by the stack (shared by ingress and mesh)",
            "infra.layers.gateway_api:GatewayApiLayer",
        ),
        LayerInfo(
            "ingress",
            "Traefik serving Ingress and Gateway API on host ports 80/443",
            "infra.layers.ingress:IngressLayer",
            requires=("gateway-api",),
        ),
        LayerInfo(
            "loadbalancer",
            "MetalLB giving LoadBalancer Services an address (kind only; clouds have their own)",
            "infra.layers.loadbalancer:LoadBalancerLayer",
        ),
        LayerInfo("metrics", "metrics-server for kubectl top and the HPA", "infra.layers.metrics:MetricsLayer"),
        LayerInfo(
            "storage",
            "StorageClasses to compare: Retain, Immediate, and a CSI class with expansion and snapshots",
            "infra.layers.storage:StorageLayer",
        ),
        LayerInfo(
            "monitoring",
            "kube-prometheus-stack: Prometheus, Alertmanager, Grafana, control-plane targets",
            "infra.layers.monitoring:MonitoringLayer",
        ),
        LayerInfo(
            "alerting",
            "Course alert rules, an Alertmanager route tree and a web inbox where alerts arrive",
            "infra.layers.alerting:AlertingLayer",
            requires=("monitoring",),
        ),
        LayerInfo(
            "logging",
            "Loki (single binary) and Alloy shipping pod logs, seen in the monitoring layer's Grafana",
            "infra.layers.logging:LoggingLayer",
            requires=("monitoring",),
        ),
        LayerInfo(
            "mesh",
            "Istio in ambient mode and Kiali on the monitoring layer's Prometheus",
            "infra.layers.mesh:MeshLayer",
            requires=("gateway-api", "monitoring"),
        ),
        LayerInfo(
            "autoscaler",
            "cluster-autoscaler with KWOK simulated nodes on kind; cluster-autoscaler (aws) on EKS; nothing where the provider scales the pool",
            "infra.layers.autoscaler:AutoscalerLayer",
        ),
    )
}


def closure(names: list[str] | tuple[str, ...]) -> list[str]:
    """The layers `names` need, dependencies first (a stable topological order)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name not in LAYERS:
            raise LabsError(f"unknown layer '{name}': known layers are {', '.join(sorted(LAYERS))}")
        if name in visiting:
            raise LabsError(f"layer dependency cycle through '{name}'")
        visiting.add(name)
        for dep in LAYERS[name].requires:
            visit(dep)
        visiting.discard(name)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def component_class(name: str) -> type:
    """Import a layer's ComponentResource class (this imports Pulumi: program path only)."""
    module, _, cls = LAYERS[name].component.partition(":")
    return getattr(importlib.import_module(module), cls)
