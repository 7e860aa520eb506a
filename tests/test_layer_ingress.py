"""The ingress layer: Traefik on kind's host ports, or behind the cloud's load balancer with the target's
Service annotations (load balancer type, the session's tags)."""
from __future__ import annotations

import json

import pytest

from infra.clusters.capabilities import BY_TARGET
from infra.layers.ingress import PIN, traefik_values
from infra.settings import StackSettings
from tests.conftest import check_k8s_render, render_with_layers
from tests.layer_helpers import chart_defaults, kind_capabilities, release_named, value_at
from tests.cloud_helpers import cloud_caps

CLOUDS = ("gke", "eks", "aks")
TAGS = "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z"


def test_kind_listens_on_host_ports_with_no_service_annotations():
    values = traefik_values(kind_capabilities())
    assert values["ports"] == {"web": {"hostPort": 80}, "websecure": {"hostPort": 443}}
    assert values["service"] == {"spec": {"type": "ClusterIP"}}


def test_kind_reports_localhost_as_the_ingress_and_gateway_address_by_default():
    providers = traefik_values(kind_capabilities())["providers"]
    assert providers["kubernetesIngress"]["ingressEndpoint"] == {"hostname": "localhost"}
    assert providers["kubernetesIngress"]["publishedService"] == {"enabled": False}  # no Service address to copy
    assert providers["kubernetesGateway"]["statusAddress"] == {"hostname": "localhost", "service": {"enabled": False}}


def test_a_lan_classroom_reports_the_ip_its_base_domain_names():
    """Students' `kubectl get ingress` shows where they reach it: 192.168.1.10, not their own localhost."""
    caps = BY_TARGET["kind"](StackSettings(base_domain="192.168.1.10.sslip.io"))
    providers = traefik_values(caps)["providers"]
    assert providers["kubernetesIngress"]["ingressEndpoint"] == {"ip": "192.168.1.10"}
    assert providers["kubernetesGateway"]["statusAddress"] == {"ip": "192.168.1.10", "service": {"enabled": False}}


@pytest.mark.parametrize("base_domain, address", [
    ("localhost", {"hostname": "localhost"}),
    ("10.0.0.5.nip.io", {"ip": "10.0.0.5"}),
    ("labs.10.0.0.5.sslip.io", {"ip": "10.0.0.5"}),
    ("192-168-1-10.sslip.io", {"ip": "192.168.1.10"}),
    ("Labs-192-168-1-10.NIP.io", {"ip": "192.168.1.10"}),
    ("999.1.2.3.sslip.io", {"hostname": "localhost"}),  # not an IP
    ("1.2-3.4.sslip.io", {"hostname": "localhost"}),  # mixed separators name no IP
    ("10.0.0.5.example.org", {"hostname": "localhost"}),  # a domain of one's own: no IP to read from it
])
def test_the_status_address_reads_the_ip_only_from_a_wildcard_dns_name(base_domain, address):
    caps = BY_TARGET["kind"](StackSettings(base_domain=base_domain))
    assert traefik_values(caps)["providers"]["kubernetesIngress"]["ingressEndpoint"] == address


def test_a_lan_classroom_with_a_domain_of_its_own_reports_its_lan_address():
    caps = BY_TARGET["kind"](StackSettings(api_server_address="192.168.1.10", base_domain="labs.example.org"))
    assert caps.base_domain == "labs.example.org"
    providers = traefik_values(caps)["providers"]
    assert providers["kubernetesIngress"]["ingressEndpoint"] == {"ip": "192.168.1.10"}
    assert providers["kubernetesGateway"]["statusAddress"]["ip"] == "192.168.1.10"


def test_the_status_address_keys_are_the_charts(shared):
    defaults = chart_defaults(shared, "traefik", PIN.version)
    for key in ("ip", "hostname"):
        assert value_at(defaults, f"providers.kubernetesIngress.ingressEndpoint.{key}") == ""
        assert value_at(defaults, f"providers.kubernetesGateway.statusAddress.{key}") == ""
    assert value_at(defaults, "providers.kubernetesGateway.statusAddress.service.enabled") is True


def test_a_lan_session_render_carries_the_ip_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path / "labs", ["ingress"], StackSettings(api_server_address="192.168.1.10"))
    values = release_named(document, "traefik")["values"]
    assert values["providers"]["kubernetesIngress"]["ingressEndpoint"] == {"ip": "192.168.1.10"}
    assert values["providers"]["kubernetesGateway"]["statusAddress"]["ip"] == "192.168.1.10"
    output = check_k8s_render(shared, document, tmp_path)
    assert " 0 errors" in output and "providers" not in output, output


def test_load_balancer_exposure_puts_the_targets_annotations_on_traefiks_service():
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "example.com/tags": "a=b"}
    caps = kind_capabilities(ingress_exposure="load-balancer", load_balancer=True, load_balancer_annotations=annotations)
    values = traefik_values(caps)
    assert values["service"] == {"annotations": annotations}  # the chart's `type: LoadBalancer` stays
    assert values["service"]["annotations"] is not caps.load_balancer_annotations  # a copy, not the capability's dict
    assert "ports" not in values and "nodeSelector" not in values


def test_without_annotations_the_service_is_left_to_the_chart():
    caps = kind_capabilities(ingress_exposure="load-balancer", load_balancer=True)
    assert "service" not in traefik_values(caps)


def test_each_cloud_gets_its_own_load_balancer_annotations():
    eks = traefik_values(cloud_caps("eks"))["service"]["annotations"]
    assert eks == {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                   "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": TAGS}
    aks = traefik_values(cloud_caps("aks"))["service"]["annotations"]
    assert aks == {"service.beta.kubernetes.io/azure-pip-tags": TAGS}
    assert "service" not in traefik_values(cloud_caps("gke"))  # GKE declares none
    for target in CLOUDS:
        assert traefik_values(cloud_caps(target)).get("service", {}).get("annotations", {}) == (
            cloud_caps(target).load_balancer_annotations), target


def test_service_annotations_is_a_key_of_the_chart(shared):
    defaults = chart_defaults(shared, "traefik", PIN.version)
    assert value_at(defaults, "service.annotations") == {}
    assert value_at(defaults, "service.spec.type") == "LoadBalancer"
    schema = json.loads((shared / "charts" / "traefik" / PIN.version / "values.schema.json").read_text())
    assert schema["properties"]["service"]["properties"]["annotations"]["type"] == "object"


@pytest.mark.parametrize("target", CLOUDS)
def test_cloud_render_carries_the_annotations_and_passes_the_contract_check(target, tmp_path, shared):
    from infra.clusters.cloud import EXTRAS
    from tests.cloud_helpers import cloud_settings

    for module in EXTRAS[target][1]:
        pytest.importorskip(module, reason=f"the {target} extra is not installed")
    document = render_with_layers(tmp_path / "labs", ["ingress"], cloud_settings(target))
    values = release_named(document, "traefik")["values"]
    assert values == traefik_values(cloud_caps(target))
    assert values.get("service", {}).get("annotations", {}) == cloud_caps(target).load_balancer_annotations
    output = check_k8s_render(shared, document, tmp_path)
    assert " 0 errors" in output
    assert "service" not in " ".join(line for line in output.splitlines() if line.startswith("warn")), output
