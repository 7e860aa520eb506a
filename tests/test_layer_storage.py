"""The storage layer: StorageClasses to compare, the CSI hostpath driver, snapshots."""
from __future__ import annotations

import re

import pytest

from infra.clusters import capabilities
from infra.quantities import cpu_millicores, memory_mebibytes
from infra.layers.storage import (
    BUDGET_CPU_M, BUDGET_MEMORY_MI, CSI_CLASS, DRIVER, IMAGES, IMMEDIATE_CLASS, NAMESPACE, PLUGIN, PLUGIN_SA,
    RESOURCES, RETAIN_CLASS, SNAPSHOT_CLASS, SNAPSHOT_CONTROLLER, SNAPSHOT_CRD_URLS, SNAPSHOTTER_VERSION, WORKLOADS,
    snapshot_class_object, storage_classes,
)
from tests.conftest import check_k8s_render, probe_registrations, render_with_layers, user_dirs_in
from tests.layer_helpers import KIND, assert_requests_and_memory_limit, kind_capabilities, objects_of_kind, one
from tests.cloud_helpers import cloud_caps, cloud_labels

CAPS = kind_capabilities()
POD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("storage")
    with user_dirs_in(root):
        return render_with_layers(root / "labs", ["storage"], KIND)


@pytest.fixture(scope="module")
def registrations(tmp_path_factory):
    root = tmp_path_factory.mktemp("storage-reg")
    with user_dirs_in(root):
        return probe_registrations(root / "labs", ["storage"], KIND)


def pod_owners(document: dict) -> list[dict]:
    return [o for o in document["objects"] if o["kind"] in POD_OWNERS]


def containers(owner: dict) -> list[dict]:
    spec = owner["spec"] if owner["kind"] == "Pod" else owner["spec"]["template"]["spec"]
    return [*(spec.get("initContainers") or []), *spec["containers"]]


def test_quantity_parsing():
    """The footprint's parsers, which the budget test below relies on."""
    assert cpu_millicores("5m") == 5 and cpu_millicores("0.5") == 500 and cpu_millicores("1") == 1000
    assert memory_mebibytes("16Mi") == 16 and memory_mebibytes("1Gi") == 1024 and memory_mebibytes("512Ki") == 0.5
    assert memory_mebibytes(str(64 * 2**20)) == 64


# --- StorageClasses ----------------------------------------------------------------------------------

def test_kind_gets_a_retain_class_and_an_immediate_csi_class_with_expansion(rendered):
    classes = objects_of_kind(rendered, "StorageClass")
    assert set(classes) == {RETAIN_CLASS, CSI_CLASS} == {"standard-retain", "csi-hostpath-sc"}
    retain = classes[RETAIN_CLASS]
    assert retain["provisioner"] == "rancher.io/local-path"  # kind's own provisioner, as `standard`
    assert (retain["reclaimPolicy"], retain["volumeBindingMode"]) == ("Retain", "WaitForFirstConsumer")
    assert "allowVolumeExpansion" not in retain  # local-path cannot grow a volume
    csi = classes[CSI_CLASS]
    assert (csi["provisioner"], csi["reclaimPolicy"], csi["volumeBindingMode"]) == (DRIVER, "Delete", "Immediate")
    assert csi["allowVolumeExpansion"] is True
    assert classes[IMMEDIATE_CLASS]["volumeBindingMode"] == "Immediate"


def test_kinds_default_class_is_left_alone(rendered):
    classes = objects_of_kind(rendered, "StorageClass")
    assert CAPS.default_storage_class == "standard" and "standard" not in classes
    for storage_class in classes.values():
        annotations = storage_class["metadata"].get("annotations") or {}
        assert "storageclass.kubernetes.io/is-default-class" not in annotations


def test_the_retain_class_follows_the_targets_provisioner_and_csi_classes_work_anywhere():
    assert [c["name"] for c in storage_classes(CAPS)] == [RETAIN_CLASS, CSI_CLASS]
    # kwok's cluster holds kind's default class (local-path): its Retain twin too, as on kind.
    kwok = storage_classes(capabilities.kwok_capabilities(KIND))
    assert [(c["name"], c["provisioner"]) for c in kwok][:1] == [(RETAIN_CLASS, "rancher.io/local-path")]
    # Another non-CSI default provisioner: the layer knows no parameters for it, so no Retain class.
    elsewhere = storage_classes(kind_capabilities(provider="somecloud", default_provisioner="example.com/nfs"))
    assert [c["name"] for c in elsewhere] == [CSI_CLASS]


# --- The CSI driver -----------------------------------------------------------------------------------

def test_csi_driver_object_needs_no_attach(rendered):
    driver = objects_of_kind(rendered, "CSIDriver")[DRIVER]
    assert driver["spec"]["attachRequired"] is False
    assert driver["spec"]["volumeLifecycleModes"] == ["Persistent", "Ephemeral"]
    assert driver["spec"]["podInfoOnMount"] is True
    names = {c["name"] for owner in pod_owners(rendered) for c in containers(owner)}
    assert "csi-attacher" not in names  # attachRequired false: no VolumeAttachment to serve


def test_plugin_pod_runs_the_driver_and_the_sidecars_on_one_node(rendered):
    plugin = objects_of_kind(rendered, "StatefulSet")[PLUGIN]
    assert plugin["metadata"]["namespace"] == NAMESPACE and plugin["spec"]["replicas"] == 1
    pod = plugin["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == PLUGIN_SA
    by_name = {c["name"]: c for c in pod["containers"]}
    assert set(by_name) == {"hostpath", "node-driver-registrar", "liveness-probe", "csi-provisioner",
                            "csi-resizer", "csi-snapshotter"}
    assert f"--drivername={DRIVER}" in by_name["hostpath"]["args"]
    assert by_name["hostpath"]["securityContext"]["privileged"] is True
    # Topology is the provisioner's default (v5+): no --feature-gates flag that a later release would refuse.
    assert not [a for a in by_name["csi-provisioner"]["args"] if a.startswith("--feature-gates")]
    # kubelet finds the driver's socket on the node where the socket-dir volume puts it.
    socket_dir = {v["name"]: v for v in pod["volumes"]}["socket-dir"]["hostPath"]["path"]
    registration = [a for a in by_name["node-driver-registrar"]["args"] if a.startswith("--kubelet-registration-path=")]
    assert registration == [f"--kubelet-registration-path={socket_dir}/csi.sock"]
    for container in by_name.values():
        assert {"name": "socket-dir", "mountPath": "/csi"} in container["volumeMounts"]
    # the liveness-probe sidecar serves the port the hostpath container's probe checks
    assert "--health-port=9898" in by_name["liveness-probe"]["args"]
    assert by_name["hostpath"]["ports"][0]["containerPort"] == 9898


def test_namespace_allows_the_privileged_plugin(rendered):
    namespace = objects_of_kind(rendered, "Namespace")[NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_each_sidecar_and_the_snapshot_controller_is_bound_to_its_account(rendered):
    roles, bindings = objects_of_kind(rendered, "ClusterRole"), objects_of_kind(rendered, "ClusterRoleBinding")
    assert set(roles) == set(bindings) == {
        "csi-hostpath-provisioner", "csi-hostpath-resizer", "csi-hostpath-snapshotter",
        "csi-hostpath-snapshot-controller"}
    for name, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        account = SNAPSHOT_CONTROLLER if name.endswith("snapshot-controller") else PLUGIN_SA
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    assert set(objects_of_kind(rendered, "ServiceAccount")) == {PLUGIN_SA, SNAPSHOT_CONTROLLER}

    def grants(role, group, resource):
        return {verb for rule in roles[role]["rules"] if group in rule["apiGroups"] and resource in rule["resources"]
                for verb in rule["verbs"]}

    assert {"create", "delete"} <= grants("csi-hostpath-provisioner", "", "persistentvolumes")
    assert "patch" in grants("csi-hostpath-resizer", "", "persistentvolumeclaims/status")
    assert "update" in grants("csi-hostpath-snapshotter", "snapshot.storage.k8s.io", "volumesnapshotcontents/status")
    assert "create" in grants("csi-hostpath-snapshot-controller", "snapshot.storage.k8s.io", "volumesnapshotcontents")
    lease_role = objects_of_kind(rendered, "Role")["snapshot-controller-leaderelection"]
    assert lease_role["rules"][0]["resources"] == ["leases"]
    controller = objects_of_kind(rendered, "Deployment")[SNAPSHOT_CONTROLLER]
    assert "--leader-election=true" in containers(controller)[0]["args"]
    pod_security = controller["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] >= 10000
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_images_are_pinned_sig_storage_tags_of_one_release_line(rendered):
    for owner in pod_owners(rendered):
        for container in containers(owner):
            assert container["image"] == IMAGES[container["name"]]
    for image in IMAGES.values():
        assert re.fullmatch(r"registry\.k8s\.io/sig-storage/[a-z-]+:v\d+\.\d+\.\d+", image), image
    # the sidecar, the controller and the CRDs come from the same external-snapshotter release
    assert IMAGES["csi-snapshotter"].endswith(f":{SNAPSHOTTER_VERSION}")
    assert IMAGES["snapshot-controller"].endswith(f":{SNAPSHOTTER_VERSION}")


# --- Snapshots ------------------------------------------------------------------------------------------

def test_snapshot_crds_come_from_the_pinned_external_snapshotter_release(rendered):
    manifests = {m["name"]: m["source"] for m in rendered["manifests"]}
    assert manifests["snapshot-crds"] == SNAPSHOT_CRD_URLS
    prefix = ("https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/"
              f"{SNAPSHOTTER_VERSION}/client/config/crd/")
    assert SNAPSHOTTER_VERSION == "v8.6.0"
    assert sorted(SNAPSHOT_CRD_URLS) == [
        f"{prefix}snapshot.storage.k8s.io_{plural}.yaml"
        for plural in ("volumesnapshotclasses", "volumesnapshotcontents", "volumesnapshots")]


def test_snapshot_class_is_applied_through_a_config_group_not_rendered_as_an_object(rendered, registrations):
    assert SNAPSHOT_CLASS in {m["name"] for m in rendered["manifests"]}
    assert not [o for o in rendered["objects"] if o["apiVersion"].startswith("snapshot.storage.k8s.io/")]
    group = one(registrations, CONFIG_GROUP, SNAPSHOT_CLASS)
    (snapshot_class,) = group.inputs["objs"]
    assert snapshot_class == snapshot_class_object()
    assert snapshot_class["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert snapshot_class["kind"] == "VolumeSnapshotClass"
    assert (snapshot_class["driver"], snapshot_class["deletionPolicy"]) == (DRIVER, "Delete")
    assert snapshot_class["metadata"]["name"] == "csi-hostpath-snapclass"
    crds = one(registrations, CONFIG_GROUP, "snapshot-crds")
    driver = one(registrations, "kubernetes:storage.k8s.io/v1:CSIDriver", DRIVER)
    assert {crds.urn, driver.urn} <= set(group.dependencies)


# --- Ordering, parents, providers -----------------------------------------------------------------------

def test_snapshot_controller_and_plugin_wait_for_the_crds_and_classes_wait_for_nothing(registrations):
    crds = one(registrations, CONFIG_GROUP, "snapshot-crds")
    assert crds.dependencies == []
    controller = one(registrations, "kubernetes:apps/v1:Deployment", SNAPSHOT_CONTROLLER)
    plugin = one(registrations, "kubernetes:apps/v1:StatefulSet", PLUGIN)
    assert crds.urn in controller.dependencies and crds.urn in plugin.dependencies
    for cls in (RETAIN_CLASS, CSI_CLASS):
        assert one(registrations, "kubernetes:storage.k8s.io/v1:StorageClass", cls).dependencies == []
    assert one(registrations, "kubernetes:storage.k8s.io/v1:CSIDriver", DRIVER).dependencies == []


def test_dependency_chains_stay_within_three_levels_under_the_cluster(registrations):
    layer = one(registrations, "labs:layer:Storage")
    mine = {r.urn: r for r in registrations if r.parent == layer.urn}
    depth: dict[str, int] = {}

    def level(urn: str) -> int:
        if urn not in depth:
            depth[urn] = 1 + max((level(d) for d in mine[urn].dependencies if d in mine), default=0)
        return depth[urn]

    assert max(level(urn) for urn in mine) <= 3  # + the cluster: at most 4 levels


def test_every_resource_is_a_child_of_the_layer_on_the_cluster_provider(registrations):
    layer = one(registrations, "labs:layer:Storage")
    provider = one(registrations, "pulumi:providers:kubernetes")
    children = [r for r in registrations if r.type.startswith("kubernetes:")]
    assert children and all(r.parent == layer.urn for r in children)
    assert all(r.provider.startswith(provider.urn) for r in children if r.custom)


# --- Resources and budget -------------------------------------------------------------------------------

def test_every_container_requests_cpu_and_memory_and_has_a_memory_limit(rendered):
    seen = []
    for owner in pod_owners(rendered):
        for container in containers(owner):
            assert_requests_and_memory_limit(container.get("resources") or {}, container["name"])
            seen.append(container["name"])
    assert sorted(seen) == sorted(RESOURCES)


def test_requests_add_up_within_the_layer_budget(rendered):
    cpu = memory = 0.0
    for owner in pod_owners(rendered):
        count = CAPS.nodes if owner["kind"] == "DaemonSet" else owner["spec"].get("replicas", 1)
        for container in containers(owner):
            requests = container["resources"]["requests"]
            cpu += cpu_millicores(requests["cpu"]) * count
            memory += memory_mebibytes(requests["memory"]) * count
    assert (cpu, memory) == (45, 136)
    assert (BUDGET_CPU_M, BUDGET_MEMORY_MI) == (60, 160)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI
    assert WORKLOADS == {}  # no chart: the footprint reads these rendered objects


def test_render_passes_the_contract_check(rendered, shared, tmp_path):
    output = check_k8s_render(shared, rendered, tmp_path)
    assert re.search(r"check_k8s: \d+ checked, 0 errors, 0 warnings", output), output


# --- Managed clouds: the provider's CSI driver, same class names -----------------------------------------

CLOUDS = ("gke", "eks", "aks")
STORAGE_CLASS_TYPE = "kubernetes:storage.k8s.io/v1:StorageClass"


def _require_sdk(target: str) -> None:
    from infra.clusters.cloud import EXTRAS

    for module in EXTRAS[target][1]:
        pytest.importorskip(module, reason=f"the {target} extra is not installed")


@pytest.fixture(scope="module", params=CLOUDS)
def on_cloud(request, tmp_path_factory):
    """(target, render, registrations) of a lab needing the storage layer on a managed cloud."""
    from tests.cloud_helpers import cloud_settings

    _require_sdk(request.param)
    root = tmp_path_factory.mktemp(f"storage-{request.param}")
    with user_dirs_in(root):
        settings = cloud_settings(request.param)
        return (request.param, render_with_layers(root / "render", ["storage"], settings),
                probe_registrations(root / "reg", ["storage"], settings))


def test_clouds_declare_the_driver_the_classes_are_built_on():
    expected = {"gke": ("pd.csi.storage.gke.io", ""), "eks": ("ebs.csi.aws.com", ""),
                "aks": ("disk.csi.azure.com", "csi-azuredisk-vsc")}
    for target, (driver, own_snapshot_class) in expected.items():
        caps = cloud_caps(target)
        assert caps.snapshot_controller is True, target
        assert caps.csi_driver == caps.default_provisioner == driver, target
        assert caps.snapshot_class == own_snapshot_class, target


def test_cloud_classes_keep_the_lab_names_on_the_providers_driver_with_real_parameters():
    from infra.layers.storage import uses_hostpath_driver

    tags = "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z"
    disk = {
        # pd.csi.storage.gke.io: `type` (pd-balanced, as GKE's standard-rwo) and GCE disk `labels`.
        "gke": {"type": "pd-balanced", "labels": tags},
        # ebs.csi.aws.com: the EKS target's gp3 parameters (type, encryption, fstype, tags).
        "eks": {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4",
                "tagSpecification_1": "project=k8s-labs", "tagSpecification_2": "session=monday",
                "tagSpecification_3": "expires-at=2026-07-23t18-00z"},
        # disk.csi.azure.com: `skuName` (StandardSSD_LRS, as AKS's managed-csi) and Azure `tags`.
        "aks": {"skuName": "StandardSSD_LRS", "tags": tags},
    }
    for target, parameters in disk.items():
        caps = cloud_caps(target)
        assert not uses_hostpath_driver(caps), target
        retain, immediate = storage_classes(caps)
        assert retain == {"name": "standard-retain", "provisioner": caps.csi_driver, "reclaimPolicy": "Retain",
                          "volumeBindingMode": "WaitForFirstConsumer", "parameters": parameters,
                          "allowVolumeExpansion": True}, target
        assert immediate == {"name": "csi-hostpath-sc", "provisioner": caps.csi_driver, "reclaimPolicy": "Delete",
                             "volumeBindingMode": "Immediate", "allowVolumeExpansion": True,
                             "parameters": parameters}, target
        assert caps.default_storage_class not in (RETAIN_CLASS, CSI_CLASS)  # the target's own class is left alone


def test_the_eks_classes_use_the_parameters_of_the_targets_gp3_class():
    from infra.clusters.capabilities import gp3_parameters
    from tests.cloud_helpers import cloud_settings

    for spec in storage_classes(cloud_caps("eks")):
        assert spec["parameters"] == gp3_parameters(cloud_settings("eks"))


def test_the_snapshot_class_names_the_providers_driver_and_is_default_only_where_the_target_has_none():
    for target in CLOUDS:
        caps = cloud_caps(target)
        snapshot_class = snapshot_class_object(caps)
        assert snapshot_class["metadata"]["name"] == "csi-hostpath-snapclass", target  # lab 12 names it
        assert (snapshot_class["driver"], snapshot_class["deletionPolicy"]) == (caps.csi_driver, "Delete"), target
        annotations = snapshot_class["metadata"].get("annotations") or {}
        labels = cloud_labels(target)
        tagged = snapshot_class.get("parameters") or {}
        if target == "eks":
            assert sorted(tagged.values()) == sorted(f"{k}={v}" for k, v in labels.items())
            assert all(key.startswith("tagSpecification_") for key in tagged)
        elif target == "aks":
            assert sorted(tagged["tags"].split(",")) == sorted(f"{k}={v}" for k, v in labels.items())
        else:
            assert tagged == {}, target  # the PD driver documents no snapshot labels
        if caps.snapshot_class:  # AKS preinstalls csi-azuredisk-vsc: two defaults would refuse class-less snapshots
            assert annotations == {}, target
        else:
            assert annotations == {"snapshot.storage.kubernetes.io/is-default-class": "true"}, target
    assert snapshot_class_object(CAPS) == snapshot_class_object()  # kind: unchanged


def test_a_target_with_a_snapshot_controller_but_no_csi_driver_is_refused():
    from infra.errors import LabsError

    with pytest.raises(LabsError, match="no CSI driver"):
        storage_classes(kind_capabilities(snapshot_controller=True))


def test_on_clouds_nothing_of_the_hostpath_stack_is_installed(on_cloud):
    from infra.layers.autoscaler import CLUSTER_AUTOSCALER_NAMESPACE

    target, document, _ = on_cloud
    # On EKS cluster-autoscaler runs under every lab (always_layers): its release and namespace are not the storage layer's.
    always = {CLUSTER_AUTOSCALER_NAMESPACE} if "autoscaler" in document["layers"] else set()
    assert [r for r in document["releases"] if r["namespace"] not in always] == []
    assert pod_owners(document) == []
    kinds = {(o["kind"], o["metadata"]["name"]) for o in document["objects"]
             if o["metadata"]["name"] not in always and o["metadata"].get("namespace") not in always}
    for absent in ("Namespace", "CSIDriver", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                   "RoleBinding"):
        assert not [k for k in kinds if k[0] == absent], (target, absent)
    assert [m["name"] for m in document["manifests"]] == [SNAPSHOT_CLASS]  # no snapshot CRDs
    classes = objects_of_kind(document, "StorageClass")
    assert {RETAIN_CLASS, CSI_CLASS} <= set(classes)
    caps = cloud_caps(target)
    for name in (RETAIN_CLASS, CSI_CLASS):
        assert classes[name]["provisioner"] == caps.csi_driver and classes[name]["allowVolumeExpansion"] is True
        assert classes[name]["parameters"] == caps.volume_parameters
    assert classes[CSI_CLASS]["volumeBindingMode"] == "Immediate"
    assert classes[RETAIN_CLASS]["reclaimPolicy"] == "Retain"


def test_on_clouds_the_snapshot_class_is_a_config_group_waiting_for_the_clusters_snapshot_add_on(on_cloud):
    target, _, registrations = on_cloud
    group = one(registrations, CONFIG_GROUP, SNAPSHOT_CLASS)
    (snapshot_class,) = group.inputs["objs"]
    assert snapshot_class == snapshot_class_object(cloud_caps(target))
    layer = one(registrations, "labs:layer:Storage")
    assert group.parent == layer.urn
    addons = [r for r in registrations if r.type == "aws:eks/addon:Addon" and r.name == "snapshot-controller"]
    if target == "eks":  # its CRDs come with the add-on: the class waits for it
        (addon,) = addons
        assert addon.urn in group.dependencies
    else:
        assert group.dependencies == []
    for cls in (RETAIN_CLASS, CSI_CLASS):
        assert one(registrations, STORAGE_CLASS_TYPE, cls).dependencies == []


def test_cloud_storage_render_passes_the_contract_check(on_cloud, shared, tmp_path):
    _, document, _ = on_cloud
    output = check_k8s_render(shared, document, tmp_path)
    assert re.search(r"check_k8s: \d+ checked, 0 errors, 0 warnings", output), output
