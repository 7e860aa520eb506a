"""The ingress layer (Ingress slide): Traefik serving both Ingress and the Gateway API.

On kind, Traefik listens on the control-plane node's host ports, which kind maps to the host's
80/443: http://<anything>.localhost reaches it from the browser. No load balancer gives Ingresses
and Gateways an address there, so Traefik reports one (`kubectl get ingress` shows it): `localhost`,
or, for a LAN classroom, the address students' machines reach the host ports at (the kind target's
`host_address`). Elsewhere it sits behind the cloud's load balancer: its Service keeps the chart's
`type: LoadBalancer` and carries the target's `capabilities.load_balancer_annotations` under
`service.annotations` (the chart applies them to its TCP and UDP Services alike). On kwok (no host ports,
no load balancer) its Service is ClusterIP and it publishes no address: EKS asks for an
NLB and tags it with the session (`aws-load-balancer-additional-resource-tags`), AKS tags the public
IP (`azure-pip-tags`), so `session orphans` finds a forgotten load balancer. GKE sets none. The
Gateway API CRDs come from the gateway-api layer (one owner in the stack); Traefik's own CRDs come
with its chart.

check_k8s warns that `ports.web.hostPort` is not in the chart's default values.yaml: the key is
commented out there but declared by the chart's values.schema.json (every `ports.<name>` entry
accepts `hostPort`), so the warning is expected. No other key outside the defaults is used.
"""
from __future__ import annotations

from infra.clusters import Capabilities
from infra.layers import ChartPin, Workload
from infra.layers.base import INGRESS_CLASS, Layer

PIN = ChartPin(chart="traefik", repo="https://traefik.github.io/charts", version="41.3.0")
NAMESPACE = "traefik"
SERVICE = "traefik"  # the chart's fullname: the release is named after the chart
GATEWAY_CLASS = "traefik"
GATEWAY = "traefik-gateway"
WEB_ENTRYPOINT_PORT = 8000  # Traefik's container port for `web`; the Gateway listener must match it
WORKLOADS = {"traefik": [Workload("traefik", "resources")]}
CRD_GROUPS = ["traefik.io", "hub.traefik.io"]  # the chart's crds/ folder (removed with the layer)


def traefik_values(caps: Capabilities) -> dict:
    """Chart values for a target profile (keys checked against traefik 41.3.0 values.yaml and schema)."""
    values: dict = {
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "gatewayClass": {"enabled": True, "name": GATEWAY_CLASS},
        "gateway": {
            "enabled": True,
            "name": GATEWAY,
            "listeners": {
                "web": {"port": WEB_ENTRYPOINT_PORT, "protocol": "HTTP", "namespacePolicy": {"from": "All"}},
            },
        },
        "providers": {
            "kubernetesCRD": {"enabled": True},
            "kubernetesIngress": {"enabled": True},
            "kubernetesGateway": {"enabled": True},
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }
    if caps.ingress_exposure == "host-ports":
        values.update(
            {
                # kind maps the host's ports to the node labelled ingress-ready (the control plane).
                "ports": {"web": {"hostPort": 80}, "websecure": {"hostPort": 443}},
                "nodeSelector": {"ingress-ready": "true"},
                "tolerations": [
                    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
                ],
                # A hostPort cannot be held by two pods on one node: replace the pod, don't surge.
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "service": {"spec": {"type": "ClusterIP"}},
            }
        )
        # No load balancer publishes an address: show students where the entry point is.
        address = {"ip": caps.host_address} if caps.host_address else {"hostname": "localhost"}
        values["providers"]["kubernetesIngress"].update(
            {"publishedService": {"enabled": False}, "ingressEndpoint": address}
        )
        values["providers"]["kubernetesGateway"]["statusAddress"] = {**address, "service": {"enabled": False}}
    elif caps.ingress_exposure == "cluster-ip":
        # No host ports and no load balancer (kwok): Traefik's Service stays in the cluster, and no
        # address is published (an await on a LoadBalancer address would never end).
        values["service"] = {"spec": {"type": "ClusterIP"}}
    elif caps.ingress_exposure == "load-balancer" and caps.load_balancer_annotations:
        # The cloud load balancer's type and the session's tags (the chart's Service stays LoadBalancer).
        values["service"] = {"annotations": dict(caps.load_balancer_annotations)}
    return values


class IngressLayer(Layer):
    type_name = "Ingress"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        namespace = self.namespace(NAMESPACE)
        crds = self.chart_crds("traefik", CRD_GROUPS)
        self.traefik = self.release("traefik", namespace, PIN, traefik_values(ctx.capabilities), crds)
        self.register_outputs({"ingress_class": INGRESS_CLASS, "gateway": f"{NAMESPACE}/{GATEWAY}"})
