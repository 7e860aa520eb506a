"""What each target's cluster provides (`infra.clusters.Capabilities`), as plain data.

No Pulumi and no cloud SDK here: the program hands these to the layers, but `lab check`, `lab test`
and the classroom board (which checks a target can decide), `lab footprint` (its nodes) and the commands
(its base domain) read them too, and must not import a target's Pulumi code to do so. The names a
target's Pulumi code shares with its capabilities (storage classes, CSI driver, disk parameters) live here.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from infra.clusters import Capabilities, check_target, cloud
from infra.settings import StackSettings

GKE_STORAGE_CLASSES = ("standard-rwo", "premium-rwo", "standard")
GKE_CSI_DRIVER = "pd.csi.storage.gke.io"
EKS_STORAGE_CLASS = "gp3"
EKS_CSI_DRIVER = "ebs.csi.aws.com"
AKS_STORAGE_CLASSES = ("managed-csi", "managed-csi-premium", "azurefile-csi", "azurefile-csi-premium")
AKS_CSI_DRIVER = "disk.csi.azure.com"
AKS_SNAPSHOT_CLASS = "csi-azuredisk-vsc"
# The one node of a local cluster (kind, kwok: its first worker) that a lab's hostPath PersistentVolume
# pins itself to by node affinity: the same label in every session, where node names carry the session's.
HOSTPATH_NODE_LABEL = "k8s-labs.io/hostpath-node"
# sslip.io and nip.io answer <anything>.<a.b.c.d>.sslip.io (or <a-b-c-d>) with the IP a.b.c.d.
WILDCARD_IP = re.compile(r"(?:^|[.-])(\d{1,3}([.-])\d{1,3}\2\d{1,3}\2\d{1,3})\.(?:sslip|nip)\.io$")


def target_capabilities(settings: StackSettings) -> Capabilities:
    """The capabilities of `settings.target`'s cluster (one clear line for an unknown target)."""
    check_target(settings.target)
    return BY_TARGET[settings.target](settings)


# --- kind and kwok ----------------------------------------------------------------------------------

def kind_base_domain(settings: StackSettings) -> str:
    """Where web UIs and lab apps are published: *.localhost resolves to 127.0.0.1 in browsers and
    curl, this machine only; with a LAN API server address, the wildcard DNS name of that address
    (sslip.io answers <anything>.<ip>.sslip.io with <ip>), so students' machines reach the ingress."""
    if settings.base_domain:
        return settings.base_domain
    return f"{settings.api_server_address}.sslip.io" if settings.api_server_address else "localhost"


def kind_host_address(settings: StackSettings) -> str:
    """The LAN address students' machines reach this machine's host ports at ("" when only this machine
    does): the API server's LAN address, else the IP a wildcard DNS base domain names (the host ports
    listen on every address)."""
    if settings.api_server_address:
        return settings.api_server_address
    found = WILDCARD_IP.search(kind_base_domain(settings).lower())
    try:
        return str(ipaddress.IPv4Address(found.group(1).replace("-", "."))) if found else ""
    except ValueError:  # 999.1.2.3: not an IP, and the wildcard service answers nothing for it
        return ""


# The StorageClass kind creates with every cluster, its default (kind v0.32.0: the installstorage action).
KIND_DEFAULT_CLASS = "standard"
KIND_PROVISIONER = "rancher.io/local-path"  # not CSI: no expansion, no snapshots


def kind_capabilities(settings: StackSettings) -> Capabilities:
    return Capabilities(
        provider="kind",
        load_balancer=False,
        ingress_exposure="host-ports",
        http_port=settings.http_port,
        https_port=settings.https_port,
        default_storage_class=KIND_DEFAULT_CLASS,
        storage_classes=(KIND_DEFAULT_CLASS,),
        default_provisioner=KIND_PROVISIONER,
        metrics_server=False,
        kubelet_certs_verifiable=False,  # kind kubelets serve self-signed certificates
        base_domain=kind_base_domain(settings),
        host_address=kind_host_address(settings),
        nodes=1 + settings.workers,
        # kindnetd (kind's default CNI, which the cluster config keeps) enforces NetworkPolicies
        # since kind v0.24; kind v0.32.0: images/kindnetd/cmd/kindnetd/main.go (kube-network-policies).
        network_policy_enforced=True,
    )


def kwok_capabilities(settings: StackSettings) -> Capabilities:
    """kind's, less what needs a process in a pod, a host port or a load balancer."""
    return replace(
        kind_capabilities(settings),
        provider="kwok",
        ingress_exposure="cluster-ip",
        base_domain=settings.base_domain or "localhost",
        host_address="",
        containers_run=False,
        control_plane_visible=False,
        kube_proxy_metrics=False,
        network_policy_enforced=False,  # no data path: nothing to enforce a policy on
    )


# --- managed clouds ---------------------------------------------------------------------------------

def gke_capabilities(settings: StackSettings) -> Capabilities:
    return cloud.cloud_capabilities(
        settings,
        default_storage_class="standard-rwo",
        premium_storage_class="premium-rwo",
        storage_classes=GKE_STORAGE_CLASSES,
        default_provisioner=GKE_CSI_DRIVER,
        csi_driver=GKE_CSI_DRIVER,
        snapshot_class="",  # GKE runs the snapshot controller but creates no VolumeSnapshotClass
        metrics_server=True,
        node_autoscaling="node-pool",
        # pd-balanced, as standard-rwo; the session's labels on every disk (GCE label syntax).
        volume_parameters={"type": "pd-balanced", "labels": cloud.tag_list(settings)},
        cluster_dns="kube-dns",  # GKE Standard's default DNS add-on (not CoreDNS)
        istio_platform="gke",
        network_policy_enforced=True,  # Dataplane V2 (the cluster's datapath_provider, infra.clusters.gke)
    )


def ebs_tag_parameters(settings: StackSettings) -> dict[str, str]:
    """The session tags as EBS CSI `tagSpecification_N` parameters (StorageClass and, since driver
    v1.6.0, VolumeSnapshotClass: the driver's docs/tagging.md)."""
    return {f"tagSpecification_{index}": f"{key}={value}"
            for index, (key, value) in enumerate(cloud.labels(settings).items(), start=1)}


def gp3_parameters(settings: StackSettings) -> dict[str, str]:
    """EBS CSI StorageClass parameters: gp3, encrypted, the session tags on every volume."""
    return {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4", **ebs_tag_parameters(settings)}


def eks_capabilities(settings: StackSettings) -> Capabilities:
    return cloud.cloud_capabilities(
        settings,
        default_storage_class=EKS_STORAGE_CLASS,
        storage_classes=(EKS_STORAGE_CLASS, "gp2"),
        default_provisioner=EKS_CSI_DRIVER,
        csi_driver=EKS_CSI_DRIVER,
        snapshot_class="",  # the snapshot-controller add-on brings CRDs and controller, no class
        metrics_server=False,
        node_autoscaling="cluster-autoscaler-aws",
        network_policy_enforced=True,  # the VPC CNI's network policy agent (vpc_cni_options, infra.clusters.eks)
        always_layers=("autoscaler",),  # the node group grows with the class under every lab
        volume_parameters=gp3_parameters(settings),  # the parameters of the `gp3` class
        snapshot_parameters=ebs_tag_parameters(settings),
        load_balancer_annotations={
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": cloud.tag_list(settings),
        },
    )


def aks_capabilities(settings: StackSettings) -> Capabilities:
    return cloud.cloud_capabilities(
        settings,
        default_storage_class="managed-csi",
        premium_storage_class="managed-csi-premium",
        storage_classes=AKS_STORAGE_CLASSES,
        default_provisioner=AKS_CSI_DRIVER,
        csi_driver=AKS_CSI_DRIVER,
        snapshot_class=AKS_SNAPSHOT_CLASS,
        metrics_server=True,
        node_autoscaling="node-pool",
        network_policy_enforced=True,  # Cilium (the cluster's network_profile, infra.clusters.aks)
        # StandardSSD_LRS, as managed-csi; the session's tags on every disk.
        volume_parameters={"skuName": "StandardSSD_LRS", "tags": cloud.tag_list(settings)},
        snapshot_parameters={"tags": cloud.tag_list(settings)},  # azuredisk's VolumeSnapshotClass `tags`
        load_balancer_annotations={"service.beta.kubernetes.io/azure-pip-tags": cloud.tag_list(settings)},
    )


BY_TARGET = {"kind": kind_capabilities, "kwok": kwok_capabilities, "gke": gke_capabilities,
             "eks": eks_capabilities, "aks": aks_capabilities}
