"""The storage layer (StorageClass, PersistentVolume and PersistentVolumeClaim slides): classes to compare.

Two classes and a snapshot class, by role, with the same names on every target so labs 10-12 (and
their checks) work unchanged; the target's default class is never touched:
  - the Retain class `standard-retain`: the provisioner of the target's default class with
    `reclaimPolicy: Retain` and WaitForFirstConsumer binding. Deleting the claim leaves the
    PersistentVolume `Released` and its data in place: the reclaim slide.
  - the Immediate, expandable CSI class `csi-hostpath-sc`: `volumeBindingMode: Immediate` and
    `allowVolumeExpansion: true`. A claim binds as soon as it is created (compare with the default
    class, Pending until a pod uses it), grows when its request is raised, and can be snapshotted
    and restored into a new claim. The name comes from the kubernetes-csi hostpath driver it uses on
    kind and is kept on the clouds, where it is served by the provider's CSI driver, for lab
    compatibility (lab 10 and 12 name it in their claims and checks).
  - the VolumeSnapshotClass `csi-hostpath-snapclass` (deletionPolicy Delete) for that class's driver.

Per target (`Capabilities`):
  - kind (`snapshot_controller` False): kind's default class `standard` is rancher.io/local-path, not
    CSI, so the layer brings its own CSI stack: the hostpath driver (`hostpath.csi.k8s.io`), the
    snapshot CRDs and the snapshot-controller. `standard-retain` uses local-path.
  - managed clouds (`snapshot_controller` True: GKE runs it, EKS has the add-on, AKS builds it in):
    no CRDs, no snapshot-controller, no hostpath driver. Both classes use the provider's CSI driver
    (`caps.default_provisioner` / `caps.csi_driver`: pd.csi.storage.gke.io, ebs.csi.aws.com,
    disk.csi.azure.com) with the target's disk parameters (`caps.volume_parameters`: GKE
    `type: pd-balanced` + `labels`, EKS `type: gp3`, `encrypted`, `csi.storage.k8s.io/fstype` +
    `tagSpecification_N`, AKS `skuName: StandardSSD_LRS` + `tags`; the keys are each driver's
    documented StorageClass parameters), so every disk carries the session's labels/tags and
    `session orphans` finds a forgotten one. Both allow expansion (the providers' drivers do).
    The snapshot class names the provider's driver and carries the session's tags where the
    driver takes them (`caps.snapshot_parameters`: EKS, AKS); it is the default snapshot class only where
    the target preinstalls none of its own (`caps.snapshot_class` empty: GKE, EKS). On AKS, which
    ships `csi-azuredisk-vsc`, the class is still created (lab 12's VolumeSnapshot names
    `csi-hostpath-snapclass`) but not marked default: two default classes for one driver make
    the snapshot-controller refuse a VolumeSnapshot that names no class.
    Immediate binding of zonal disks: the provisioner picks a zone among the nodes' zones and the
    PV's node affinity then brings the pod there (the GKE target is zonal and the AKS pool has no
    availability zones; on EKS the volume lands in one of the node group's zones).

Design decisions (the hostpath stack is kind's; the last ones hold on every target):
  - The Immediate class is the CSI class. rancher local-path-provisioner does not support Immediate
    binding: it needs the node the scheduler picked, and a claim of an Immediate local-path class
    stays Pending with "configuration error, no node was specified" (rancher/local-path-provisioner
    issues #386, #466, #338; kind keeps WaitForFirstConsumer for that reason, kubernetes-sigs/kind
    #3525). Conversely the hostpath driver runs as ONE pod (all its volumes live on that pod's node),
    so a WaitForFirstConsumer CSI class would get stuck whenever the scheduler picks another node
    ("no topology key found on CSINode", see the note in csi-driver-host-path's deploy script and
    kubernetes-csi/external-provisioner#544). With Immediate binding the provisioner creates the
    volume on the driver's node and the PV's node affinity then brings the pod there, which is
    reliable on 3 nodes. The upstream example class `csi-hostpath-sc` is Immediate for the same
    reason; we add `allowVolumeExpansion`. So a separate "Immediate" class would be identical.
  - No chart exists for the driver or the snapshot controller, so the layer composes typed objects:
    a namespace `csi-hostpath` (Pod Security `privileged`: the plugin mounts with Bidirectional
    propagation), the CSIDriver object, one ServiceAccount with a ClusterRole per sidecar, a
    StatefulSet of one replica (the hostpath plugin, csi-provisioner, csi-resizer,
    csi-snapshotter, node-driver-registrar and livenessprobe in one pod), and the
    snapshot-controller Deployment with its own ServiceAccount and RBAC.
  - No csi-attacher: the CSIDriver says `attachRequired: false` (the hostpath plugin only offers
    ControllerPublish with `--enable-attach`, off by default), so kubelet mounts without a
    VolumeAttachment. One container fewer in the budget.
  - Sidecars run without leader election (a StatefulSet of one replica never runs two pods); the
    snapshot-controller keeps leader election (a Deployment rollout briefly runs two pods), hence
    its Role on Leases in the namespace.
  - Snapshot CRDs (VolumeSnapshot, VolumeSnapshotContent, VolumeSnapshotClass,
    snapshot.storage.k8s.io/v1) come from the external-snapshotter release tag as raw GitHub URLs,
    in one yaml.v2.ConfigGroup (`snapshot-crds`, listed under the render's "manifests"); the
    group-snapshot CRDs are not installed (the v8.6.0 controller leaves that feature gate off).
  - The VolumeSnapshotClass is created through a yaml.v2.ConfigGroup with `objs` (also under
    "manifests"), not as a rendered object: ../shared/schemas/crds has no schema for
    snapshot.storage.k8s.io, and the contract checker errors on any object it has no schema for.
    It is still registered by the program (and visible in the render by name), it just cannot be
    validated offline.
  - Order: the CRDs first; the snapshot-controller, the plugin StatefulSet (its csi-snapshotter
    watches VolumeSnapshotContents) and the VolumeSnapshotClass wait for them; the StorageClasses,
    the CSIDriver and the RBAC depend on nothing (ClusterRoleBindings name the namespace as a
    plain string) and install in parallel. Longest chain: namespace -> RoleBinding/ServiceAccount
    -> workload, three levels under the cluster.
  - Budget (60m CPU / 160Mi memory requested in total): every container has CPU and memory requests
    and a memory limit, see RESOURCES (45m / 136Mi). `WORKLOADS = {}` because no chart runs here:
    the footprint reads the requests from the rendered StatefulSet and Deployment.
  - The Retain class mirrors the target's default provisioner when that is the target's CSI driver
    (the clouds) or a provisioner known here (RETAIN_PROVISIONERS: kind's local-path, which kwok's
    default class names too); a target with another, non-CSI default class gets no Retain class (the
    layer knows no parameters for it).
  - On the clouds the snapshot class waits for the cluster's own snapshot add-on where the
    cluster component exposes one (`addons`, EKS's `snapshot-controller`): its CRDs must exist.

Image tags (all registry.k8s.io/sig-storage, mutually compatible, built against Kubernetes 1.36):
see IMAGES, each with where it was checked (kind only: the clouds run no container of this layer).
check_k8s warnings: none (no Helm release; every rendered object is a built-in kind validated
against the Kubernetes schema).
"""
from __future__ import annotations

import pulumi_kubernetes as k8s

from infra.bundle import manifest_sources
from infra.clusters import Capabilities
from infra.clusters.capabilities import KIND_PROVISIONER
from infra.errors import LabsError
from infra.layers.base import MANAGED_BY, Layer

NAMESPACE = "csi-hostpath"
DRIVER = "hostpath.csi.k8s.io"  # the CSI driver of the Immediate class on kind
RETAIN_CLASS = "standard-retain"  # the Retain class
CSI_CLASS = "csi-hostpath-sc"  # the Immediate, expandable CSI class (name kept on every target for the labs)
IMMEDIATE_CLASS = CSI_CLASS  # local-path cannot bind Immediately (see the module docstring)
EXPANDABLE_CLASS = CSI_CLASS
SNAPSHOT_CLASS = "csi-hostpath-snapclass"  # the VolumeSnapshotClass (name kept on every target)
DEFAULT_SNAPSHOT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
PLUGIN = "csi-hostpathplugin"
PLUGIN_SA = "csi-hostpathplugin-sa"
SNAPSHOT_CONTROLLER = "snapshot-controller"

# Non-CSI default provisioners whose Retain class needs no parameters (the Retain class mirrors them).
RETAIN_PROVISIONERS = (KIND_PROVISIONER,)

SNAPSHOTTER_VERSION = "v8.6.0"
# Raw CRD files of the external-snapshotter release tag (path client/config/crd, the three files
# listed by its kustomization.yaml; the same v8.6.0 URLs are applied in public install scripts).
SNAPSHOT_CRD_URLS = [
    f"https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/{SNAPSHOTTER_VERSION}"
    f"/client/config/crd/snapshot.storage.k8s.io_{plural}.yaml"
    for plural in ("volumesnapshotclasses", "volumesnapshotcontents", "volumesnapshots")
]

_REGISTRY = "registry.k8s.io/sig-storage"
IMAGES = {
    # csi-driver-host-path CHANGELOG-1.18.md: v1.18.0 bumps Kubernetes deps to v1.36.1 and
    # "Update deployment structure for Kubernetes 1.36" (#668); pulled as
    # registry.k8s.io/sig-storage/hostpathplugin:v1.18.0 next to the sidecars below in public kind
    # scripts. (deploy/kubernetes-1.34/hostpath/csi-hostpath-plugin.yaml pairs v1.17.1 with the
    # same sidecar tags.)
    "hostpath": f"{_REGISTRY}/hostpathplugin:v1.18.0",
    # csi-driver-host-path deploy/kubernetes-1.34/hostpath/csi-hostpath-plugin.yaml.
    "node-driver-registrar": f"{_REGISTRY}/csi-node-driver-registrar:v2.17.0",
    # same deploy file.
    "liveness-probe": f"{_REGISTRY}/livenessprobe:v2.19.0",
    # same deploy file; external-provisioner CHANGELOG-6.3.md: k8s deps v1.36.1; external-snapshotter
    # CHANGELOG-8.7.md: its deploy manifests moved to csi-provisioner v6.3.0.
    "csi-provisioner": f"{_REGISTRY}/csi-provisioner:v6.3.0",
    # same deploy file (csi-resizer v2.2.1).
    "csi-resizer": f"{_REGISTRY}/csi-resizer:v2.2.1",
    # same deploy file; external-snapshotter CHANGELOG-8.6.md: k8s deps v1.36.1.
    "csi-snapshotter": f"{_REGISTRY}/csi-snapshotter:{SNAPSHOTTER_VERSION}",
    # external-snapshotter CHANGELOG-8.7.md ("snapshot-controller v8.6.0" in its deploy manifests);
    # same release as the sidecar and the CRDs above.
    "snapshot-controller": f"{_REGISTRY}/snapshot-controller:{SNAPSHOTTER_VERSION}",
}

# Lab-sized resources: (cpu request, memory request, memory limit) per container.
RESOURCES = {
    "hostpath": ("10m", "24Mi", "128Mi"),
    "node-driver-registrar": ("5m", "12Mi", "32Mi"),
    "liveness-probe": ("5m", "12Mi", "32Mi"),
    "csi-provisioner": ("5m", "24Mi", "96Mi"),
    "csi-resizer": ("5m", "20Mi", "64Mi"),
    "csi-snapshotter": ("5m", "20Mi", "64Mi"),
    "snapshot-controller": ("10m", "24Mi", "96Mi"),
}
BUDGET_CPU_M = 60
BUDGET_MEMORY_MI = 160
WORKLOADS: dict = {}  # no chart: the footprint reads the rendered StatefulSet and Deployment

_SOCKET = "/csi/csi.sock"
_KUBELET = "/var/lib/kubelet"


def uses_hostpath_driver(caps: Capabilities) -> bool:
    """The layer brings its own CSI stack (hostpath driver, snapshot CRDs and controller) only where
    the target has no snapshot support of its own (kind); managed clouds have theirs."""
    return not caps.snapshot_controller


def csi_driver(caps: Capabilities) -> str:
    """The CSI driver of the Immediate class and of the snapshot class on this target."""
    if uses_hostpath_driver(caps):
        return DRIVER
    if not caps.csi_driver:
        raise LabsError(f"target '{caps.provider}' declares a snapshot controller but no CSI driver "
                        "(Capabilities.csi_driver): the storage layer cannot build its CSI class")
    return caps.csi_driver


def retain_provisioner(caps: Capabilities) -> str:
    """The provisioner of the Retain class: the target's default one, when the layer knows it ("" none)."""
    if caps.csi_driver and caps.default_provisioner == caps.csi_driver:
        return caps.default_provisioner
    return caps.default_provisioner if caps.default_provisioner in RETAIN_PROVISIONERS else ""


def storage_classes(caps: Capabilities) -> list[dict]:
    """The classes the layer adds (never the target's default class), as StorageClass fields."""
    classes = []
    on_provider_driver = not uses_hostpath_driver(caps)
    parameters = dict(caps.volume_parameters) if on_provider_driver else {}
    provisioner = retain_provisioner(caps)
    if provisioner:
        retain = {"name": RETAIN_CLASS, "provisioner": provisioner, "reclaimPolicy": "Retain",
                  "volumeBindingMode": "WaitForFirstConsumer"}
        if provisioner == caps.csi_driver:
            retain["parameters"] = dict(caps.volume_parameters)
            if caps.volume_expansion:
                retain["allowVolumeExpansion"] = True
        classes.append(retain)
    csi = {"name": CSI_CLASS, "provisioner": csi_driver(caps), "reclaimPolicy": "Delete",
           "volumeBindingMode": "Immediate", "allowVolumeExpansion": True}
    if parameters:
        csi["parameters"] = parameters
    classes.append(csi)
    return classes


def resources(container: str) -> k8s.core.v1.ResourceRequirementsArgs:
    cpu, memory, limit = RESOURCES[container]
    return k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": cpu, "memory": memory}, limits={"memory": limit})


def _labels(component: str) -> dict:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": "csi-driver-host-path"}


def _rule(groups: list[str], resources_: list[str], verbs: list[str]) -> k8s.rbac.v1.PolicyRuleArgs:
    return k8s.rbac.v1.PolicyRuleArgs(api_groups=groups, resources=resources_, verbs=verbs)


_READ = ["get", "list", "watch"]
_EVENTS = _rule([""], ["events"], ["list", "watch", "create", "update", "patch"])

# What each sidecar of the plugin pod reads and writes (composed from what the component does).
SIDECAR_RULES = {
    # Creates and deletes PVs for claims of its classes, reads topology (nodes, CSINodes), snapshots
    # as restore sources (and manages their source-protection finalizer, v6.0.1+), attributes classes.
    "provisioner": [
        _rule([""], ["persistentvolumes"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
        _rule([""], ["persistentvolumeclaims"], ["get", "list", "watch", "update", "patch"]),
        _rule(["storage.k8s.io"], ["storageclasses", "csinodes", "volumeattachments", "volumeattributesclasses"],
              _READ),
        _rule([""], ["nodes"], _READ),
        _rule(["snapshot.storage.k8s.io"], ["volumesnapshots"], ["get", "list", "watch", "update", "patch"]),
        _rule(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"], ["get", "list"]),
        _EVENTS,
    ],
    # Expands volumes when a claim's request grows, and reports it on the claim's status.
    "resizer": [
        _rule([""], ["persistentvolumes"], ["get", "list", "watch", "patch"]),
        _rule([""], ["persistentvolumeclaims"], _READ),
        _rule([""], ["persistentvolumeclaims/status"], ["patch"]),
        _rule([""], ["pods"], _READ),
        _rule(["storage.k8s.io"], ["volumeattributesclasses"], _READ),
        _EVENTS,
    ],
    # Cuts snapshots for the VolumeSnapshotContents the snapshot-controller creates.
    "snapshotter": [
        _rule(["snapshot.storage.k8s.io"], ["volumesnapshotclasses"], _READ),
        _rule(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"], ["get", "list", "watch", "update", "patch"]),
        _rule(["snapshot.storage.k8s.io"], ["volumesnapshotcontents/status"], ["update", "patch"]),
        _EVENTS,
    ],
}

# The snapshot-controller binds VolumeSnapshots to VolumeSnapshotContents and creates the latter.
SNAPSHOT_CONTROLLER_RULES = [
    _rule([""], ["persistentvolumes"], _READ),
    _rule([""], ["persistentvolumeclaims"], ["get", "list", "watch", "update", "patch"]),
    _rule(["storage.k8s.io"], ["storageclasses"], _READ),
    _rule(["snapshot.storage.k8s.io"], ["volumesnapshotclasses"], _READ),
    _rule(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"],
          ["create", "get", "list", "watch", "update", "delete", "patch"]),
    _rule(["snapshot.storage.k8s.io"], ["volumesnapshotcontents/status"], ["patch"]),
    _rule(["snapshot.storage.k8s.io"], ["volumesnapshots"], ["get", "list", "watch", "update", "patch"]),
    _rule(["snapshot.storage.k8s.io"], ["volumesnapshots/status"], ["update", "patch"]),
    _EVENTS,
]
_LEASES = _rule(["coordination.k8s.io"], ["leases"], ["get", "watch", "list", "delete", "update", "create"])


def _host_dir(name: str, path: str, type_: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=path, type=type_))


def _mount(name: str, path: str, propagation: str | None = None) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=name, mount_path=path, mount_propagation=propagation)


_NODE_NAME = k8s.core.v1.EnvVarArgs(
    name="KUBE_NODE_NAME",
    value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="spec.nodeName")),
)
# Upstream marks the socket users privileged: needed on SELinux hosts, where an unprivileged
# sidecar cannot reach the socket the privileged plugin created. The namespace is privileged anyway.
_PRIVILEGED = k8s.core.v1.SecurityContextArgs(privileged=True)


def _sidecar(name: str, args: list[str], **extra) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=name, image=IMAGES[name], args=args, resources=resources(name),
        volume_mounts=[_mount("socket-dir", "/csi"), *extra.pop("mounts", [])], **extra,
    )


def plugin_containers() -> list[k8s.core.v1.ContainerArgs]:
    """The plugin pod: the hostpath driver and the sidecars that turn Kubernetes objects into CSI calls."""
    hostpath = k8s.core.v1.ContainerArgs(
        name="hostpath",
        image=IMAGES["hostpath"],
        args=[f"--drivername={DRIVER}", "--v=2", "--endpoint=$(CSI_ENDPOINT)", "--nodeid=$(KUBE_NODE_NAME)"],
        env=[k8s.core.v1.EnvVarArgs(name="CSI_ENDPOINT", value=f"unix://{_SOCKET}"), _NODE_NAME],
        security_context=_PRIVILEGED,
        ports=[k8s.core.v1.ContainerPortArgs(name="healthz", container_port=9898, protocol="TCP")],
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="healthz"),
            initial_delay_seconds=10, timeout_seconds=3, period_seconds=2, failure_threshold=5,
        ),
        resources=resources("hostpath"),
        volume_mounts=[
            _mount("socket-dir", "/csi"),
            _mount("mountpoint-dir", f"{_KUBELET}/pods", "Bidirectional"),
            _mount("plugins-dir", f"{_KUBELET}/plugins", "Bidirectional"),
            _mount("csi-data-dir", "/csi-data-dir"),  # the plugin's default --statedir
            _mount("dev-dir", "/dev"),
        ],
    )
    registrar = _sidecar(
        "node-driver-registrar",
        ["--v=2", f"--csi-address={_SOCKET}",
         f"--kubelet-registration-path={_KUBELET}/plugins/csi-hostpath/csi.sock", "--http-endpoint=:9809"],
        env=[_NODE_NAME], security_context=_PRIVILEGED,
        ports=[k8s.core.v1.ContainerPortArgs(name="registrar", container_port=9809, protocol="TCP")],
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="registrar"),
            initial_delay_seconds=30, timeout_seconds=15, period_seconds=10, failure_threshold=3,
        ),
        mounts=[_mount("registration-dir", "/registration")],
    )
    return [
        hostpath,
        registrar,
        _sidecar("liveness-probe", [f"--csi-address={_SOCKET}", "--health-port=9898"]),
        # Topology (on by default since external-provisioner v5; no flag, the gate is GA and due to go):
        # the PV gets the driver's node as node affinity, so pods follow their volume.
        _sidecar("csi-provisioner", ["--v=2", f"--csi-address={_SOCKET}"],
                 security_context=_PRIVILEGED),
        _sidecar("csi-resizer", ["--v=2", f"--csi-address={_SOCKET}"], security_context=_PRIVILEGED),
        _sidecar("csi-snapshotter", ["--v=2", f"--csi-address={_SOCKET}"], security_context=_PRIVILEGED),
    ]


def plugin_volumes() -> list[k8s.core.v1.VolumeArgs]:
    return [
        _host_dir("socket-dir", f"{_KUBELET}/plugins/csi-hostpath", "DirectoryOrCreate"),
        _host_dir("mountpoint-dir", f"{_KUBELET}/pods", "DirectoryOrCreate"),
        _host_dir("registration-dir", f"{_KUBELET}/plugins_registry", "Directory"),
        _host_dir("plugins-dir", f"{_KUBELET}/plugins", "Directory"),
        # Where volume and snapshot data live on the node (kept across plugin restarts).
        _host_dir("csi-data-dir", "/var/lib/csi-hostpath-data/", "DirectoryOrCreate"),
        _host_dir("dev-dir", "/dev", "Directory"),
    ]


def snapshot_class_object(caps: Capabilities | None = None) -> dict:
    """The VolumeSnapshotClass, as the plain object the ConfigGroup applies (kind's without `caps`)."""
    metadata = {"name": SNAPSHOT_CLASS, "labels": dict(MANAGED_BY)}
    if caps is None or not caps.snapshot_class:
        # The only snapshot class of the driver: a VolumeSnapshot may omit volumeSnapshotClassName.
        # Not where the target preinstalls its own class (AKS): two defaults would refuse such snapshots.
        metadata["annotations"] = {DEFAULT_SNAPSHOT_CLASS_ANNOTATION: "true"}
    snapshot_class = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": metadata,
        "driver": DRIVER if caps is None else csi_driver(caps),
        "deletionPolicy": "Delete",
    }
    if caps is not None and caps.snapshot_parameters:
        snapshot_class["parameters"] = dict(caps.snapshot_parameters)  # the session's tags on each snapshot
    return snapshot_class


class StorageLayer(Layer):
    type_name = "Storage"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        caps = ctx.capabilities
        classes = storage_classes(caps)
        self.storage_classes = [
            k8s.storage.v1.StorageClass(
                spec["name"],
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec["name"], labels=MANAGED_BY),
                provisioner=spec["provisioner"],
                parameters=spec.get("parameters"),
                reclaim_policy=spec["reclaimPolicy"],
                volume_binding_mode=spec["volumeBindingMode"],
                allow_volume_expansion=spec.get("allowVolumeExpansion"),
                opts=self.child_opts(),
            )
            for spec in classes
        ]
        outputs = {"storage_classes": [spec["name"] for spec in classes], "snapshot_class": SNAPSHOT_CLASS,
                   "csi_driver": csi_driver(caps)}
        if not uses_hostpath_driver(caps):
            # The provider runs the snapshot controller and CRDs: only the snapshot class is ours. It
            # waits for the cluster's snapshot add-on where the cluster component exposes one (EKS).
            addons = list((getattr(ctx.cluster, "addons", None) or {}).values())
            self.snapshot_class = k8s.yaml.v2.ConfigGroup(
                SNAPSHOT_CLASS, objs=[snapshot_class_object(caps)], opts=self.child_opts(*addons))
            self.register_outputs(outputs)
            return
        self.crds = k8s.yaml.v2.ConfigGroup("snapshot-crds", files=manifest_sources(SNAPSHOT_CRD_URLS),
                                             opts=self.child_opts())
        namespace = self.namespace(NAMESPACE, labels={"pod-security.kubernetes.io/enforce": "privileged"})
        self.driver = k8s.storage.v1.CSIDriver(
            DRIVER,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DRIVER, labels=MANAGED_BY),
            spec=k8s.storage.v1.CSIDriverSpecArgs(
                attach_required=False,
                pod_info_on_mount=True,  # tells persistent from inline ephemeral volumes at mount time
                volume_lifecycle_modes=["Persistent", "Ephemeral"],
                fs_group_policy="File",
                storage_capacity=False,
            ),
            opts=self.child_opts(),
        )
        self.plugin = self._plugin(namespace)
        self.snapshot_controller = self._snapshot_controller(namespace)
        self.snapshot_class = k8s.yaml.v2.ConfigGroup(
            SNAPSHOT_CLASS, objs=[snapshot_class_object()], opts=self.child_opts(self.crds, self.driver)
        )
        self.register_outputs({"namespace": NAMESPACE, **outputs})

    def _bind_cluster_role(self, role: str, rules: list, service_account: str) -> k8s.rbac.v1.ClusterRoleBinding:
        cluster_role = k8s.rbac.v1.ClusterRole(
            role, metadata=k8s.meta.v1.ObjectMetaArgs(name=role, labels=MANAGED_BY), rules=rules,
            opts=self.child_opts(),
        )
        return k8s.rbac.v1.ClusterRoleBinding(
            role,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=role, labels=MANAGED_BY),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            # Names, not outputs: the binding need not wait for the namespace or the account.
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=service_account, namespace=NAMESPACE)],
            opts=self.child_opts(cluster_role),
        )

    def _service_account(self, name: str, namespace: k8s.core.v1.Namespace) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            name, metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace.metadata.name, labels=MANAGED_BY),
            opts=self.child_opts(namespace),
        )

    def _plugin(self, namespace: k8s.core.v1.Namespace) -> k8s.apps.v1.StatefulSet:
        account = self._service_account(PLUGIN_SA, namespace)
        bindings = [self._bind_cluster_role(f"csi-hostpath-{sidecar}", rules, PLUGIN_SA)
                    for sidecar, rules in SIDECAR_RULES.items()]
        labels = _labels(PLUGIN)
        return k8s.apps.v1.StatefulSet(
            PLUGIN,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PLUGIN, namespace=namespace.metadata.name,
                                                labels={**MANAGED_BY, **labels}),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                # One replica: every volume lives on the node of this one pod.
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        containers=plugin_containers(),
                        volumes=plugin_volumes(),
                    ),
                ),
            ),
            # csi-snapshotter watches VolumeSnapshotContents: the CRDs must exist before it starts.
            opts=self.child_opts(namespace, self.crds, *bindings),
        )

    def _snapshot_controller(self, namespace: k8s.core.v1.Namespace) -> k8s.apps.v1.Deployment:
        account = self._service_account(SNAPSHOT_CONTROLLER, namespace)
        binding = self._bind_cluster_role("csi-hostpath-snapshot-controller", SNAPSHOT_CONTROLLER_RULES,
                                          SNAPSHOT_CONTROLLER)
        k8s.rbac.v1.Role(
            f"{SNAPSHOT_CONTROLLER}-leaderelection",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{SNAPSHOT_CONTROLLER}-leaderelection",
                                                namespace=namespace.metadata.name, labels=MANAGED_BY),
            rules=[_LEASES],
            opts=self.child_opts(namespace),
        )
        lease_binding = k8s.rbac.v1.RoleBinding(
            f"{SNAPSHOT_CONTROLLER}-leaderelection",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{SNAPSHOT_CONTROLLER}-leaderelection",
                                                namespace=namespace.metadata.name, labels=MANAGED_BY),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=f"{SNAPSHOT_CONTROLLER}-leaderelection"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SNAPSHOT_CONTROLLER, namespace=NAMESPACE)],
            opts=self.child_opts(namespace),
        )
        labels = _labels(SNAPSHOT_CONTROLLER)
        return k8s.apps.v1.Deployment(
            SNAPSHOT_CONTROLLER,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SNAPSHOT_CONTROLLER, namespace=namespace.metadata.name,
                                                labels={**MANAGED_BY, **labels}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        # A controller that only talks to the API server: no root, the runtime's seccomp profile.
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=65532, run_as_group=65532,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[k8s.core.v1.ContainerArgs(
                            name=SNAPSHOT_CONTROLLER,
                            image=IMAGES[SNAPSHOT_CONTROLLER],
                            args=["--v=2", "--leader-election=true"],
                            resources=resources(SNAPSHOT_CONTROLLER),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False, read_only_root_filesystem=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                            ),
                        )],
                    ),
                ),
            ),
            opts=self.child_opts(namespace, self.crds, binding, lease_binding),
        )
