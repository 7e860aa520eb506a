"""The GKE target: a zonal GKE Standard cluster with one autoscaling node pool (pulumi_gcp).

Resources (children of the `labs:cluster:Gke` component, on an explicit gcp provider whose
`default_labels` are the session's labels):
  - container.Cluster `labs-<session>`: zonal (the first of `zones`: GKE's free tier credit covers
    one zonal cluster's management fee per billing account), enrolled in a release channel
    (`releaseChannel`, REGULAR) at `kubernetesVersion` as its minimum master version, default node
    pool removed (`remove_default_node_pool` + `initial_node_count: 1`, GKE's required pattern for
    a separately managed pool), Workload Identity on (`<project>.svc.id.goog`), the autoscaler
    profile that scales down sooner (OPTIMIZE_UTILIZATION: labs want nodes to go away), labels on
    the cluster (`resource_labels`), `deletion_protection: false` (the provider's default `true`
    would make `session down` fail), GKE Dataplane V2 (`datapath_provider: ADVANCED_DATAPATH`), which
    enforces NetworkPolicies (classroom isolation). Network: the project's `default` VPC.
  - container.NodePool `labs`: `nodeSize` -> e2-standard-2/4/8, pd-balanced boot disks, autoscaling
    between `minNodes` and `maxNodes` (the cluster autoscaler runs in GKE's control plane: nothing to
    install for the autoscaler lab), `workers` nodes at creation, GKE metadata server (Workload
    Identity), auto-repair and auto-upgrade (required in a release channel), the session labels on
    every VM and boot disk (`resource_labels`).
  - container.NodePool `autoscaled`, while a lab using the autoscaler layer is up: 0 to 5 nodes of
    4 vCPUs carrying the label and taint `labs.k8s/autoscaled=true` (NoSchedule) the autoscaler lab's
    pods select and tolerate; GKE's autoscaler grows it when they pend.
The kubeconfig is built from the cluster's endpoint and CA with the `gke-gcloud-auth-plugin` exec
credential (the gcloud login of the instructor, no token in the file), as a Pulumi secret, and feeds
an explicit pulumi_kubernetes.Provider that waits for the node pool.

Provided (capabilities): load balancers (GKE's service controller), StorageClasses `standard-rwo`
(default, pd-balanced) and `premium-rwo` (pd-ssd) from the Compute Engine PD CSI driver
(`pd.csi.storage.gke.io`, expansion allowed), the managed snapshot controller and CRDs (GKE
preinstalls no VolumeSnapshotClass), metrics-server, node-pool autoscaling.
Credentials: `gcloud auth login` and `gcloud auth application-default login` (Pulumi's gcp provider);
`gcpProject` in stacks/Pulumi.gke.yaml or the command line.
"""
from __future__ import annotations

import pulumi

from infra.clusters import AUTOSCALED_LABEL, AUTOSCALED_TAINT, cloud
from infra.errors import LabsError
from infra.settings import StackSettings

PROVIDER = "gke"
POOL = "labs"
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_INSTALL = "gcloud components install gke-gcloud-auth-plugin (or your package manager's google-cloud-cli-gke-gcloud-auth-plugin)"
PROJECT_AT_UP = "gcpproject-not-set"
DATAPATH = "ADVANCED_DATAPATH"  # GKE Dataplane V2 (eBPF), which enforces NetworkPolicies


def zone(settings: StackSettings) -> str:
    zones = settings.zone_list
    if not zones:
        raise LabsError("stacks/Pulumi.gke.yaml: set zones (the cluster's zone, e.g. us-central1-a)")
    return zones[0]


def kubeconfig(name: str, endpoint: str | None, ca_certificate: str | None) -> str:
    """The cluster's kubeconfig: its endpoint and CA, and the gke-gcloud-auth-plugin exec credential."""
    return cloud.exec_kubeconfig(
        f"gke_{name}",
        f"https://{endpoint or 'endpoint-known-after-up'}",
        ca_certificate or "",
        {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": AUTH_PLUGIN,
            "installHint": f"Install {AUTH_PLUGIN} for kubectl: {AUTH_PLUGIN_INSTALL}",
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        },
    )


class GkeClusterComponent(pulumi.ComponentResource):
    """The GKE cluster, its node pool, and the Kubernetes provider bound to its kubeconfig."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:Gke", "cluster", None, opts)
        (gcp,) = cloud.require_sdk(PROVIDER)
        name = cloud.cluster_name(settings)
        location = zone(settings)
        labels = cloud.labels(settings)
        nodes, low, high = cloud.node_counts(settings)
        machine = cloud.machine_type(settings)
        project = settings.gcp_project or None

        provider = gcp.Provider(
            "gcp", project=project, region=settings.region or None, zone=location, default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        workload_pool = f"{settings.gcp_project or PROJECT_AT_UP}.svc.id.goog"
        self.cluster = gcp.container.Cluster(
            "gke",
            name=name,
            location=location,
            project=project,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=settings.release_channel),
            min_master_version=settings.kubernetes_version or None,
            remove_default_node_pool=True,
            initial_node_count=1,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(workload_pool=workload_pool),
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                autoscaling_profile="OPTIMIZE_UTILIZATION"),
            resource_labels=labels,
            deletion_protection=False,
            # Dataplane V2: NetworkPolicies are always enforced, no Calico add-on to run ("Kubernetes
            # network policy is always on in clusters with Dataplane V2",
            # https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2; the API's
            # DatapathProvider: https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/DatapathProvider).
            datapath_provider=DATAPATH,
            opts=child,
        )
        self.node_pool = gcp.container.NodePool(
            "nodes",
            name=POOL,
            cluster=self.cluster.name,
            location=location,
            project=project,
            initial_node_count=nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=low, max_node_count=high),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=machine,
                disk_size_gb=cloud.NODE_DISK_GB,
                disk_type="pd-balanced",
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"),
                resource_labels=labels,
            ),
            # The provider documents that a changed initial_node_count recreates the pool, and that
            # resizing (the autoscaler does) may change it: the pool's size belongs to the autoscaler.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
        )
        self._lab_pool_context = (gcp, settings, location, project, labels, child)
        ca = self.cluster.master_auth.apply(lambda auth: getattr(auth, "cluster_ca_certificate", None))
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.endpoint, ca).apply(lambda args: kubeconfig(name, *args))
        )
        self.provider = cloud.k8s_provider(self, self.kubeconfig, [self.node_pool])
        summary = {
            "provider": PROVIDER,
            "name": name,
            "kubernetes_version": settings.kubernetes_version,
            "nodes": nodes,
            "config": {
                "project": settings.gcp_project or PROJECT_AT_UP,
                "region": settings.region,
                "zone": location,
                "release_channel": settings.release_channel,
                "node_pool": {"name": POOL, "machine_type": machine, "size": settings.node_size,
                              "disk_gb": cloud.NODE_DISK_GB, "autoscaling": {"min": low, "max": high}},
                "workload_identity": workload_pool,
                "datapath_provider": DATAPATH,
                "labels": labels,
            },
        }
        self.register_outputs({"summary": summary, "kubeconfig": self.kubeconfig})

    def add_lab_node_group(self):
        """The autoscaler lab's pool (the autoscaler layer asks for it): 0 to LAB_GROUP_MAX nodes carrying
        the lab's label and taint; GKE's autoscaler adds nodes when the lab's pods pend."""
        gcp, settings, location, project, labels, opts = self._lab_pool_context
        node = cloud.lab_node_size(settings.target)
        return gcp.container.NodePool(
            cloud.LAB_GROUP,
            name=cloud.LAB_GROUP,
            cluster=self.cluster.name,
            location=location,
            project=project,
            initial_node_count=0,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=0, max_node_count=cloud.LAB_GROUP_MAX),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=node.sku,
                disk_size_gb=cloud.NODE_DISK_GB,
                disk_type="pd-balanced",
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"),
                labels={AUTOSCALED_LABEL: "true", "labs.k8s/node-group": cloud.LAB_GROUP},
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(
                    key=AUTOSCALED_TAINT["key"], value=AUTOSCALED_TAINT["value"], effect="NO_SCHEDULE")],
                resource_labels=labels,
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
        )


class GkeTarget:
    name = PROVIDER

    def preflight(self, settings: StackSettings) -> None:
        cloud.require_sdk(PROVIDER)
        zone(settings)
        if not settings.gcp_project:
            raise LabsError("the gke target needs a Google Cloud project: set gcpProject in stacks/Pulumi.gke.yaml "
                            "(see `gcloud config get-value project`)")
        cloud.require_cli("gcloud", "install the Google Cloud CLI, then `gcloud auth login` and "
                                    "`gcloud auth application-default login`")
        cloud.require_cli(AUTH_PLUGIN, AUTH_PLUGIN_INSTALL)

    def create(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> GkeClusterComponent:
        return GkeClusterComponent(settings, opts)

    def cleanup(self, settings: StackSettings) -> None:
        """Nothing to delete by name: what a lost state leaves is listed by `session orphans`."""
