"""The loadbalancer layer: MetalLB (layer 2) and its address pool where the target has no load balancers."""
from __future__ import annotations

import json
from dataclasses import replace

from infra.clusters.kind import LB_RANGE_AT_UP
from infra.layers import loadbalancer
from infra.layers.loadbalancer import (
    L2_ADVERTISEMENT, NAMESPACE, PIN, POOL, RELEASE, WORKLOADS, metallb_values,
)
from tests.conftest import check_k8s_render, probe_registrations, render_with_layers
from tests.layer_helpers import (
    KIND, assert_layer_adds_nothing, chart_defaults, checked_requests, kind_capabilities, one,
    patch_kind_capabilities, value_at,
)


def test_kind_render_installs_metallb_with_its_pins_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path, ["loadbalancer"])
    (release,) = document["releases"]
    assert (release["name"], release["namespace"]) == ("metallb", "metallb-system") == (RELEASE, NAMESPACE)
    assert (release["chart"], release["repo"], release["version"]) == (
        "metallb", "https://metallb.github.io/metallb", "0.16.1")
    assert release["values"] == metallb_values(kind_capabilities())
    assert release["depends_on"] == ["Namespace/metallb-system"]
    output = check_k8s_render(shared, document, tmp_path)
    assert "0 errors, 0 warnings" in output


def test_namespace_admits_the_speakers_host_networking(tmp_path):
    document = render_with_layers(tmp_path, ["loadbalancer"])
    (namespace,) = [o for o in document["objects"] if o["kind"] == "Namespace"]
    labels = namespace["metadata"]["labels"]
    assert namespace["metadata"]["name"] == "metallb-system"
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["app.kubernetes.io/managed-by"] == "k8s-labs"


def test_layer_two_only_no_frr_anywhere():
    values = metallb_values(kind_capabilities())
    # The chart defaults frrk8s.enabled to true (a subchart with its own DaemonSet): it must be off.
    assert values["frrk8s"] == {"enabled": False}
    assert values["speaker"]["frr"]["enabled"] is False
    assert "bgp" not in json.dumps(values).lower()


def test_pool_takes_the_targets_address_range_and_the_advertisement_names_it(tmp_path):
    settings = replace(KIND, lb_address_range="172.18.255.200-172.18.255.250")
    document = render_with_layers(tmp_path, ["loadbalancer"], settings)
    objects = {o["kind"]: o for o in document["objects"]}
    pool, l2 = objects["IPAddressPool"], objects["L2Advertisement"]
    assert pool["apiVersion"] == l2["apiVersion"] == "metallb.io/v1beta1"
    assert pool["metadata"] == {"name": POOL, "namespace": "metallb-system",
                                "labels": {"app.kubernetes.io/managed-by": "k8s-labs"}}
    assert pool["spec"] == {"addresses": ["172.18.255.200-172.18.255.250"]}
    assert l2["metadata"]["name"] == L2_ADVERTISEMENT and l2["metadata"]["namespace"] == "metallb-system"
    assert l2["spec"] == {"ipAddressPools": [POOL]}


def test_offline_render_shows_where_the_range_will_come_from(tmp_path):
    document = render_with_layers(tmp_path, ["loadbalancer"])
    (pool,) = [o for o in document["objects"] if o["kind"] == "IPAddressPool"]
    assert pool["spec"]["addresses"] == [LB_RANGE_AT_UP]


def test_custom_resources_wait_for_the_release_and_nothing_else(tmp_path):
    registrations = probe_registrations(tmp_path, ["loadbalancer"], KIND)
    layer = one(registrations, "labs:layer:LoadBalancer")
    provider = one(registrations, "pulumi:providers:kubernetes")
    namespace = one(registrations, "kubernetes:core/v1:Namespace")
    release = one(registrations, "kubernetes:helm.sh/v3:Release")
    pool = one(registrations, "kubernetes:metallb.io/v1beta1:IPAddressPool")
    l2 = one(registrations, "kubernetes:metallb.io/v1beta1:L2Advertisement")
    assert release.dependencies == [namespace.urn]
    cluster = one(registrations, "pulumi-python:dynamic:Resource")
    # The pool's addresses are an output of the kind cluster resource: that dependency is the data's.
    assert set(pool.dependencies) == {release.urn, cluster.urn}
    assert l2.dependencies == [release.urn]  # independent of the pool: created in parallel
    for child in (namespace, release, pool, l2):
        assert child.parent == layer.urn
        assert child.provider.startswith(provider.urn)
    assert namespace.dependencies == []


def test_a_target_with_load_balancers_gets_nothing(tmp_path, monkeypatch):
    patch_kind_capabilities(monkeypatch, load_balancer=True)  # its cluster hands out addresses, as clouds do
    assert_layer_adds_nothing(tmp_path, "loadbalancer", "labs:layer:LoadBalancer")


def test_every_workload_has_requests_and_a_memory_limit_within_budget():
    values = metallb_values(kind_capabilities())
    assert set(WORKLOADS) == {RELEASE}
    containers = {w.container for w in WORKLOADS[RELEASE]}
    assert containers == {"controller", "speaker"}  # FRR off: no frr/reloader/frr-metrics, no init containers
    cpu, memory = checked_requests({RELEASE: values}, WORKLOADS)
    assert next(w for w in WORKLOADS[RELEASE] if w.container == "speaker").per_node
    assert cpu <= 40 and memory <= 128, (cpu, memory)


def test_workload_paths_are_where_the_chart_reads_resources(shared):
    defaults = chart_defaults(shared, PIN.chart, PIN.version)
    for workload in WORKLOADS[RELEASE]:
        assert value_at(defaults, workload.resources_path) == {}  # the chart's own (empty) resources map
    # FRR stays off in the chart defaults we rely on, and frr-k8s is the default we turn off.
    assert defaults["speaker"]["frr"]["enabled"] is False and defaults["frrk8s"]["enabled"] is True


def test_the_registry_resolves_the_component():
    from infra.layers import component_class

    assert component_class("loadbalancer") is loadbalancer.LoadBalancerLayer
    assert loadbalancer.LoadBalancerLayer.type_name == "LoadBalancer"
