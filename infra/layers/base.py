"""What every layer shares: its context, its Helm release, namespace and web UI helpers.

A layer is a ComponentResource with type token `labs:layer:<Name>`; its children are created with
`parent=self` and inherit the cluster's explicit Kubernetes provider from the component. Each layer
module also declares `WORKLOADS`: the containers its charts run and where their resources live in
the values, so `lab footprint` reads requests from the very values the program installs.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.clusters import Capabilities
from infra.layers import ChartPin
from infra.settings import StackSettings

MANAGED_BY = {"app.kubernetes.io/managed-by": "k8s-labs"}
# The IngressClass the ingress layer serves (infra.layers.ingress): every web UI's Ingress names it.
INGRESS_CLASS = "traefik"


@dataclass(frozen=True)
class LayerContext:
    settings: StackSettings
    capabilities: Capabilities
    layers: tuple[str, ...] = ()  # the lab's whole layer closure: a layer adapts to its neighbours
    cluster: object = None  # the target's cluster component (outputs such as kind's LB address range)

    def hostname(self, name: str) -> str:
        """Where a web UI is published through the ingress layer, e.g. grafana.localhost on kind."""
        return f"{name}.{self.capabilities.base_domain}"


class Layer(pulumi.ComponentResource):
    """Base of every layer: `labs:layer:<Name>`, bound to the cluster's provider."""

    type_name: str  # e.g. "Ingress"

    def __init__(self, name: str, ctx: LayerContext, provider: pulumi.ProviderResource,
                 requires: dict[str, "Layer"] | None = None):
        super().__init__(
            f"labs:layer:{self.type_name}", name, None,
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )
        self.ctx = ctx
        # The layers this one needs, by name. Only the resources that use them wait (a release
        # needing CRDs), so independent layers still install in parallel.
        self.required = dict(requires or {})
        self.requires = list(self.required.values())

    def child_opts(self, *depends_on: pulumi.Resource, after_requirements: bool = True) -> pulumi.ResourceOptions:
        """Options for a child: parented to the layer, waiting for `depends_on` and, unless told not
        to, for the layers this one requires (their CRDs, their services)."""
        return pulumi.ResourceOptions(
            parent=self, depends_on=[*(self.requires if after_requirements else []), *depends_on]
        )

    def namespace(self, name: str, labels: dict | None = None) -> k8s.core.v1.Namespace:
        """The layer's own namespace, created (and deleted) with the layer."""
        return k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**MANAGED_BY, **(labels or {})}),
            opts=self.child_opts(after_requirements=False),
        )

    def web_ui(self, name: str, namespace: k8s.core.v1.Namespace, service: str, port: int) -> str | None:
        """Publish a Service at http://<name>.<domain>/ through the ingress layer, when the lab has it.

        Returns the URL, or None when the lab has no ingress layer (students then port-forward).
        """
        if "ingress" not in self.ctx.layers:
            return None
        host = self.ctx.hostname(name)
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service, port=k8s.networking.v1.ServiceBackendPortArgs(number=port)
            )
        )
        # Pulumi waits until an Ingress has an address in its status; where no ingress controller runs
        # (kwok) none ever comes, so the wait is skipped rather than timing out after 10 minutes.
        annotations = {} if self.ctx.capabilities.containers_run else {"pulumi.com/skipAwait": "true"}
        k8s.networking.v1.Ingress(
            f"{name}-ui",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-ui", namespace=namespace.metadata.name, labels=MANAGED_BY,
                                                annotations=annotations),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=INGRESS_CLASS,
                rules=[k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[
                        k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)
                    ]),
                )],
            ),
            opts=self.child_opts(namespace, after_requirements=False),
        )
        port_suffix = "" if self.ctx.capabilities.http_port == 80 else f":{self.ctx.capabilities.http_port}"
        return f"http://{host}{port_suffix}/"

    def release(self, name: str, namespace: k8s.core.v1.Namespace | str, pin: ChartPin, values: dict,
                *depends_on: pulumi.Resource, after_requirements: bool = True) -> k8s.helm.v3.Release:
        """A Helm release with a fixed name (no random suffix), so students find `traefik`, not `traefik-x7f`.

        `namespace` is the layer's own Namespace resource, or the name of one the cluster already has
        (kube-system), which the layer then neither creates nor deletes. `after_requirements=False`
        lets a release that uses nothing of the required layers install in parallel with them.

        helm.v3.Release rather than helm.v4.Chart: Helm keeps its own release record, so
        `helm list -A` in class shows what the lab installed, and chart hooks and CRDs behave as
        with the helm CLI the Helm slide teaches.

        The chart comes from the offline bundle (infra.bundle) when it holds the pinned version (read
        from the Chart.yaml inside the .tgz): `chart=<path of the .tgz>` and no repository, since the
        provider (pulumi-kubernetes 4.25.0, helm_release.go locateChart) looks on disk only when no
        repository URL is given. The version stays: for a local chart the provider does not use it
        to locate the chart (nor rejects it) and its Check sets it from the archive's Chart.yaml, which
        the bundle has checked to be the pin; it keeps the release's inputs readable as pinned
        (`lab footprint` reads them). Otherwise the chart comes from the pin's repository, as before.
        """
        from infra.bundle import chart_source

        owned = not isinstance(namespace, str)
        local = chart_source(pin)
        repository = {} if local is not None else {"repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo)}
        return k8s.helm.v3.Release(
            name,
            name=name,
            namespace=namespace.metadata.name if owned else namespace,
            chart=pin.chart if local is None else str(local),
            version=pin.version,
            **repository,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            opts=self.child_opts(*([namespace] if owned else []), *depends_on, after_requirements=after_requirements),
        )

    def chart_crds(self, name: str, groups: list[str]) -> pulumi.Resource:
        """The CRDs of API `groups` that release `name`'s chart installs from its crds/ folder, deleted
        with the layer (infra.layers.chart_crds: Helm never deletes them). The release depends on it,
        so Pulumi uninstalls the release (its operator) before the CRDs go."""
        from infra.layers.chart_crds import ChartCrds

        return ChartCrds(f"{name}-crds", groups, self.ctx.cluster.kubeconfig, pulumi.ResourceOptions(parent=self))
