"""The monitoring layer: kube-prometheus-stack (Prometheus, Alertmanager, Grafana) in `monitoring`."""
from __future__ import annotations

import json

import pytest

from infra.layers import monitoring
from infra.layers.monitoring import (ALERTMANAGER_URL, GRAFANA_ADMIN_PASSWORD_KEY, GRAFANA_ADMIN_SECRET,
                                     GRAFANA_ADMIN_USER_KEY, GRAFANA_DASHBOARD_LABEL, GRAFANA_DATASOURCE_LABEL, PIN,
                                     PROMETHEUS_URL, RELEASE, WORKLOADS, kube_prometheus_stack_values)
from infra.render import SECRET
from tests.conftest import check_k8s_render, probe_catalog, probe_registrations, record_probe, render_with_layers
from tests.layer_helpers import KIND, checked_requests, kind_capabilities, objects_of_kind, one, release_named
from tests.cloud_helpers import cloud_caps

BUDGET_CPU_M, BUDGET_MEMORY_MI = 320, 900
MOCK_PASSWORD = "Mock-Grafana-Password-4242"


def _release(document: dict) -> dict:
    """The kube-prometheus-stack release of the render."""
    return release_named(document, RELEASE)


@pytest.fixture
def mocked_password(monkeypatch):
    """The mock engine answers RandomPassword with a known `result`, so a leak would be visible."""
    from infra.recording import EchoMocks

    original = EchoMocks.new_resource

    def new_resource(self, args):
        resource_id, outputs = original(self, args)
        if args.typ == "pulumi-python:dynamic:Resource" and args.name == "grafana-admin-password":
            outputs = {**outputs, "result": MOCK_PASSWORD}
        return resource_id, outputs

    monkeypatch.setattr(EchoMocks, "new_resource", new_resource)


def test_kind_render_pins_the_chart_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path, ["monitoring"])
    release = _release(document)
    assert (release["name"], release["namespace"]) == ("kube-prometheus-stack", "monitoring")
    assert (release["chart"], release["repo"], release["version"]) == (
        "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3")
    assert (PIN.chart, PIN.version) == (release["chart"], release["version"])
    assert release["values"] == kube_prometheus_stack_values(kind_capabilities())
    output = check_k8s_render(shared, document, tmp_path)
    assert " 0 errors" in output
    warnings = [line for line in output.splitlines() if line.startswith("warn")]
    # The one key outside the parent chart's values.yaml: a grafana subchart key (see the module doc).
    assert len(warnings) == 1 and "'grafana.testFramework'" in warnings[0], output


def test_the_release_waits_for_its_namespace_only(tmp_path):
    document = render_with_layers(tmp_path, ["monitoring"])
    assert _release(document)["depends_on"] == ["Namespace/monitoring", "kube-prometheus-stack-crds"]
    assert set(objects_of_kind(document, "Namespace")) == {"monitoring"}


@pytest.mark.parametrize("other_layers", [["alerting"], ["monitoring", "ingress"], ["alerting", "ingress"]])
def test_the_release_is_identical_whatever_else_the_lab_has(tmp_path, other_layers):
    """A lab switch must not upgrade the release: same name, values, dependencies in every lab."""
    alone = _release(render_with_layers(tmp_path / "alone", ["monitoring"]))
    other = _release(render_with_layers(tmp_path / "other", other_layers))
    assert other == alone


def test_web_uis_are_ingresses_beside_the_release_only_with_the_ingress_layer(tmp_path):
    without = render_with_layers(tmp_path / "without", ["monitoring"])
    assert objects_of_kind(without, "Ingress") == {}
    document = render_with_layers(tmp_path / "with", ["monitoring", "ingress"])
    ingresses = objects_of_kind(document, "Ingress")
    expected = {
        "grafana-ui": ("grafana.localhost", "kube-prometheus-stack-grafana", 80),
        "prometheus-ui": ("prometheus.localhost", "kube-prometheus-stack-prometheus", 9090),
        "alertmanager-ui": ("alertmanager.localhost", "kube-prometheus-stack-alertmanager", 9093),
    }
    assert set(ingresses) == set(expected)
    for name, (host, service, port) in expected.items():
        ingress = ingresses[name]
        assert ingress["metadata"]["namespace"] == "monitoring"
        (rule,) = ingress["spec"]["rules"]
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert (rule["host"], backend["name"], backend["port"]["number"]) == (host, service, port)
    values = _release(document)["values"]
    for component in ("grafana", "prometheus", "alertmanager"):
        assert "ingress" not in values[component]  # never through the chart's own ingress values


def test_ui_urls_and_in_cluster_urls_are_component_outputs(tmp_path):
    registrations, outputs = record_probe(tmp_path, ["monitoring", "ingress"], KIND)
    layer = one(registrations, "labs:layer:Monitoring")
    out = outputs[layer.urn]
    assert out["grafana_url"] == "http://grafana.localhost/"
    assert out["prometheus_url"] == "http://prometheus.localhost/"
    assert out["alertmanager_url"] == "http://alertmanager.localhost/"
    assert out["prometheus_in_cluster"] == PROMETHEUS_URL == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert out["alertmanager_in_cluster"] == ALERTMANAGER_URL == (
        "http://kube-prometheus-stack-alertmanager.monitoring.svc:9093")
    assert out["grafana_admin_secret"] == "monitoring/grafana-admin"


def test_students_objects_are_selected_without_the_release_label():
    spec = kube_prometheus_stack_values(kind_capabilities())["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind
        assert f"{kind}NamespaceSelector" not in spec  # the chart's default {}: every namespace


def test_alertmanager_applies_every_alertmanagerconfig_to_every_alert():
    spec = kube_prometheus_stack_values(kind_capabilities())["alertmanager"]["alertmanagerSpec"]
    assert spec["alertmanagerConfigSelector"] == {} and spec["alertmanagerConfigNamespaceSelector"] == {}
    assert spec["alertmanagerConfigMatcherStrategy"] == {"type": "None"}


def test_grafana_sidecars_watch_every_namespace_for_the_exported_labels():
    grafana = kube_prometheus_stack_values(kind_capabilities())["grafana"]
    assert GRAFANA_DATASOURCE_LABEL == ("grafana_datasource", "1")
    assert GRAFANA_DASHBOARD_LABEL == ("grafana_dashboard", "1")
    for sidecar, (key, value) in (("datasources", GRAFANA_DATASOURCE_LABEL), ("dashboards", GRAFANA_DASHBOARD_LABEL)):
        settings = grafana["sidecar"][sidecar]
        assert (settings["label"], settings["labelValue"], settings["searchNamespace"]) == (key, value, "ALL")


def test_control_plane_targets_match_the_kind_kubeadm_patches():
    values = kube_prometheus_stack_values(kind_capabilities())
    for component, port in (("kubeControllerManager", 10257), ("kubeScheduler", 10259)):
        assert values[component]["service"] == {"port": port, "targetPort": port}
        assert values[component]["serviceMonitor"] == {"https": True, "insecureSkipVerify": True}
    assert values["kubeEtcd"]["service"] == {"port": 2381, "targetPort": 2381}
    assert values["kubeEtcd"]["serviceMonitor"]["scheme"] == "http"
    assert values["kubeProxy"]["service"] == {"port": 10249, "targetPort": 10249}
    assert values["kubeProxy"]["serviceMonitor"]["https"] is False


def test_kubelet_certificates_are_verified_only_where_the_target_can():
    assert kube_prometheus_stack_values(kind_capabilities())["kubelet"]["serviceMonitor"]["insecureSkipVerify"] is True
    verified = kube_prometheus_stack_values(kind_capabilities(kubelet_certs_verifiable=True))
    assert verified["kubelet"]["serviceMonitor"] == {"https": True, "insecureSkipVerify": False}


def test_lab_sized_retention_without_persistent_storage_and_unused_parts_off():
    values = kube_prometheus_stack_values(kind_capabilities())
    spec = values["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["retentionSize"]) == ("6h", "1GB")
    assert "storageSpec" not in spec and "storage" not in values["alertmanager"]["alertmanagerSpec"]
    assert "persistence" not in values["grafana"]
    assert values["thanosRuler"] == {"enabled": False} and values["windowsMonitoring"] == {"enabled": False}
    assert values["grafana"]["testFramework"] == {"enabled": False}


def test_every_workload_path_has_requests_and_a_memory_limit_within_the_budget():
    values = kube_prometheus_stack_values(kind_capabilities())
    assert set(WORKLOADS) == {RELEASE}
    cpu, memory = checked_requests({RELEASE: values}, WORKLOADS)
    assert (cpu, memory) == (245, 848)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI
    node_exporter = [w for w in WORKLOADS[RELEASE] if w.container == "node-exporter"]
    assert [w.per_node for w in node_exporter] == [True]


def test_config_reloader_has_no_cpu_limit_but_a_memory_limit():
    operator = kube_prometheus_stack_values(kind_capabilities())["prometheusOperator"]
    reloader = operator["prometheusConfigReloader"]["resources"]
    assert reloader["limits"] == {"cpu": "0", "memory": "48Mi"}  # "0": no CPU limit, the operator's convention


def test_footprint_reads_the_layer_within_its_budget(tmp_path):
    from infra.footprint import footprint, totals

    rows = footprint("probe", KIND, probe_catalog(tmp_path, ["monitoring"]))["monitoring"]
    assert [f"{r.owner}/{r.container}" for r in rows if r.lacks_requests] == []
    cpu, memory = totals(rows)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI


def test_grafana_admin_password_is_never_in_clear(tmp_path, mocked_password):
    document = render_with_layers(tmp_path, ["monitoring", "ingress"])
    text = json.dumps(document)
    assert MOCK_PASSWORD not in text
    values = _release(document)["values"]
    assert SECRET not in json.dumps(values)  # no secret Output inside the values
    assert "adminPassword" not in values["grafana"]
    assert values["grafana"]["admin"] == {
        "existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"}
    secret = objects_of_kind(document, "Secret")[GRAFANA_ADMIN_SECRET]
    assert secret["metadata"]["namespace"] == "monitoring"
    assert secret["stringData"] == {GRAFANA_ADMIN_USER_KEY: SECRET, GRAFANA_ADMIN_PASSWORD_KEY: SECRET}


def test_the_secret_holds_the_random_password_as_a_pulumi_secret(tmp_path, mocked_password):
    from pulumi.runtime import rpc

    registrations = probe_registrations(tmp_path, ["monitoring"], KIND)
    [password] = [reg for reg in registrations if reg.name == "grafana-admin-password"]
    secret = one(registrations, "kubernetes:core/v1:Secret")
    layer = one(registrations, "labs:layer:Monitoring")
    assert password.type == "pulumi-python:dynamic:Resource"  # no provider plugin (infra.layers.password)
    assert password.parent == layer.urn and password.inputs["length"] >= 20
    assert rpc.is_rpc_secret(secret.inputs["stringData"])  # the whole map travels as a Pulumi secret
    assert secret.inputs["stringData"]["value"] == {GRAFANA_ADMIN_USER_KEY: "admin",
                                                    GRAFANA_ADMIN_PASSWORD_KEY: MOCK_PASSWORD}
    assert password.urn in secret.dependencies
    release = one(registrations, "kubernetes:helm.sh/v3:Release")
    assert secret.urn not in release.dependencies  # both wait for the namespace only (see the module doc)


def test_module_constants_other_layers_import():
    assert monitoring.NAMESPACE == "monitoring"
    assert monitoring.GRAFANA_ADMIN_SECRET == "grafana-admin"


# --- managed clouds: no scrape of what the provider does not expose ------------------------------------

CLOUDS = ("gke", "eks", "aks")
OFF = {"enabled": False}


def _require_sdk(target: str) -> None:
    from infra.clusters.cloud import EXTRAS

    for module in EXTRAS[target][1]:
        pytest.importorskip(module, reason=f"the {target} extra is not installed")


def test_kind_exposes_its_control_plane_and_the_clouds_do_not():
    kind = kind_capabilities()
    assert (kind.control_plane_visible, kind.kube_proxy_metrics, kind.cluster_dns) == (True, True, "coredns")
    for target in CLOUDS:
        caps = cloud_caps(target)
        assert (caps.control_plane_visible, caps.kube_proxy_metrics) == (False, False), target
    assert {target: cloud_caps(target).cluster_dns for target in CLOUDS} == {
        "gke": "kube-dns", "eks": "coredns", "aks": "coredns"}


@pytest.mark.parametrize("target", CLOUDS)
def test_managed_control_planes_get_no_controller_manager_scheduler_etcd_or_kube_proxy_scrape(target):
    values = kube_prometheus_stack_values(cloud_caps(target))
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        # enabled false: no Service, no ServiceMonitor, and none of the component's alert rules.
        assert values[component] == OFF, (target, component)
    # What the cluster does expose stays scraped: the API server and kubelets (chart defaults, https).
    assert "kubeApiServer" not in values
    assert values["kubelet"]["serviceMonitor"] == {"https": True, "insecureSkipVerify": True}


def test_each_switch_follows_its_own_capability():
    hidden = kube_prometheus_stack_values(kind_capabilities(control_plane_visible=False))
    assert [hidden[c] for c in ("kubeControllerManager", "kubeScheduler", "kubeEtcd")] == [OFF] * 3
    assert hidden["kubeProxy"]["service"] == {"port": 10249, "targetPort": 10249}  # kube-proxy is on the nodes
    no_proxy = kube_prometheus_stack_values(kind_capabilities(kube_proxy_metrics=False))
    assert no_proxy["kubeProxy"] == OFF
    assert no_proxy["kubeEtcd"]["service"] == {"port": 2381, "targetPort": 2381}


def test_dns_is_scraped_as_the_target_runs_it():
    gke = kube_prometheus_stack_values(cloud_caps("gke"))
    assert gke["coreDns"] == OFF and gke["kubeDns"] == {"enabled": True}  # GKE runs kube-dns: no CoreDNS target down
    for caps in (kind_capabilities(), cloud_caps("eks"), cloud_caps("aks")):
        values = kube_prometheus_stack_values(caps)
        assert "coreDns" not in values and "kubeDns" not in values  # the chart's defaults: CoreDNS on, kube-dns off
    from infra.errors import LabsError

    with pytest.raises(LabsError, match="unknown cluster_dns"):
        kube_prometheus_stack_values(kind_capabilities(cluster_dns="unbound"))


def test_the_switches_are_the_charts_own_keys(shared):
    from tests.layer_helpers import chart_defaults

    defaults = chart_defaults(shared, "kube-prometheus-stack", "88.5.3")
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy", "coreDns"):
        assert defaults[component]["enabled"] is True, component  # on by default: off must be written out
    assert defaults["kubeDns"]["enabled"] is False
    assert (defaults["kubeDns"]["service"]["dnsmasq"]["port"], defaults["kubeDns"]["service"]["skydns"]["port"]) == (
        10054, 10055)


def test_kind_keeps_every_control_plane_scrape():
    values = kube_prometheus_stack_values(kind_capabilities())
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert "enabled" not in values[component] and "service" in values[component], component


@pytest.mark.parametrize("target", CLOUDS)
def test_on_a_cloud_the_release_is_identical_whatever_else_the_lab_has_and_passes_the_contract_check(
        target, tmp_path, shared):
    from tests.cloud_helpers import cloud_settings

    _require_sdk(target)
    settings = cloud_settings(target)
    alone_document = render_with_layers(tmp_path / "alone", ["monitoring"], settings)
    alone = _release(alone_document)
    assert alone["values"] == kube_prometheus_stack_values(cloud_caps(target))
    for other_layers in (["alerting"], ["monitoring", "ingress"], ["logging"]):
        other = _release(render_with_layers(tmp_path / "-".join(other_layers), other_layers, settings))
        assert other == alone, other_layers
    output = check_k8s_render(shared, alone_document, tmp_path)
    assert " 0 errors" in output
    warnings = [line for line in output.splitlines() if line.startswith("warn")]
    assert len(warnings) == 1 and "'grafana.testFramework'" in warnings[0], output


def test_the_generated_password_is_made_once_and_kept_until_its_length_changes():
    from infra.layers.password import PasswordProvider

    provider = PasswordProvider()
    first, second = provider.create({"length": 24}), provider.create({"length": 24})
    assert len(first.outs["result"]) == 24 and first.outs["result"].isalnum()
    assert first.outs["result"] != second.outs["result"]  # random, not derived from the inputs
    assert provider.diff(first.id, first.outs, {"length": 24}).changes is False  # later `up`s keep it
    assert provider.diff(first.id, first.outs, {"length": 32}).replaces == ["length"]
