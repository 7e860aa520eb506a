"""The autoscaler layer: cluster-autoscaler (kwok provider) with KWOK simulated nodes, where the target
has no node autoscaling of its own (kind)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from infra.clusters.capabilities import BY_TARGET
from infra.layers import autoscaler
from infra.layers.autoscaler import (
    CLUSTER_AUTOSCALER_NAMESPACE, CLUSTER_AUTOSCALER_PIN, CLUSTER_AUTOSCALER_RELEASE, KWOK_NAMESPACE, KWOK_PIN,
    KWOK_RELEASE, MAX_NODES, MIN_NODES, NODE_GROUP, NODE_GROUP_LABEL, PROVIDER_CONFIGMAP, SIMULATED_LABEL,
    SIMULATED_NODE_SELECTOR, SIMULATED_TAINT, SIMULATED_TOLERATION, STAGE_FAST_PIN, STAGE_FAST_RELEASE,
    TEMPLATES_CONFIGMAP, WORKLOADS, cluster_autoscaler_values, kwok_provider_config, kwok_values, node_templates,
    stage_fast_values,
)
from tests.conftest import check_k8s_render, probe_registrations, render_with_layers
from tests.layer_helpers import (
    KIND, assert_layer_adds_nothing, by_object_name, chart_defaults, checked_requests, kind_capabilities, one,
    patch_kind_capabilities, releases_by_name, value_at,
)
from tests.cloud_helpers import cloud_caps

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"


@pytest.fixture
def document(tmp_path) -> dict:
    return render_with_layers(tmp_path / "render", ["autoscaler"])


def _configmap(document, name) -> dict:
    """The one ConfigMap of the render called `name`."""
    (found,) = [o for o in document["objects"] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    return found


# --- pins and the contract check -------------------------------------------------------------------

def test_kind_render_installs_the_three_releases_with_their_pins_and_passes_the_contract_check(
        document, tmp_path, shared):
    releases = releases_by_name(document)
    assert set(releases) == {"kwok", "stage-fast", "cluster-autoscaler"}
    expected = {
        KWOK_RELEASE: ("kwok", "kwok", "https://kwok.sigs.k8s.io/charts/", "0.3.0", kwok_values(kind_capabilities())),
        STAGE_FAST_RELEASE: ("kwok", "stage-fast", "https://kwok.sigs.k8s.io/charts/", "0.3.0", {}),
        CLUSTER_AUTOSCALER_RELEASE: ("cluster-autoscaler", "cluster-autoscaler", "https://kubernetes.github.io/autoscaler",
                                     "9.59.0", cluster_autoscaler_values(kind_capabilities())),
    }
    for name, (namespace, chart, repo, version, values) in expected.items():
        release = releases[name]
        assert (release["namespace"], release["chart"], release["repo"], release["version"]) == (
            namespace, chart, repo, version), name
        assert release["values"] == values, name
    assert (KWOK_PIN.chart, STAGE_FAST_PIN.chart, CLUSTER_AUTOSCALER_PIN.chart) == (
        "kwok", "stage-fast", "cluster-autoscaler")
    output = check_k8s_render(shared, document, tmp_path)
    assert "0 errors, 0 warnings" in output, output


def test_the_layer_owns_two_namespaces_and_two_configmaps(document):
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in document["objects"])
    assert kinds == [("ConfigMap", "lab-kwok-node-templates"), ("ConfigMap", "lab-kwok-provider-config"),
                     ("Namespace", "cluster-autoscaler"), ("Namespace", "kwok")]
    for name in (PROVIDER_CONFIGMAP, TEMPLATES_CONFIGMAP):
        configmap = _configmap(document, name)
        # The provider reads them from its own namespace (POD_NAMESPACE).
        assert configmap["metadata"]["namespace"] == CLUSTER_AUTOSCALER_NAMESPACE
        assert configmap["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "k8s-labs"}
    assert KWOK_NAMESPACE == "kwok"


# --- cluster-autoscaler values ---------------------------------------------------------------------

def test_cluster_autoscaler_uses_the_kwok_provider_with_an_image_that_still_has_it():
    values = cluster_autoscaler_values(kind_capabilities())
    assert values["cloudProvider"] == "kwok"
    assert values["image"]["repository"] == "registry.k8s.io/autoscaling/cluster-autoscaler"
    tag = values["image"]["tag"]
    assert tag.startswith("v")
    major, minor, patch = (int(part) for part in tag[1:].split("."))
    assert (major, minor) <= (1, 36), tag  # the kwok provider is built into images up to v1.36
    assert (major, minor) == (1, 36), tag  # and the binary matches the cluster's minor (kind v1.36.1)


def test_the_deployment_render_gate_is_open_and_names_are_short():
    values = cluster_autoscaler_values(kind_capabilities())
    # The chart renders no Deployment unless autoDiscovery.clusterName or autoscalingGroups is set.
    assert values["autoDiscovery"]["clusterName"]
    assert values["fullnameOverride"] == "cluster-autoscaler"
    assert WORKLOADS[CLUSTER_AUTOSCALER_RELEASE][0].container_in(values) == "kwok-cluster-autoscaler"


def test_scale_down_is_fast_enough_for_a_lab():
    args = cluster_autoscaler_values(kind_capabilities())["extraArgs"]
    assert args == {"scale-down-unneeded-time": "1m", "scale-down-delay-after-add": "1m"}


def test_cluster_autoscaler_reads_our_provider_configmap_not_the_charts_sample(shared):
    values = cluster_autoscaler_values(kind_capabilities())
    assert values["extraEnv"] == {"KWOK_PROVIDER_CONFIGMAP": PROVIDER_CONFIGMAP}
    defaults = chart_defaults(shared, "cluster-autoscaler", "9.59.0")
    # With cloudProvider kwok the chart itself renders ConfigMaps named kwokConfigMapName and
    # kwok-provider-templates: ours must not collide with them (Helm would refuse to install).
    assert "kwokConfigMapName" not in values
    chart_owned = {defaults["kwokConfigMapName"], "kwok-provider-templates"}
    assert chart_owned == {"kwok-provider-config", "kwok-provider-templates"}
    assert not chart_owned & {PROVIDER_CONFIGMAP, TEMPLATES_CONFIGMAP}


def _helm_fullname(values: dict, release: str, chart: str) -> str:
    """The usual `<chart>.fullname` helper (kwok's _helpers.tpl): fullnameOverride, else the release name
    when it contains the chart name, else `<release>-<chart>`."""
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or chart
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def test_kwok_deployment_is_named_as_the_lab_guide_shows_it(shared):
    """The kwok chart's values.yaml sets fullnameOverride "kwok-controller" (Deployment, ServiceAccount,
    ClusterRole): the guide's `kubectl -n kwok get deployment` / `logs deploy/kwok` expect `kwok`."""
    defaults = chart_defaults(shared, KWOK_PIN.chart, KWOK_PIN.version)
    assert defaults["fullnameOverride"] == "kwok-controller"  # what the chart alone would name it
    effective = {**defaults, **kwok_values(kind_capabilities())}  # Helm: the release's values win
    assert _helm_fullname(effective, KWOK_RELEASE, KWOK_PIN.chart) == KWOK_RELEASE == "kwok"
    assert _helm_fullname(cluster_autoscaler_values(kind_capabilities()), CLUSTER_AUTOSCALER_RELEASE,
                          CLUSTER_AUTOSCALER_PIN.chart) == "cluster-autoscaler"


def test_kwok_runs_without_host_networking():
    # Host networking would stamp a real node's IP on every simulated node and confuse kindnetd.
    assert kwok_values(kind_capabilities())["hostNetwork"] is False
    assert stage_fast_values(kind_capabilities()) == {}


# --- the provider configuration and the node group -------------------------------------------------

def test_provider_configmap_holds_the_config_the_provider_reads(document):
    configmap = _configmap(document, PROVIDER_CONFIGMAP)
    assert set(configmap["data"]) == {"config"}
    config = yaml.safe_load(configmap["data"]["config"])
    assert config == kwok_provider_config(kind_capabilities())
    assert config["apiVersion"] == "v1alpha1"
    assert config["readNodesFrom"] == "configmap"
    assert config["configmap"] == {"name": TEMPLATES_CONFIGMAP}
    assert config["nodegroups"] == {"fromNodeLabelKey": NODE_GROUP_LABEL}  # label, not annotation: one of the two
    assert config["nodes"]["skipTaint"] is True  # the template carries the lab's own taint instead


def test_provider_config_downloads_no_kwok(document):
    config = yaml.safe_load(_configmap(document, PROVIDER_CONFIGMAP)["data"]["config"])
    # KWOK comes from the kwok release only: the config names no KWOK release to fetch or install.
    assert "kwok" not in config
    text = json.dumps(config).lower()
    assert "github" not in text and "release" not in text and "install" not in text


def test_node_template_defines_the_lab_node_group(document):
    configmap = _configmap(document, TEMPLATES_CONFIGMAP)
    assert set(configmap["data"]) == {"templates"}
    templates = yaml.safe_load(configmap["data"]["templates"])
    assert templates == node_templates(kind_capabilities())
    assert (templates["apiVersion"], templates["kind"]) == ("v1", "List")  # one document: must be a List
    (node,) = templates["items"]
    assert (node["apiVersion"], node["kind"]) == ("v1", "Node")
    labels, annotations = node["metadata"]["labels"], node["metadata"]["annotations"]
    assert labels[NODE_GROUP_LABEL] == NODE_GROUP == "simulated"
    assert labels[SIMULATED_LABEL] == "true" and labels["kubernetes.io/os"] == "linux"
    assert annotations["cluster-autoscaler.kwok.nodegroup/name"] == NODE_GROUP  # stable across restarts
    assert annotations["cluster-autoscaler.kwok.nodegroup/min-count"] == "0" == str(MIN_NODES)
    assert annotations["cluster-autoscaler.kwok.nodegroup/max-count"] == "5" == str(MAX_NODES)
    assert annotations["kwok.x-k8s.io/node"] == "fake"  # what the KWOK controller manages
    assert node["spec"]["taints"] == [{"key": "labs.k8s/autoscaled", "value": "true", "effect": "NoSchedule"}]
    for field in ("capacity", "allocatable"):
        assert node["status"][field] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    # KWOK and the controller manager fill these: a template must not pin them.
    assert "addresses" not in node["status"] and "podCIDR" not in node["spec"] and "providerID" not in node["spec"]


def test_lab_pods_select_and_tolerate_exactly_the_template(document):
    (node,) = node_templates(kind_capabilities())["items"]
    for key, value in SIMULATED_NODE_SELECTOR.items():
        assert node["metadata"]["labels"][key] == value
    (taint,) = node["spec"]["taints"]
    assert taint == SIMULATED_TAINT
    toleration = SIMULATED_TOLERATION
    assert toleration["operator"] == "Equal"
    assert (toleration["key"], toleration["value"], toleration["effect"]) == (taint["key"], taint["value"],
                                                                             taint["effect"])


def test_node_template_is_a_valid_node_for_the_cluster_version(tmp_path, shared):
    file = tmp_path / "templates.yaml"
    file.write_text(yaml.safe_dump(node_templates(kind_capabilities())))
    done = subprocess.run([sys.executable, str(shared / "tools" / "check_k8s.py"), "files", str(file),
                           "--k8s-version", "1.36"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 checked, 0 errors" in done.stdout


# --- dependencies ----------------------------------------------------------------------------------

def test_releases_wait_for_what_they_really_need(document):
    releases = releases_by_name(document)
    # ...and on the resource that deletes its chart's CRDs once it is uninstalled (infra.layers.chart_crds).
    assert releases["kwok"]["depends_on"] == ["Namespace/kwok", "kwok-crds"]
    # Stage objects are KWOK custom resources: after the release that installs KWOK's CRDs.
    assert releases["stage-fast"]["depends_on"] == ["Namespace/kwok", "release/kwok"]
    # cluster-autoscaler reads its two ConfigMaps at start; it needs no KWOK CRD, so no wait on kwok.
    assert releases["cluster-autoscaler"]["depends_on"] == [
        "ConfigMap/lab-kwok-node-templates", "ConfigMap/lab-kwok-provider-config", "Namespace/cluster-autoscaler"]


def test_children_hang_off_the_layer_on_the_cluster_provider_four_levels_deep(tmp_path):
    registrations = probe_registrations(tmp_path / "labs", ["autoscaler"], KIND)
    layer = one(registrations, "labs:layer:Autoscaler")
    provider = one(registrations, "pulumi:providers:kubernetes")
    namespaces = by_object_name(registrations, NAMESPACE_TYPE)
    configmaps = by_object_name(registrations, CONFIGMAP_TYPE)
    releases = by_object_name(registrations, RELEASE_TYPE)
    assert set(namespaces) == {"kwok", "cluster-autoscaler"}
    assert set(configmaps) == {PROVIDER_CONFIGMAP, TEMPLATES_CONFIGMAP}
    children = [*namespaces.values(), *configmaps.values(), *releases.values()]
    for child in children:
        assert child.parent == layer.urn
        assert child.provider.startswith(provider.urn)
    for namespace in namespaces.values():
        assert namespace.dependencies == []
    for configmap in configmaps.values():
        assert configmap.dependencies == [namespaces["cluster-autoscaler"].urn]
    assert set(releases["cluster-autoscaler"].dependencies) == {
        namespaces["cluster-autoscaler"].urn, *(c.urn for c in configmaps.values())}
    assert releases["kwok"].urn not in releases["cluster-autoscaler"].dependencies
    assert set(releases["stage-fast"].dependencies) == {namespaces["kwok"].urn, releases["kwok"].urn}
    for release in releases.values():
        assert release.inputs["atomic"] is True

    # Depth: namespaces (1) -> kwok release / ConfigMaps (2) -> stage-fast / cluster-autoscaler (3),
    # under the cluster: at most 4 levels.
    by_urn = {r.urn: r for r in children}

    def depth(reg) -> int:
        return 1 + max((depth(by_urn[d]) for d in reg.dependencies if d in by_urn), default=0)

    assert max(depth(r) for r in children) == 3


def test_a_target_with_node_autoscaling_gets_nothing(tmp_path, monkeypatch):
    patch_kind_capabilities(monkeypatch, node_autoscaling="node-pool")  # its node pools autoscale, as GKE/AKS declare
    assert autoscaler.needs_simulated_nodes(BY_TARGET["kind"](KIND)) is False
    assert autoscaler.runs_aws_cluster_autoscaler(BY_TARGET["kind"](KIND)) is False
    assert_layer_adds_nothing(tmp_path, "autoscaler", "labs:layer:Autoscaler")


def test_kind_has_no_node_autoscaling_of_its_own():
    assert autoscaler.needs_simulated_nodes(kind_capabilities()) is True
    assert autoscaler.runs_aws_cluster_autoscaler(kind_capabilities()) is False


def test_node_autoscaling_is_one_of_the_strings_the_targets_declare():
    from infra.errors import LabsError

    for value, simulated, aws in (("", True, False), ("node-pool", False, False),
                                  ("cluster-autoscaler-aws", False, True)):
        caps = kind_capabilities(node_autoscaling=value)
        assert (autoscaler.needs_simulated_nodes(caps), autoscaler.runs_aws_cluster_autoscaler(caps)) == (simulated, aws)
    for wrong in (True, False, "karpenter"):
        with pytest.raises(LabsError, match="unknown node_autoscaling"):
            autoscaler.needs_simulated_nodes(kind_capabilities(node_autoscaling=wrong))
    declared = {target: cloud_caps(target).node_autoscaling for target in ("gke", "eks", "aks")}
    assert declared == {"gke": "node-pool", "eks": "cluster-autoscaler-aws", "aks": "node-pool"}


# --- resources -------------------------------------------------------------------------------------

def test_every_workload_has_requests_and_a_memory_limit_within_budget(document):
    releases = releases_by_name(document)
    assert set(WORKLOADS) == {KWOK_RELEASE, CLUSTER_AUTOSCALER_RELEASE}  # stage-fast runs no container
    for release, workloads in WORKLOADS.items():
        assert len(workloads) == 1, release  # one container per chart: no sidecars, init containers or hooks
    cpu, memory = checked_requests({release: releases[release]["values"] for release in WORKLOADS}, WORKLOADS)
    assert cpu <= 40 and memory <= 128, (cpu, memory)


def test_workload_paths_are_where_the_charts_read_resources(shared):
    for release, pin in ((KWOK_RELEASE, KWOK_PIN), (CLUSTER_AUTOSCALER_RELEASE, CLUSTER_AUTOSCALER_PIN)):
        defaults = chart_defaults(shared, pin.chart, pin.version)
        for workload in WORKLOADS[release]:
            assert value_at(defaults, workload.resources_path) == {}  # the chart's own (empty) resources map
    kwok_defaults = chart_defaults(shared, "kwok", "0.3.0")
    assert kwok_defaults["hostNetwork"] is False  # our explicit value is the chart default, kept on purpose


def test_no_secret_anywhere(document):
    assert "[secret]" not in json.dumps(document)


def test_the_registry_resolves_the_component():
    from infra.layers import LAYERS, component_class

    assert component_class("autoscaler") is autoscaler.AutoscalerLayer
    assert autoscaler.AutoscalerLayer.type_name == "Autoscaler"
    assert LAYERS["autoscaler"].requires == ()


# --- managed clouds ----------------------------------------------------------------------------------

def _cloud_render(target: str, tmp_path) -> dict:
    from infra.clusters.cloud import EXTRAS
    from tests.cloud_helpers import cloud_settings

    for module in EXTRAS[target][1]:
        pytest.importorskip(module, reason=f"the {target} extra is not installed")
    return render_with_layers(tmp_path / "render", ["autoscaler"], cloud_settings(target))


@pytest.mark.parametrize("target", ["gke", "aks"])
def test_node_pool_targets_get_nothing_their_provider_scales_the_pool(target, tmp_path):
    document = _cloud_render(target, tmp_path)
    assert document["releases"] == []
    assert not [o for o in document["objects"] if (o.get("metadata") or {}).get("namespace") in (
        KWOK_NAMESPACE, CLUSTER_AUTOSCALER_NAMESPACE) or o["kind"] == "Namespace"]


class _EksCluster:
    """What the EKS cluster component exposes to the autoscaler layer (see infra/clusters/eks.py)."""

    cluster_name = "labs-monday"
    region = "us-east-1"
    autoscaler_role_arn = "arn:aws:iam::123456789012:role/cluster-autoscaler-role"
    autoscaler_service_account = "cluster-autoscaler/cluster-autoscaler"


def test_eks_values_run_the_aws_provider_with_the_iam_role_of_the_cluster():
    caps = cloud_caps("eks")
    cluster = _EksCluster()
    namespace, account = autoscaler.aws_service_account(cluster)
    values = autoscaler.aws_cluster_autoscaler_values(caps, cluster.cluster_name, cluster.region,
                                                      cluster.autoscaler_role_arn, account, "1.35")
    assert values["cloudProvider"] == "aws"
    assert values["awsRegion"] == "us-east-1"
    assert values["autoDiscovery"] == {"clusterName": "labs-monday"}
    assert values["fullnameOverride"] == CLUSTER_AUTOSCALER_RELEASE
    assert values["rbac"] == {"serviceAccount": {
        "name": "cluster-autoscaler",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/cluster-autoscaler-role"}}}
    assert (namespace, account) == (CLUSTER_AUTOSCALER_NAMESPACE, CLUSTER_AUTOSCALER_RELEASE)
    assert values["image"] == {"repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "tag": "v1.35.1"}
    kwok = cluster_autoscaler_values(kind_capabilities())
    assert values["extraArgs"] == kwok["extraArgs"] and values["resources"] == kwok["resources"]
    assert "extraEnv" not in values  # no kwok provider ConfigMap on EKS
    # The footprint names the container as the chart does: after the cloud provider.
    assert WORKLOADS[CLUSTER_AUTOSCALER_RELEASE][0].container_in(values) == "aws-cluster-autoscaler"


def test_the_service_account_is_the_one_the_eks_iam_role_trusts():
    from infra.clusters import eks

    assert eks.AUTOSCALER_SERVICE_ACCOUNT == (CLUSTER_AUTOSCALER_NAMESPACE, CLUSTER_AUTOSCALER_RELEASE)


def test_the_eks_image_matches_the_clusters_kubernetes_minor():
    from infra.errors import LabsError

    assert autoscaler.kubernetes_minor("1.35") == "1.35"
    assert autoscaler.kubernetes_minor("v1.35.2") == "1.35"
    assert autoscaler.kubernetes_minor("1.35.2-eks-abcdef") == "1.35"
    assert autoscaler.kubernetes_minor("") == ""
    for minor, tag in autoscaler.CLUSTER_AUTOSCALER_AWS_TAGS.items():
        assert tag.startswith(f"v{minor}.") and autoscaler.aws_image_tag(minor) == tag
    assert autoscaler.aws_image_tag("1.36") == autoscaler.CLUSTER_AUTOSCALER_IMAGE_TAG  # as on kind
    for unknown in ("1.20", "", "latest"):
        with pytest.raises(LabsError, match="no cluster-autoscaler image known"):
            autoscaler.aws_image_tag(unknown)


def test_eks_value_keys_are_in_the_charts_values(shared):
    defaults = chart_defaults(shared, "cluster-autoscaler", "9.59.0")
    for key in ("cloudProvider", "awsRegion", "autoDiscovery.clusterName", "fullnameOverride", "image.repository",
                "image.tag", "rbac.serviceAccount.name", "rbac.serviceAccount.annotations", "resources", "extraArgs"):
        value_at(defaults, key)


def test_eks_render_installs_cluster_autoscaler_on_the_clusters_outputs_and_passes_the_contract_check(
        tmp_path, shared):
    from infra.clusters import cloud
    from tests.cloud_helpers import cloud_settings

    document = _cloud_render("eks", tmp_path)
    settings = cloud_settings("eks")
    (release,) = document["releases"]
    assert (release["name"], release["namespace"], release["chart"], release["version"]) == (
        "cluster-autoscaler", "cluster-autoscaler", "cluster-autoscaler", "9.59.0")
    values = release["values"]
    assert values["cloudProvider"] == "aws"
    assert values["autoDiscovery"]["clusterName"] == cloud.cluster_name(settings) == "labs-monday"
    assert values["awsRegion"] == settings.region == "us-east-1"
    assert values["image"]["tag"] == "v1.35.1" and settings.kubernetes_version == "1.35"
    annotations = values["rbac"]["serviceAccount"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": autoscaler.ROLE_ARN_AT_UP}  # the mock role has no ARN
    assert "Namespace/cluster-autoscaler" in release["depends_on"]
    assert {(o["kind"], o["metadata"]["name"]) for o in document["objects"] if o["kind"] == "Namespace"} == {
        ("Namespace", "cluster-autoscaler")}
    assert not [o for o in document["objects"] if o["kind"] == "ConfigMap"]
    assert "kwok" not in {r["name"] for r in document["releases"]}
    output = check_k8s_render(shared, document, tmp_path)
    assert "0 errors, 0 warnings" in output, output


def test_the_role_arn_of_the_eks_cluster_reaches_the_service_account(tmp_path, monkeypatch):
    from infra.clusters.cloud import EXTRAS
    from infra.recording import EchoMocks
    from tests.cloud_helpers import cloud_settings

    for module in EXTRAS["eks"][1]:
        pytest.importorskip(module, reason="the eks extra is not installed")
    arn = "arn:aws:iam::123456789012:role/cluster-autoscaler-role-1a2b3c"
    original = EchoMocks.new_resource

    def new_resource(self, args):
        resource_id, outputs = original(self, args)
        if args.typ == "aws:iam/role:Role" and args.name == "cluster-autoscaler-role":
            outputs = {**outputs, "arn": arn}
        return resource_id, outputs

    monkeypatch.setattr(EchoMocks, "new_resource", new_resource)
    registrations = probe_registrations(tmp_path / "labs", ["autoscaler"], cloud_settings("eks"))
    release = by_object_name(registrations, RELEASE_TYPE)["cluster-autoscaler"]
    assert release.inputs["values"]["rbac"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    role = [r for r in registrations if r.type == "aws:iam/role:Role" and r.name == "cluster-autoscaler-role"]
    assert role and role[0].urn in release.dependencies
    layer = one(registrations, "labs:layer:Autoscaler")
    assert release.parent == layer.urn
