"""Targets: where a lab cluster runs. One module per target behind one small interface.

A target module defines a class with:
  - `capabilities(settings) -> Capabilities`: what the cluster provides, read by the layers;
  - `preflight(settings)`: checks before anything is created (daemon up, ports free);
  - `create(settings) -> component`: a ComponentResource `labs:cluster:<Name>` exposing `.provider`
    (the explicit pulumi_kubernetes.Provider every layer uses) and `.kubeconfig` (a secret Output),
    and registering a non-secret `summary` output (what `lab render` shows under "cluster");
  - `cleanup(settings)`: removes what a destroy could leave behind (used by `session down`).
This registry is plain data so choosing a target costs nothing until it is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from infra.errors import LabsError

TARGETS: dict[str, str] = {
    "kind": "infra.clusters.kind:KindTarget",
}


@dataclass(frozen=True)
class Capabilities:
    """What a target's cluster provides; layers adapt their values to it."""

    provider: str
    load_balancer: bool  # Services of type LoadBalancer get an address without help
    ingress_exposure: str  # "host-ports" (kind port mappings) or "load-balancer"
    http_port: int
    https_port: int
    default_storage_class: str
    metrics_server: bool  # preinstalled by the provider
    node_autoscaling: bool = False  # the provider adds and removes nodes itself (node-pool autoscaling)
    kubelet_certs_verifiable: bool = True  # kubelet serving certs signed by the cluster CA
    base_domain: str = "localhost"  # web UIs are published at <name>.<base_domain>
    nodes: int = 1  # nodes at creation (DaemonSets run one pod on each)


def get_target(name: str):
    """The target object for `name`, or one clear line listing the targets that exist."""
    if name not in TARGETS:
        raise LabsError(f"unknown target '{name}': choose one of {', '.join(TARGETS)} (e.g. --target=kind)")
    module, _, cls = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
