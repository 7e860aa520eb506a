"""What every layer shares: its context, its Helm release helper, its namespace helper.

A layer is a ComponentResource with type token `labs:layer:<Name>`; its children are created with
`parent=self` and inherit the cluster's explicit Kubernetes provider from the component.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.clusters import Capabilities
from infra.settings import StackSettings

MANAGED_BY = {"app.kubernetes.io/managed-by": "k8s-labs"}


@dataclass(frozen=True)
class ChartPin:
    """A chart at an exact version from ../shared/charts/INDEX.md."""

    chart: str
    repo: str
    version: str


@dataclass(frozen=True)
class LayerContext:
    settings: StackSettings
    capabilities: Capabilities


class Layer(pulumi.ComponentResource):
    """Base of every layer: `labs:layer:<Name>`, bound to the cluster's provider."""

    type_name: str  # e.g. "Ingress"

    def __init__(self, name: str, ctx: LayerContext, provider: pulumi.ProviderResource,
                 requires: list["Layer"] | None = None):
        super().__init__(
            f"labs:layer:{self.type_name}", name, None,
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )
        self.ctx = ctx
        # The layers this one needs. Only the resources that use them wait (a release needing CRDs),
        # so independent layers still install in parallel.
        self.requires = list(requires or [])

    def namespace(self, name: str) -> k8s.core.v1.Namespace:
        """The layer's own namespace, created (and deleted) with the layer."""
        return k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=MANAGED_BY),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def release(self, name: str, namespace: k8s.core.v1.Namespace, pin: ChartPin, values: dict) -> k8s.helm.v3.Release:
        """A Helm release with a fixed name (no random suffix), so students find `traefik`, not `traefik-x7f`.

        helm.v3.Release rather than helm.v4.Chart: Helm keeps its own release record, so
        `helm list -A` in class shows what the lab installed, and chart hooks and CRDs behave as
        with the helm CLI the Helm slide teaches.
        """
        return k8s.helm.v3.Release(
            name,
            name=name,
            namespace=namespace.metadata.name,
            chart=pin.chart,
            version=pin.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *self.requires]),
        )
