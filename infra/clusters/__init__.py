"""Targets: where a lab cluster runs. One module per target behind one small interface.

What each target's cluster provides (`Capabilities`) is plain data in `infra.clusters.capabilities`
(`target_capabilities(settings)`), read by the layers and the checks without importing a target's
Pulumi code. A target module defines a class with:
  - `preflight(settings)`: checks before anything is created (daemon up, ports free);
  - `create(settings) -> component`: a ComponentResource `labs:cluster:<Name>` exposing `.provider`
    (the explicit pulumi_kubernetes.Provider every layer uses) and `.kubeconfig` (a secret Output),
    and registering a non-secret `summary` output (what `lab render` shows under "cluster");
  - `cleanup(settings)`: removes what a destroy could leave behind (used by `session down`);
  - optionally `cluster_vanished(settings) -> bool`: True only when the target's own tool answers that
    the session's cluster does not exist (kind), so an `up` may drop what the state holds of it
    (`infra.driver.cluster_vanished`); a target without it never lets an `up` drop anything;
  - optionally `restart_scheduler(settings)`: stop kube-scheduler and start it again, the way lab 18's
    guide does it there (kind: the static manifest moved out of the control-plane node's
    /etc/kubernetes/manifests and back; kwok: the process stopped, then `kwokctl start cluster`); a
    solve step `restart: scheduler` (infra.solve_spec) calls it. A target without it (the managed
    clouds) cannot: NO_SCHEDULER_RESTART says why, and the step is not run.
This registry is plain data so choosing a target costs nothing until it is used: the managed cloud
targets (gke, eks, aks) import their cloud SDK, an optional extra, only when they create a cluster
(`infra.clusters.cloud.require_sdk` names the extra to install when it is absent).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from infra.errors import LabsError

TARGETS: dict[str, str] = {
    "kind": "infra.clusters.kind:KindTarget",
    "kwok": "infra.clusters.kwok:KwokTarget",
    "gke": "infra.clusters.gke:GkeTarget",
    "eks": "infra.clusters.eks:EksTarget",
    "aks": "infra.clusters.aks:AksTarget",
}
# Managed clouds: billed by the hour, so `lab up` shows a cost estimate and `session down` releases
# load balancers and disks before it destroys the cluster.
CLOUD_TARGETS = ("gke", "eks", "aks")
# The autoscaler lab's node group carries this label and taint on every target (simulated KWOK
# nodes on kind, a real autoscaled pool on clouds): the lab's manifests select and tolerate it.
AUTOSCALED_LABEL = "labs.k8s/autoscaled"
AUTOSCALED_TAINT = {"key": AUTOSCALED_LABEL, "value": "true", "effect": "NoSchedule"}
# Clusters on this machine, and the CLI that makes them: `session down` deletes them by name too.
LOCAL_TARGET_TOOLS = {"kind": "kind", "kwok": "kwokctl"}
# Why a target without `restart_scheduler` (a managed cloud) cannot run lab 18's step 5.
NO_SCHEDULER_RESTART = "its control plane is managed by the provider: no node, manifest or process of the scheduler " \
                       "is reachable (lab 19)"


@dataclass(frozen=True)
class Capabilities:
    """What a target's cluster provides; layers adapt their values to it.

    Values per target (kind / gke / eks / aks; kwok is kind's, but where said):
      containers_run          True; False on kwok (fake nodes: pods are marked Running and Ready but no
                              process runs, so no data path (HTTP, metrics, logs, mTLS) and no pod can
                              serve an admission webhook; checks that need one are skipped, not passed)
      load_balancer           False / True / True / True (MetalLB only where False)
      ingress_exposure        "host-ports" / "load-balancer" everywhere else; kwok "cluster-ip" (no host
                              ports, no load balancer: the ingress Service stays ClusterIP)
      default_storage_class   standard / standard-rwo / gp3 / managed-csi
      premium_storage_class   "" / premium-rwo / "" / managed-csi-premium
      default_provisioner     rancher.io/local-path / pd.csi.storage.gke.io / ebs.csi.aws.com / disk.csi.azure.com
      csi_driver              "" (local-path is not CSI) / the provisioner above on clouds
      snapshot_controller     False / True (GKE managed) / True (EKS add-on) / True (AKS built in)
      snapshot_class          "" / "" / "" / csi-azuredisk-vsc (the one class a provider preinstalls)
      metrics_server          False / True / False (not an EKS default) / True
      host_address            the session's apiServerAddress, or the IP a wildcard DNS base domain
                              (<ip>.sslip.io, nip.io) names ("" for this machine only) / "" elsewhere
      node_autoscaling        "" (none: the autoscaler layer simulates nodes) / "node-pool" (the
                              provider's autoscaler scales the pool) / "cluster-autoscaler-aws" (the
                              node group has bounds; an in-cluster cluster-autoscaler with the IAM role
                              the EKS target creates must run) / "node-pool"
      volume_parameters       {} / {type: pd-balanced, labels} / {type: gp3, encrypted, fstype,
                              tagSpecification_N} / {skuName: StandardSSD_LRS, tags}: the StorageClass
                              parameters of a disk like the default class's, the session's labels/tags
                              on every disk (the storage layer's classes use them)
      snapshot_parameters     {} / {} (the PD driver documents no snapshot labels: `session orphans`
                              cannot see a forgotten snapshot there) / {tagSpecification_N} / {tags}:
                              the session's tags on every snapshot, in the driver's documented
                              VolumeSnapshotClass parameters
      control_plane_visible   True (kind's kubeadm patches open controller-manager, scheduler and etcd
                              metrics) / False everywhere else (managed control planes expose none)
      kube_proxy_metrics      True (kind binds them on 0.0.0.0:10249) / False (none to rely on: local
                              bind, or no kube-proxy with Dataplane V2) / False (the kube-proxy add-on
                              binds 127.0.0.1:10249 and reverts edits) / False (the chart's Service
                              selector does not match AKS's kube-proxy pods)
      cluster_dns             "coredns" / "kube-dns" (GKE's default DNS) / "coredns" / "coredns"
      istio_platform          "" / "gke" (Istio's platform profile: CNI binaries in /home/kubernetes/bin,
                              node-critical pods only in namespaces with a ResourceQuota) / "" / ""
      lab_node_group          "simulated" (KWOK, kwok too) / "autoscaled" on every cloud (real nodes, 4 vCPUs,
                              0 to 5, while the autoscaler layer is up: it calls the cluster
                              component's `add_lab_node_group`, infra.clusters.cloud.lab_node_size)
      always_layers           () / () / ("autoscaler",) (cluster-autoscaler: a class's pods that do not
                              fit add nodes, within maxNodes) / ()
      network_policy_enforced True everywhere the target's program turns enforcement on: kind's
                              kindnetd embeds kube-network-policies (kind v0.24+, still in v0.32.0:
                              images/kindnetd/cmd/kindnetd/main.go; kubernetes-sigs/kind#842), GKE
                              Dataplane V2, the EKS VPC CNI network policy agent, AKS Cilium. False on
                              kwok: no packet flows between its fake pods, so nothing is enforced
                              (namespace tenancy there isolates at the API level only, see
                              infra.classroom.commands.check_isolation)
    """

    provider: str
    load_balancer: bool  # Services of type LoadBalancer get an address without help
    ingress_exposure: str  # "host-ports" (kind port mappings) or "load-balancer"
    http_port: int
    https_port: int
    default_storage_class: str
    metrics_server: bool  # preinstalled by the provider
    kubelet_certs_verifiable: bool = True  # kubelet serving certs signed by the cluster CA
    containers_run: bool = True  # False on kwok: no data path, no webhook served by a pod
    base_domain: str = "localhost"  # web UIs are published at <name>.<base_domain>
    host_address: str = ""  # host ports: the LAN address students reach them at ("" this machine only)
    nodes: int = 1  # nodes at creation (DaemonSets run one pod on each)
    # Storage: the classes the target provides, its CSI driver and snapshot support.
    premium_storage_class: str = ""  # a faster (SSD) class, where the provider has one
    storage_classes: tuple[str, ...] = ()  # every class the target provides, the default first
    default_provisioner: str = ""  # provisioner of the default class
    csi_driver: str = ""  # the provider's CSI driver ("" when the default class is not CSI)
    volume_expansion: bool = False  # the default class allows growing a claim
    snapshot_controller: bool = False  # VolumeSnapshot CRDs and snapshot-controller preinstalled
    snapshot_class: str = ""  # a VolumeSnapshotClass the provider preinstalls ("" none)
    # Nodes: how the cluster grows and shrinks, and its bounds.
    node_autoscaling: str = ""  # "" none, "node-pool" (provider-run), "cluster-autoscaler-aws" (in-cluster)
    min_nodes: int = 0
    max_nodes: int = 0
    # StorageClass parameters of a disk like the default class's (type/SKU, the session's tags).
    volume_parameters: dict = field(default_factory=dict, compare=False, hash=False)
    # VolumeSnapshotClass parameters that put the session's tags on every snapshot (snapshots bill too).
    snapshot_parameters: dict = field(default_factory=dict, compare=False, hash=False)
    # Monitoring: what of the cluster's own components Prometheus can scrape.
    control_plane_visible: bool = True  # controller-manager, scheduler and etcd metrics reachable
    kube_proxy_metrics: bool = True  # kube-proxy serves its metrics on the node's address
    cluster_dns: str = "coredns"  # "coredns" or "kube-dns" (the DNS add-on Prometheus scrapes)
    # Service mesh: Istio's `global.platform` ("" none; "gke" selects its GKE platform profile).
    istio_platform: str = ""
    # NetworkPolicies are enforced by the cluster's network (what namespace tenancy relies on); a
    # target claims it only where its own program turns enforcement on.
    network_policy_enforced: bool = False
    # Layers the stack runs under every lab, not only the labs that name them: on EKS the node group
    # grows with the class only through the in-cluster cluster-autoscaler (GKE and AKS autoscale
    # their pools themselves).
    always_layers: tuple[str, ...] = ()
    # The node group the autoscaler lab's pods land on (AUTOSCALED_LABEL / AUTOSCALED_TAINT): "simulated"
    # (KWOK nodes cluster-autoscaler's kwok provider makes) or "autoscaled" (a cloud pool of 0 to
    # LAB_GROUP_MAX real nodes, created while a lab using the autoscaler layer is up).
    lab_node_group: str = "simulated"
    # Annotations a LoadBalancer Service should carry on this target (cloud load balancer type,
    # tags of the session so `session orphans` finds a forgotten one).
    load_balancer_annotations: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def cloud(self) -> bool:
        return self.provider in CLOUD_TARGETS


def check_target(name: str) -> str:
    """`name`, or one clear line listing the targets that exist."""
    if name not in TARGETS:
        raise LabsError(f"unknown target '{name}': choose one of {', '.join(TARGETS)} (e.g. --target=kind)")
    return name


def get_target(name: str):
    """The target object for `name` (this imports its module, and Pulumi with it)."""
    check_target(name)
    module, _, cls = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
