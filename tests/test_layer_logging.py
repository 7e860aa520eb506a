"""The logging layer: Loki (monolithic, filesystem) and Alloy shipping pod logs, seen in the monitoring layer's Grafana."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from infra.layers.base import LayerContext
from infra.layers.logging import (
    ALLOY_CONFIG, ALLOY_PIN, ALLOY_RELEASE, APP_LABEL_REGEX, DATASOURCE_CONFIGMAP, DATASOURCE_UID, LOKI_PIN,
    LOKI_PORT, LOKI_PUSH_URL, LOKI_RELEASE, LOKI_URL, NAMESPACE, NODE_NAME_ENV, WORKLOADS, alloy_values,
    datasource_provisioning, loki_values,
)
from tests.conftest import check_k8s_render, probe_registrations, render_with_layers
from tests.layer_helpers import (
    KIND, by_object_name, chart_defaults, checked_requests, kind_capabilities, namespace_part, one, release_named,
    releases_by_name,
)

BUDGET_CPU_M, BUDGET_MEMORY_MI = 160, 420


def _ctx() -> LayerContext:
    """What the layer sees in a logging lab on kind."""
    return LayerContext(settings=KIND, capabilities=kind_capabilities(), layers=("monitoring", "logging"))


def _merge(base, over):
    """Helm's coalescing of maps (the user's value wins)."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}


# --- pins and the render --------------------------------------------------------------------------------


def test_render_installs_loki_and_alloy_with_their_pins(tmp_path):
    document = render_with_layers(tmp_path, ["logging"])
    assert document["layers"] == ["monitoring", "logging"]
    loki, alloy = release_named(document, "loki"), release_named(document, "alloy")
    assert (loki["chart"], loki["repo"], loki["version"]) == (
        "loki", "https://grafana-community.github.io/helm-charts", "18.11.0") == (
        LOKI_PIN.chart, LOKI_PIN.repo, LOKI_PIN.version)
    assert (alloy["chart"], alloy["repo"], alloy["version"]) == (
        "alloy", "https://grafana.github.io/helm-charts", "1.11.1") == (
        ALLOY_PIN.chart, ALLOY_PIN.repo, ALLOY_PIN.version)
    assert (loki["name"], alloy["name"]) == (LOKI_RELEASE, ALLOY_RELEASE) == ("loki", "alloy")
    assert loki["namespace"] == alloy["namespace"] == NAMESPACE == "logging"
    assert loki["values"] == loki_values(_ctx())
    assert alloy["values"] == alloy_values(_ctx())
    # Both wait for the layer's namespace, not for each other: Pulumi installs them in parallel.
    assert "Namespace/logging" in loki["depends_on"] and "Namespace/logging" in alloy["depends_on"]
    assert "release/alloy" not in loki["depends_on"] and "release/loki" not in alloy["depends_on"]


def test_logging_releases_and_objects_pass_the_contract_check_without_warnings(tmp_path, shared):
    part = namespace_part(render_with_layers(tmp_path, ["logging"]), NAMESPACE)  # what the logging layer registers
    assert sorted(r["name"] for r in part["releases"]) == ["alloy", "loki"]
    assert sorted(o["kind"] for o in part["objects"]) == ["ConfigMap", "Namespace"]
    output = check_k8s_render(shared, part, tmp_path)
    assert "4 checked, 0 errors, 0 warnings" in output


def test_whole_probe_render_passes_the_contract_check(tmp_path, shared):
    """The lab a logging slide gets (monitoring included, as the layer requires it)."""
    output = check_k8s_render(shared, render_with_layers(tmp_path, ["logging"]), tmp_path)
    assert ", 0 errors," in output


# --- Loki ------------------------------------------------------------------------------------------------


def test_loki_is_one_monolithic_replica_on_filesystem_storage():
    values = loki_values(_ctx())
    assert values["deploymentMode"] == "Monolithic"
    assert values["singleBinary"]["replicas"] == 1
    # The chart defaults the simple-scalable targets to 3 replicas each; with filesystem storage its
    # validation fails unless they are 0.
    assert [values[t]["replicas"] for t in ("read", "write", "backend")] == [0, 0, 0]
    assert values["loki"]["storage"]["type"] == "filesystem"
    assert values["loki"]["commonConfig"]["replication_factor"] == 1
    assert values["loki"]["auth_enabled"] is False


def test_loki_schema_suits_loki_3():
    (period,) = loki_values(_ctx())["loki"]["schemaConfig"]["configs"]
    assert (period["store"], period["schema"], period["object_store"]) == ("tsdb", "v13", "filesystem")
    assert period["index"]["period"] == "24h"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", period["from"])


def test_loki_turns_off_what_a_lab_does_not_need():
    values = loki_values(_ctx())
    # The memcached caches alone would request 1 CPU and ~11 GiB by default.
    assert values["chunksCache"] == {"enabled": False} and values["resultsCache"] == {"enabled": False}
    assert values["lokiCanary"]["enabled"] is False and values["test"]["enabled"] is False
    assert values["gateway"]["enabled"] is False
    assert values["sidecar"]["rules"]["enabled"] is False
    assert values["loki"]["analytics"] == {"reporting_enabled": False}
    assert "minio" not in values  # off by default, stays off


def test_loki_keeps_its_data_on_a_small_pvc_of_the_default_class():
    persistence = loki_values(_ctx())["singleBinary"]["persistence"]
    assert persistence["enabled"] is True and persistence["size"] == "2Gi"
    assert "storageClass" not in persistence  # the cluster's default class, whatever the target


def test_loki_url_is_the_single_binary_service(shared):
    """No gateway: the chart names the monolithic Service after its fullname, which is the release name
    when the release name contains the chart name, on loki.server.http_listen_port."""
    defaults = chart_defaults(shared, "loki", "18.11.0")
    values = loki_values(_ctx())
    assert LOKI_PIN.chart in LOKI_RELEASE and not values.get("nameOverride") and not values.get("fullnameOverride")
    assert LOKI_PORT == defaults["loki"]["server"]["http_listen_port"] == 3100
    assert LOKI_URL == "http://loki.logging.svc:3100"
    assert LOKI_PUSH_URL == f"{LOKI_URL}/loki/api/v1/push"


# --- Alloy -----------------------------------------------------------------------------------------------


def test_alloy_is_a_daemonset_shipping_to_loki():
    values = alloy_values(_ctx())
    assert values["controller"]["type"] == "daemonset"
    assert values["alloy"]["configMap"] == {"create": True, "content": ALLOY_CONFIG}
    assert f'url = "{LOKI_PUSH_URL}"' in ALLOY_CONFIG
    for component in ('discovery.kubernetes "pods"', 'discovery.relabel "pods"', 'loki.source.kubernetes "pods"',
                      'loki.write "default"'):
        assert component in ALLOY_CONFIG
    assert "targets    = discovery.relabel.pods.output" in ALLOY_CONFIG
    assert "forward_to = [loki.write.default.receiver]" in ALLOY_CONFIG
    assert "promtail" not in ALLOY_CONFIG.lower()
    # The chart passes the content through `tpl`: no template delimiters may slip in.
    assert "{{" not in ALLOY_CONFIG and "}}" not in ALLOY_CONFIG


def test_each_alloy_pod_tails_only_its_own_nodes_pods():
    env = alloy_values(_ctx())["alloy"]["extraEnv"]
    assert {"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in env
    assert f'field = "spec.nodeName=" + sys.env("{NODE_NAME_ENV}")' in ALLOY_CONFIG
    keep = re.search(r'rule \{\s*source_labels = \["__meta_kubernetes_pod_node_name"\]\s*'
                     r'regex\s*= sys\.env\("NODE_NAME"\)\s*action\s*= "keep"\s*\}', ALLOY_CONFIG)
    assert keep, "no node-local keep rule"


@pytest.mark.parametrize("label, meta", [
    ("namespace", "__meta_kubernetes_namespace"),
    ("pod", "__meta_kubernetes_pod_name"),
    ("container", "__meta_kubernetes_pod_container_name"),
    ("node", "__meta_kubernetes_pod_node_name"),
])
def test_alloy_sets_the_labels_students_query(label, meta):
    rule = re.search(r'rule \{\s*source_labels = \["' + meta + r'"\]\s*target_label\s*= "' + label + r'"\s*\}',
                     ALLOY_CONFIG)
    assert rule, f"no rule setting {label} from {meta}"


@pytest.mark.parametrize("joined, app", [
    ("web;;", "web"),  # app.kubernetes.io/name wins
    ("web;legacy;", "web"),
    (";legacy;", "legacy"),  # then app
    (";;coredns", "coredns"),  # then k8s-app
    (";;", None),  # none: no app label
])
def test_app_label_is_the_first_app_label_the_pod_has(joined, app):
    assert f'regex         = "{APP_LABEL_REGEX}"' in ALLOY_CONFIG and 'target_label  = "app"' in ALLOY_CONFIG
    match = re.fullmatch(APP_LABEL_REGEX, joined)  # relabel regexes are anchored at both ends
    assert (match.group(1) if match else None) == app


def test_alloy_runs_on_the_control_plane_but_not_on_every_tainted_node():
    values = alloy_values(_ctx())
    assert values["controller"]["tolerations"] == [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]
    assert values["crds"]["create"] is False
    assert values["alloy"]["enableReporting"] is False


# --- Grafana datasource ----------------------------------------------------------------------------------


def test_datasource_provisioning_points_grafana_at_loki():
    document = yaml.safe_load(datasource_provisioning())
    assert document["apiVersion"] == 1
    (datasource,) = document["datasources"]
    assert (datasource["type"], datasource["uid"], datasource["url"]) == ("loki", DATASOURCE_UID, LOKI_URL)
    assert DATASOURCE_UID == "loki"
    assert datasource["isDefault"] is False  # Prometheus stays Grafana's default
    assert datasource["access"] == "proxy"


def test_datasource_configmap_carries_the_monitoring_sidecar_label(tmp_path):
    from infra.layers.monitoring import GRAFANA_DATASOURCE_LABEL

    document = render_with_layers(tmp_path, ["logging"])
    (configmap,) = [o for o in document["objects"] if o["kind"] == "ConfigMap"
                    and o["metadata"]["name"] == DATASOURCE_CONFIGMAP]
    assert configmap["metadata"]["namespace"] == NAMESPACE
    key, value = GRAFANA_DATASOURCE_LABEL
    assert configmap["metadata"]["labels"][key] == value
    (content,) = configmap["data"].values()
    assert content == datasource_provisioning()
    assert yaml.safe_load(content)["datasources"][0]["url"] == LOKI_URL


def test_monitorings_grafana_watches_every_namespace_for_that_label(tmp_path, shared):
    """The contract with the monitoring layer: its Grafana's datasource sidecar, with the chart defaults
    (grafana subchart, then kube-prometheus-stack) under the release's values, finds our ConfigMap."""
    from infra.layers.monitoring import GRAFANA_DATASOURCE_LABEL

    document = render_with_layers(tmp_path, ["logging"])
    (stack,) = [r for r in document["releases"] if r["chart"] == "kube-prometheus-stack"]
    grafana_defaults = chart_defaults(shared, "grafana", "12.11.1")
    stack_defaults = chart_defaults(shared, "kube-prometheus-stack", stack["version"])
    grafana = _merge(_merge(grafana_defaults, stack_defaults["grafana"]), stack["values"].get("grafana") or {})
    sidecar = grafana["sidecar"]["datasources"]
    assert grafana.get("enabled", True) and sidecar["enabled"]
    assert (sidecar["label"], str(sidecar["labelValue"])) == GRAFANA_DATASOURCE_LABEL
    assert sidecar["searchNamespace"] == "ALL"


def test_logging_leaves_the_monitoring_release_untouched(tmp_path):
    def outside_logging(layers):
        document = render_with_layers(tmp_path / "-".join(layers), layers)
        releases = [r for r in document["releases"] if r["namespace"] != NAMESPACE]
        objects = [o for o in document["objects"] if (o.get("metadata") or {}).get("namespace") != NAMESPACE
                   and not (o["kind"] == "Namespace" and o["metadata"]["name"] == NAMESPACE)]
        # Registration order is not deterministic under the mock runtime: compare as sets.
        return sorted(map(json.dumps, releases)), sorted(map(json.dumps, objects))

    monitoring_only = outside_logging(["monitoring"])
    assert any('"chart": "kube-prometheus-stack"' in r for r in monitoring_only[0])
    assert outside_logging(["logging"]) == monitoring_only


# --- footprint -------------------------------------------------------------------------------------------


def test_every_declared_workload_has_requests_and_a_memory_limit(tmp_path):
    document = render_with_layers(tmp_path, ["logging"])
    assert set(WORKLOADS) == {"loki", "alloy"}
    checked_requests({name: release_named(document, name)["values"] for name in WORKLOADS}, WORKLOADS)


def test_declared_workloads_are_the_real_resource_paths():
    assert [(w.container, w.resources_path, w.per_node) for w in WORKLOADS["loki"]] == [
        ("loki", "singleBinary.resources", False)]
    assert [(w.container, w.resources_path, w.per_node) for w in WORKLOADS["alloy"]] == [
        ("alloy", "alloy.resources", True), ("config-reloader", "configReloader.resources", True)]


def test_layer_stays_within_its_budget():
    cpu, memory = checked_requests({"loki": loki_values(_ctx()), "alloy": alloy_values(_ctx())}, WORKLOADS)
    assert (cpu, memory) == (140, 400)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI


# --- Pulumi registrations --------------------------------------------------------------------------------


@pytest.fixture
def registrations(tmp_path):
    return probe_registrations(tmp_path / "labs", ["logging"], KIND)


def test_children_belong_to_the_logging_component_on_the_cluster_provider(registrations):
    layer = one(registrations, "labs:layer:Logging")
    assert layer.name == "logging"
    provider = one(registrations, "pulumi:providers:kubernetes")
    children = [r for r in registrations if r.parent == layer.urn]
    kinds = sorted(r.type for r in children)
    assert kinds == ["kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Namespace",
                     "kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v3:Release"]
    assert all(r.provider.startswith(provider.urn) for r in children)


def test_datasource_configmap_waits_for_its_namespace_not_for_the_releases(registrations):
    configmap = one(registrations, "kubernetes:core/v1:ConfigMap")
    namespace = by_object_name(registrations, "kubernetes:core/v1:Namespace")[NAMESPACE]
    releases = by_object_name(registrations, "kubernetes:helm.sh/v3:Release")
    assert namespace.urn in configmap.dependencies
    assert releases["loki"].urn not in configmap.dependencies
    assert releases["alloy"].urn not in configmap.dependencies


def test_loki_and_alloy_do_not_wait_for_the_monitoring_release(tmp_path):
    document = render_with_layers(tmp_path, ["logging"])
    releases = releases_by_name(document)
    for name in ("loki", "alloy"):
        assert not any("kube-prometheus-stack" in dep for dep in releases[name]["depends_on"]), releases[name]["depends_on"]
