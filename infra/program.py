"""The Pulumi program: target cluster, then the closure of the lab's layers on it, and a classroom's
tenancy when the settings carry a roster.

`build` is the only entry: `__main__.py` calls it under the Pulumi engine (`lab up`), and
`infra.render` calls it under the SDK's mock runtime (`lab render`), so both see the same program.
"""
from __future__ import annotations

import pulumi

from infra.catalog import Catalog
from infra.clusters import get_target
from infra.clusters.capabilities import target_capabilities
from infra.layers import LAYERS, closure as layer_closure, component_class
from infra.layers.base import LayerContext
from infra.settings import StackSettings


def stack_layers(lab, caps) -> list[str]:
    """The layers of a stack: the lab's, and those the target runs under every lab (EKS: cluster-autoscaler)."""
    return layer_closure([*(lab.layers if lab else ()), *caps.always_layers])


def build(settings: StackSettings, catalog: Catalog | None = None) -> dict:
    """Register the stack's resources; returns the components by name (used by tests)."""
    target = get_target(settings.target)
    if settings.network_only:  # the network a classroom's EKS clusters share: no cluster, no layer
        network = target.create_network(settings)
        pulumi.export("vpc_id", network.vpc_id)
        pulumi.export("subnet_ids", network.subnet_ids)
        return {"network": network}
    cluster = target.create(settings)
    caps = target_capabilities(settings)
    lab = (catalog or Catalog.load()).resolve(settings.lab) if settings.lab else None
    closure = stack_layers(lab, caps)
    ctx = LayerContext(settings=settings, capabilities=caps, layers=tuple(closure), cluster=cluster)
    layers: dict = {}
    for name in closure:
        requires = {dep: layers[dep] for dep in LAYERS[name].requires}
        layers[name] = component_class(name)(name, ctx, cluster.provider, requires=requires)
    tenancy = None
    if settings.roster:  # a classroom: the students' namespaces beside the shared layers
        from infra.classroom.tenancy import build_tenancy

        tenancy = build_tenancy(settings.roster, ctx, cluster.provider, lab)
    pulumi.export("lab", lab.id if lab else "")
    pulumi.export("layers", list(layers))
    pulumi.export("kubeconfig", cluster.kubeconfig)
    return {"cluster": cluster, "layers": layers, "tenancy": tenancy}
