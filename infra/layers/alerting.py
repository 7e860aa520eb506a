"""The alerting layer (Alerting slide): course alert rules, a route tree, and an inbox where alerts land.

Students break something (a crash-looping pod, a Deployment with a wrong image, a full volume, a
scrape target on the wrong port), see the alert go pending then firing in Prometheus, grouped and
routed in Alertmanager, and arrive as an e-mail in a web inbox; then they silence it. Everything
lives in namespace `alerting`, on top of the monitoring layer's kube-prometheus-stack:

  - Mailpit (`axllent/mailpit`, `MAILPIT_IMAGE`), a Deployment + Service `mailpit` (SMTP 1025,
    web UI 8025), published with `web_ui("mail", ...)` at http://mail.localhost/ when the lab has
    the ingress layer (otherwise `kubectl -n alerting port-forward svc/mailpit 8025`);
  - an AlertmanagerConfig `course-routes` (monitoring.coreos.com/v1alpha1): route tree, e-mail
    receiver, inhibition rule;
  - a PrometheusRule `course-alerts` (monitoring.coreos.com/v1): the course's alerts.

Design decisions:
  - The monitoring release is untouched (same name, same values with or without this layer): this
    layer only adds its own objects. It relies on two things the monitoring layer sets for every
    lab: Prometheus selects every PrometheusRule (no release label needed), and Alertmanager merges
    every AlertmanagerConfig of every namespace with matcher strategy `None`, so this config's
    routes and inhibition rule see all alerts, not only those labelled `namespace=alerting`.
  - Route tree (root: group by alertname + namespace, group wait 30s, group interval 2m, repeat
    every 4h, receiver `mailpit`):
      1. `alertname=~Watchdog|InfoInhibitor` -> `blackhole` (a receiver with no integration): the
         chart's always-firing dead man's switch and its inhibition helper would otherwise fill
         the inbox;
      2. `severity=critical` -> `mailpit`, repeated every 30m (faster than warnings).
    The operator forces `continue: true` on the config's first-level route, so the chart's own
    default route still sees every alert after ours.
  - Receiver `mailpit`: plain SMTP to `mailpit.alerting.svc:1025`, `requireTLS: false`, no auth
    (Mailpit accepts anything; Alertmanager's default requires STARTTLS), resolved alerts sent too.
  - Inhibition: a firing `severity=critical` alert mutes the `severity=warning` alert with the same
    alertname and namespace. The course rules come in pairs to show it (CourseDeploymentReplicas
    Unavailable and CoursePVCAlmostFull exist as warning and critical).
  - Alerts (`summary`/`description` in English, `summary_fr`/`description_fr` for the French
    guide): pod restarting (kube-state-metrics restart counter), Deployment replicas unavailable
    (warning: some, critical: none available), PVC almost full (kubelet_volume_stats, warning 80%,
    critical 95%; kubelets report volume stats for CSI volumes such as the storage layer's CSI
    class, not for hostPath-backed ones like kind's default `standard`), scrape target down
    (`up == 0`). Short `for` durations: alerts fire within minutes, in class.
  - Both custom resources wait for the monitoring layer (`child_opts`: its release installs the
    CRDs, and its operator's admission webhook validates them) and for the namespace; Mailpit waits
    for the namespace only and installs in parallel with the monitoring release.
  - Mailpit runs as non-root (uid/gid 65534: its image runs as root by default but only needs
    /tmp, where it keeps its temporary SQLite store, here an emptyDir), read-only root filesystem,
    no capabilities, no service account token. Requests 10m / 32Mi, memory limit 128Mi (layer
    budget 20m / 64Mi). Image tag verified (used and pulled by several public projects) but not
    pulled offline.
  - Outputs: the inbox URL, the SMTP address, Alertmanager's in-cluster URL (`amtool
    --alertmanager.url`) and its web UI URL (from the monitoring layer) for the guide's silence.
"""
from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.layers.base import MANAGED_BY, Layer
from infra.layers.monitoring import ALERTMANAGER_URL

NAMESPACE = "alerting"
MAILPIT = "mailpit"
MAILPIT_IMAGE = "axllent/mailpit:v1.31.2"
SMTP_PORT = 1025
UI_PORT = 8025
SMARTHOST = f"{MAILPIT}.{NAMESPACE}.svc:{SMTP_PORT}"
MAIL_FROM = "alertmanager@k8s-labs.local"
MAIL_TO = "students@k8s-labs.local"
ALERTMANAGER_CONFIG = "course-routes"
PROMETHEUS_RULE = "course-alerts"
RECEIVER = "mailpit"
NULL_RECEIVER = "blackhole"
MAILPIT_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
WORKLOADS: dict = {}  # no Helm release: the footprint reads Mailpit's Deployment from the render

_LABELS = {"app.kubernetes.io/name": MAILPIT, "app.kubernetes.io/part-of": "alerting"}
_KSM = 'job="kube-state-metrics"'


def _matcher(name: str, value: str, match_type: str = "=") -> dict:
    return {"name": name, "matchType": match_type, "value": value}


def alertmanager_config_spec() -> dict:
    """spec of the AlertmanagerConfig: route tree, receivers, inhibition rule."""
    return {
        "route": {
            "receiver": RECEIVER,
            "groupBy": ["alertname", "namespace"],
            "groupWait": "30s",
            "groupInterval": "2m",
            "repeatInterval": "4h",
            "routes": [
                {"receiver": NULL_RECEIVER, "matchers": [_matcher("alertname", "Watchdog|InfoInhibitor", "=~")]},
                {"receiver": RECEIVER, "matchers": [_matcher("severity", "critical")], "repeatInterval": "30m"},
            ],
        },
        "receivers": [
            {
                "name": RECEIVER,
                "emailConfigs": [
                    {"to": MAIL_TO, "from": MAIL_FROM, "smarthost": SMARTHOST, "requireTLS": False,
                     "sendResolved": True}
                ],
            },
            {"name": NULL_RECEIVER},
        ],
        "inhibitRules": [
            {
                "sourceMatch": [_matcher("severity", "critical")],
                "targetMatch": [_matcher("severity", "warning")],
                "equal": ["alertname", "namespace"],
            }
        ],
    }


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
           summary_fr: str, description_fr: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description,
                        "summary_fr": summary_fr, "description_fr": description_fr},
    }


def prometheus_rule_spec() -> dict:
    """spec of the PrometheusRule: the course's alerts."""
    unavailable_en = "Deployment {{ $labels.namespace }}/{{ $labels.deployment }}"
    volume = "PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }}"
    used = 'kubelet_volume_stats_used_bytes{job="kubelet"} / kubelet_volume_stats_capacity_bytes{job="kubelet"}'
    rules = [
        _alert(
            "CoursePodCrashLooping",
            f"increase(kube_pod_container_status_restarts_total{{{_KSM}}}[15m]) > 2",
            "1m", "warning",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} keeps restarting",
            "Container {{ $labels.container }} restarted {{ $value | humanize }} times in 15 minutes.",
            "Le pod {{ $labels.namespace }}/{{ $labels.pod }} redémarre en boucle",
            "Le conteneur {{ $labels.container }} a redémarré {{ $value | humanize }} fois en 15 minutes.",
        ),
        _alert(
            "CourseDeploymentReplicasUnavailable",
            f"kube_deployment_status_replicas_unavailable{{{_KSM}}} > 0",
            "2m", "warning",
            f"{unavailable_en} has unavailable replicas",
            "{{ $value }} replica(s) of the Deployment are not available.",
            "Le Deployment {{ $labels.namespace }}/{{ $labels.deployment }} a des réplicas indisponibles",
            "{{ $value }} réplica(s) du Deployment ne sont pas disponibles.",
        ),
        _alert(
            "CourseDeploymentReplicasUnavailable",
            f"kube_deployment_status_replicas_available{{{_KSM}}} == 0 and kube_deployment_spec_replicas{{{_KSM}}} > 0",
            "2m", "critical",
            f"{unavailable_en} has no available replica",
            "No replica of the Deployment is available: the application is down.",
            "Le Deployment {{ $labels.namespace }}/{{ $labels.deployment }} n'a aucun réplica disponible",
            "Aucun réplica du Deployment n'est disponible : l'application est arrêtée.",
        ),
        _alert(
            "CoursePVCAlmostFull",
            f"{used} > 0.80",
            "1m", "warning",
            f"{volume} is more than 80% full",
            "The volume is {{ $value | humanizePercentage }} full.",
            "Le PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} est plein à plus de 80 %",
            "Le volume est plein à {{ $value | humanizePercentage }}.",
        ),
        _alert(
            "CoursePVCAlmostFull",
            f"{used} > 0.95",
            "1m", "critical",
            f"{volume} is more than 95% full",
            "The volume is {{ $value | humanizePercentage }} full: writes will fail soon.",
            "Le PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} est plein à plus de 95 %",
            "Le volume est plein à {{ $value | humanizePercentage }} : les écritures vont bientôt échouer.",
        ),
        _alert(
            "CourseTargetDown",
            "up == 0",
            "2m", "warning",
            "Target {{ $labels.instance }} of job {{ $labels.job }} is down",
            "Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}, namespace "
            "{{ $labels.namespace }}): wrong port or path, or the pod is not ready.",
            "La cible {{ $labels.instance }} du job {{ $labels.job }} est injoignable",
            "Prometheus n'arrive pas à collecter {{ $labels.instance }} (job {{ $labels.job }}, namespace "
            "{{ $labels.namespace }}) : mauvais port ou chemin, ou pod pas prêt.",
        ),
    ]
    return {"groups": [{"name": "course.rules", "rules": rules}]}


def mailpit_pod_spec() -> dict:
    """The Mailpit pod: non-root, read-only root filesystem, its store in an emptyDir /tmp."""
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": MAILPIT,
                "image": MAILPIT_IMAGE,
                "env": [
                    {"name": "MP_SMTP_DISABLE_RDNS", "value": "true"},  # no reverse DNS per SMTP client
                    {"name": "MP_MAX_MESSAGES", "value": "500"},
                ],
                "ports": [
                    {"name": "smtp", "containerPort": SMTP_PORT, "protocol": "TCP"},
                    {"name": "http", "containerPort": UI_PORT, "protocol": "TCP"},
                ],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10},
                "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 20},
                "resources": MAILPIT_RESOURCES,
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
    }


class AlertingLayer(Layer):
    type_name = "Alerting"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        namespace = self.namespace(NAMESPACE)
        metadata = dict(namespace=namespace.metadata.name, labels={**MANAGED_BY, **_LABELS})
        self.mailpit = k8s.apps.v1.Deployment(
            MAILPIT,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MAILPIT, **metadata),
            spec={
                "replicas": 1,
                "selector": {"matchLabels": _LABELS},
                "template": {"metadata": {"labels": {**MANAGED_BY, **_LABELS}}, "spec": mailpit_pod_spec()},
            },
            opts=self.child_opts(namespace, after_requirements=False),
        )
        k8s.core.v1.Service(
            MAILPIT,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MAILPIT, **metadata),
            spec={
                "selector": _LABELS,
                "ports": [
                    {"name": "smtp", "port": SMTP_PORT, "targetPort": "smtp", "protocol": "TCP"},
                    {"name": "http", "port": UI_PORT, "targetPort": "http", "protocol": "TCP"},
                ],
            },
            opts=self.child_opts(namespace, after_requirements=False),
        )
        mail_url = self.web_ui("mail", namespace, MAILPIT, UI_PORT)

        # Custom resources: after the monitoring layer (CRDs, admission webhook) and the namespace.
        self.routes = k8s.apiextensions.CustomResource(
            ALERTMANAGER_CONFIG,
            api_version="monitoring.coreos.com/v1alpha1",
            kind="AlertmanagerConfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ALERTMANAGER_CONFIG, namespace=namespace.metadata.name,
                                                labels=MANAGED_BY),
            spec=alertmanager_config_spec(),
            opts=self.child_opts(namespace),
        )
        self.rules = k8s.apiextensions.CustomResource(
            PROMETHEUS_RULE,
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROMETHEUS_RULE, namespace=namespace.metadata.name,
                                                labels=MANAGED_BY),
            spec=prometheus_rule_spec(),
            opts=self.child_opts(namespace),
        )
        self.register_outputs({
            "mail_url": mail_url,
            "smtp": SMARTHOST,
            "alertmanager_in_cluster": ALERTMANAGER_URL,
            "alertmanager_url": self.required["monitoring"].urls["alertmanager"],
        })

