"""The metrics layer (HPA slide): metrics-server, so `kubectl top` and HorizontalPodAutoscalers work.

The resource metrics API (`metrics.k8s.io`) is what an HPA reads CPU and memory utilisation from;
without it `kubectl top` fails and an HPA shows `<unknown>` targets. Managed clouds usually
preinstall metrics-server (`capabilities.metrics_server`): there this layer installs nothing, as a
second copy would fight over the same APIService.

Design decisions:
  - metrics-server 3.13.1 chart, release `metrics-server` in `kube-system`, where the add-on
    lives on every cluster (students find it where the documentation says). The layer neither
    creates nor deletes kube-system: `Layer.release` is given the namespace by name.
  - `--kubelet-insecure-tls` only where kubelet serving certificates cannot be verified
    (`capabilities.kubelet_certs_verifiable` False: kind's kubelets serve self-signed
    certificates, so scraping them fails with "x509: cannot validate certificate" otherwise).
    It goes in `args`, which the chart appends after its `defaultArgs`, so the chart's defaults
    (`--kubelet-preferred-address-types`, `--metric-resolution=15s`, ...) stay as upstream.
  - One container runs: `metrics-server`. The addon-resizer sidecar (`metrics-server-nanny`) is
    off by default and set off explicitly here (it would resize the main container away from
    the lab-sized requests and add 40m / 25Mi); the chart has no init containers and no hook Jobs
    (`tls.type: metrics-server`, the default, makes the server generate its own certificate).
  - Where containers do not run (kwok), the chart's APIService `v1beta1.metrics.k8s.io` is not
    created (`apiService.create: false`): nothing would serve it, and the controller manager cannot
    delete a namespace while an aggregated API is unavailable (`lab down` would hang).
  - Requests 20m CPU / 48Mi memory (the chart's default 100m / 200Mi is sized for 100 nodes; a
    3-node lab needs a fraction), memory limit 128Mi: within the layer budget of 25m / 64Mi.

check_k8s warnings: none expected. `resources` (its `limits` are commented out in values.yaml) and
`args` are free-form; `addonResizer.enabled` is a default key.
"""
from __future__ import annotations

from infra.clusters import Capabilities
from infra.layers import ChartPin, Workload
from infra.layers.base import Layer

PIN = ChartPin(chart="metrics-server", repo="https://kubernetes-sigs.github.io/metrics-server/", version="3.13.1")
RELEASE = "metrics-server"
NAMESPACE = "kube-system"  # exists on every cluster: never created or deleted by the layer
KUBELET_INSECURE_TLS = "--kubelet-insecure-tls"
WORKLOADS = {RELEASE: [Workload("metrics-server", "resources")]}


def needs_metrics_server(caps: Capabilities) -> bool:
    """Install metrics-server only where the provider does not preinstall it."""
    return not caps.metrics_server


def metrics_server_values(caps: Capabilities) -> dict:
    """Chart values for a target profile (keys checked against metrics-server 3.13.1 values.yaml)."""
    values = {
        "args": [] if caps.kubelet_certs_verifiable else [KUBELET_INSECURE_TLS],
        "addonResizer": {"enabled": False},
        "resources": {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}},
    }
    if not caps.containers_run:
        # No process serves the aggregated API (kwok): its APIService would stay unavailable, and an
        # unavailable aggregated API stalls every namespace deletion and the garbage collector.
        values["apiService"] = {"create": False}
    return values


class MetricsLayer(Layer):
    type_name = "Metrics"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        if not needs_metrics_server(ctx.capabilities):
            self.metrics_server = None
            self.register_outputs({"metrics_server": False})
            return
        self.metrics_server = self.release(RELEASE, NAMESPACE, PIN, metrics_server_values(ctx.capabilities))
        self.register_outputs({"metrics_server": True, "namespace": NAMESPACE})
