"""The metrics layer: metrics-server in kube-system, for `kubectl top` and the HPA."""
from __future__ import annotations

from infra.layers import component_class, metrics
from infra.layers.metrics import KUBELET_INSECURE_TLS, PIN, RELEASE, WORKLOADS, metrics_server_values
from tests.conftest import check_k8s_render, probe_registrations, render_with_layers
from tests.layer_helpers import (
    KIND, assert_layer_adds_nothing, chart_defaults, checked_requests, kind_capabilities, one,
    patch_kind_capabilities, value_at,
)


def test_kind_render_installs_metrics_server_in_kube_system_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path, ["metrics"])
    (release,) = document["releases"]
    assert (release["name"], release["namespace"]) == ("metrics-server", "kube-system")
    assert (release["chart"], release["repo"], release["version"]) == (
        "metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.1")
    assert release["values"] == metrics_server_values(kind_capabilities())
    output = check_k8s_render(shared, document, tmp_path)
    assert "0 errors, 0 warnings" in output


def test_kube_system_is_neither_created_nor_waited_for(tmp_path):
    document = render_with_layers(tmp_path / "render", ["metrics"])
    assert document["objects"] == []  # no Namespace object: deleting the layer must not touch kube-system
    (release,) = document["releases"]
    assert release["depends_on"] == []
    registrations = probe_registrations(tmp_path / "labs", ["metrics"], KIND)
    assert not [r for r in registrations if r.type == "kubernetes:core/v1:Namespace"]
    layer = one(registrations, "labs:layer:Metrics")
    provider = one(registrations, "pulumi:providers:kubernetes")
    helm = one(registrations, "kubernetes:helm.sh/v3:Release")
    assert helm.parent == layer.urn and helm.provider.startswith(provider.urn)
    assert helm.inputs["atomic"] is True and helm.inputs["name"] == "metrics-server"


def test_kind_kubelets_are_scraped_without_verifying_their_certificates():
    values = metrics_server_values(kind_capabilities())
    assert values["args"] == [KUBELET_INSECURE_TLS] == ["--kubelet-insecure-tls"]


def test_verifiable_kubelet_certificates_keep_tls_verification_on():
    values = metrics_server_values(kind_capabilities(kubelet_certs_verifiable=True))
    assert KUBELET_INSECURE_TLS not in values["args"]
    assert values["resources"] == metrics_server_values(kind_capabilities())["resources"]


def test_only_the_metrics_server_container_runs():
    values = metrics_server_values(kind_capabilities())
    assert values["addonResizer"] == {"enabled": False}
    assert [w.container for w in WORKLOADS[RELEASE]] == ["metrics-server"]


def test_a_provider_with_metrics_server_gets_nothing(tmp_path, monkeypatch):
    patch_kind_capabilities(monkeypatch, metrics_server=True)  # preinstalled, as by most clouds
    assert_layer_adds_nothing(tmp_path, "metrics", "labs:layer:Metrics")


def test_every_workload_has_requests_and_a_memory_limit_within_budget():
    values = metrics_server_values(kind_capabilities())
    assert set(WORKLOADS) == {RELEASE}
    cpu, memory = checked_requests({RELEASE: values}, WORKLOADS)
    for workload in WORKLOADS[RELEASE]:
        requests = value_at(values, workload.resources_path)["requests"]
        assert requests["cpu"].endswith("m") and requests["memory"].endswith("Mi")
    assert cpu <= 25 and memory <= 64, (cpu, memory)


def test_workload_paths_are_where_the_chart_reads_resources(shared):
    defaults = chart_defaults(shared, PIN.chart, PIN.version)
    for workload in WORKLOADS[RELEASE]:
        assert "requests" in value_at(defaults, workload.resources_path)  # the chart's 100m / 200Mi we replace
    assert defaults["addonResizer"]["enabled"] is False and defaults["args"] == []


def test_the_registry_resolves_the_component():
    assert component_class("metrics") is metrics.MetricsLayer
    assert metrics.MetricsLayer.type_name == "Metrics"
