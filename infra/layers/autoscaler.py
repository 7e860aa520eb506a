"""The autoscaler layer (Cluster autoscaler slide): cluster-autoscaler adds and removes nodes.

Students create pods that do not fit, watch them stay `Pending`, watch cluster-autoscaler add
nodes until they run, then delete the pods and watch the nodes go away. kind has no cloud to buy
nodes from, so the nodes are simulated: KWOK (Kubernetes WithOut Kubelet) plays the kubelet of Node
objects that cluster-autoscaler's `kwok` cloud provider creates and deletes. The simulated nodes
are real Node objects to the API server and the scheduler (they go Ready, pods are bound to them
and reported Running), but nothing runs: they cost a few kilobytes, not 4 CPUs.

What the layer installs depends on `Capabilities.node_autoscaling`:
  - "" (kind, no node autoscaling of its own, `needs_simulated_nodes`): KWOK simulated nodes and
    cluster-autoscaler with its kwok provider, below.
  - "node-pool" (GKE, AKS): the provider's own autoscaler, run in its control plane, scales the
    node pool between the target's bounds; the layer installs nothing.
  - "cluster-autoscaler-aws" (EKS, `runs_aws_cluster_autoscaler`): the node group only has bounds;
    the layer installs cluster-autoscaler with `cloudProvider: aws`, see "On EKS" at the end.

Three releases and two ConfigMaps on kind:
  - `kwok` (chart kwok 0.3.0, KWOK v0.8.0) in namespace `kwok`: the KWOK controller. Its stock
    configuration manages the nodes annotated `kwok.x-k8s.io/node: fake`, which is exactly what
    cluster-autoscaler's kwok provider puts on the nodes it creates. The chart ships KWOK's CRDs
    (Stage, ...) in its crds/ folder.
  - `stage-fast` (chart stage-fast 0.3.0) in namespace `kwok`: the Stage objects (cluster-scoped
    custom resources) that make simulated nodes Ready and their pods Running at once. Without
    them KWOK does nothing. It waits for the `kwok` release: its CRDs.
  - `cluster-autoscaler` (chart 9.59.0) in namespace `cluster-autoscaler`, `cloudProvider: kwok`.
  - ConfigMaps `lab-kwok-provider-config` (the kwok provider's configuration) and
    `lab-kwok-node-templates` (the template Node of the lab's node group), in the autoscaler's
    namespace, where the provider reads them (`POD_NAMESPACE`).

Design decisions:
  - A dedicated `kwok` namespace rather than kube-system (where KWOK's README installs it): the
    layer creates it and deletes it with everything in it; KWOK needs nothing from kube-system
    (its ServiceAccount gets cluster-wide rights from the chart's ClusterRole). cluster-autoscaler
    gets its own namespace too, so `kubectl -n cluster-autoscaler logs deploy/cluster-autoscaler`
    and `kubectl -n cluster-autoscaler get cm cluster-autoscaler-status -o yaml` show students
    its decisions. Its `system-cluster-critical` priority (chart default) is allowed outside
    kube-system since Kubernetes 1.17. `fullnameOverride: cluster-autoscaler` names the
    Deployment `cluster-autoscaler` (the chart would say `cluster-autoscaler-kwok-cluster-autoscaler`),
    and `fullnameOverride: kwok` names KWOK's Deployment `kwok` (the kwok chart's own values.yaml sets
    `kwok-controller`), as the lab guide shows it.
  - Image pinned to registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1. The chart's appVersion
    is 1.35.0; cluster-autoscaler's minor should match the cluster's (v1.36: it simulates the
    scheduler of its own Kubernetes version), and the kwok provider is built into the images up to
    v1.36 (the providers left the core later). v1.36.1 is a published release (2026-07-23) and is
    reported to run on chart 9.59.0 with no missing RBAC.
  - Node group: one group, `simulated`, of 0 to 5 nodes of 4 CPU / 8Gi (110 pods), so a handful
    of pending pods requesting ~1 CPU each triggers a scale-up of one or two nodes. The template
    node carries the label `labs.k8s/autoscaled: "true"` and the taint
    `labs.k8s/autoscaled=true:NoSchedule`: only the lab's pods (which select the label and tolerate
    the taint, see SIMULATED_NODE_SELECTOR / SIMULATED_TOLERATION) land there; everything else
    stays on the real kind nodes. The provider's own `kwok-provider=true:NoSchedule` taint is
    turned off (`nodes.skipTaint`) so the lab's pods need one toleration, not two. Groups are read
    from the label `labs.k8s/node-group`; the template's `cluster-autoscaler.kwok.nodegroup/name`
    annotation keeps the group name stable across restarts of cluster-autoscaler (the nodes it
    created stay in their group), and its min-count / max-count annotations bound the group.
  - Scale-down fast enough for a lab: `scale-down-unneeded-time` 1m and
    `scale-down-delay-after-add` 1m (defaults 10m each), as chart `extraArgs`.
  - KWOK download: the chart's sample provider config comments that the provider "fetches the
    latest release of kwok from github" unless `kwok.install: false`. The provider's code in
    cluster-autoscaler (kwok_config.go / kwok_types.go) has an empty `KwokConfig` struct: no
    install, release or download setting is read and nothing is downloaded; unknown keys are
    dropped by the JSON decoding. Our provider config therefore has no `kwok` section at all
    (nothing to turn off), and KWOK comes only from the `kwok` release above.
  - Our own ConfigMaps, not the chart's: with `cloudProvider: kwok` the chart always renders a
    provider ConfigMap named `kwokConfigMapName` (default `kwok-provider-config`, fixed content:
    groups by label `kwok-nodegroup`) and `kwok-provider-templates` (three sample kind nodes of
    12 CPU / 32Gi, up to 200 nodes each, no label or taint of ours), and points the provider at
    the former through the env variable KWOK_PROVIDER_CONFIGMAP. Creating a ConfigMap of the same
    name would make Helm refuse to install (an object it does not own), and the chart has no value
    for their content. So the layer creates `lab-kwok-provider-config` (pointing at
    `lab-kwok-node-templates`) and sets `extraEnv.KWOK_PROVIDER_CONFIGMAP` to it. The container
    then lists the variable twice; the kubelet uses the last definition (ours) and the API server
    only warns ("hides previous definition"). The chart's two sample ConfigMaps stay, unused.
    cluster-autoscaler reads its configuration once at start and exits if it is missing, so its
    release waits for the two ConfigMaps (a real dependency).
  - cluster-autoscaler does not wait for KWOK: it needs none of KWOK's CRDs (it creates and
    deletes plain Node objects), and with a minimum of 0 nodes it creates none until students
    make pods pend, long after both releases are up. They install in parallel.
  - KWOK without host networking (`hostNetwork: false`, the chart default, set explicitly), although
    the chart's values suggest true for kind: KWOK stamps its own pod IP on every simulated node it
    manages; with host networking that is the IP of the real node it runs on, and kindnetd (kind's
    CNI) then takes the simulated nodes for that node and rewrites its pod CIDR config with theirs,
    breaking the networking of real pods scheduled there afterwards (NVIDIA/NVSentinel#1567, fixed
    by #1570 with hostNetwork off on kind v0.30+ kindnetd).
  - The kwok values above do not depend on kind-specific capabilities; EKS gets its own values
    (`aws_cluster_autoscaler_values`), GKE and AKS none.
  - Lab-sized requests (layer budget 40m CPU / 128Mi memory): cluster-autoscaler 25m / 80Mi
    (limit 256Mi), KWOK controller 10m / 40Mi (limit 128Mi): 35m / 120Mi. Each chart runs one
    container (no init containers, sidecars or hook Jobs); stage-fast runs none.

On EKS: one release, `cluster-autoscaler` (chart 9.59.0) in namespace `cluster-autoscaler`, with
`cloudProvider: aws`, `awsRegion` and `autoDiscovery.clusterName` from the EKS cluster component
(`.region`, `.cluster_name`: auto-discovery finds the managed node group's Auto Scaling group by
the `k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster>` tags EKS puts
on it, the chart's default `autoDiscovery.tags`), and its ServiceAccount, named
`rbac.serviceAccount.name` in the namespace the IAM role trusts (the component's
`.autoscaler_service_account`, `cluster-autoscaler/cluster-autoscaler`), annotated
`eks.amazonaws.com/role-arn` with `.autoscaler_role_arn` (IRSA: the pod gets that role's AWS
credentials). The image tag is the newest cluster-autoscaler patch of the cluster's Kubernetes
minor (CLUSTER_AUTOSCALER_AWS_TAGS: 1.35 -> v1.35.1, promoted by kubernetes/k8s.io#9676 with
v1.36.0, v1.34.4 and v1.33.5; 1.36 -> v1.36.1 as on kind); an EKS minor missing from the map is an
error naming it rather than an image that may not exist. Same scale-down arguments and requests as
on kind; no ConfigMap (the aws provider reads the Auto Scaling groups). The chart names its
container `aws-cluster-autoscaler` there (WORKLOADS declares the kind name; the resources path is
the same).

check_k8s warnings: none expected. `resources`, `extraEnv` and `extraArgs` are free-form maps for the
checker (`extraEnv` is `{}` in values.yaml; the two `extraArgs` keys are among those listed there
as comments); every other key (`cloudProvider`, `image.repository`, `image.tag`,
`autoDiscovery.clusterName`, `fullnameOverride`, `hostNetwork`, and on EKS `awsRegion` and
`rbac.serviceAccount.name` / `.annotations`) is in the charts' values.yaml.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.clusters import AUTOSCALED_LABEL, AUTOSCALED_TAINT, Capabilities
from infra.clusters.cloud import LAB_GROUP
from infra.errors import LabsError
from infra.layers import ChartPin, Workload
from infra.layers.base import MANAGED_BY, Layer

KWOK_REPO = "https://kwok.sigs.k8s.io/charts/"
KWOK_PIN = ChartPin(chart="kwok", repo=KWOK_REPO, version="0.3.0")
STAGE_FAST_PIN = ChartPin(chart="stage-fast", repo=KWOK_REPO, version="0.3.0")
CLUSTER_AUTOSCALER_PIN = ChartPin(chart="cluster-autoscaler", repo="https://kubernetes.github.io/autoscaler",
                                  version="9.59.0")
CLUSTER_AUTOSCALER_IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER_IMAGE_TAG = "v1.36.1"  # <= v1.36: the last images with the kwok provider
# cluster-autoscaler on EKS: the newest patch of each Kubernetes minor (see the module docstring).
CLUSTER_AUTOSCALER_AWS_TAGS = {"1.33": "v1.33.5", "1.34": "v1.34.4", "1.35": "v1.35.1", "1.36": "v1.36.1"}
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
ROLE_ARN_AT_UP = "arn-known-after-up"  # what an offline render shows for the IAM role

# Capabilities.node_autoscaling values.
SIMULATED, NODE_POOL, CLUSTER_AUTOSCALER_AWS = "", "node-pool", "cluster-autoscaler-aws"
NODE_AUTOSCALING = (SIMULATED, NODE_POOL, CLUSTER_AUTOSCALER_AWS)

KWOK_RELEASE = "kwok"
STAGE_FAST_RELEASE = "stage-fast"
KWOK_CRD_GROUPS = ["kwok.x-k8s.io"]  # the kwok chart's crds/ folder (removed with the layer)
CLUSTER_AUTOSCALER_RELEASE = "cluster-autoscaler"
KWOK_NAMESPACE = "kwok"
CLUSTER_AUTOSCALER_NAMESPACE = "cluster-autoscaler"

# The kwok provider's configuration and node templates (ours; see "Our own ConfigMaps" above).
PROVIDER_CONFIGMAP = "lab-kwok-provider-config"
PROVIDER_CONFIG_KEY = "config"  # the key the provider reads (kwok_config.go)
TEMPLATES_CONFIGMAP = "lab-kwok-node-templates"
TEMPLATES_KEY = "templates"  # the key the provider reads (kwok_helpers.go)
PROVIDER_CONFIGMAP_ENV = "KWOK_PROVIDER_CONFIGMAP"

# The lab's node group.
NODE_GROUP = "simulated"
NODE_GROUP_LABEL = "labs.k8s/node-group"
SIMULATED_LABEL = AUTOSCALED_LABEL  # the same group label and taint as the clouds' real pool
SIMULATED_TAINT = dict(AUTOSCALED_TAINT)
SIMULATED_NODE_SELECTOR = {SIMULATED_LABEL: "true"}  # what the lab's pods select ...
SIMULATED_TOLERATION = {**SIMULATED_TAINT, "operator": "Equal"}  # ... and tolerate
MIN_NODES = 0
MAX_NODES = 5
NODE_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110"}
SCALE_DOWN_UNNEEDED_TIME = "1m"
SCALE_DOWN_DELAY_AFTER_ADD = "1m"

# cloud-provider annotations on the template node (kwok_constants.go)
_NG_NAME = "cluster-autoscaler.kwok.nodegroup/name"
_NG_MIN = "cluster-autoscaler.kwok.nodegroup/min-count"
_NG_MAX = "cluster-autoscaler.kwok.nodegroup/max-count"
KWOK_MANAGED_ANNOTATION = "kwok.x-k8s.io/node"  # what the KWOK chart's controller manages (=fake)

WORKLOADS = {
    KWOK_RELEASE: [Workload("kwok", "resources")],
    # The chart names its container after the cloud provider (kwok on kind, aws on EKS).
    CLUSTER_AUTOSCALER_RELEASE: [Workload("{cloudProvider}-cluster-autoscaler", "resources")],
}


def _node_autoscaling(caps: Capabilities) -> str:
    if caps.node_autoscaling not in NODE_AUTOSCALING:
        raise LabsError(f"target '{caps.provider}': unknown node_autoscaling {caps.node_autoscaling!r} "
                        f"(the autoscaler layer knows {', '.join(repr(v) for v in NODE_AUTOSCALING)})")
    return caps.node_autoscaling


def needs_simulated_nodes(caps: Capabilities) -> bool:
    """Simulated nodes and cluster-autoscaler only where the target has no node autoscaling of its own (kind)."""
    return _node_autoscaling(caps) == SIMULATED


def runs_aws_cluster_autoscaler(caps: Capabilities) -> bool:
    """cluster-autoscaler in the cluster, on the EKS node group's bounds."""
    return _node_autoscaling(caps) == CLUSTER_AUTOSCALER_AWS


def kubernetes_minor(version: str) -> str:
    """"1.35", "v1.35.2" or "1.35.2-eks-..." -> "1.35" ("" when it says no minor)."""
    parts = version.strip().lstrip("v").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else ""


def aws_image_tag(kubernetes_version: str) -> str:
    """The cluster-autoscaler image tag for an EKS cluster at `kubernetes_version` (its minor must match)."""
    minor = kubernetes_minor(kubernetes_version or "")
    if minor not in CLUSTER_AUTOSCALER_AWS_TAGS:
        raise LabsError(f"no cluster-autoscaler image known for Kubernetes {kubernetes_version or '(unset)'} on eks: "
                        f"set kubernetesVersion to one of {', '.join(CLUSTER_AUTOSCALER_AWS_TAGS)} in "
                        "stacks/Pulumi.eks.yaml (cluster-autoscaler must match the cluster's minor)")
    return CLUSTER_AUTOSCALER_AWS_TAGS[minor]


def aws_service_account(cluster) -> tuple[str, str]:
    """(namespace, name) of the service account the EKS target's IAM role trusts."""
    namespace, _, name = cluster.autoscaler_service_account.partition("/")
    return namespace, name


def aws_cluster_autoscaler_values(caps: Capabilities, cluster_name: str, region: str, role_arn,
                                  service_account: str, kubernetes_version: str) -> dict:
    """cluster-autoscaler values on EKS (keys checked against cluster-autoscaler 9.59.0 values.yaml).

    `role_arn` may be a Pulumi Output (the IAM role the EKS target creates)."""
    kwok = cluster_autoscaler_values(caps)
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"repository": CLUSTER_AUTOSCALER_IMAGE, "tag": aws_image_tag(kubernetes_version)},
        "fullnameOverride": CLUSTER_AUTOSCALER_RELEASE,
        "rbac": {"serviceAccount": {"name": service_account, "annotations": {IRSA_ROLE_ANNOTATION: role_arn}}},
        "extraArgs": kwok["extraArgs"],
        "resources": kwok["resources"],
    }


def kwok_values(caps: Capabilities) -> dict:
    """KWOK controller values (keys checked against kwok 0.3.0 values.yaml)."""
    return {
        # The chart's values.yaml sets fullnameOverride "kwok-controller" (its Deployment, ServiceAccount
        # and ClusterRole take that name): the lab guide's `kubectl -n kwok get deployment` and
        # `logs deploy/kwok` name the release, `kwok`.
        "fullnameOverride": KWOK_RELEASE,
        "hostNetwork": False,  # see the module docstring: host networking confuses kindnetd
        "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"memory": "128Mi"}},
    }


def stage_fast_values(caps: Capabilities) -> dict:
    """stage-fast has no values (its values.yaml is empty)."""
    return {}


def cluster_autoscaler_values(caps: Capabilities) -> dict:
    """cluster-autoscaler values (keys checked against cluster-autoscaler 9.59.0 values.yaml)."""
    return {
        "cloudProvider": "kwok",
        "image": {"repository": CLUSTER_AUTOSCALER_IMAGE, "tag": CLUSTER_AUTOSCALER_IMAGE_TAG},
        # The chart renders its Deployment only when autoDiscovery.clusterName (or autoscalingGroups)
        # is set; the kwok provider ignores it (its groups come from the node templates).
        "autoDiscovery": {"clusterName": "kwok"},
        "fullnameOverride": CLUSTER_AUTOSCALER_RELEASE,
        # Read our provider ConfigMap, not the chart's sample one (the last definition wins).
        "extraEnv": {PROVIDER_CONFIGMAP_ENV: PROVIDER_CONFIGMAP},
        "extraArgs": {
            "scale-down-unneeded-time": SCALE_DOWN_UNNEEDED_TIME,
            "scale-down-delay-after-add": SCALE_DOWN_DELAY_AFTER_ADD,
        },
        "resources": {"requests": {"cpu": "25m", "memory": "80Mi"}, "limits": {"memory": "256Mi"}},
    }


def kwok_provider_config(caps: Capabilities) -> dict:
    """The kwok cloud provider's configuration (KwokProviderConfig, apiVersion v1alpha1).

    Static templates from our ConfigMap; groups by NODE_GROUP_LABEL; no provider taint (the
    template carries the lab's own). No `kwok` section: the provider reads none (see module doc).
    """
    return {
        "apiVersion": "v1alpha1",
        "readNodesFrom": "configmap",
        "nodegroups": {"fromNodeLabelKey": NODE_GROUP_LABEL},
        "nodes": {"skipTaint": True},
        "configmap": {"name": TEMPLATES_CONFIGMAP},
    }


def node_templates(caps: Capabilities) -> dict:
    """The template Node of the lab's node group, as the `List` the provider parses.

    No addresses, podCIDR or conditions: KWOK fills addresses and conditions when it takes the node
    over (its Stage keeps the capacity and allocatable given here), and the controller manager
    assigns the pod CIDR.
    """
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"{NODE_GROUP}-template",
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "type": "kwok",
                NODE_GROUP_LABEL: NODE_GROUP,
                SIMULATED_LABEL: "true",
            },
            "annotations": {
                KWOK_MANAGED_ANNOTATION: "fake",
                _NG_NAME: NODE_GROUP,
                _NG_MIN: str(MIN_NODES),
                _NG_MAX: str(MAX_NODES),
            },
        },
        "spec": {"taints": [dict(SIMULATED_TAINT)]},
        "status": {"capacity": dict(NODE_CAPACITY), "allocatable": dict(NODE_CAPACITY)},
    }
    return {"apiVersion": "v1", "kind": "List", "items": [node]}


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


class AutoscalerLayer(Layer):
    type_name = "Autoscaler"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        caps = ctx.capabilities
        if caps.lab_node_group == LAB_GROUP:  # a cloud: a pool of real nodes for the lab's pods
            self.lab_node_group = ctx.cluster.add_lab_node_group()
        if runs_aws_cluster_autoscaler(caps):
            self._aws(ctx)
            return
        if not needs_simulated_nodes(caps):
            self.register_outputs({"simulated_nodes": False, "node_group": LAB_GROUP})
            return

        kwok_ns = self.namespace(KWOK_NAMESPACE)
        crds = self.chart_crds(KWOK_RELEASE, KWOK_CRD_GROUPS)
        self.kwok = self.release(KWOK_RELEASE, kwok_ns, KWOK_PIN, kwok_values(caps), crds)
        # Stage objects are KWOK custom resources: after the release that installs their CRDs.
        self.stage_fast = self.release(STAGE_FAST_RELEASE, kwok_ns, STAGE_FAST_PIN, stage_fast_values(caps),
                                       self.kwok)

        ca_ns = self.namespace(CLUSTER_AUTOSCALER_NAMESPACE)
        provider_config = k8s.core.v1.ConfigMap(
            PROVIDER_CONFIGMAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROVIDER_CONFIGMAP, namespace=ca_ns.metadata.name,
                                                labels=MANAGED_BY),
            data={PROVIDER_CONFIG_KEY: _yaml(kwok_provider_config(caps))},
            opts=self.child_opts(ca_ns),
        )
        templates = k8s.core.v1.ConfigMap(
            TEMPLATES_CONFIGMAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=TEMPLATES_CONFIGMAP, namespace=ca_ns.metadata.name,
                                                labels=MANAGED_BY),
            data={TEMPLATES_KEY: _yaml(node_templates(caps))},
            opts=self.child_opts(ca_ns),
        )
        # cluster-autoscaler reads both ConfigMaps once, at start (and exits without them).
        self.cluster_autoscaler = self.release(CLUSTER_AUTOSCALER_RELEASE, ca_ns, CLUSTER_AUTOSCALER_PIN,
                                               cluster_autoscaler_values(caps), provider_config, templates)
        self.register_outputs({
            "simulated_nodes": True,
            "node_group": NODE_GROUP,
            "node_selector": SIMULATED_NODE_SELECTOR,
            "toleration": SIMULATED_TOLERATION,
            "namespace": CLUSTER_AUTOSCALER_NAMESPACE,
        })

    def _aws(self, ctx) -> None:
        """cluster-autoscaler with the aws provider, on the EKS cluster component's outputs."""
        cluster = ctx.cluster
        namespace_name, account = aws_service_account(cluster)
        role_arn = pulumi.Output.from_input(cluster.autoscaler_role_arn).apply(lambda arn: arn or ROLE_ARN_AT_UP)
        values = aws_cluster_autoscaler_values(ctx.capabilities, cluster.cluster_name, cluster.region, role_arn,
                                               account, ctx.settings.kubernetes_version)
        namespace = self.namespace(namespace_name)
        self.cluster_autoscaler = self.release(CLUSTER_AUTOSCALER_RELEASE, namespace, CLUSTER_AUTOSCALER_PIN, values)
        self.register_outputs({
            "simulated_nodes": False,
            "node_group": LAB_GROUP,
            "cloud_provider": "aws",
            "namespace": namespace_name,
            "service_account": f"{namespace_name}/{account}",
        })
