"""The metrics layer: metrics-server in kube-system, for `kubectl top` and the HPA."""
from __future__ import annotations

from dataclasses import replace

import pytest

from infra.catalog import Catalog
from infra.clusters import Capabilities
from infra.clusters.kind import KindTarget
from infra.layers import component_class, metrics
from infra.layers.metrics import KUBELET_INSECURE_TLS, PIN, RELEASE, WORKLOADS, metrics_server_values
from infra.render import record_program
from infra.settings import StackSettings
from tests.conftest import check_k8s_render, lab_yaml, render_with_layers, write_lab

KIND = StackSettings(session="monday")
NODES = 3


def _caps(**changes) -> Capabilities:
    return replace(KindTarget().capabilities(KIND), **changes)


def _at(values: dict, dotted: str):
    node = values
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"{dotted}: no '{key}'"
        node = node[key]
    return node


@pytest.fixture
def probe_catalog(tmp_path) -> Catalog:
    write_lab(tmp_path / "labs", "99-probe", lab_yaml("probe", layers="[metrics]", slide="Probe"))
    return Catalog.load(tmp_path / "labs")


def _registrations(catalog):
    registrations, _ = record_program(replace(KIND, lab="probe"), catalog)
    return registrations


@pytest.fixture
def preinstalled_metrics_server(monkeypatch):
    """The kind target, pretending its provider preinstalls metrics-server (as most clouds do)."""
    original = KindTarget.capabilities
    monkeypatch.setattr(KindTarget, "capabilities", lambda self, s: replace(original(self, s), metrics_server=True))


def test_kind_render_installs_metrics_server_in_kube_system_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path, ["metrics"])
    (release,) = document["releases"]
    assert (release["name"], release["namespace"]) == ("metrics-server", "kube-system")
    assert (release["chart"], release["repo"], release["version"]) == (
        "metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.1")
    assert release["values"] == metrics_server_values(_caps())
    output = check_k8s_render(shared, document, tmp_path)
    assert "0 errors, 0 warnings" in output


def test_kube_system_is_neither_created_nor_waited_for(tmp_path, probe_catalog):
    document = render_with_layers(tmp_path / "render", ["metrics"])
    assert document["objects"] == []  # no Namespace object: deleting the layer must not touch kube-system
    (release,) = document["releases"]
    assert release["depends_on"] == []
    registrations = _registrations(probe_catalog)
    assert not [r for r in registrations if r.type == "kubernetes:core/v1:Namespace"]
    (layer,) = [r for r in registrations if r.type == "labs:layer:Metrics"]
    (provider,) = [r for r in registrations if r.type == "pulumi:providers:kubernetes"]
    (helm,) = [r for r in registrations if r.type == "kubernetes:helm.sh/v3:Release"]
    assert helm.parent == layer.urn and helm.provider.startswith(provider.urn)
    assert helm.inputs["atomic"] is True and helm.inputs["name"] == "metrics-server"


def test_kind_kubelets_are_scraped_without_verifying_their_certificates():
    values = metrics_server_values(_caps())
    assert values["args"] == [KUBELET_INSECURE_TLS] == ["--kubelet-insecure-tls"]


def test_verifiable_kubelet_certificates_keep_tls_verification_on():
    values = metrics_server_values(_caps(kubelet_certs_verifiable=True))
    assert KUBELET_INSECURE_TLS not in values["args"]
    assert values["resources"] == metrics_server_values(_caps())["resources"]


def test_only_the_metrics_server_container_runs():
    values = metrics_server_values(_caps())
    assert values["addonResizer"] == {"enabled": False}
    assert [w.container for w in WORKLOADS[RELEASE]] == ["metrics-server"]


def test_a_provider_with_metrics_server_gets_nothing(tmp_path, probe_catalog, preinstalled_metrics_server):
    registrations = _registrations(probe_catalog)
    (layer,) = [r for r in registrations if r.type == "labs:layer:Metrics"]
    assert [r for r in registrations if r.parent == layer.urn] == []
    document = render_with_layers(tmp_path / "render", ["metrics"])
    assert document["releases"] == [] and document["objects"] == []


def test_every_workload_has_requests_and_a_memory_limit_within_budget():
    values = metrics_server_values(_caps())
    assert set(WORKLOADS) == {RELEASE}
    cpu = memory = 0.0
    for workload in WORKLOADS[RELEASE]:
        resources = _at(values, workload.resources_path)
        requests = resources["requests"]
        assert requests["cpu"].endswith("m") and requests["memory"].endswith("Mi")
        assert resources["limits"]["memory"]
        count = NODES if workload.per_node else workload.replicas
        cpu += float(requests["cpu"][:-1]) * count
        memory += float(requests["memory"][:-2]) * count
    assert cpu <= 25 and memory <= 64, (cpu, memory)


def test_workload_paths_are_where_the_chart_reads_resources(shared):
    import yaml

    defaults = yaml.safe_load((shared / "charts" / PIN.chart / PIN.version / "values.yaml").read_text())
    for workload in WORKLOADS[RELEASE]:
        assert "requests" in _at(defaults, workload.resources_path)  # the chart's 100m / 200Mi we replace
    assert defaults["addonResizer"]["enabled"] is False and defaults["args"] == []


def test_the_registry_resolves_the_component():
    assert component_class("metrics") is metrics.MetricsLayer
    assert metrics.MetricsLayer.type_name == "Metrics"
