"""The mesh layer (Service Mesh slide): Istio 1.30.3 in ambient mode, and Kiali on the monitoring
layer's Prometheus.

Students label a namespace `istio.io/dataplane-mode=ambient` (AMBIENT_NAMESPACE_LABEL) and its pods
join the mesh with no sidecar: the per-node ztunnel carries their traffic over mTLS (L4), and a
waypoint proxy (created from a Gateway API `Gateway` of class `istio-waypoint`) adds L7 policy. For
comparison, a namespace labelled `istio-injection=enabled` (SIDECAR_NAMESPACE_LABEL) gets classic
sidecars: the ambient profile keeps istiod's sidecar injector (`sidecarInjectorWebhook` is left at
its defaults, `enableNamespacesByDefault: false`, so only labelled namespaces are injected, and
`global.proxy.autoInject: enabled`; `istiodRemote.enabled` stays false, so the injection webhook is
served by this istiod). Kiali draws both kinds of traffic from Prometheus.

Design decisions:
  - Four Istio releases in `istio-system` (created by the layer), from
    https://istio-release.storage.googleapis.com/charts, all 1.30.3, named as in Istio's Helm guide:
    `istio-base` (CRDs, cluster roles) -> `istiod`, `istio-cni` and `ztunnel` in parallel (the
    data plane retries until istiod answers; waiting for it would make the stack five levels deep). No `gateway` chart: Traefik (ingress layer) serves ingress through Ingress and
    the Gateway API, and istiod still deploys waypoints from Gateway API objects itself.
  - Ambient profile: `profile: ambient` in istiod, cni and ztunnel. The key is not in the charts'
    values.yaml: every Istio chart's `templates/zzz_profile.yaml` reads it and merges
    `files/profile-ambient.yaml` under the user's values (PILOT_ENABLE_AMBIENT for istiod, ambient
    redirection for the CNI agent, HBONE proxy metadata). In the cni chart `ambient.enabled: true`
    is also set explicitly: it is the switch the slide is about, and it is a declared default key.
  - Images: the chart files in git carry dev placeholders (registry.istio.io/testing, `latest`),
    rewritten at publish. `global.hub: docker.io/istio` / `global.tag: 1.30.3` (istiod, cni) and
    top-level `hub` / `tag` (ztunnel, which has no global hub) pin them whatever the packaging did.
    The ambient profile picks the `distroless` variant (e.g. docker.io/istio/ztunnel:1.30.3-distroless).
  - One owner of the Gateway API CRDs: the gateway-api layer. Istio's base chart installs only its
    own CRDs (`files/crd-all.gen.yaml`: *.istio.io groups; nothing Gateway-API in base or istiod
    values to turn off), and istiod waits for the gateway-api layer (`child_opts`), so its Gateway
    API controllers (waypoints, GatewayClasses `istio`/`istio-waypoint`) start with the CRDs present.
  - Order: `Layer.release` makes every release wait for every required layer, so base and istiod
    also wait for the monitoring layer although only Kiali and the monitors need it (Istio could
    install alongside kube-prometheus-stack if `Layer.release` let a release name its requirements).
  - Lab-sized, budget 220m CPU / 700Mi requested (DaemonSets x 3 nodes). Declared in WORKLOADS:
    istiod 50m/160Mi (chart default 500m/2Gi), autoscaling off, 1 replica, and no
    PodDisruptionBudget (with one replica it would forbid every `kubectl drain`); istio-cni
    10m/40Mi and ztunnel 15m/48Mi per node (defaults 100m/100Mi, 200m/512Mi); Kiali 20m/96Mi;
    each with a memory limit. Total 145m CPU / 520Mi. The proxies istiod creates at run time are
    sized too: injected sidecars (`global.proxy.resources`, default 100m/128Mi per pod) and
    waypoints (`global.waypoint.resources`, default 100m/128Mi) request 10m/48Mi, memory limit 256Mi.
  - Validation webhook failurePolicy: the charts render `failurePolicy: Ignore` at install and
    istiod patches it to `Fail` once its webhook answers. Re-running `up` must not fight that. Our
    helm.v3.Release only upgrades when its inputs change, and every input here is a constant (no
    timestamp, no random; tests render twice and compare). Both base and istiod 1.30.3 read
    `base.validationFailurePolicy` (commented in istiod's values.yaml; istio/istio#59367 and #59488,
    shipped from 1.28: when unset, an upgrade omits the field so Helm leaves istiod's runtime
    value alone, an explicit value wins at install and upgrade): we set it to `Fail` in both, so
    every install and upgrade states the value istiod converges to: nothing flips, nothing
    conflicts even under server-side apply, and a refresh sees no drift. The cost, rejecting Istio
    config objects until istiod is ready, does not apply: nothing in the stack creates them, and
    Helm waits for istiod before anything that follows. Other knobs checked and left alone:
    `global.istiod.enableAnalysis` (false: analysis writes status to objects at run time),
    `istiodRemote` (remote control planes only), `global.configValidation` (stays on: students get
    errors on invalid VirtualServices), `base.validationCutoverRevision` (not in 1.30.3).
  - GKE (`capabilities.istio_platform == "gke"`, Istio's "platform-specific prerequisites" for
    ambient): the CNI node agent and ztunnel run with priority class `system-node-critical`, which
    GKE admits only in namespaces holding a ResourceQuota scoped to that class (by default only
    kube-system has one); and GKE keeps CNI binaries in /home/kubernetes/bin, not /opt/cni/bin.
    Both charts get `global.platform: gke`, as Istio's GKE install instructions say (its Helm
    platform profiles, istio/istio#52981 and #54141: `--set global.platform=foo` merges the chart's
    `files/profile-platform-foo.yaml`; the GKE one we read sets `cniBinDir: /home/kubernetes/bin`
    and `resourceQuotas.enabled: true`), and `resourceQuotas.enabled: true` is also written out
    (a key of both charts' values.yaml, pods 5000 by default): each chart then renders, in
    istio-system, a ResourceQuota whose scopeSelector is PriorityClass In [system-node-critical]
    (templates/resourcequota.yaml of cni and ztunnel; the chart-installed ztunnel quota came with
    istio/istio#55542, 1.26). Stating the quota does not rely on the profile file's content, and
    the chart owns the quota with the DaemonSet it admits (Helm installs ResourceQuotas before
    workloads). Other targets (kind, EKS, AKS) get neither: their values are unchanged.
  - Access logs on (`meshConfig.accessLogFile: /dev/stdout`): sidecar and waypoint logs show the
    requests students send.
  - Istio's telemetry reaches Prometheus through three monitors created here (custom resources of
    the monitoring layer's CRDs, so they wait for it): the monitoring layer selects every
    PodMonitor/ServiceMonitor, in every namespace, and does no annotation-based scraping, so
    without them Kiali's graph stays empty. PodMonitor `istio-proxies` scrapes Envoy's own port
    `http-envoy-prom` (15090, /stats/prometheus) of every sidecar, waypoint and gateway pod in any
    namespace (only Istio proxies declare that port name; the merged 15020 endpoint is left alone,
    scraping both would count every request twice); PodMonitor `ztunnel` scrapes port
    `ztunnel-stats` (15020, /metrics) for ambient L4 metrics; ServiceMonitor `istiod` scrapes the
    istiod Service's `http-monitoring` port (15014) for the control plane. 15s interval: graphs
    follow the traffic students send within a class exercise.
  - Kiali: chart `kiali-server` 2.29.0 (https://kiali.org/helm-charts), release `kiali` in
    istio-system, after istio-base and after the monitoring layer; `external_services.prometheus.url`
    is the monitoring layer's in-cluster PROMETHEUS_URL. Auth strategy `anonymous`: this is a
    local lab cluster, everyone who reaches http://kiali.localhost/ is the only user (never do this
    on a shared cluster). Grafana and tracing integrations off (no Istio dashboards in the course
    Grafana, no tracing backend in the stack). Published by `web_ui` at http://kiali.localhost/
    (Service `kiali`, port `server.port` 20001); Kiali serves under /kiali and redirects `/` there.

check_k8s warnings (expected, none of them a mistake):
  - Every key of the four Istio releases: Istio's values.yaml holds its defaults under
    `_internal_defaults_do_not_set`, and users set the same keys at top level (the values.yaml
    header says so), which the checker compares against the wrapper's single top-level key.
    Against the wrapper's content every key we set exists, except `profile` (read by
    zzz_profile.yaml, see above), `base.validationFailurePolicy` (read by both charts' webhook
    templates; commented out in istiod's values.yaml, absent from base's) and, on GKE,
    `global.platform` (read by zzz_profile.yaml like `profile`); the tests check exactly that.
  - Kiali `external_services.prometheus.url`, `external_services.grafana.enabled`,
    `external_services.tracing.enabled`: the chart writes its values, as they are, into Kiali's
    config.yaml (the Kiali CR's settings), and its values.yaml lists only the keys its templates
    read.
"""
from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.clusters import Capabilities
from infra.layers import ChartPin, Workload
from infra.layers.base import MANAGED_BY, Layer, LayerContext

ISTIO_VERSION = "1.30.3"
ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
ISTIO_HUB = "docker.io/istio"
BASE_PIN = ChartPin(chart="base", repo=ISTIO_REPO, version=ISTIO_VERSION)
ISTIOD_PIN = ChartPin(chart="istiod", repo=ISTIO_REPO, version=ISTIO_VERSION)
CNI_PIN = ChartPin(chart="cni", repo=ISTIO_REPO, version=ISTIO_VERSION)
ZTUNNEL_PIN = ChartPin(chart="ztunnel", repo=ISTIO_REPO, version=ISTIO_VERSION)
KIALI_PIN = ChartPin(chart="kiali-server", repo="https://kiali.org/helm-charts", version="2.29.0")

NAMESPACE = "istio-system"
# The API groups of istio-base's CRDs (removed with the layer: infra.layers.chart_crds).
ISTIO_CRD_GROUPS = ["extensions.istio.io", "networking.istio.io", "security.istio.io", "telemetry.istio.io"]
BASE_RELEASE, ISTIOD_RELEASE, CNI_RELEASE, ZTUNNEL_RELEASE, KIALI_RELEASE = (
    "istio-base", "istiod", "istio-cni", "ztunnel", "kiali")
PROFILE = "ambient"
KIALI_SERVICE = "kiali"
KIALI_PORT = 20001  # kiali-server values.yaml `server.port`: the kiali Service's port
VALIDATION_FAILURE_POLICY = "Fail"  # what istiod sets at run time once its webhook is ready

# Namespace labels for the lab guide: ambient (ztunnel, no sidecar) or classic sidecar injection.
AMBIENT_NAMESPACE_LABEL = ("istio.io/dataplane-mode", "ambient")
SIDECAR_NAMESPACE_LABEL = ("istio-injection", "enabled")

WORKLOADS = {
    ISTIOD_RELEASE: [Workload("discovery", "resources")],
    CNI_RELEASE: [Workload("install-cni", "resources", per_node=True)],
    ZTUNNEL_RELEASE: [Workload("istio-proxy", "resources", per_node=True)],
    KIALI_RELEASE: [Workload("kiali", "deployment.resources")],
}

_PROXY_RESOURCES = {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"memory": "256Mi"}}


def _resources(cpu: str, memory: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def base_values(caps: Capabilities) -> dict:
    """istio/base 1.30.3: Istio's CRDs and cluster roles (no workload, no Gateway API CRDs)."""
    return {"base": {"validationFailurePolicy": VALIDATION_FAILURE_POLICY}}


def istiod_values(caps: Capabilities) -> dict:
    """istio/istiod 1.30.3, ambient profile (keys checked against `_internal_defaults_do_not_set`)."""
    return {
        "profile": PROFILE,
        "autoscaleEnabled": False,
        "replicaCount": 1,
        "resources": _resources("50m", "160Mi", "768Mi"),
        "meshConfig": {"accessLogFile": "/dev/stdout"},
        "base": {"validationFailurePolicy": VALIDATION_FAILURE_POLICY},
        "global": {
            "hub": ISTIO_HUB,
            "tag": ISTIO_VERSION,
            "defaultPodDisruptionBudget": {"enabled": False},
            "proxy": {"resources": _PROXY_RESOURCES},
            "waypoint": {"resources": _PROXY_RESOURCES},
        },
    }


# Platforms whose node-critical pods need a ResourceQuota for that priority class in their namespace.
NODE_CRITICAL_QUOTA_PLATFORMS = ("gke",)


def node_agent_platform_values(caps: Capabilities) -> dict:
    """What the two node agents (CNI, ztunnel) need on the target's platform (see the module doc)."""
    if not caps.istio_platform:
        return {}
    values: dict = {"global": {"platform": caps.istio_platform}}
    if caps.istio_platform in NODE_CRITICAL_QUOTA_PLATFORMS:
        values["resourceQuotas"] = {"enabled": True}
    return values


def cni_values(caps: Capabilities) -> dict:
    """istio/cni 1.30.3: the node agent (DaemonSet) that redirects ambient pods' traffic to ztunnel."""
    platform = node_agent_platform_values(caps)
    values = {
        "profile": PROFILE,
        "ambient": {"enabled": True},
        "resources": _resources("10m", "40Mi", "200Mi"),
        "global": {"hub": ISTIO_HUB, "tag": ISTIO_VERSION, **platform.pop("global", {})},
    }
    return {**values, **platform}


def ztunnel_values(caps: Capabilities) -> dict:
    """istio/ztunnel 1.30.3: the per-node L4 proxy (DaemonSet); hub/tag are top-level in this chart."""
    return {
        "profile": PROFILE,
        "hub": ISTIO_HUB,
        "tag": ISTIO_VERSION,
        "resources": _resources("15m", "48Mi", "256Mi"),
        **node_agent_platform_values(caps),
    }


def kiali_values(caps: Capabilities, prometheus_url: str | None = None) -> dict:
    """kiali-server 2.29.0 on the monitoring layer's Prometheus (its PROMETHEUS_URL by default)."""
    if prometheus_url is None:
        from infra.layers.monitoring import PROMETHEUS_URL  # the monitoring layer's in-cluster URL

        prometheus_url = PROMETHEUS_URL
    return {
        "auth": {"strategy": "anonymous"},  # a local lab cluster: no login (never on a shared one)
        "deployment": {"resources": _resources("20m", "96Mi", "512Mi")},
        "external_services": {
            "prometheus": {"url": prometheus_url},
            "grafana": {"enabled": False},
            "tracing": {"enabled": False},
        },
    }


def scrape_monitors() -> list[dict]:
    """Prometheus-operator monitors for Istio's metrics (kind, name, spec), all in istio-system."""
    interval = "15s"
    return [
        {
            "kind": "PodMonitor",
            "name": "istio-proxies",
            "spec": {
                # Every pod; only Istio's proxies (sidecars, waypoints, gateways) declare this port name.
                "selector": {},
                "namespaceSelector": {"any": True},
                "podMetricsEndpoints": [{"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": interval}],
            },
        },
        {
            "kind": "PodMonitor",
            "name": "ztunnel",
            "spec": {
                "selector": {"matchLabels": {"app": "ztunnel"}},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "podMetricsEndpoints": [{"port": "ztunnel-stats", "path": "/metrics", "interval": interval}],
            },
        },
        {
            "kind": "ServiceMonitor",
            "name": "istiod",
            "spec": {
                "selector": {"matchLabels": {"app": "istiod"}},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "endpoints": [{"port": "http-monitoring", "interval": interval}],
            },
        },
    ]


class MeshLayer(Layer):
    type_name = "Mesh"

    def __init__(self, name, ctx: LayerContext, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        caps = ctx.capabilities
        namespace = self.namespace(NAMESPACE)
        # Every release also waits for the required layers (Layer.release -> child_opts): istiod
        # thus starts after the gateway-api CRDs, Kiali after the monitoring layer's Prometheus.
        # Istio itself needs the Gateway API CRDs, not the monitoring layer (only Kiali and the monitors
        # do): it installs in parallel with kube-prometheus-stack.
        istio = dict(after_requirements=False)
        # istio-base's CRDs carry `helm.sh/resource-policy: keep`: Helm leaves them at uninstall.
        base_crds = self.chart_crds(BASE_RELEASE, ISTIO_CRD_GROUPS)
        self.base = self.release(BASE_RELEASE, namespace, BASE_PIN, base_values(caps), base_crds, **istio)
        self.istiod = self.release(ISTIOD_RELEASE, namespace, ISTIOD_PIN, istiod_values(caps), self.base,
                                   self.required["gateway-api"], **istio)
        # The data plane and Kiali need Istio's CRDs (istio-base), not a running istiod: ztunnel and the
        # CNI agent retry until istiod serves them. Installing them beside istiod keeps the stack four
        # levels deep (cluster -> CRDs/namespaces -> releases -> custom resources).
        self.cni = self.release(CNI_RELEASE, namespace, CNI_PIN, cni_values(caps), self.base, **istio)
        self.ztunnel = self.release(ZTUNNEL_RELEASE, namespace, ZTUNNEL_PIN, ztunnel_values(caps), self.base, **istio)
        self.kiali = self.release(KIALI_RELEASE, namespace, KIALI_PIN, kiali_values(caps), self.base)
        # Monitors need the monitoring layer's CRDs (child_opts waits for it), not the Istio releases.
        self.monitors = [
            k8s.apiextensions.CustomResource(
                f"{monitor['name']}-{monitor['kind'].lower()}",
                api_version="monitoring.coreos.com/v1",
                kind=monitor["kind"],
                metadata=k8s.meta.v1.ObjectMetaArgs(name=monitor["name"], namespace=namespace.metadata.name,
                                                    labels=MANAGED_BY),
                spec=monitor["spec"],
                opts=self.child_opts(namespace),
            )
            for monitor in scrape_monitors()
        ]
        kiali_url = self.web_ui("kiali", namespace, KIALI_SERVICE, KIALI_PORT)
        self.register_outputs({
            "namespace": NAMESPACE,
            "kiali_url": kiali_url or "",
            "ambient_namespace_label": "=".join(AMBIENT_NAMESPACE_LABEL),
            "sidecar_namespace_label": "=".join(SIDECAR_NAMESPACE_LABEL),
        })

