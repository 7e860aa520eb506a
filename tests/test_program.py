"""Pulumi mock tests of the program: the kind cluster, its provider, the layers on it.

They run the real Pulumi SDK under its mock runtime (set_mocks + pulumi.runtime.test, through
infra.render.record_program) and assert on what the program registers.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from infra.catalog import Catalog
from infra.clusters import Capabilities
from infra.layers.gateway_api import STANDARD_INSTALL_URL
from infra.layers.ingress import PIN, traefik_values
from infra.render import record_program
from infra.settings import StackSettings
from tests.conftest import lab_yaml, write_lab

KIND = StackSettings(session="monday")


def by_type(registrations, type_prefix):
    return [reg for reg in registrations if reg.type.startswith(type_prefix)]


def test_cluster_only_stack_has_the_kind_cluster_and_its_provider(catalog):
    registrations, outputs = record_program(KIND, catalog)
    (component,) = by_type(registrations, "labs:cluster:Kind")
    (cluster,) = by_type(registrations, "pulumi-python:dynamic:Resource")
    (provider,) = by_type(registrations, "pulumi:providers:kubernetes")
    assert cluster.inputs["name"] == "labs-monday" and cluster.parent == component.urn
    assert provider.parent == component.urn
    assert not by_type(registrations, "labs:layer:")
    summary = outputs[component.urn]["summary"]
    assert summary["provider"] == "kind" and summary["nodes"] == 3


def test_the_kubeconfig_is_a_secret_wired_into_an_explicit_provider(catalog):
    registrations, outputs = record_program(KIND, catalog)
    (component,) = by_type(registrations, "labs:cluster:Kind")
    from pulumi.runtime import rpc

    assert rpc.is_rpc_secret(outputs[component.urn]["kubeconfig"])
    (provider,) = by_type(registrations, "pulumi:providers:kubernetes")
    assert "kubeconfig" in provider.inputs
    assert provider.inputs.get("enableServerSideApply") in ("true", True)
    # Never on the provider: the driver sets it for a final destroy, or for an up whose cluster kind says
    # is gone; an API server briefly down must fail a refresh, not empty the state (issue 16).
    assert "deleteUnreachable" not in provider.inputs


def test_ingress_lab_installs_traefik_with_its_pins_on_the_cluster_provider(catalog):
    registrations, _ = record_program(replace(KIND, lab="ingress"), catalog)
    (provider,) = by_type(registrations, "pulumi:providers:kubernetes")
    (release,) = by_type(registrations, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["name"] == "traefik" and release.inputs["namespace"] == "traefik"
    assert (release.inputs["chart"], release.inputs["version"]) == ("traefik", "41.3.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://traefik.github.io/charts"
    assert release.provider.startswith(provider.urn)
    (namespace,) = by_type(registrations, "kubernetes:core/v1:Namespace")
    assert namespace.provider.startswith(provider.urn)


def test_traefik_waits_for_the_gateway_api_crds(catalog):
    registrations, _ = record_program(replace(KIND, lab="ingress"), catalog)
    (crds,) = by_type(registrations, "kubernetes:yaml/v2:ConfigFile")
    (release,) = by_type(registrations, "kubernetes:helm.sh/v3:Release")
    assert crds.inputs["file"] == STANDARD_INSTALL_URL and "v1.6.1" in STANDARD_INSTALL_URL
    assert crds.urn in release.dependencies
    layers = {reg.name: reg.type for reg in by_type(registrations, "labs:layer:")}
    assert layers == {"gateway-api": "labs:layer:GatewayApi", "ingress": "labs:layer:Ingress"}


def _caps(exposure: str) -> Capabilities:
    return Capabilities(provider="x", load_balancer=exposure == "load-balancer", ingress_exposure=exposure,
                        http_port=80, https_port=443, default_storage_class="standard", metrics_server=False)


def test_traefik_on_kind_listens_on_host_ports_of_the_ingress_node():
    values = traefik_values(_caps("host-ports"))
    assert values["ports"] == {"web": {"hostPort": 80}, "websecure": {"hostPort": 443}}
    assert values["nodeSelector"] == {"ingress-ready": "true"}
    assert values["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    assert values["providers"]["kubernetesIngress"]["enabled"] and values["providers"]["kubernetesGateway"]["enabled"]
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert values["gateway"]["listeners"]["web"]["namespacePolicy"] == {"from": "All"}
    assert values["resources"]["requests"] and values["resources"]["limits"]["memory"]


def test_traefik_behind_a_cloud_load_balancer_uses_no_host_port():
    values = traefik_values(_caps("load-balancer"))
    assert "ports" not in values and "nodeSelector" not in values and "service" not in values


def test_render_values_are_the_values_the_layer_computes(catalog):
    from infra.render import render

    document = render("ingress", KIND, catalog)
    (release,) = document["releases"]
    assert release["values"] == traefik_values(_caps("host-ports"))
    assert release["version"] == PIN.version


@pytest.fixture
def two_labs(tmp_path) -> Catalog:
    """Two labs that share the gateway-api layer; only one needs Traefik."""
    write_lab(tmp_path, "01-routes", lab_yaml("routes", layers="[gateway-api]", slide="Routes"))
    write_lab(tmp_path, "07-ingress", lab_yaml("ingress"))
    return Catalog.load(tmp_path)


def test_switching_labs_converges_to_each_labs_closure(two_labs):
    def layer_names(lab):
        registrations, _ = record_program(replace(KIND, lab=lab), two_labs)
        return sorted(reg.name for reg in by_type(registrations, "labs:layer:"))

    assert layer_names("ingress") == ["gateway-api", "ingress"]
    assert layer_names("routes") == ["gateway-api"]
    assert layer_names("") == []


def test_a_shared_layer_registers_identically_in_both_labs(two_labs):
    def crds(lab):
        registrations, _ = record_program(replace(KIND, lab=lab), two_labs)
        (config_file,) = by_type(registrations, "kubernetes:yaml/v2:ConfigFile")
        return config_file.urn, config_file.inputs

    assert crds("routes") == crds("ingress")
