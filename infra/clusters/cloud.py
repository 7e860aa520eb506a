"""What the managed cloud targets (gke, eks, aks) share: their optional SDKs, node sizes, the
session's labels and expiry, the capabilities they have in common, and the exec kubeconfig.

No cloud SDK and no Pulumi import here at module level: `lab list`, `cost` and the kind path never
pay for them. A target imports its SDK through `require_sdk`, which turns an absent extra into one
line naming it.

Labels/tags on every cloud resource (GCP labels, AWS tags, Azure tags):
  project=k8s-labs, session=<session>, expires-at=<YYYY-MM-DD>t<HH>-<MM>z (UTC)
The expiry value only uses lowercase letters, digits and '-', so it is a valid GCP label value too
(GCP labels allow no ':' or uppercase). It is computed once per session, at its first cloud
`lab up` (now + expiresHours), and stored in the session folder (`expires-at`): every later `up`
of the session, and the program under the engine, reuse the same value, so re-running `up` never
changes a tag. `session down` removes the folder with the rest of the session.
"""
from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from infra.errors import LabsError, tool_error_line
from infra.settings import PROJECT, StackSettings, config_bounds

# target -> (extra in pyproject.toml, modules it provides)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gke": ("gke", ("pulumi_gcp",)),
    "eks": ("eks", ("pulumi_aws", "pulumi_eks")),
    "aks": ("aks", ("pulumi_azure_native",)),
}

@dataclass(frozen=True)
class NodeSize:
    """One node size of a provider: what the estimate and the class's node count are computed from."""

    sku: str
    vcpu: int
    memory_gib: int
    source: str
    max_pods: int = 0  # a per-node pod limit below Kubernetes' default 110 (EKS: the ENIs' addresses); 0 none


# Where each figure below was read (a source per row, as infra.pricing does for prices).
T3_SOURCE = "www.densify.com/articles/aws-ec2-t3-burstable-instances (T3 sizes: vCPUs, memory)"
ENI_MAX_PODS = "github.com/aws/amazon-vpc-cni-k8s/blob/master/misc/eni-max-pods.txt"
DSV5_SOURCE = ("aspire.dev/reference/api/csharp/aspire.hosting.azure.kubernetes/standarddsv5 ('Standard_D4s_v5 "
               "- 4 vCPUs - 16 GB RAM'); github.com/MicrosoftDocs/azure-docs articles/virtual-machines/dv5-dsv5-series.md")
E2_SOURCE = ("vCPUs: the e2-standard-N name (cloud.google.com/compute/docs/general-purpose-machines, E2 series); "
             "memory 4 GB per vCPU as tabulated in public repositories (Google's own table not opened here)")
# Node sizes S/M/L per provider, with their real capacity. AKS's single pool is a System pool, which
# must not be B-series, needs at least 4 vCPUs and 4 GB of memory and two nodes
# (learn.microsoft.com/azure/aks/use-system-pools, "Limitations", read here in its zh-CN edition:
# "系统节点池需要一个至少具有 4 个 vCPU 和 4GB 内存的 VM SKU", "系统节点池不支持 B 系列 VM", "系统池必须至少包含两个节点";
# the SDK's AgentPoolMode.System docstring says 2 vCPUs and 4 GB: 4 vCPUs meets both).
NODE_SIZES: dict[str, dict[str, NodeSize]] = {
    "gke": {"S": NodeSize("e2-standard-2", 2, 8, E2_SOURCE),
            "M": NodeSize("e2-standard-4", 4, 16, E2_SOURCE),
            "L": NodeSize("e2-standard-8", 8, 32, E2_SOURCE)},
    "eks": {"S": NodeSize("t3.large", 2, 8, f"{T3_SOURCE}; max pods: {ENI_MAX_PODS}", max_pods=35),
            "M": NodeSize("t3.xlarge", 4, 16, f"{T3_SOURCE}; max pods: {ENI_MAX_PODS}", max_pods=58),
            "L": NodeSize("t3.2xlarge", 8, 32, f"{T3_SOURCE}; max pods: {ENI_MAX_PODS}", max_pods=58)},
    "aks": {"S": NodeSize("Standard_D4s_v5", 4, 16, DSV5_SOURCE),
            "M": NodeSize("Standard_D8s_v5", 8, 32, DSV5_SOURCE),
            "L": NodeSize("Standard_D16s_v5", 16, 64, DSV5_SOURCE)},
}
MACHINE_TYPES: dict[str, dict[str, str]] = {
    target: {size: node.sku for size, node in sizes.items()} for target, sizes in NODE_SIZES.items()}
# The fewest nodes a provider's pool may have: an AKS System pool, two (see NODE_SIZES).
MIN_POOL_NODES = {"aks": 2}
MAX_POOL_NODES = config_bounds("maxNodes")[1]  # what a stack accepts
MAX_WORKERS = config_bounds("workers")[1]
NODE_DISK_GB = 50  # boot disk of each node (the pricing counts it)

LABEL_PROJECT = "project"
LABEL_SESSION = "session"
LABEL_EXPIRES = "expires-at"
EXPIRY_FORMAT = "%Y-%m-%dt%H-%Mz"
EXPIRY_FILE = "expires-at"
# What an offline render shows (no session folder is read or written by a render).
EXPIRY_AT_UP = "set-at-first-up"
# Web UIs are published under this reserved domain (RFC 2606 `.example`) until baseDomain is set:
# `lab up` sets it to <ingress address>.sslip.io once the load balancer has its address
# (infra.commands.publish_at_ingress_address), or --base-domain names a wildcard record of yours.
DEFAULT_BASE_DOMAIN = "k8s-labs.example"
MANAGED_BY_LABEL = {"app.kubernetes.io/managed-by": "k8s-labs"}


def require_sdk(target: str) -> list:
    """Import the target's cloud SDK modules, or one line naming the extra that provides them."""
    extra, modules = EXTRAS[target]
    try:
        return [importlib.import_module(module) for module in modules]
    except ImportError:
        raise LabsError(f"the {target} target needs its cloud SDK: pip install -e '.[{extra}]'") from None


def require_cli(command: str, install: str) -> str:
    """A cloud CLI the target needs at `up` (credentials, kubeconfig exec plugin), or how to get it."""
    found = shutil.which(command)
    if not found:
        raise LabsError(f"`{command}` is not on PATH: {install}")
    return found


def machine_type(settings: StackSettings) -> str:
    return MACHINE_TYPES[settings.target][settings.node_size]


def node_size(settings: StackSettings) -> NodeSize:
    return NODE_SIZES[settings.target][settings.node_size]


def cluster_name(settings: StackSettings) -> str:
    return f"labs-{settings.session}"


def node_counts(settings: StackSettings) -> tuple[int, int, int]:
    """(nodes at creation, autoscaling minimum, maximum): `workers` kept within the bounds, the
    minimum raised to what the provider's pool requires (MIN_POOL_NODES)."""
    low, high = settings.min_nodes, settings.max_nodes
    if low > high:
        raise LabsError(f"minNodes ({low}) is above maxNodes ({high}): fix stacks/Pulumi.{settings.target}.yaml")
    floor = MIN_POOL_NODES.get(settings.target, 0)
    if high < floor:
        raise LabsError(f"maxNodes ({high}) is below the {floor} nodes a {settings.target} pool needs: "
                        f"fix stacks/Pulumi.{settings.target}.yaml")
    low = max(low, floor)
    return min(max(settings.workers, low, 1), high), low, high


# --- the autoscaler lab's node group ---------------------------------------------------------------

LAB_GROUP = "autoscaled"
LAB_GROUP_MAX = 5  # as kind's simulated group: six 1.5-CPU pods on three nodes, the question's twelve hit the max


def lab_node_size(target: str) -> NodeSize:
    """The node size of the autoscaler lab's pool: the first with 4 vCPUs, two of the lab's 1.5-CPU pods
    per node, as on kind's simulated nodes. The pool's minimum is 0: it bills only for the nodes
    cluster-autoscaler keeps in it. The autoscaler layer asks the cluster component for it
    (`add_lab_node_group`), so it exists while that layer is up."""
    return next(node for node in NODE_SIZES[target].values() if node.vcpu >= 4)


# --- expiry -------------------------------------------------------------------------------------

def expiry_value(start: datetime, hours: int) -> str:
    return (start.astimezone(timezone.utc) + timedelta(hours=hours)).strftime(EXPIRY_FORMAT)


def parse_expiry(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, EXPIRY_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def session_expiry(settings: StackSettings, now: datetime | None = None, create: bool = True) -> str:
    """The session's expiry tag: read from the session folder, else (create) computed once and kept."""
    from infra import paths

    file = paths.session_dir(settings.session) / EXPIRY_FILE
    if file.is_file():
        kept = file.read_text().strip()
        if parse_expiry(kept):
            return kept
    if not create:
        return ""
    value = expiry_value(now or datetime.now(timezone.utc), settings.expires_hours)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(value + "\n")
    return value


def expiry_known(settings: StackSettings) -> bool:
    """True once the session has its expiry (its first cloud `lab up` was confirmed)."""
    return bool(session_expiry(settings, create=False))


def with_expiry(settings: StackSettings, create: bool = True) -> StackSettings:
    """Settings carrying the session's expiry (cloud targets; kind has none)."""
    if settings.target not in EXTRAS:
        return settings
    return replace(settings, expires_at=session_expiry(settings, create=create) or settings.expires_at)


def labels(settings: StackSettings) -> dict[str, str]:
    """Labels/tags of every cloud resource of the session (valid as GCP labels, AWS and Azure tags)."""
    return {
        LABEL_PROJECT: PROJECT,
        LABEL_SESSION: settings.session,
        LABEL_EXPIRES: settings.expires_at or EXPIRY_AT_UP,
    }


def tag_list(settings: StackSettings) -> str:
    """The labels as `k=v,k=v` (the form of load balancer tag annotations and CSI tag parameters)."""
    return ",".join(f"{key}={value}" for key, value in labels(settings).items())


# --- capabilities -------------------------------------------------------------------------------

def cloud_capabilities(settings: StackSettings, **specific):
    """The capabilities every managed cloud shares, completed by the target's own."""
    from infra.clusters import Capabilities

    nodes, low, high = node_counts(settings)
    common = dict(
        provider=settings.target,
        load_balancer=True,  # the cloud controller gives LoadBalancer Services an address: no MetalLB
        ingress_exposure="load-balancer",
        http_port=80,
        https_port=443,
        # Not relied upon: on a cloud, scrapers keep TLS but skip verification (conservative).
        kubelet_certs_verifiable=False,
        base_domain=settings.base_domain or DEFAULT_BASE_DOMAIN,
        nodes=nodes,
        volume_expansion=True,
        snapshot_controller=True,
        # Managed control planes: no controller-manager, scheduler or etcd metrics for Prometheus,
        # and no kube-proxy metrics on the node's address (see Capabilities).
        control_plane_visible=False,
        kube_proxy_metrics=False,
        min_nodes=low,
        max_nodes=high,
        lab_node_group=LAB_GROUP,
    )
    return Capabilities(**{**common, **specific})


# --- kubeconfig ---------------------------------------------------------------------------------

def exec_kubeconfig(name: str, server: str, ca_data: str, exec_spec: dict) -> str:
    """A kubeconfig whose user runs a credential plugin (no long-lived token in the file)."""
    import yaml

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"exec": exec_spec}}],
    }
    return yaml.safe_dump(document, sort_keys=False)


def k8s_provider(component, kubeconfig, wait_for: list):
    """The explicit Kubernetes provider on the cloud cluster's kubeconfig (never the ambient one).

    It waits for the node pool, so layer releases never start on a cluster without nodes.
    Unlike kind, `delete_unreachable` stays off: a cloud API briefly out of reach must not drop the
    layers from the state. (`session down` turns it on for its final destroy only, see infra.driver.)
    """
    import pulumi
    import pulumi_kubernetes as k8s

    return k8s.Provider(
        "k8s",
        kubeconfig=kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=component, depends_on=wait_for),
    )


# --- teardown: release what bills outside the Pulumi state --------------------------------------

# Namespaces a cluster needs: their claims are deleted one by one, never the namespace itself.
KEPT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
RELEASE_TIMEOUT_S = 600


def _items(done) -> list[dict]:
    import json

    try:
        return json.loads(done.stdout or "{}").get("items") or []
    except ValueError:
        return []


# Set on every PersistentVolume a provisioner created (Kubernetes' PV controller and the CSI
# external-provisioner: "recognize dynamically provisioned PVs"): the ones whose deletion deletes a disk.
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def release_billable(kubectl, say=print) -> dict[str, list[str]]:
    """Delete what a cloud cluster bills for outside Pulumi's state, through its own API, and wait
    until the cloud controllers have released it: every LoadBalancer Service (its load balancer and
    address) and every dynamically provisioned volume (its disk).

    `kubectl(args, check)` runs kubectl on the cluster's kubeconfig and returns the completed process.
    Order: PersistentVolumes that would keep their disk (reclaim policy Retain) are switched to
    Delete; LoadBalancer Services are deleted and waited for (their finalizer holds them until the
    load balancer is gone); then the claims: namespaces holding claims are deleted whole (their
    pods go with them, which frees the claims; the cluster is about to be destroyed anyway), claims
    in the namespaces a cluster needs (default, kube-*) are deleted with the pods mounting them
    (volume snapshots first: `release_snapshots`);
    finally EVERY volume a provisioner made is waited for, listed after the claims are gone: the
    ones of those claims, Released ones (their claim deleted earlier, e.g. by the no-lab `up` just
    before) and Retain ones switched to Delete (the CSI driver deletes the disk, then the volume).
    Returns what was released, and under "failures" what could not be (one line each).
    """
    import json

    services = kubectl(["get", "services", "--all-namespaces", "-o", "json"], check=False)
    if services.returncode != 0:
        say("could not reach the cluster: load balancers and disks it created may remain "
            "(run `invoke session orphans` after the destroy)")
        return {"load_balancers": [], "claims": [], "volumes": [],
                "failures": ["could not list its Services: its load balancers and disks were not released"]}
    failures = []

    retained = [pv["metadata"]["name"] for pv in _items(kubectl(["get", "persistentvolumes", "-o", "json"], check=False))
                if (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Retain"]
    for name in retained:
        kubectl(["patch", "persistentvolume", name, "--type=merge",
                 "-p", json.dumps({"spec": {"persistentVolumeReclaimPolicy": "Delete"}})], check=False)

    balancers = [(svc["metadata"]["namespace"], svc["metadata"]["name"]) for svc in _items(services)
                 if (svc.get("spec") or {}).get("type") == "LoadBalancer"]
    for namespace, name in balancers:
        say(f"deleting LoadBalancer Service {namespace}/{name} (its cloud load balancer)")
        done = kubectl(["delete", "service", name, "-n", namespace, "--ignore-not-found", "--wait=true",
                        f"--timeout={RELEASE_TIMEOUT_S}s"], check=False)
        if done.returncode != 0:
            failures.append(f"LoadBalancer Service {namespace}/{name} not deleted ({_last_line(done)})")

    failures += release_snapshots(kubectl, say)

    claims = [(pvc["metadata"]["namespace"], pvc["metadata"]["name"])
              for pvc in _items(kubectl(["get", "persistentvolumeclaims", "--all-namespaces", "-o", "json"], check=False))]
    doomed = sorted({namespace for namespace, _ in claims if namespace not in KEPT_NAMESPACES})
    for namespace in doomed:
        say(f"deleting namespace {namespace} (it holds claims, hence disks)")
        kubectl(["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"], check=False)
    kept_claims = {(namespace, name) for namespace, name in claims if namespace in KEPT_NAMESPACES}
    if kept_claims:
        for namespace, name in sorted(kept_claims):
            kubectl(["delete", "persistentvolumeclaim", name, "-n", namespace, "--ignore-not-found", "--wait=false"],
                    check=False)
        pods = _items(kubectl(["get", "pods", "--all-namespaces", "-o", "json"], check=False))
        for pod in pods:
            namespace = pod["metadata"]["namespace"]
            used = {(volume.get("persistentVolumeClaim") or {}).get("claimName")
                    for volume in (pod.get("spec") or {}).get("volumes") or []}
            if any((namespace, claim) in kept_claims for claim in used):
                kubectl(["delete", "pod", pod["metadata"]["name"], "-n", namespace, "--ignore-not-found",
                         "--wait=false"], check=False)
    volumes = sorted(pv["metadata"]["name"]
                     for pv in _items(kubectl(["get", "persistentvolumes", "-o", "json"], check=False))
                     if PROVISIONED_BY in ((pv.get("metadata") or {}).get("annotations") or {}))
    if volumes:
        say(f"waiting for {len(volumes)} volume(s) to be deleted with their disks")
        done = kubectl(["wait", "--for=delete", *[f"persistentvolume/{v}" for v in volumes],
                        f"--timeout={RELEASE_TIMEOUT_S}s"], check=False)
        if done.returncode != 0:
            failures.append(f"volumes not deleted within {RELEASE_TIMEOUT_S} s ({_last_line(done)}): their disks may remain")
    return {"load_balancers": [f"{ns}/{name}" for ns, name in balancers],
            "claims": [f"{ns}/{name}" for ns, name in claims], "volumes": volumes, "failures": failures}


def release_snapshots(kubectl, say=print) -> list[str]:
    """Delete every VolumeSnapshot and wait for the snapshot contents behind them: a cloud snapshot
    outlives the cluster, and GKE's carry no label `session orphans` could find. Contents kept by a
    Retain policy are switched to Delete first. A cluster without the snapshot CRDs has none.
    Returns what could not be released, one line each."""
    import json

    contents = kubectl(["get", "volumesnapshotcontents", "-o", "json"], check=False)
    if contents.returncode != 0:
        return []  # no snapshot CRDs: no snapshot
    for content in _items(contents):
        if (content.get("spec") or {}).get("deletionPolicy") == "Retain":
            kubectl(["patch", "volumesnapshotcontent", content["metadata"]["name"], "--type=merge",
                     "-p", json.dumps({"spec": {"deletionPolicy": "Delete"}})], check=False)
    snapshots = _items(kubectl(["get", "volumesnapshots", "--all-namespaces", "-o", "json"], check=False))
    for snapshot in snapshots:
        meta = snapshot["metadata"]
        kubectl(["delete", "volumesnapshot", meta["name"], "-n", meta["namespace"], "--ignore-not-found",
                 "--wait=false"], check=False)
    names = sorted(content["metadata"]["name"] for content in _items(contents))
    if not names:
        return []
    say(f"waiting for {len(names)} volume snapshot(s) to be deleted from the cloud")
    done = kubectl(["wait", "--for=delete", *[f"volumesnapshotcontent/{n}" for n in names],
                    f"--timeout={RELEASE_TIMEOUT_S}s"], check=False)
    if done.returncode != 0:
        return [f"volume snapshots not deleted within {RELEASE_TIMEOUT_S} s ({_last_line(done)}): they may remain"]
    return []


def _last_line(done) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


# --- orphans: what still carries the session's tags (read-only) ----------------------------------

def orphan_commands(settings: StackSettings) -> list[tuple[str, list[str]]]:
    """The read-only CLI calls that list the session's tagged resources: (what, argv)."""
    session = settings.session
    if settings.target == "gke":
        project = ["--project", settings.gcp_project] if settings.gcp_project else []
        label = f"labels.{LABEL_SESSION}={session} AND labels.{LABEL_PROJECT}={PROJECT}"
        return [
            ("cluster", ["gcloud", "container", "clusters", "list", *project, "--format=json",
                         f"--filter=resourceLabels.{LABEL_SESSION}={session} AND resourceLabels.{LABEL_PROJECT}={PROJECT}"]),
            ("instance", ["gcloud", "compute", "instances", "list", *project, "--format=json", f"--filter={label}"]),
            ("disk", ["gcloud", "compute", "disks", "list", *project, "--format=json", f"--filter={label}"]),
            ("address", ["gcloud", "compute", "addresses", "list", *project, "--format=json", f"--filter={label}"]),
            # GKE puts no labels on the forwarding rules of LoadBalancer Services; it describes them
            # with the Service's name: any left here may belong to another cluster of the project.
            ("forwarding rule (unlabelled, from a LoadBalancer Service)",
             ["gcloud", "compute", "forwarding-rules", "list", *project, "--format=json",
              "--filter=description~kubernetes.io/service-name"]),
            # Disks of GKE's own default class (standard-rwo) carry no labels of ours; the PD CSI driver
            # describes each with its claim and `"storage.gke.io/created-by":"pd.csi.storage.gke.io"`
            # (the driver's tagKeyCreatedBy, github.com/kubernetes-sigs/gcp-compute-persistent-disk-csi-driver).
            # Unattached ones in the cluster's zone; they may belong to another cluster of the project.
            ("disk (unlabelled, from the PD CSI driver)",
             ["gcloud", "compute", "disks", "list", *project, "--format=json",
              f"--filter=description~storage.gke.io/created-by AND -users:* AND -labels.{LABEL_SESSION}:*"
              + (f" AND zone:({settings.zone_list[0]})" if settings.zone_list else "")]),
        ]
    if settings.target == "eks":
        region = ["--region", settings.region] if settings.region else []
        return [("tagged resource", ["aws", "resourcegroupstaggingapi", "get-resources", *region, "--output", "json",
                                     "--tag-filters", f"Key={LABEL_SESSION},Values={session}",
                                     f"Key={LABEL_PROJECT},Values={PROJECT}"]),
                # A student's LoadBalancer Service carries none of our tags, but the AWS cloud provider
                # tags what it creates for the cluster `kubernetes.io/cluster/<cluster>=owned`
                # (TagNameKubernetesClusterPrefix, github.com/kubernetes/cloud-provider-aws); our own
                # subnets say `shared`, so they are not listed.
                ("cluster-owned resource (a LoadBalancer Service's)",
                 ["aws", "resourcegroupstaggingapi", "get-resources", *region, "--output", "json",
                  "--tag-filters", f"Key=kubernetes.io/cluster/{cluster_name(settings)},Values=owned"])]
    if settings.target == "aks":
        return [
            ("resource group", ["az", "group", "list", "--tag", f"{LABEL_SESSION}={session}", "--output", "json"]),
            ("resource", ["az", "resource", "list", "--tag", f"{LABEL_SESSION}={session}", "--output", "json"]),
        ]
    raise LabsError(f"`session orphans` is for cloud targets ({', '.join(EXTRAS)}), not '{settings.target}'")


def _parse_orphans(what: str, target: str, text: str) -> list[dict[str, str]]:
    import json

    try:
        data = json.loads(text or "null")
    except ValueError:
        return []
    if target == "eks":
        return [{"kind": what, "id": item.get("ResourceARN", "?"),
                 "expires-at": next((t.get("Value", "") for t in item.get("Tags") or [] if t.get("Key") == LABEL_EXPIRES), "")}
                for item in (data or {}).get("ResourceTagMappingList") or []]
    rows = []
    for item in data or []:
        tags = item.get("tags") or item.get("labels") or item.get("resourceLabels") or {}
        if target == "aks" and tags.get(LABEL_PROJECT) != PROJECT:
            continue  # `az --tag` filters on one tag only: keep ours
        where = item.get("zone") or item.get("location") or item.get("region") or ""
        rows.append({"kind": f"{item['type']}" if target == "aks" and "type" in item else what,
                     "id": item.get("id") if target == "aks" else f"{item.get('name', '?')} {where.rsplit('/', 1)[-1]}".strip(),
                     "expires-at": tags.get(LABEL_EXPIRES, "")})
    return rows


def list_orphans(settings: StackSettings, run=None) -> list[dict[str, str]]:
    """What still carries the session's tags on the target's cloud, through its CLI (read-only)."""
    import subprocess

    run = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=300))
    cli = {"gke": "gcloud", "eks": "aws", "aks": "az"}[settings.target] if settings.target in EXTRAS else None
    commands = orphan_commands(settings)
    require_cli(cli, f"it lists what remains of the session on {settings.target}")
    found: list[dict[str, str]] = []
    for what, argv in commands:
        done = run(argv)
        if done.returncode != 0:
            raise LabsError(f"`{' '.join(argv[:4])} ...` failed: {tool_error_line(done.stderr or done.stdout)}")
        found.extend(_parse_orphans(what, settings.target, done.stdout))
    return found
