"""The kwok target: a real control plane with fake nodes, no Docker and no containers.

kwokctl's binary runtime starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
kwok controller as local processes (the binaries `invoke setup --from-source` builds, or downloads), in
a folder of the session. The nodes are Node objects that the kwok controller keeps Ready, named and
labelled like kind's (`labs-<session>-control-plane`, `-worker`, `-worker2`), so the labs' files read
the same; kwok then marks every scheduled pod Running and Ready, and a Job's pods Succeeded.

What this gives: the real Pulumi engine and Kubernetes provider against a real API server (diff,
server-side apply, Helm rendering, CRD ordering, awaits, RBAC, admission, quota, TokenRequest), in
seconds and with no Docker. What it cannot give, said in its capabilities: no process runs in a pod,
so no data path (HTTP through the ingress, metrics, logs, mTLS), no pod serving an admission webhook,
no host ports and no load-balancer address. Layers adapt through those capabilities, never through
the target's name. For a course author, it is how every lab's wiring is checked in CI in minutes.

Like kind, the cluster is a Pulumi dynamic resource (see infra/clusters/kind.py for why): `read`
answers "gone" only when kwokctl answers and does not list the cluster; a listing that fails is an
error, never an empty set.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pulumi
import pulumi.dynamic as dynamic
import pulumi_kubernetes as k8s

from infra import paths
from infra.clusters.capabilities import HOSTPATH_NODE_LABEL, KIND_DEFAULT_CLASS, KIND_PROVISIONER
from infra.clusters.cli import checked
from infra.errors import LabsError
from infra.settings import StackSettings

KUBERNETES_VERSION = "v1.36.1"  # the control-plane binaries built from source (infra/toolchain.py)
CREATE_TIMEOUT_S = 300
LB_ADDRESS_RANGE = "192.0.2.100-192.0.2.150"
NODE_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}  # what kwokctl's kwok controller manages
# A laptop-sized node: quota, LimitRange and scheduling then behave as on kind.
NODE_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}
# The Services' address range. kwokctl sets none, and kube-apiserver's own default is 10.0.0.0/24: 254
# addresses, full at about 85 students of lab 07 (3 Services each: "range is full"). kind's default range,
# 65534 addresses: a classroom of MAX_STUDENTS fits with every lab.
SERVICE_CIDR = "10.96.0.0/16"
# kwokctl --runtime=binary flag -> the tool that gives it (infra.toolchain names).
BINARY_FLAGS = {
    "--kube-apiserver-binary": "kube-apiserver",
    "--kube-controller-manager-binary": "kube-controller-manager",
    "--kube-scheduler-binary": "kube-scheduler",
    "--kwok-controller-binary": "kwok",
    "--etcd-binary": "etcd",
}


def cluster_name(session: str) -> str:
    return f"labs-{session}"


def workdir(session: str) -> Path:
    """kwokctl's own folder for the session (KWOK_WORKDIR): its clusters' certificates, etcd data, logs."""
    return paths.session_dir(session) / "kwok"


def node_names(session: str, workers: int) -> list[str]:
    """kind's node names, so a lab's file that names a node reads the same on both targets."""
    base = cluster_name(session)
    return [f"{base}-control-plane", *(f"{base}-worker{'' if i == 1 else i}" for i in range(1, workers + 1))]


def node_manifests(session: str, workers: int) -> list[dict]:
    """Node objects as kind's kubeadm registers them (roles, hostname label, control-plane taint)."""
    nodes = []
    for index, name in enumerate(node_names(session, workers)):
        control_plane = index == 0
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "type": "kwok"}
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        elif index == 1:
            labels[HOSTPATH_NODE_LABEL] = "true"
        spec = {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]} \
            if control_plane else {}
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": dict(NODE_ANNOTATION)},
            "spec": spec,
            "status": {"capacity": dict(NODE_CAPACITY), "allocatable": dict(NODE_CAPACITY)},
        })
    return nodes


def default_storage_class() -> dict:
    """The default StorageClass kind creates with every cluster: a claim that names no class gets it, as
    on kind, instead of binding to a class-less PersistentVolume (which a cluster with no default class
    allows). Its provisioner runs no pod here: such a claim stays Pending, as every volume does on kwok."""
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": KIND_DEFAULT_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": KIND_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
    }


def cluster_objects(session: str, workers: int) -> list[dict]:
    """What kind's cluster holds from its creation, and the kwok cluster then: the nodes, the default class."""
    return [*node_manifests(session, workers), default_storage_class()]


def _env(session: str) -> dict[str, str]:
    from infra.toolchain import require_tool

    return {**os.environ, "KWOK_WORKDIR": str(workdir(session)), "KWOK_KUBECTL_BINARY": require_tool("kubectl")}


def kwokctl(session: str, *args: str, timeout: int = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    from infra.toolchain import require_tool

    try:
        return subprocess.run([require_tool("kwokctl"), *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=_env(session))
    except subprocess.TimeoutExpired:
        raise LabsError(f"`kwokctl {' '.join(args)}` did not finish within {timeout} s: see the logs under "
                        f"{workdir(session)}") from None


def existing_clusters(session: str) -> set[str]:
    """The session's kwok clusters. A listing that fails raises: it never means "none"."""
    result = kwokctl(session, "get", "clusters")
    return set(checked(result, "kwokctl get clusters").split())


@contextmanager
def creating_alone():
    """One `kwokctl create cluster` at a time on this machine. kwokctl gives each component the first
    free port below 32767, scanning from the top in every new process (pkg/utils/net/unused_port.go):
    two clusters created at once (a classroom's cluster per student) took the same ports, and one's
    client met the other's API server ("certificate signed by unknown authority"). Each stack's
    provider runs in a process of its own, so the turn is a file lock."""
    import fcntl

    lock = paths.cache_dir() / "kwokctl-create.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def create_command(session: str, name: str) -> list[str]:
    from infra.toolchain import require_tool

    binaries = [f"{flag}={require_tool(tool)}" for flag, tool in BINARY_FLAGS.items()]
    return ["create", "cluster", "--name", name, "--runtime", "binary", *binaries,
            f"--extra-args=kube-apiserver=service-cluster-ip-range={SERVICE_CIDR}",
            # kwokctl adds a context to this file: the session's own, so ~/.kube/config is left alone.
            "--kubeconfig", str(workdir(session) / "kwokctl.kubeconfig"),
            "--wait", f"{CREATE_TIMEOUT_S // 2}s"]


# kwokctl's binary runtime forks each component and records its pid in <cluster folder>/pids/<binary>.pid
# (pkg/kwokctl/runtime/exec.go); `kwokctl start cluster` starts every component whose pid file names no
# running process, and leaves the running ones alone (runtime/binary/cluster_operation.go).
SCHEDULER_STOP_TIMEOUT_S = 30


def scheduler_pid_file(session: str) -> Path:
    return workdir(session) / "clusters" / cluster_name(session) / "pids" / "kube-scheduler.pid"


def running_scheduler(pid_file: Path) -> int | None:
    """The pid in kwokctl's pid file when that process runs and is a kube-scheduler (a pid the system
    gave to another process since is never signalled); None otherwise."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    proc = Path("/proc") / str(pid)
    if proc.parent.is_dir():  # Linux: a zombie is stopped, and the command line says what it runs
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return None
        return pid if state != "Z" and any(part.endswith(b"kube-scheduler") for part in command) else None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def restart_scheduler(session: str, sleep=time.sleep, clock=time.monotonic) -> None:
    """Stop the cluster's kube-scheduler process (SIGTERM, as kubelet does to a container; SIGKILL if it
    outlives SCHEDULER_STOP_TIMEOUT_S) and have `kwokctl start cluster` start it again."""
    name = cluster_name(session)
    try:
        found = workdir(session).is_dir() and name in existing_clusters(session)
    except RuntimeError as exc:
        raise LabsError(str(exc)) from None
    if not found:
        raise LabsError(f"session '{session}' has no kwok cluster {name}: run "
                        f"`invoke lab up --target=kwok --session={session}` first")
    pid_file = scheduler_pid_file(session)
    pid = running_scheduler(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = clock() + SCHEDULER_STOP_TIMEOUT_S
        while running_scheduler(pid_file) == pid:
            if clock() >= deadline:
                os.kill(pid, signal.SIGKILL)
                break
            sleep(0.5)
    pid_file.unlink(missing_ok=True)  # as kwokctl's own stop does: the next start then runs it again
    try:
        checked(kwokctl(session, "start", "cluster", "--name", name, timeout=CREATE_TIMEOUT_S),
                f"kwokctl start cluster {name}")
    except RuntimeError as exc:
        raise LabsError(f"{exc}: kube-scheduler is stopped; see {pid_file.parent.parent / 'logs'}") from None
    if running_scheduler(pid_file) is None:
        raise LabsError(f"`kwokctl start cluster {name}` did not start kube-scheduler again: see "
                        f"{pid_file.parent.parent / 'logs' / 'kube-scheduler.log'}")


class KwokClusterProvider(dynamic.ResourceProvider):
    """Creates and deletes a kwok cluster with kwokctl (runs inside Pulumi's provider process)."""

    REPLACE_ON = ("name", "session", "workers")

    def create(self, props: dict) -> dynamic.CreateResult:
        name, session = props["name"], props["session"]
        workdir(session).mkdir(parents=True, exist_ok=True)
        if name in existing_clusters(session):
            # Left by a run killed midway: start from a clean cluster rather than adopt a half-made one.
            checked(kwokctl(session, "delete", "cluster", "--name", name), f"kwokctl delete cluster {name}")
        with creating_alone():
            checked(kwokctl(session, *create_command(session, name), timeout=CREATE_TIMEOUT_S),
                    f"kwokctl create cluster {name}")
        kubeconfig = self._kubeconfig(session, name)
        self._apply_objects(session, kubeconfig, cluster_objects(session, int(props["workers"])))
        return dynamic.CreateResult(id_=name, outs={**props, "kubeconfig": kubeconfig})

    def read(self, id_: str, props: dict) -> dynamic.ReadResult:
        session = props.get("session", "")
        if id_ not in existing_clusters(session):
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, {**props, "kubeconfig": self._kubeconfig(session, id_)})

    def diff(self, id_: str, olds: dict, news: dict) -> dynamic.DiffResult:
        replaces = [key for key in self.REPLACE_ON if str(olds.get(key)) != str(news.get(key))]
        return dynamic.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def delete(self, id_: str, props: dict) -> None:
        session = props["session"]
        if id_ in existing_clusters(session):
            checked(kwokctl(session, "delete", "cluster", "--name", id_, timeout=CREATE_TIMEOUT_S),
                    f"kwokctl delete cluster {id_}")

    @staticmethod
    def _kubeconfig(session: str, name: str) -> str:
        return checked(kwokctl(session, "get", "kubeconfig", "--name", name), f"kwokctl get kubeconfig {name}")

    @staticmethod
    def _apply_objects(session: str, kubeconfig: str, objects: list[dict]) -> None:
        """The fake nodes and the default class, through kubectl with the new cluster's kubeconfig (kept
        0600 in the session)."""
        from infra.paths import write_private
        from infra.toolchain import require_tool

        config = write_private(workdir(session) / "admin.kubeconfig", kubeconfig)
        result = subprocess.run(
            [require_tool("kubectl"), "--kubeconfig", str(config), "apply", "--server-side", "-f", "-"],
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
            capture_output=True, text=True, timeout=120,
        )
        checked(result, "kubectl apply (kwok nodes and default StorageClass)")


class KwokCluster(dynamic.Resource):
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            KwokClusterProvider(), name, {**props, "kubeconfig": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                additional_secret_outputs=["kubeconfig"], delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="10m", delete="5m"),
            )),
        )


class KwokClusterComponent(pulumi.ComponentResource):
    """The kwok cluster and the Kubernetes provider bound to its kubeconfig (never the ambient one)."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:Kwok", "cluster", None, opts)
        name = cluster_name(settings.session)
        cluster = KwokCluster("kwok", {"name": name, "session": settings.session, "workers": settings.workers},
                              pulumi.ResourceOptions(parent=self))
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig)
        # MetalLB's pool must name addresses; none is ever handed out here (no load balancer runs), so
        # by default a documentation range (RFC 5737 TEST-NET-1) that no network routes.
        self.lb_address_range = settings.lb_address_range or LB_ADDRESS_RANGE
        self.provider = k8s.Provider("k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        summary = {"provider": "kwok", "name": name, "kubernetes_version": KUBERNETES_VERSION,
                   "nodes": node_names(settings.session, settings.workers)}
        self.register_outputs({"summary": summary, "kubeconfig": self.kubeconfig})


class KwokTarget:
    name = "kwok"

    def preflight(self, settings: StackSettings) -> None:
        from infra.toolchain import require_tool

        for tool in ("kwokctl", "kubectl", *BINARY_FLAGS.values()):
            require_tool(tool)

    def create(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> KwokClusterComponent:
        return KwokClusterComponent(settings, opts)

    def restart_scheduler(self, settings: StackSettings) -> None:
        restart_scheduler(settings.session)

    def cleanup(self, settings: StackSettings) -> None:
        """Delete the session's kwok cluster by name, even when its state was lost."""
        name = cluster_name(settings.session)
        if not workdir(settings.session).is_dir():
            return
        try:
            if name in existing_clusters(settings.session):
                checked(kwokctl(settings.session, "delete", "cluster", "--name", name, timeout=CREATE_TIMEOUT_S),
                        f"kwokctl delete cluster {name}")
        except RuntimeError as exc:
            raise LabsError(f"{exc}; then run `invoke session down` again") from None
