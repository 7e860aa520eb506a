"""The loadbalancer layer (Services slide): LoadBalancer Services get an external address.

Clouds hand LoadBalancer Services an address themselves; kind does not, so there a `type:
LoadBalancer` Service stays `<pending>` forever. On such targets (`capabilities.load_balancer` is
False) this layer installs MetalLB in layer-2 mode and gives it a pool of addresses on the kind
Docker network, so `kubectl get svc` shows an EXTERNAL-IP students can curl from the host. Where
the target provides load balancers the layer installs nothing: two controllers would race to
assign addresses.

Design decisions:
  - MetalLB 0.16.1 chart, release `metallb` in namespace `metallb-system`. The speaker DaemonSet
    runs with host networking (it answers ARP for the service addresses), which the Pod Security
    `baseline`/`restricted` levels forbid: the namespace is labelled `privileged` (enforce, and
    audit/warn too so `kubectl apply` in that namespace prints no warnings).
  - Layer 2 only: the chart's default BGP backend is the bundled frr-k8s subchart
    (`frrk8s.enabled: true`), which would add its own DaemonSet of FRR routers; a lab on one Docker
    network has no BGP peer, so `frrk8s.enabled` is false, and the deprecated in-pod FRR mode
    (`speaker.frr.enabled`) stays off. With both off the speaker pod runs exactly one container,
    `speaker`, and no init containers (the cp-frr-files / cp-reloader / cp-metrics init containers
    and the frr / reloader / frr-metrics sidecars exist only in FRR mode); the controller pod runs
    the `controller` container alone, and the chart has no hook Jobs. Since 0.16 both serve their
    metrics over HTTPS themselves (no kube-rbac-proxy sidecar).
  - Requests: controller 10m / 32Mi, speaker 10m / 32Mi on each of the 3 nodes (the speaker
    tolerates the control plane): 40m CPU / 128Mi memory in all. Memory limits of 128Mi each.
  - The address pool comes from the target: `ctx.cluster.lb_address_range` (kind: 51 addresses near
    the top of the kind Docker network, found at `up`; an offline render shows a placeholder). The
    IPAddressPool and its L2Advertisement wait for the release: its CRDs, and the controller's
    validating webhook, which rejects MetalLB objects until it serves (the release is atomic, so
    Helm waits for the controller to be ready). The two custom resources do not wait for each
    other (the advertisement names the pool; MetalLB reconciles in any order).

check_k8s warnings: none expected. Every key used is in the chart's values.yaml (`frrk8s.enabled`,
`speaker.frr.enabled`); the `resources` maps are free-form.
"""
from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.clusters import Capabilities
from infra.layers import ChartPin, Workload
from infra.layers.base import MANAGED_BY, Layer

PIN = ChartPin(chart="metallb", repo="https://metallb.github.io/metallb", version="0.16.1")
RELEASE = "metallb"
NAMESPACE = "metallb-system"
# The speaker uses hostNetwork (and NET_RAW): only the `privileged` Pod Security level admits it.
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
POOL = "lab-pool"
L2_ADVERTISEMENT = "lab-l2"
METALLB_API = "metallb.io/v1beta1"
WORKLOADS = {
    RELEASE: [
        Workload("controller", "controller.resources"),
        Workload("speaker", "speaker.resources", per_node=True),
    ]
}


def needs_metallb(caps: Capabilities) -> bool:
    """MetalLB only where the target itself gives LoadBalancer Services no address (kind)."""
    return not caps.load_balancer


def metallb_values(caps: Capabilities) -> dict:
    """Chart values (keys checked against metallb 0.16.1 values.yaml and values.schema.json).

    The same on every target that needs MetalLB: layer 2, no BGP backend, lab-sized requests; where no
    container runs, the webhook's failure policy is Ignore.
    """
    values = {
        "frrk8s": {"enabled": False},  # the chart default (true) would install the frr-k8s subchart
        "controller": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}},
        "speaker": {
            "frr": {"enabled": False},
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        },
    }
    if not caps.containers_run:
        # No pod serves the controller's validating webhook (kwok): with the chart's `Fail` policy the
        # API server would reject the address pool. The webhook configuration stays, ignored on failure.
        values["crds"] = {"validationFailurePolicy": "Ignore"}
    return values


class LoadBalancerLayer(Layer):
    type_name = "LoadBalancer"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        if not needs_metallb(ctx.capabilities):
            self.metallb = None
            self.register_outputs({"metallb": False})
            return
        namespace = self.namespace(NAMESPACE, labels=NAMESPACE_LABELS)
        self.metallb = self.release(RELEASE, namespace, PIN, metallb_values(ctx.capabilities))
        addresses = ctx.cluster.lb_address_range
        self.pool = k8s.apiextensions.CustomResource(
            POOL,
            api_version=METALLB_API,
            kind="IPAddressPool",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=POOL, namespace=NAMESPACE, labels=MANAGED_BY),
            spec={"addresses": [addresses]},
            opts=self.child_opts(self.metallb),
        )
        self.l2 = k8s.apiextensions.CustomResource(
            L2_ADVERTISEMENT,
            api_version=METALLB_API,
            kind="L2Advertisement",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=L2_ADVERTISEMENT, namespace=NAMESPACE, labels=MANAGED_BY),
            spec={"ipAddressPools": [POOL]},
            opts=self.child_opts(self.metallb),
        )
        self.register_outputs({"metallb": True, "address_pool": POOL, "addresses": addresses})
