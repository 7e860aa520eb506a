"""The ingress layer: Traefik on kind's host ports, or behind the cloud's load balancer with the target's
Service annotations (load balancer type, the session's tags)."""
from __future__ import annotations

import json

import pytest

from infra.layers.ingress import PIN, traefik_values
from tests.conftest import check_k8s_render, render_with_layers
from tests.layer_helpers import chart_defaults, kind_capabilities, release_named, value_at
from tests.cloud_helpers import cloud_caps

CLOUDS = ("gke", "eks", "aks")
TAGS = "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z"


def test_kind_listens_on_host_ports_with_no_service_annotations():
    values = traefik_values(kind_capabilities())
    assert values["ports"] == {"web": {"hostPort": 80}, "websecure": {"hostPort": 443}}
    assert values["service"] == {"spec": {"type": "ClusterIP"}}


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
