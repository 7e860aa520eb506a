"""The kind target: a local cluster in Docker containers, the course's default.

Why a Pulumi dynamic provider rather than pulumi-command: the cluster is a real resource with a
lifecycle Pulumi must understand. `diff` marks a node-count or image change as a replacement that
deletes before it creates (kind cluster names are unique, so both cannot exist at once); `read`
lets a refresh notice a cluster deleted behind Pulumi's back (`kind delete cluster`, Docker reset): it
answers "gone" and Pulumi drops it from the state. "Gone" is decided only from a listing kind
completed: a listing that fails (Docker stopped) is an error naming Docker, never an empty set.

The Kubernetes provider does not drop unreachable objects by itself: an API server briefly down
(nodes still booting after a Docker restart) must fail the refresh, not empty the state. Only when
kind answered that the session's cluster does not exist (`KindTarget.cluster_vanished`) does the
driver let that `up` drop the objects that lived in it, so the same `lab up` recreates the cluster
and its layers. A dynamic provider needs no extra plugin download, and its create/delete are plain
Python we test.
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pulumi
import pulumi.dynamic as dynamic
import pulumi_kubernetes as k8s

from infra import paths
from infra.clusters.capabilities import HOSTPATH_NODE_LABEL
from infra.clusters.cli import checked, last_line
from infra.errors import LabsError
from infra.settings import StackSettings

KUBERNETES_VERSION = "v1.36.1"
# kindest/node image built for kind v0.32 (see infra/toolchain for the pinned kind CLI).
NODE_IMAGE = f"kindest/node:{KUBERNETES_VERSION}"
INGRESS_NODE_LABEL = "ingress-ready"
CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d"
# The node image is pulled on its own (a slow network), then `kind create cluster` boots the nodes and
# waits for them (a slow or overloaded Docker): each has its own time limit and its own message.
PULL_TIMEOUT_S = 1200
CREATE_TIMEOUT_S = 600
DOCKER_FIX = "is Docker running? Start it (`docker info` must answer), then run the command again"
LB_RANGE_AT_UP = "discovered-at-up-from-the-kind-docker-network"

# Control-plane metrics listen on all addresses so Prometheus (monitoring layer) can scrape them.
# kind >= 0.32 generates kubeadm v1beta4 for Kubernetes 1.36, where extraArgs are name/value lists.
_CONTROL_PLANE_METRICS_PATCH = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controllerManager:
  extraArgs:
  - name: bind-address
    value: 0.0.0.0
scheduler:
  extraArgs:
  - name: bind-address
    value: 0.0.0.0
etcd:
  local:
    extraArgs:
    - name: listen-metrics-urls
      value: http://0.0.0.0:2381
"""
_KUBE_PROXY_METRICS_PATCH = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
metricsBindAddress: 0.0.0.0:10249
"""
_INGRESS_NODE_PATCH = f"""\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  kubeletExtraArgs:
  - name: node-labels
    value: {INGRESS_NODE_LABEL}=true
"""


def cluster_name(session: str) -> str:
    return f"labs-{session}"


def control_plane_node(session: str) -> str:
    """The control-plane node's container (kind names it after the cluster)."""
    return f"{cluster_name(session)}-control-plane"


def mirrors_dir(session: str) -> Path:
    """Host folder mounted at /etc/containerd/certs.d on every node.

    Node images from kind v0.27 on already point containerd's registry `config_path` there, and
    containerd reads the per-registry hosts.toml files at each pull: a pull-through cache plugs in
    later by writing files here, without recreating the cluster (so no containerd patch is needed).
    """
    return paths.session_dir(session) / "containerd-certs.d"


def kind_config(settings: StackSettings) -> dict:
    """The kind cluster configuration (what `kind create cluster --config` reads)."""
    mount = {"hostPath": str(mirrors_dir(settings.session)), "containerPath": CONTAINERD_CERTS_DIR}
    control_plane = {
        "role": "control-plane",
        "image": NODE_IMAGE,
        "kubeadmConfigPatches": [_INGRESS_NODE_PATCH],
        "extraPortMappings": [
            {"containerPort": 80, "hostPort": settings.http_port, "protocol": "TCP"},
            {"containerPort": 443, "hostPort": settings.https_port, "protocol": "TCP"},
        ],
        "extraMounts": [mount],
    }
    workers = [{"role": "worker", "image": NODE_IMAGE, "extraMounts": [mount]} for _ in range(settings.workers)]
    if workers:
        workers[0]["labels"] = {HOSTPATH_NODE_LABEL: "true"}
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": cluster_name(settings.session),
        "nodes": [control_plane, *workers],
        "kubeadmConfigPatches": [_CONTROL_PLANE_METRICS_PATCH, _KUBE_PROXY_METRICS_PATCH],
    }
    if settings.api_server_address:
        # A classroom whose students use their own machines: the API server listens on that LAN
        # address (kind adds it to the serving certificate's SANs); its port stays kind's pick.
        config["networking"] = {"apiServerAddress": settings.api_server_address}
    return config


def address_is_local(address: str) -> bool:
    """True when this machine owns `address` (kind would otherwise fail late, binding the API server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
            return True
        except OSError:
            return False


def _kind(*args: str, timeout: int = 120, stdin: str | None = None,
          on_timeout: str = "is Docker responsive?") -> subprocess.CompletedProcess:
    from infra.toolchain import require_tool

    try:
        return subprocess.run(
            [require_tool("kind"), *args], input=stdin, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise LabsError(f"`kind {' '.join(args)}` did not finish within {timeout} s: {on_timeout}") from None


def _docker(*args: str, timeout: int = 60) -> subprocess.CompletedProcess | None:
    """The docker CLI; None when it outlived `timeout` (it is killed)."""
    from infra.toolchain import require_tool

    try:
        return subprocess.run([require_tool("docker"), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


# Lab 18's step 5: the kubelet runs kube-scheduler from this static manifest; moved out, it stops it.
SCHEDULER_MANIFEST = "/etc/kubernetes/manifests/kube-scheduler.yaml"
SCHEDULER_PARKED = "/root/kube-scheduler.yaml"
SCHEDULER_STOP_TIMEOUT_S = 90  # the kubelet notices a removed static manifest within its sync (~20 s)


def node_exec(node: str, *command: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """`docker exec <node> <command>`; LabsError with docker's (or the command's) last line on failure."""
    shown = f"docker exec {node} {' '.join(command)}"
    result = _docker("exec", node, *command, timeout=timeout)
    if result is None:
        raise LabsError(f"`{shown}` did not finish within {timeout} s: {DOCKER_FIX}")
    if result.returncode != 0:
        raise LabsError(f"`{shown}` failed: {last_line(result)}")
    return result


def restart_scheduler(session: str, sleep=time.sleep, clock=time.monotonic) -> None:
    """Stop kube-scheduler and start it again as lab 18's guide does: its static manifest moved out of
    the kubelet's folder (the kubelet stops the container), then back (the kubelet starts a new one).
    The manifest goes back whatever happens in between: a cluster is never left without a scheduler."""
    node = control_plane_node(session)
    node_exec(node, "mv", SCHEDULER_MANIFEST, SCHEDULER_PARKED)
    try:
        deadline = clock() + SCHEDULER_STOP_TIMEOUT_S
        while node_exec(node, "crictl", "ps", "--quiet", "--name", "kube-scheduler").stdout.strip():
            if clock() >= deadline:
                raise LabsError(f"kube-scheduler still runs on {node} {SCHEDULER_STOP_TIMEOUT_S} s after its "
                                f"manifest left {SCHEDULER_MANIFEST.rpartition('/')[0]}: is the kubelet running? "
                                f"(`docker exec {node} systemctl status kubelet`)")
            sleep(2)
    finally:
        node_exec(node, "mv", SCHEDULER_PARKED, SCHEDULER_MANIFEST)


def existing_clusters() -> set[str]:
    """The kind clusters Docker holds. A listing that fails raises: it never means "none"."""
    result = _kind("get", "clusters", on_timeout=DOCKER_FIX)
    if result.returncode != 0:
        # kind's own message first, Docker's answer last ("Command Output: Cannot connect to ...").
        raise LabsError(f"`kind get clusters` failed ({last_line(result)}): {DOCKER_FIX}")
    return set(result.stdout.split())  # "No kind clusters found." goes to stderr


def ensure_node_image() -> None:
    """Pull the node image unless Docker has it (kind then skips its own pull), within PULL_TIMEOUT_S."""
    present = _docker("image", "inspect", NODE_IMAGE)
    if present is not None and present.returncode == 0:
        return
    pulled = _docker("pull", NODE_IMAGE, timeout=PULL_TIMEOUT_S)
    if pulled is None:
        raise LabsError(f"pulling {NODE_IMAGE} did not finish within {PULL_TIMEOUT_S} s: the network is too slow "
                        f"or down; run `docker pull {NODE_IMAGE}` until it completes, then the command again")
    if pulled.returncode != 0:
        raise LabsError(f"pulling {NODE_IMAGE} failed ({last_line(pulled)}): check the network (or Docker), "
                        "then run the command again")


def delete_cluster(name: str) -> None:
    """`kind delete cluster`: one line naming kind's error when it fails (the command can be run again)."""
    result = _kind("delete", "cluster", "--name", name, timeout=CREATE_TIMEOUT_S, on_timeout=DOCKER_FIX)
    if result.returncode != 0:
        raise LabsError(f"kind delete cluster {name} failed: {last_line(result)}; {DOCKER_FIX}")


def create_cluster(name: str, config_file: Path) -> str:
    """Create the cluster; returns what was done with a leftover of the same name ("" when none).

    A `labs-<session>` cluster the state does not know is a leftover: a create killed or timed out
    midway (kind cleans up only after its own errors), or a state that was removed. Its nodes may be
    half made, and kind refuses the name ("node(s) already exist"): it is deleted first. A create
    that outlives CREATE_TIMEOUT_S is killed, and the half-made cluster it leaves is deleted too, so
    the next attempt starts clean."""
    leftover = ""
    if name in existing_clusters():
        delete_cluster(name)
        leftover = f"deleted a leftover cluster {name} (an interrupted create, or a lost state) before creating it"
    ensure_node_image()
    try:
        result = _kind("create", "cluster", "--name", name, "--config", str(config_file), "--wait", "5m",
                       timeout=CREATE_TIMEOUT_S,
                       on_timeout=f"the node image was already there, so booting the nodes took that long: Docker "
                                  f"is short of memory or CPU (`docker stats`); the half-made cluster {name} is "
                                  "deleted, run the command again")
    except LabsError:
        delete_cluster(name)
        raise
    if result.returncode != 0:
        detail = last_line(result)
        if "already exist for a cluster with the name" in detail:
            raise LabsError(f"kind create cluster {name} failed: {detail}: another command is creating it, or "
                            f"Docker kept its containers; `kind delete cluster --name {name}`, then run the "
                            "command again")
        raise RuntimeError(f"kind create cluster {name} failed: {detail}")
    return leftover


def lb_address_range(subnets: list[str]) -> str:
    """Addresses MetalLB may hand out: 51 addresses near the top of the kind network's IPv4 subnet,
    far from the nodes (Docker allocates container addresses from the bottom)."""
    import ipaddress

    for subnet in subnets:
        network = ipaddress.ip_network(subnet, strict=False)
        if network.version == 4 and network.num_addresses >= 256:
            top = network.broadcast_address
            return f"{top - 55}-{top - 5}"
    raise RuntimeError(f"no IPv4 subnet of /24 or larger on the kind Docker network ({subnets}): "
                       "set lbAddressRange in the stack config")


def discover_lb_address_range() -> str:
    result = _docker("network", "inspect", "kind", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}")
    if result is None:
        raise RuntimeError(f"`docker network inspect kind` did not finish within 60 s: {DOCKER_FIX}")
    return lb_address_range(checked(result, "docker network inspect kind").split())


class KindClusterProvider(dynamic.ResourceProvider):
    """Creates and deletes a kind cluster with the kind CLI (runs inside Pulumi's provider process)."""

    # Every input shapes the nodes themselves: any change means a new cluster.
    REPLACE_ON = ("name", "config", "mirrors_dir")

    def create(self, props: dict) -> dynamic.CreateResult:
        import sys

        import yaml

        Path(props["mirrors_dir"]).mkdir(parents=True, exist_ok=True)
        config_file = Path(props["mirrors_dir"]).parent / "kind-config.yaml"
        config_file.write_text(yaml.safe_dump(props["config"], sort_keys=False))
        leftover = create_cluster(props["name"], config_file)
        if leftover:  # on stderr: the engine passes it on as a diagnostic, shown by infra.progress
            print(f"note: {leftover}", file=sys.stderr, flush=True)
        return dynamic.CreateResult(id_=props["name"], outs=self._outputs(props["name"], props))

    def read(self, id_: str, props: dict) -> dynamic.ReadResult:
        if id_ not in existing_clusters():
            return dynamic.ReadResult(None, {})  # gone: refresh drops it, the next up recreates it
        return dynamic.ReadResult(id_, self._outputs(id_, props))

    def _outputs(self, name: str, props: dict) -> dict:
        """The inputs as given, the kubeconfig, and the LoadBalancer address range in use: configured,
        else the one found before (a refresh), else taken from the kind Docker network (which exists
        only once a cluster does)."""
        return {
            **props,
            "kubeconfig": self._kubeconfig(name),
            "lb_pool": props.get("lb_address_range") or props.get("lb_pool") or discover_lb_address_range(),
        }

    def diff(self, id_: str, olds: dict, news: dict) -> dynamic.DiffResult:
        """Inputs against the inputs the outputs keep as given (the range in use is `lb_pool`), so an
        unchanged cluster shows no change. A state from before `lb_pool` gets it by one in-place update."""
        replaces = [key for key in self.REPLACE_ON if olds.get(key) != news.get(key)]
        range_changed = "lb_pool" not in olds or \
            (olds.get("lb_address_range") or "") != (news.get("lb_address_range") or "")
        return dynamic.DiffResult(changes=bool(replaces) or range_changed, replaces=replaces,
                                  delete_before_replace=True)

    def update(self, id_: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        """Only the configured LoadBalancer range can change in place."""
        return dynamic.UpdateResult(outs=self._outputs(id_, news))

    def delete(self, id_: str, props: dict) -> None:
        delete_cluster(id_)

    @staticmethod
    def _kubeconfig(name: str) -> str:
        return checked(_kind("get", "kubeconfig", "--name", name), f"kind get kubeconfig {name}")


class KindCluster(dynamic.Resource):
    kubeconfig: pulumi.Output[str]
    lb_pool: pulumi.Output[str]

    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            KindClusterProvider(),
            name,
            {**props, "kubeconfig": None, "lb_pool": None},
            pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    additional_secret_outputs=["kubeconfig"],
                    delete_before_replace=True,
                    custom_timeouts=pulumi.CustomTimeouts(create="15m", delete="10m"),
                ),
            ),
        )


class KindClusterComponent(pulumi.ComponentResource):
    """The kind cluster and the Kubernetes provider bound to its kubeconfig (never the ambient one)."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:Kind", "cluster", None, opts)
        config = kind_config(settings)
        cluster = KindCluster(
            "kind",
            {"name": config["name"], "config": config, "mirrors_dir": str(mirrors_dir(settings.session)),
             "lb_address_range": settings.lb_address_range},
            pulumi.ResourceOptions(parent=self),
        )
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig)
        # Known only once the cluster exists; an offline render shows where it will come from.
        self.lb_address_range = cluster.lb_pool.apply(lambda r: r or settings.lb_address_range or LB_RANGE_AT_UP)
        # No delete_unreachable here: see the module doc (the driver decides, per run).
        self.provider = k8s.Provider(
            "k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        summary = {
            "provider": "kind",
            "name": config["name"],
            "kubernetes_version": KUBERNETES_VERSION,
            "nodes": len(config["nodes"]),
            "config": config,
        }
        self.register_outputs({"summary": summary, "kubeconfig": self.kubeconfig})


def port_in_use(port: int) -> bool:
    """True when something already listens on host `port` (kind would fail late, after minutes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return False
        except PermissionError:
            pass  # privileged port as non-root: fall back to asking whether anyone answers
        except OSError:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class KindTarget:
    name = "kind"

    def preflight(self, settings: StackSettings) -> None:
        from infra.doctor import docker_daemon_ready

        docker_daemon_ready()
        if settings.api_server_address and not address_is_local(settings.api_server_address):
            raise LabsError(f"apiServerAddress {settings.api_server_address} is not an address of this machine: "
                            "use the LAN address students reach (`ip -4 addr` on Linux, `ipconfig getifaddr en0` "
                            "on macOS)")
        if cluster_name(settings.session) in existing_clusters():
            return  # its own port mappings hold the ports
        for option, port in (("--http-port", settings.http_port), ("--https-port", settings.https_port)):
            if port_in_use(port):
                raise LabsError(
                    f"host port {port} is already in use (another web server or kind cluster): "
                    f"stop it or choose a free port with {option}=<port>"
                )

    def create(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> KindClusterComponent:
        return KindClusterComponent(settings, opts)

    def cluster_vanished(self, settings: StackSettings) -> bool:
        """True only when kind answers and lists no cluster of the session: whatever the state holds of
        it is gone for sure (a failed listing raises, it never says "vanished")."""
        return cluster_name(settings.session) not in existing_clusters()

    def restart_scheduler(self, settings: StackSettings) -> None:
        restart_scheduler(settings.session)

    def cleanup(self, settings: StackSettings) -> None:
        """Delete the session's kind cluster by name, even when its state was lost."""
        name = cluster_name(settings.session)
        if name in existing_clusters():
            delete_cluster(name)
