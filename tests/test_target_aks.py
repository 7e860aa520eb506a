"""The AKS target under the Pulumi mock runtime: resource group, cluster, autoscaling system pool,
tags, kubeconfig from the user-credentials call (needs the aks extra)."""
from __future__ import annotations

import base64

import pytest

pytest.importorskip("pulumi_azure_native", reason="the aks extra is not installed (pip install -e '.[aks]')")

from infra.clusters import aks  # noqa: E402
from tests.cloud_helpers import (  # noqa: E402
    LABELS, assert_kubeconfig_is_a_secret_wired_into_the_provider, cloud_settings, one, record,
)

CLUSTER = "azure-native:containerservice:ManagedCluster"


@pytest.fixture(scope="module")
def recorded():
    return record("aks")


def test_a_resource_group_holds_the_cluster(recorded):
    registrations, _ = recorded
    group = one(registrations, "azure-native:resources:ResourceGroup")
    assert group.inputs["resourceGroupName"] == "labs-monday" and group.inputs["location"] == "eastus"
    cluster = one(registrations, CLUSTER).inputs
    assert cluster["resourceName"] == "labs-monday" and cluster["location"] == "eastus"
    assert cluster["nodeResourceGroup"] == "labs-monday-nodes"
    assert cluster["kubernetesVersion"] == "1.35" and cluster["sku"] == {"name": "Base", "tier": "Free"}
    assert cluster["identity"] == {"type": "SystemAssigned"}


def test_the_system_pool_autoscales_within_the_bounds(recorded):
    registrations, _ = recorded
    (pool,) = one(registrations, CLUSTER).inputs["agentPoolProfiles"]
    assert (pool["name"], pool["mode"], pool["type"]) == ("system", "System", "VirtualMachineScaleSets")
    assert pool["enableAutoScaling"] is True and (pool["minCount"], pool["maxCount"], pool["count"]) == (2, 5, 2)
    assert pool["vmSize"] == "Standard_D4s_v5"  # a System pool: 4 vCPUs at least, no B-series
    assert one(registrations, CLUSTER).inputs["autoScalerProfile"] == {"scaleDownUnneededTime": "2m",
                                                                      "scaleDownDelayAfterAdd": "2m"}


def test_a_system_pool_never_goes_below_two_nodes():
    """AKS's System pool minimum (two nodes), whatever minNodes says; a maxNodes below it is one line."""
    registrations, _ = record("aks", min_nodes=0, max_nodes=3, workers=1)
    (pool,) = one(registrations, CLUSTER).inputs["agentPoolProfiles"]
    assert (pool["minCount"], pool["maxCount"], pool["count"]) == (2, 3, 2)
    from infra.clusters import cloud
    from infra.errors import LabsError

    with pytest.raises(LabsError, match=r"maxNodes \(1\) is below the 2 nodes a aks pool needs"):
        cloud.node_counts(cloud_settings("aks", max_nodes=1, min_nodes=0))


@pytest.mark.parametrize("size, vm", [("M", "Standard_D8s_v5"), ("L", "Standard_D16s_v5")])
def test_node_sizes_pick_the_vm_size(size, vm):
    registrations, _ = record("aks", node_size=size)
    assert one(registrations, CLUSTER).inputs["agentPoolProfiles"][0]["vmSize"] == vm


def test_the_pool_count_is_left_to_the_autoscaler(monkeypatch):
    import pulumi_azure_native

    seen = {}
    real = pulumi_azure_native.containerservice.ManagedCluster.__init__

    def spy(self, name, *args, opts=None, **kwargs):
        seen["ignore_changes"] = opts.ignore_changes
        real(self, name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(pulumi_azure_native.containerservice.ManagedCluster, "__init__", spy)
    record("aks")
    assert seen["ignore_changes"] == ["agentPoolProfiles[0].count"]


def test_every_azure_resource_carries_the_session_tags(recorded):
    registrations, _ = recorded
    assert one(registrations, "azure-native:resources:ResourceGroup").inputs["tags"] == LABELS
    cluster = one(registrations, CLUSTER).inputs
    assert cluster["tags"] == LABELS and cluster["agentPoolProfiles"][0]["tags"] == LABELS
    provider = one(registrations, "pulumi:providers:azure-native")
    azure = [reg for reg in registrations if reg.type.startswith("azure-native:")]
    assert all(reg.provider.startswith(provider.urn + "::") for reg in azure)


def test_the_kubeconfig_is_a_secret_feeding_the_provider_after_the_cluster(recorded):
    registrations, outputs = recorded
    component, _ = assert_kubeconfig_is_a_secret_wired_into_the_provider(
        registrations, outputs, "labs:cluster:Aks", "azure-native:containerservice:ManagedCluster::aks")
    summary = outputs[component.urn]["summary"]
    assert summary["provider"] == "aks" and summary["config"]["system_pool"]["autoscaling"] == {"min": 2, "max": 5}
    assert summary["config"]["tags"] == LABELS


def test_the_user_credentials_kubeconfig_is_base64_decoded():
    text = "apiVersion: v1\nkind: Config\n"
    encoded = base64.b64encode(text.encode()).decode()
    assert aks.decode_kubeconfig([{"name": "clusterUser", "value": encoded}]) == text

    class Credential:
        value = encoded

    assert aks.decode_kubeconfig([Credential()]) == text
    assert aks.decode_kubeconfig([]) == "" and aks.decode_kubeconfig(None) == ""


def test_the_kubeconfig_comes_from_list_managed_cluster_user_credentials(monkeypatch):
    """The program calls the user-credentials invoke on the cluster's group and name."""
    import pulumi_azure_native

    calls = []
    real = pulumi_azure_native.containerservice.list_managed_cluster_user_credentials_output

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(pulumi_azure_native.containerservice, "list_managed_cluster_user_credentials_output", spy)
    record("aks")
    (call,) = calls
    assert set(call) >= {"resource_group_name", "resource_name", "opts"}


def test_public_ips_are_tagged_through_the_service_annotation():
    from infra.clusters.capabilities import BY_TARGET

    annotations = BY_TARGET["aks"](cloud_settings("aks")).load_balancer_annotations
    assert annotations == {"service.beta.kubernetes.io/azure-pip-tags":
                           "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z"}


def test_network_policies_are_enforced_by_cilium(recorded):
    registrations, _ = recorded
    profile = one(registrations, CLUSTER).inputs["networkProfile"]
    chosen = {key: profile[key] for key in ("networkPlugin", "networkPluginMode", "networkDataplane", "networkPolicy")}
    assert chosen == {"networkPlugin": "azure", "networkPluginMode": "overlay", "networkDataplane": "cilium",
                      "networkPolicy": "cilium"}
    from tests.cloud_helpers import cloud_caps

    assert cloud_caps("aks").network_policy_enforced is True


def test_the_autoscaler_lab_gets_a_user_pool_that_scales_from_zero():
    registrations, _ = record("aks", lab="cluster-autoscaler")
    pool = one(registrations, "azure-native:containerservice:AgentPool").inputs
    assert (pool["agentPoolName"], pool["mode"], pool["vmSize"]) == ("autoscaled", "User", "Standard_D4s_v5")
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"], pool["count"]) == (True, 0, 5, 0)
    assert pool["nodeLabels"]["labs.k8s/autoscaled"] == "true"
    assert pool["nodeTaints"] == ["labs.k8s/autoscaled=true:NoSchedule"]
    registrations, _ = record("aks", lab="pods")
    assert not [reg for reg in registrations if reg.type == "azure-native:containerservice:AgentPool"]
