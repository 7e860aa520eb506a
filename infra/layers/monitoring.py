"""The monitoring layer (Monitoring slide): Prometheus, Alertmanager and Grafana (kube-prometheus-stack).

Students explore the cluster's metrics in Prometheus and Grafana, write their own ServiceMonitors
and PrometheusRules, and watch alerts in Alertmanager. One Helm release, `kube-prometheus-stack`
(chart 88.5.3, operator v0.93.1) in namespace `monitoring`, with its subcharts grafana 12.11.1,
kube-state-metrics 8.4.0 and prometheus-node-exporter 4.56.1 (their keys checked against their
own values.yaml files in ../shared/charts).

Design decisions:
  - Names: release `kube-prometheus-stack`, no fullnameOverride, so every object carries the names
    the upstream documentation shows: Services `kube-prometheus-stack-prometheus` (9090),
    `kube-prometheus-stack-alertmanager` (9093), `kube-prometheus-stack-grafana` (80).
    `PROMETHEUS_URL` / `ALERTMANAGER_URL` are those Services' in-cluster URLs (`.svc` form: the
    pod's DNS search path, not the cluster domain); other layers (logging, mesh, alerting) import them.
  - The release is a shared base: its values depend on the target's capabilities only, never on
    the lab's other layers. Web UIs (grafana, prometheus, alertmanager -> http://<name>.localhost/)
    go through `Layer.web_ui` (an Ingress created beside the release when the lab has the ingress
    layer), not through the chart's ingress values: switching between a lab with and one without
    ingress never upgrades this release.
  - Students' objects are picked up without the Helm `release` label: the `*NilUsesHelmValues`
    switches are false (rules, ServiceMonitors, PodMonitors, Probes, ScrapeConfigs), so Prometheus
    selects them all, in every namespace (the namespace selectors stay `{}`).
  - Alertmanager merges every AlertmanagerConfig of every namespace (`alertmanagerConfigSelector`
    and `alertmanagerConfigNamespaceSelector` `{}`, written out although they are the chart's
    defaults, to say so) and applies their routes and inhibition rules to all alerts
    (`alertmanagerConfigMatcherStrategy: None`; the default `OnNamespace` would add a
    `namespace=<its namespace>` matcher, and the alerting layer's AlertmanagerConfig, in namespace
    `alerting`, would then see none of the cluster's alerts).
  - Grafana's sidecars watch ALL namespaces for ConfigMaps/Secrets labelled
    `GRAFANA_DATASOURCE_LABEL` / `GRAFANA_DASHBOARD_LABEL`: the logging layer adds its Loki
    datasource from its own namespace without touching this release, and students add dashboards
    from theirs.
  - Grafana admin: user `admin`, password generated once per stack (`infra.layers.password`) kept in the Secret
    `GRAFANA_ADMIN_SECRET` (keys `admin-user` / `admin-password`, the password a Pulumi secret),
    which the chart reads through `grafana.admin.existingSecret`: the release values stay plain
    data and hold no password. Students read it with
    `kubectl -n monitoring get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d`.
    The release does not wait for the Secret (both wait for the namespace only, keeping the stack
    at cluster -> namespaces -> releases -> custom resources): the Secret is created within seconds,
    while the chart's pre-install hook Job still runs, long before Grafana's pod starts; the kubelet
    would retry a missing Secret anyway.
  - Control-plane targets up on kind: the kind target's kubeadm patches bind controller-manager and
    scheduler on 0.0.0.0 (https 10257 / 10259, self-signed serving certificates, hence https with
    insecureSkipVerify), etcd's metrics on http 2381 and kube-proxy's on 10249. The ports and
    schemes are written out rather than left to the chart's Kubernetes-version guesses. Kubelets
    are scraped over https, verified only where `capabilities.kubelet_certs_verifiable` (not kind).
  - No target down, no alert for nothing, on managed clouds: where the control plane is the
    provider's (`capabilities.control_plane_visible` False: GKE, EKS, AKS) there is no
    controller-manager, scheduler or etcd endpoint to reach, so `kubeControllerManager`,
    `kubeScheduler` and `kubeEtcd` are `enabled: false`; the chart then renders neither their
    Service/ServiceMonitor nor their alert rules (KubeControllerManagerDown, KubeSchedulerDown,
    etcd*: each rule template is gated on the component's `enabled`). `kubeProxy` likewise where the
    target does not serve kube-proxy metrics the chart can reach (`kube_proxy_metrics` False on the
    three clouds: EKS's kube-proxy add-on binds 127.0.0.1:10249 and reverts edits, aws/containers-
    roadmap#657; on AKS the chart's Service selector does not match the kube-proxy pods,
    prometheus-community/helm-charts#1704; GKE gives nothing to rely on: no kube-proxy at all with
    Dataplane V2). GKE's DNS is kube-dns, not CoreDNS (`cluster_dns`): the CoreDNS monitor (port
    9153) would be a target down (TargetDown); `coreDns` is off and `kubeDns` on, on the chart's
    default kube-dns ports 10054/10055 (the setting robusta-dev/robusta#553 gives for GKE). The
    values still depend on the target only, so the release is identical across the labs of one
    target (kind's values are unchanged: it keeps every scrape).
  - Lab-sized: Prometheus keeps 6h (at most 1GB) on an emptyDir, Alertmanager 24h; no persistent
    storage anywhere (Grafana's default, Prometheus and Alertmanager without storageSpec).
    Turned off: ThanosRuler and the Windows exporter (both already off by default, written out),
    Grafana's Helm test pod (`helm test` only, never run by the lab). Admission webhooks stay on
    wherever containers run (off on kwok, where no pod could serve them):
    a PrometheusRule with broken PromQL is refused at `kubectl apply`, which the course shows;
    their two certificate hook Jobs (create, patch) are sized like every other container.
  - Every container has CPU/memory requests and a memory limit (the config-reloader's CPU limit is
    "0", the operator's and the chart's way of saying "none"), see `WORKLOADS`. Layer budget
    320m CPU / 900Mi memory; the sum (DaemonSet x 3 nodes, init containers and hook Jobs included)
    is 245m CPU / 848Mi: Prometheus 100m / 320Mi, Grafana 50m / 128Mi, its two sidecars
    5m / 48Mi each, operator 20m / 48Mi, Alertmanager 10m / 32Mi, kube-state-metrics 10m / 48Mi,
    node-exporter 5m / 16Mi x 3, the config-reloader (Prometheus and Alertmanager, sidecar and
    init container each) 5m / 24Mi x 4, the admission Jobs 5m / 16Mi x 2. Grafana runs no init
    container here (init-chown-data needs persistence; no dashboards to download).

check_k8s warnings (keys outside kube-prometheus-stack's own values.yaml): one, legitimate:
  - `grafana.testFramework`: a key of the grafana subchart (its values.yaml declares
    `testFramework.enabled: true`), which the parent chart's values.yaml does not repeat.
`grafana.sidecar.datasources.searchNamespace` is also a subchart-only key (grafana values.yaml:
`sidecar.datasources.searchNamespace: null`), but the checker treats `datasources` as a free-form
map and does not look inside; every `resources` is free-form too.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.clusters import Capabilities
from infra.errors import LabsError
from infra.layers import ChartPin, Workload
from infra.layers.base import MANAGED_BY, Layer, LayerContext
from infra.layers.password import GeneratedPassword

PIN = ChartPin(
    chart="kube-prometheus-stack", repo="https://prometheus-community.github.io/helm-charts", version="88.5.3"
)
RELEASE = "kube-prometheus-stack"
NAMESPACE = "monitoring"

# Services the chart creates (fullname = release name, as it contains the chart name).
PROMETHEUS_SERVICE, PROMETHEUS_PORT = f"{RELEASE}-prometheus", 9090
ALERTMANAGER_SERVICE, ALERTMANAGER_PORT = f"{RELEASE}-alertmanager", 9093
GRAFANA_SERVICE, GRAFANA_PORT = f"{RELEASE}-grafana", 80
PROMETHEUS_URL = f"http://{PROMETHEUS_SERVICE}.{NAMESPACE}.svc:{PROMETHEUS_PORT}"
ALERTMANAGER_URL = f"http://{ALERTMANAGER_SERVICE}.{NAMESPACE}.svc:{ALERTMANAGER_PORT}"

# Labels Grafana's sidecars look for, in every namespace: (key, value).
GRAFANA_DATASOURCE_LABEL = ("grafana_datasource", "1")
GRAFANA_DASHBOARD_LABEL = ("grafana_dashboard", "1")

GRAFANA_ADMIN_USER = "admin"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"

# Control-plane metrics endpoints as the kind target's kubeadm patches open them.
CONTROLLER_MANAGER_PORT = 10257  # https, self-signed
SCHEDULER_PORT = 10259  # https, self-signed
ETCD_METRICS_PORT = 2381  # http
KUBE_PROXY_METRICS_PORT = 10249  # http

RETENTION = "6h"
RETENTION_SIZE = "1GB"

_RELOADER = "prometheusOperator.prometheusConfigReloader.resources"
CRD_GROUPS = ["monitoring.coreos.com"]  # the crds subchart's crds/ folder (removed with the layer)
_ADMISSION_JOBS = "prometheusOperator.admissionWebhooks.patch.resources"
WORKLOADS = {
    RELEASE: [
        Workload("prometheus", "prometheus.prometheusSpec.resources"),
        Workload("config-reloader (prometheus)", _RELOADER),
        Workload("init-config-reloader (prometheus)", _RELOADER),
        Workload("alertmanager", "alertmanager.alertmanagerSpec.resources"),
        Workload("config-reloader (alertmanager)", _RELOADER),
        Workload("init-config-reloader (alertmanager)", _RELOADER),
        Workload("kube-prometheus-stack (operator)", "prometheusOperator.resources"),
        Workload("create (admission-create Job)", _ADMISSION_JOBS),
        Workload("patch (admission-patch Job)", _ADMISSION_JOBS),
        Workload("grafana", "grafana.resources"),
        Workload("grafana-sc-dashboard", "grafana.sidecar.resources"),
        Workload("grafana-sc-datasources", "grafana.sidecar.resources"),
        Workload("kube-state-metrics", "kube-state-metrics.resources"),
        Workload("node-exporter", "prometheus-node-exporter.resources", per_node=True),
    ]
}


def _resources(cpu: str, memory: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def kube_prometheus_stack_values(ctx: LayerContext | Capabilities) -> dict:
    """Chart values for a target profile (keys checked against kube-prometheus-stack 88.5.3 and its
    subcharts' values.yaml). Depends on the capabilities only, never on the lab's other layers."""
    caps = ctx.capabilities if isinstance(ctx, LayerContext) else ctx
    datasource_key, datasource_value = GRAFANA_DATASOURCE_LABEL
    dashboard_key, dashboard_value = GRAFANA_DASHBOARD_LABEL
    values = {
        "windowsMonitoring": {"enabled": False},
        "thanosRuler": {"enabled": False},
        "prometheusOperator": {
            "resources": _resources("20m", "48Mi", "192Mi"),
            "prometheusConfigReloader": {
                # "0": no CPU limit (prometheus-operator's convention for its --config-reloader-* flags).
                "resources": {"requests": {"cpu": "5m", "memory": "24Mi"}, "limits": {"cpu": "0", "memory": "48Mi"}},
            },
            "admissionWebhooks": {"patch": {"resources": _resources("5m", "16Mi", "64Mi")}},
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": RETENTION,
                "retentionSize": RETENTION_SIZE,
                "resources": _resources("100m", "320Mi", "1Gi"),
                # Select every rule / monitor / probe / scrape config, labelled for the release or not.
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
            },
        },
        "alertmanager": {
            "alertmanagerSpec": {
                "retention": "24h",
                "resources": _resources("10m", "32Mi", "128Mi"),
                "alertmanagerConfigSelector": {},
                "alertmanagerConfigNamespaceSelector": {},
                "alertmanagerConfigMatcherStrategy": {"type": "None"},
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": GRAFANA_ADMIN_USER_KEY,
                "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY,
            },
            "resources": _resources("50m", "128Mi", "512Mi"),
            "sidecar": {
                "resources": _resources("5m", "48Mi", "192Mi"),
                "dashboards": {"label": dashboard_key, "labelValue": dashboard_value, "searchNamespace": "ALL"},
                "datasources": {"label": datasource_key, "labelValue": datasource_value, "searchNamespace": "ALL"},
            },
            "testFramework": {"enabled": False},
        },
        "kube-state-metrics": {"resources": _resources("10m", "48Mi", "128Mi")},
        "prometheus-node-exporter": {"resources": _resources("5m", "16Mi", "48Mi")},
        "kubelet": {"serviceMonitor": {"https": True, "insecureSkipVerify": not caps.kubelet_certs_verifiable}},
        **control_plane_scrapes(caps),
        **dns_scrapes(caps),
    }
    if not caps.containers_run:
        # No pod serves the operator's admission webhook (kwok): without it the chart renders neither
        # the webhook configurations nor their certificate Jobs, and rules are admitted unchecked.
        values["prometheusOperator"]["admissionWebhooks"]["enabled"] = False
    return values


OFF = {"enabled": False}
CONTROL_PLANE_COMPONENTS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd")


def control_plane_scrapes(caps: Capabilities) -> dict:
    """Controller-manager, scheduler, etcd and kube-proxy: scraped as kind exposes them, turned off
    (no Service, ServiceMonitor or alert rule) where the target does not expose them."""
    values = {
        "kubeControllerManager": {
            "service": {"port": CONTROLLER_MANAGER_PORT, "targetPort": CONTROLLER_MANAGER_PORT},
            "serviceMonitor": {"https": True, "insecureSkipVerify": True},
        },
        "kubeScheduler": {
            "service": {"port": SCHEDULER_PORT, "targetPort": SCHEDULER_PORT},
            "serviceMonitor": {"https": True, "insecureSkipVerify": True},
        },
        "kubeEtcd": {
            "service": {"port": ETCD_METRICS_PORT, "targetPort": ETCD_METRICS_PORT},
            "serviceMonitor": {"scheme": "http"},
        },
        "kubeProxy": {
            "service": {"port": KUBE_PROXY_METRICS_PORT, "targetPort": KUBE_PROXY_METRICS_PORT},
            "serviceMonitor": {"https": False},
        },
    }
    if not caps.control_plane_visible:
        values.update({component: dict(OFF) for component in CONTROL_PLANE_COMPONENTS})
    if not caps.kube_proxy_metrics:
        values["kubeProxy"] = dict(OFF)
    return values


def dns_scrapes(caps: Capabilities) -> dict:
    """The cluster DNS monitor: the chart's CoreDNS one (its default) unless the target runs kube-dns."""
    if caps.cluster_dns == "kube-dns":
        return {"coreDns": dict(OFF), "kubeDns": {"enabled": True}}
    if caps.cluster_dns != "coredns":
        raise LabsError(f"target '{caps.provider}': unknown cluster_dns {caps.cluster_dns!r} (coredns or kube-dns)")
    return {}


class MonitoringLayer(Layer):
    type_name = "Monitoring"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        namespace = self.namespace(NAMESPACE)
        password = GeneratedPassword("grafana-admin-password", length=24, opts=self.child_opts(after_requirements=False))
        self.grafana_admin = k8s.core.v1.Secret(
            GRAFANA_ADMIN_SECRET,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=namespace.metadata.name,
                                                labels=MANAGED_BY),
            type="Opaque",
            string_data={
                GRAFANA_ADMIN_USER_KEY: GRAFANA_ADMIN_USER,
                GRAFANA_ADMIN_PASSWORD_KEY: pulumi.Output.secret(password.result),
            },
            opts=self.child_opts(namespace),
        )
        crds = self.chart_crds(RELEASE, CRD_GROUPS)
        self.stack = self.release(RELEASE, namespace, PIN, kube_prometheus_stack_values(ctx), crds)
        self.urls = {
            "grafana": self.web_ui("grafana", namespace, GRAFANA_SERVICE, GRAFANA_PORT),
            "prometheus": self.web_ui("prometheus", namespace, PROMETHEUS_SERVICE, PROMETHEUS_PORT),
            "alertmanager": self.web_ui("alertmanager", namespace, ALERTMANAGER_SERVICE, ALERTMANAGER_PORT),
        }
        self.register_outputs({
            "grafana_url": self.urls["grafana"],
            "prometheus_url": self.urls["prometheus"],
            "alertmanager_url": self.urls["alertmanager"],
            "prometheus_in_cluster": PROMETHEUS_URL,
            "alertmanager_in_cluster": ALERTMANAGER_URL,
            "grafana_admin_user": GRAFANA_ADMIN_USER,
            "grafana_admin_secret": f"{NAMESPACE}/{GRAFANA_ADMIN_SECRET}",
        })
