"""The AKS target: a resource group and an AKS cluster with an autoscaling system pool
(pulumi_azure_native).

Resources (children of the `labs:cluster:Aks` component, on an explicit azure-native provider in
`region`; Azure has no provider-wide default tags, so each resource is given the session's tags):
  - resources.ResourceGroup `labs-<session>`.
  - containerservice.ManagedCluster `labs-<session>`: `kubernetesVersion` (a minor: AKS picks its
    latest patch), Free tier (no control-plane fee, no uptime SLA: a lab), system-assigned
    identity, node resource group `labs-<session>-nodes` (where AKS puts the scale set, its disks,
    the load balancer and public IPs: AKS deletes it with the cluster), one agent pool `system`
    (mode System, VirtualMachineScaleSets, `nodeSize` -> Standard_D4s_v5 / Standard_D8s_v5 /
    Standard_D16s_v5 (a System pool takes no B-series and 4 vCPUs at least: cloud.NODE_SIZES),
    `workers` nodes at creation, autoscaling between `minNodes` (at least 2: AKS's minimum for a
    System pool) and `maxNodes`, the session tags on the scale set), the
    cluster autoscaler profile that scales down after 2 minutes (labs want nodes to go away), Azure
    CNI Overlay with the Cilium dataplane and network policy engine (NetworkPolicies enforced), the
    session tags on the cluster. `ignore_changes` on the pool's node count: the autoscaler owns it
    once the cluster exists.
  - containerservice.AgentPool `autoscaled`, while a lab using the autoscaler layer is up: a User
    pool of 0 to 5 nodes of 4 vCPUs with the label and taint `labs.k8s/autoscaled=true` (NoSchedule)
    the autoscaler lab's pods select and tolerate.
The kubeconfig comes from the listManagedClusterUserCredentials call (base64-decoded), as a Pulumi
secret, and feeds an explicit pulumi_kubernetes.Provider that waits for the cluster. Local accounts
stay on (no Entra ID integration), so the kubeconfig needs no kubelogin.

Provided (capabilities): load balancers (Azure cloud provider), StorageClasses `managed-csi`
(default, StandardSSD_LRS) and `managed-csi-premium` (Premium_LRS) from the Azure Disk CSI driver
(`disk.csi.azure.com`, expansion allowed), the snapshot controller and the VolumeSnapshotClass
`csi-azuredisk-vsc`, metrics-server, node-pool autoscaling.
Credentials: `az login` (and `az account set -s <subscription>`); no service principal.
"""
from __future__ import annotations

import base64

import pulumi

from infra.clusters import AUTOSCALED_LABEL, AUTOSCALED_TAINT, cloud
from infra.settings import StackSettings

PROVIDER = "aks"
POOL = "system"
SCALE_DOWN_AFTER = "2m"


def decode_kubeconfig(kubeconfigs) -> str:
    """The first kubeconfig of listManagedClusterUserCredentials (values are base64)."""
    if not kubeconfigs:
        return ""
    first = kubeconfigs[0]
    value = first.get("value") if isinstance(first, dict) else getattr(first, "value", None)
    return base64.b64decode(value).decode() if value else ""


class AksClusterComponent(pulumi.ComponentResource):
    """The resource group, the AKS cluster, and the Kubernetes provider bound to its kubeconfig."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:Aks", "cluster", None, opts)
        (azure,) = cloud.require_sdk(PROVIDER)
        name = cloud.cluster_name(settings)
        tags = cloud.labels(settings)
        nodes, low, high = cloud.node_counts(settings)  # a System pool keeps two nodes (cloud.MIN_POOL_NODES)
        machine = cloud.machine_type(settings)

        provider = azure.Provider("azure", location=settings.region or None, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.resource_group = azure.resources.ResourceGroup(
            "rg", resource_group_name=name, location=settings.region, tags=tags, opts=child)
        cs = azure.containerservice
        self.cluster = cs.ManagedCluster(
            "aks",
            resource_name_=name,
            resource_group_name=self.resource_group.name,
            location=settings.region,
            dns_prefix=name,
            kubernetes_version=settings.kubernetes_version or None,
            sku=cs.ManagedClusterSKUArgs(name="Base", tier="Free"),
            identity=cs.ManagedClusterIdentityArgs(type=cs.ResourceIdentityType.SYSTEM_ASSIGNED),
            node_resource_group=f"{name}-nodes",
            enable_rbac=True,
            agent_pool_profiles=[cs.ManagedClusterAgentPoolProfileArgs(
                name=POOL,
                mode="System",
                type="VirtualMachineScaleSets",
                os_type="Linux",
                vm_size=machine,
                os_disk_size_gb=cloud.NODE_DISK_GB,
                count=nodes,
                enable_auto_scaling=True,
                min_count=low,
                max_count=high,
                tags=tags,
            )],
            # Azure CNI Overlay powered by Cilium, which enforces NetworkPolicies (without a network
            # policy engine AKS enforces none: "none ... the default value when NetworkPolicy is not
            # specified"; network_policy "cilium" requires network_dataplane "cilium"; SDK enums
            # NetworkPolicy/NetworkDataplane, https://learn.microsoft.com/azure/aks/use-network-policies).
            network_profile=cs.ContainerServiceNetworkProfileArgs(
                network_plugin=cs.NetworkPlugin.AZURE, network_plugin_mode=cs.NetworkPluginMode.OVERLAY,
                network_dataplane=cs.NetworkDataplane.CILIUM, network_policy=cs.NetworkPolicy.CILIUM),
            auto_scaler_profile=cs.ManagedClusterPropertiesAutoScalerProfileArgs(
                scale_down_unneeded_time=SCALE_DOWN_AFTER, scale_down_delay_after_add=SCALE_DOWN_AFTER),
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                ignore_changes=["agentPoolProfiles[0].count"])),
        )
        self._lab_pool_context = (cs, settings, tags, child)
        credentials = cs.list_managed_cluster_user_credentials_output(
            resource_group_name=self.resource_group.name, resource_name=self.cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider, depends_on=[self.cluster]),
        )
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(decode_kubeconfig))
        self.provider = cloud.k8s_provider(self, self.kubeconfig, [self.cluster])
        summary = {
            "provider": PROVIDER,
            "name": name,
            "kubernetes_version": settings.kubernetes_version,
            "nodes": nodes,
            "config": {
                "location": settings.region,
                "resource_group": name,
                "node_resource_group": f"{name}-nodes",
                "tier": "Free",
                "network": {"plugin": "azure", "mode": "overlay", "dataplane": "cilium", "policy": "cilium"},
                "system_pool": {"name": POOL, "vm_size": machine, "size": settings.node_size,
                                "autoscaling": {"min": low, "max": high}},
                "tags": tags,
            },
        }
        self.register_outputs({"summary": summary, "kubeconfig": self.kubeconfig})

    def add_lab_node_group(self):
        """The autoscaler lab's pool (the autoscaler layer asks for it): a User pool (a System pool cannot
        scale to zero) of 0 to LAB_GROUP_MAX nodes with the lab's label and taint; AKS's autoscaler grows it."""
        cs, settings, tags, opts = self._lab_pool_context
        node = cloud.lab_node_size(settings.target)
        return cs.AgentPool(
            cloud.LAB_GROUP,
            resource_group_name=self.resource_group.name,
            resource_name_=self.cluster.name,
            agent_pool_name=cloud.LAB_GROUP,  # AKS pool names: lowercase letters and digits, 12 at most
            mode=cs.AgentPoolMode.USER,
            type="VirtualMachineScaleSets",
            os_type="Linux",
            vm_size=node.sku,
            os_disk_size_gb=cloud.NODE_DISK_GB,
            count=0,
            enable_auto_scaling=True,
            min_count=0,
            max_count=cloud.LAB_GROUP_MAX,
            node_labels={AUTOSCALED_LABEL: "true", "labs.k8s/node-group": cloud.LAB_GROUP},
            node_taints=["{key}={value}:{effect}".format(**AUTOSCALED_TAINT)],
            tags=tags,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["count"])),
        )


class AksTarget:
    name = PROVIDER

    def preflight(self, settings: StackSettings) -> None:
        cloud.require_sdk(PROVIDER)
        cloud.require_cli("az", "install the Azure CLI and log in (`az login`, then `az account set -s <subscription>`)")

    def create(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> AksClusterComponent:
        return AksClusterComponent(settings, opts)

    def cleanup(self, settings: StackSettings) -> None:
        """Nothing to delete by name: what a lost state leaves is listed by `session orphans`."""
