"""The logging layer (Logging slide): Loki stores pod logs, Alloy ships them, Grafana shows them.

Students run a workload, then find its logs in Grafana's Explore view (LogQL: `{namespace="demo"}`,
`{app="web"} |= "error"`), beside the metrics of the same pods. Three pieces, all in namespace
`logging`:

  - Loki (chart `loki` 18.11.0 from grafana-community, Loki 3.7), release `loki`, monolithic;
  - Alloy (chart `alloy` 1.11.1), release `alloy`, a DaemonSet tailing the pods of its own node;
  - a ConfigMap labelled for Grafana's datasource sidecar, which adds Loki to Grafana.

Design decisions:
  - No Grafana of its own: the layer requires `monitoring` and uses its Grafana (kube-prometheus-stack).
    One Grafana for students (one URL, one login), logs next to the metrics of the same pods
    (Explore can split Prometheus and Loki side by side), and a smaller footprint than a second
    Grafana. Loki is added by a ConfigMap in `logging` carrying the monitoring layer's
    `GRAFANA_DATASOURCE_LABEL`; that Grafana's datasource sidecar watches every namespace for it.
    So the monitoring release is untouched by this layer (same values with or without logging),
    and removing the logging layer removes the datasource with it. The datasource has uid `loki`
    (stable links and dashboards) and is not the default (Prometheus stays the default; Grafana
    refuses two defaults).
  - Loki monolithic: `deploymentMode: Monolithic` (the chart's name since 18.x for single binary;
    `SingleBinary` is its deprecated alias, rendering the same templates), one replica, the
    simple-scalable targets (`read`/`write`/`backend`, 3 replicas each by default) set to 0 as the
    chart's validation requires with filesystem storage. Filesystem storage: chunks and the TSDB
    index on a 2Gi PVC of the cluster's default StorageClass (no `storageClass`, so nothing
    provider-specific), deleted with the StatefulSet. A PVC rather than an emptyDir so logs survive
    a Loki pod restart during the lab (students delete pods on purpose). Where no container runs
    (kwok), no provisioner binds a claim: there persistence is off. Schema: tsdb index, schema
    v13, 24h index period, from 2024-04-01 (the schema Loki 3.x requires for structured metadata).
  - Single tenant: `auth_enabled: false`, so Alloy and Grafana send no X-Scope-OrgID header.
  - What the chart turns on by default and the lab does not need is off: both memcached caches
    (`chunksCache` would request 9830Mi and `resultsCache` 1229Mi, 500m CPU each; Loki's embedded
    in-process cache takes over), the canary DaemonSet and the Helm test pod (the test needs the
    canary), the nginx gateway, the ruler's rules sidecar (no log alerting rules in this slide; it
    would be one more container to size), usage reporting.
  - No gateway, so clients talk to the single binary's Service `loki` on port 3100:
    Alloy pushes to http://loki.logging.svc:3100/loki/api/v1/push and Grafana queries
    http://loki.logging.svc:3100. The `.svc` form relies on the pod's DNS search path, not on the
    cluster domain.
  - Alloy rather than Promtail (end of life). Pipeline (River, in `alloy.configMap.content`):
    discovery.kubernetes (pods, with a field selector `spec.nodeName=<this node>` so each Alloy
    only watches its node's pods) -> discovery.relabel (keeps only this node's pods again, then
    sets `namespace`, `pod`, `container`, `app` and `node` labels; `app` is the first of the
    labels app.kubernetes.io/name, app, k8s-app) -> loki.source.kubernetes -> loki.write.
    The node name comes from the downward API (`NODE_NAME`, spec.nodeName), declared here rather
    than relying on the chart's own env. loki.source.kubernetes (generally available) reads logs
    through the Kubernetes API (kubelet log endpoint): no hostPath mount of the node's /var/log,
    the same pipeline whatever the container runtime; the cost, log traffic through the API
    server, is small at lab scale.
  - The Alloy DaemonSet tolerates the control-plane taint only (Traefik and the control plane's
    own pods log there), not every taint: the autoscaler layer's KWOK fake nodes are tainted and
    must not get Alloy pods. Alloy's PodLogs CRD (`crds.create`) is not installed: unused.
  - Lab-sized requests (layer budget 160m CPU / 420Mi memory, DaemonSet pods counted x3 nodes):
    Loki 50m / 160Mi (limit 512Mi; the chart derives GOMEMLIMIT from the limit), Alloy 25m / 64Mi
    (limit 256Mi), Alloy's config-reloader 5m / 16Mi (limit 64Mi; chart default 10m / 50Mi):
    50 + 3 x 30 = 140m CPU, 160 + 3 x 80 = 400Mi memory.
  - Every release and the datasource ConfigMap wait for the monitoring layer (`child_opts`): the
    ConfigMap because it targets that Grafana; the releases only because `Layer.release` always
    waits for required layers.

check_k8s warnings: none expected. `alloy`, `schemaConfig`, `resources`, `tolerations` and
`extraEnv` are free-form maps for the checker; `loki.analytics` is an empty map in values.yaml
(free-form Loki config); every other key is in the charts' default values.yaml.
"""
from __future__ import annotations

import pulumi_kubernetes as k8s
import yaml

from infra.layers import ChartPin, Workload
from infra.layers.base import MANAGED_BY, Layer, LayerContext

NAMESPACE = "logging"
LOKI_RELEASE = "loki"
ALLOY_RELEASE = "alloy"
LOKI_PIN = ChartPin(chart="loki", repo="https://grafana-community.github.io/helm-charts", version="18.11.0")
ALLOY_PIN = ChartPin(chart="alloy", repo="https://grafana.github.io/helm-charts", version="1.11.1")

# Monolithic Loki without the gateway: the single binary's Service, named after the release.
LOKI_PORT = 3100
LOKI_URL = f"http://{LOKI_RELEASE}.{NAMESPACE}.svc:{LOKI_PORT}"
LOKI_PUSH_URL = f"{LOKI_URL}/loki/api/v1/push"
DATASOURCE_UID = "loki"
DATASOURCE_CONFIGMAP = "loki-datasource"
NODE_NAME_ENV = "NODE_NAME"
# Relabel regex over "<app.kubernetes.io/name>;<app>;<k8s-app>": the first non-empty value.
APP_LABEL_REGEX = ";*([^;]+).*"

WORKLOADS = {
    LOKI_RELEASE: [Workload("loki", "singleBinary.resources")],
    ALLOY_RELEASE: [
        Workload("alloy", "alloy.resources", per_node=True),
        Workload("config-reloader", "configReloader.resources", per_node=True),
    ],
}

ALLOY_CONFIG = f"""\
// Pod logs of this node to Loki (k8s-labs logging layer).
// Each Alloy pod of the DaemonSet only watches and tails the pods scheduled on its own node.
discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + sys.env("{NODE_NAME_ENV}")
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets

  // Node-local filter: keep only the pods of this node.
  rule {{
    source_labels = ["__meta_kubernetes_pod_node_name"]
    regex         = sys.env("{NODE_NAME_ENV}")
    action        = "keep"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  // app: the first of the labels app.kubernetes.io/name, app, k8s-app that the pod has.
  rule {{
    source_labels = [
      "__meta_kubernetes_pod_label_app_kubernetes_io_name",
      "__meta_kubernetes_pod_label_app",
      "__meta_kubernetes_pod_label_k8s_app",
    ]
    separator     = ";"
    regex         = "{APP_LABEL_REGEX}"
    target_label  = "app"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_node_name"]
    target_label  = "node"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}}

loki.write "default" {{
  endpoint {{
    url = "{LOKI_PUSH_URL}"
  }}
}}
"""


def loki_values(ctx: LayerContext) -> dict:
    """Loki chart values (keys checked against loki 18.11.0 values.yaml and values.schema.json)."""
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "analytics": {"reporting_enabled": False},
        },
        "singleBinary": {
            "replicas": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "160Mi"}, "limits": {"memory": "512Mi"}},
            # A claim binds only where a provisioner runs: elsewhere (kwok) Loki keeps its data in an
            # emptyDir, or its pod would wait for the claim forever (and `up` with it).
            "persistence": {"enabled": ctx.capabilities.containers_run, "size": "2Gi",
                            "enableStatefulSetAutoDeletePVC": True},
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "gateway": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},
    }


def alloy_values(ctx: LayerContext) -> dict:
    """Alloy chart values (keys checked against alloy 1.11.1 values.yaml)."""
    return {
        "crds": {"create": False},
        "alloy": {
            "configMap": {"create": True, "content": ALLOY_CONFIG},
            "enableReporting": False,
            "extraEnv": [{"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "resources": {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        },
        "configReloader": {
            "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        },
        "controller": {
            "type": "daemonset",
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }


def datasource_provisioning() -> str:
    """Grafana datasource provisioning file for Loki, as the datasource sidecar expects it."""
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Loki",
                    "type": "loki",
                    "uid": DATASOURCE_UID,
                    "access": "proxy",
                    "url": LOKI_URL,
                    "isDefault": False,
                    "jsonData": {"maxLines": 1000},
                }
            ],
        },
        sort_keys=False,
    )


class LoggingLayer(Layer):
    type_name = "Logging"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        # Imported here: the monitoring layer owns Grafana and the label its sidecar watches.
        from infra.layers.monitoring import GRAFANA_DATASOURCE_LABEL

        label_key, label_value = GRAFANA_DATASOURCE_LABEL
        namespace = self.namespace(NAMESPACE)
        # Neither release uses the monitoring layer: they install in parallel with it.
        self.loki = self.release(LOKI_RELEASE, namespace, LOKI_PIN, loki_values(ctx), after_requirements=False)
        self.alloy = self.release(ALLOY_RELEASE, namespace, ALLOY_PIN, alloy_values(ctx), after_requirements=False)
        self.datasource = k8s.core.v1.ConfigMap(
            DATASOURCE_CONFIGMAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DATASOURCE_CONFIGMAP,
                namespace=namespace.metadata.name,
                labels={**MANAGED_BY, label_key: label_value},
            ),
            data={"loki-datasource.yaml": datasource_provisioning()},
            opts=self.child_opts(namespace),
        )
        self.register_outputs({"loki_url": LOKI_URL, "datasource_uid": DATASOURCE_UID})

