"""The kind target: its generated config, its dynamic provider's lifecycle, its preflight checks."""
from __future__ import annotations

import socket
import subprocess

import pytest

from infra.clusters import kind
from infra.clusters.capabilities import kind_capabilities
from infra.errors import LabsError
from infra.settings import StackSettings


def test_config_maps_host_ports_to_the_labelled_control_plane():
    config = kind.kind_config(StackSettings(session="monday", http_port=8080, https_port=8443))
    control_plane, *workers = config["nodes"]
    assert config["name"] == "labs-monday"
    assert control_plane["role"] == "control-plane" and len(workers) == 2
    assert control_plane["extraPortMappings"] == [
        {"containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
        {"containerPort": 443, "hostPort": 8443, "protocol": "TCP"},
    ]
    assert "value: ingress-ready=true" in control_plane["kubeadmConfigPatches"][0]
    assert all(node["image"] == "kindest/node:v1.36.1" for node in config["nodes"])
    # The first worker, and it alone, carries the label lab 11's hostPath PV pins itself to.
    assert [node.get("labels") for node in workers] == [{"k8s-labs.io/hostpath-node": "true"}, None]


def test_config_exposes_control_plane_metrics_for_monitoring():
    patches = "\n".join(kind.kind_config(StackSettings())["kubeadmConfigPatches"])
    for expected in ("name: bind-address\n    value: 0.0.0.0", "value: http://0.0.0.0:2381",
                     "metricsBindAddress: 0.0.0.0:10249"):
        assert expected in patches
    assert patches.count("bind-address") == 2  # controller-manager and scheduler


def test_every_node_mounts_the_registry_mirror_folder():
    settings = StackSettings(session="monday", workers=3)
    config = kind.kind_config(settings)
    mounts = [node["extraMounts"] for node in config["nodes"]]
    assert len(mounts) == 4
    assert all(m == [{"hostPath": str(kind.mirrors_dir("monday")), "containerPath": "/etc/containerd/certs.d"}]
               for m in mounts)


def test_zero_workers_is_a_single_node_cluster():
    assert [n["role"] for n in kind.kind_config(StackSettings(workers=0))["nodes"]] == ["control-plane"]


# What kind v0.32.0 prints (cmd/kind/app/main.go logError: "ERROR: <err>", then for a failed command
# "\nCommand Output: <its output>"; exit status 1), and what the docker CLI says with no daemon.
DOCKER_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
LIST_CLUSTERS = """docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{.Label "io.x-k8s.kind.cluster"}}'"""


def kind_error(message: str, command: str = "") -> str:
    if not command:
        return f"ERROR: {message}\n"
    return f'ERROR: {message}: command "{command}" failed with error: exit status 1\n\nCommand Output: {DOCKER_DOWN}\n'


class FakeKind:
    """Stands in for the kind CLI on a Docker that holds `clusters` (their node containers).

    `docker_up=False`: every command fails as kind does when `docker ps` cannot reach the daemon.
    `killed_create`: `kind create cluster` outlives its time limit (the caller's subprocess timeout
    kills it) after making the node containers, and cleans up nothing, as kind killed outright.
    `fail`: that subcommand fails with kind's error line."""

    def __init__(self, clusters=(), fail: str | None = None, docker_up: bool = True, killed_create: bool = False):
        self.clusters = set(clusters)
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail
        self.docker_up = docker_up
        self.killed_create = killed_create

    def __call__(self, *args, timeout=120, stdin=None, on_timeout=""):
        self.calls.append(args)
        name = args[args.index("--name") + 1] if "--name" in args else ""
        if not self.docker_up:
            if args[:2] == ("get", "clusters"):
                return subprocess.CompletedProcess(args, 1, "", kind_error("failed to list clusters", LIST_CLUSTERS))
            nodes = f"docker ps -a --filter label=io.x-k8s.kind.cluster={name} --format '{{{{.Names}}}}'"
            message = {"create": "failed to create cluster: failed to list nodes",
                       "delete": f'failed to delete cluster "{name}": error listing nodes: failed to list nodes'}
            return subprocess.CompletedProcess(args, 1, "", kind_error(message[args[0]], nodes))
        if self.fail and args[0] == self.fail:
            return subprocess.CompletedProcess(args, 1, "", kind_error(f"failed to {args[0]} cluster: node(s) not ready"))
        if args[:2] == ("get", "clusters"):
            # "No kind clusters found." goes to stderr; stdout lists the names.
            return subprocess.CompletedProcess(args, 0, "".join(f"{c}\n" for c in sorted(self.clusters)),
                                               "" if self.clusters else "No kind clusters found.\n")
        if args[:2] == ("create", "cluster"):
            if name in self.clusters:  # pkg/cluster/internal/create/create.go alreadyExists
                message = f'failed to create cluster: node(s) already exist for a cluster with the name "{name}"'
                return subprocess.CompletedProcess(args, 1, "", kind_error(message))
            self.clusters.add(name)
            if self.killed_create:
                raise LabsError(f"`kind {' '.join(args)}` did not finish within {timeout} s: {on_timeout}")
        if args[:2] == ("delete", "cluster"):
            self.clusters.discard(name)  # a cluster that does not exist: nothing to delete, exit 0
        if args[:2] == ("get", "kubeconfig"):
            return subprocess.CompletedProcess(args, 0, "apiVersion: v1\nkind: Config\n", "")
        return subprocess.CompletedProcess(args, 0, "", "")


class FakeDocker:
    """The docker CLI for the node image: `images` it holds; `pull` answers "ok", "offline" or "slow"."""

    def __init__(self, images=(kind.NODE_IMAGE,), pull: str = "ok"):
        self.images = set(images)
        self.pull = pull
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args, timeout=60):
        self.calls.append(args)
        if args[:2] == ("image", "inspect"):
            if args[2] in self.images:
                return subprocess.CompletedProcess(args, 0, "[{}]", "")
            return subprocess.CompletedProcess(args, 1, "[]\n", f"Error response from daemon: No such image: {args[2]}\n")
        if args[0] == "pull":
            if self.pull == "slow":
                return None  # killed at its time limit
            if self.pull == "offline":
                return subprocess.CompletedProcess(args, 1, "", 'Error response from daemon: Get "https://registry-1.'
                                                   'docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host\n')
            self.images.add(args[1])
            return subprocess.CompletedProcess(args, 0, f"Status: Downloaded newer image for {args[1]}\n", "")
        raise AssertionError(f"unexpected docker call {args}")


@pytest.fixture(autouse=True)
def kind_network(monkeypatch):
    """The kind Docker network's LoadBalancer range, as `docker network inspect` would give it; the
    node image already pulled."""
    monkeypatch.setattr(kind, "discover_lb_address_range", lambda: "172.18.255.200-172.18.255.250")
    monkeypatch.setattr(kind, "_docker", FakeDocker())


def _props(tmp_path, settings=StackSettings(session="monday")):
    config = kind.kind_config(settings)
    return {"name": config["name"], "config": config, "mirrors_dir": str(tmp_path / "certs.d"), "lb_address_range": ""}


def test_create_writes_the_config_and_returns_the_kubeconfig(tmp_path, monkeypatch):
    fake = FakeKind()
    monkeypatch.setattr(kind, "_kind", fake)
    result = kind.KindClusterProvider().create(_props(tmp_path))
    assert result.id == "labs-monday"
    assert result.outs["kubeconfig"].startswith("apiVersion: v1")
    assert result.outs["lb_pool"] == "172.18.255.200-172.18.255.250" and result.outs["lb_address_range"] == ""
    create = next(call for call in fake.calls if call[0] == "create")
    config_file = create[create.index("--config") + 1]
    assert "labs-monday" in open(config_file).read()
    assert (tmp_path / "certs.d").is_dir()


def test_a_failed_create_reports_kinds_last_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(fail="create"))
    with pytest.raises(RuntimeError, match="kind create cluster labs-monday failed: ERROR: failed to create "
                                           "cluster: node\\(s\\) not ready"):
        kind.KindClusterProvider().create(_props(tmp_path))


def test_a_refresh_keeps_the_range_found_at_create_without_asking_docker(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind())
    outs = kind.KindClusterProvider().create(_props(tmp_path)).outs

    def docker_not_asked():
        raise AssertionError("docker network inspect during a refresh")

    monkeypatch.setattr(kind, "discover_lb_address_range", docker_not_asked)
    read = kind.KindClusterProvider().read("labs-monday", outs)
    assert read.outs["lb_pool"] == "172.18.255.200-172.18.255.250" and read.outs["lb_address_range"] == ""
    assert not kind.KindClusterProvider().diff("labs-monday", read.outs, _props(tmp_path)).changes


def test_read_reports_a_cluster_deleted_behind_pulumis_back(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-other"]))
    assert kind.KindClusterProvider().read("labs-monday", _props(tmp_path)).id is None
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-monday"]))
    assert kind.KindClusterProvider().read("labs-monday", _props(tmp_path)).id == "labs-monday"


def test_node_count_change_replaces_delete_first(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind())
    old = kind.KindClusterProvider().create(_props(tmp_path)).outs
    new = _props(tmp_path, StackSettings(session="monday", workers=3))
    diff = kind.KindClusterProvider().diff("labs-monday", old, new)
    assert diff.changes and diff.replaces == ["config"] and diff.delete_before_replace


def test_cleanup_that_kind_cannot_do_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-monday"], fail="delete"))
    with pytest.raises(LabsError, match="kind delete cluster labs-monday failed: ERROR: .*is Docker running.*run the "
                                        "command again"):
        kind.KindTarget().cleanup(StackSettings(session="monday"))


def test_delete_deletes_the_named_cluster(tmp_path, monkeypatch):
    fake = FakeKind(clusters=["labs-monday"])
    monkeypatch.setattr(kind, "_kind", fake)
    kind.KindClusterProvider().delete("labs-monday", _props(tmp_path))
    assert ("delete", "cluster", "--name", "labs-monday") in fake.calls and not fake.clusters


@pytest.fixture
def busy_port():
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen()
        yield server.getsockname()[1]


def test_preflight_refuses_a_host_port_already_in_use(busy_port, monkeypatch):
    monkeypatch.setattr("infra.doctor.docker_daemon_ready", lambda: None)
    monkeypatch.setattr(kind, "_kind", FakeKind())
    with pytest.raises(LabsError) as err:
        kind.KindTarget().preflight(StackSettings(http_port=busy_port))
    assert f"host port {busy_port} is already in use" in str(err.value) and "--http-port=" in str(err.value)


def test_preflight_skips_the_port_check_when_the_sessions_cluster_exists(busy_port, monkeypatch):
    monkeypatch.setattr("infra.doctor.docker_daemon_ready", lambda: None)
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-default"]))
    kind.KindTarget().preflight(StackSettings(http_port=busy_port))


def test_preflight_stops_when_the_docker_daemon_is_down(monkeypatch):
    def daemon_down():
        raise LabsError("docker daemon not answering: start Docker")

    monkeypatch.setattr("infra.doctor.docker_daemon_ready", daemon_down)
    fake = FakeKind()
    monkeypatch.setattr(kind, "_kind", fake)
    with pytest.raises(LabsError, match="daemon not answering"):
        kind.KindTarget().preflight(StackSettings())
    assert fake.calls == []


def test_a_free_port_is_not_reported_in_use():
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    assert not kind.port_in_use(port)


def test_lb_address_range_sits_at_the_top_of_the_kind_network():
    assert kind.lb_address_range(["fc00:f853:ccd:e793::/64", "172.18.0.0/16"]) == "172.18.255.200-172.18.255.250"
    assert kind.lb_address_range(["192.168.49.0/24"]) == "192.168.49.200-192.168.49.250"
    with pytest.raises(RuntimeError, match="lbAddressRange"):
        kind.lb_address_range(["10.0.0.0/28"])


def test_a_configured_lb_range_is_kept_and_changes_in_place(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind())
    props = {**_props(tmp_path), "lb_address_range": "10.1.0.10-10.1.0.20"}
    outs = kind.KindClusterProvider().create(props).outs
    assert outs["lb_pool"] == "10.1.0.10-10.1.0.20"
    diff = kind.KindClusterProvider().diff("labs-monday", outs, {**props, "lb_address_range": "10.1.0.30-10.1.0.40"})
    assert diff.changes and diff.replaces == []


# --- a classroom on kind whose students use their own machines ----------------------------------

def test_a_lan_api_server_address_goes_into_the_kind_config_and_replaces_the_cluster(tmp_path):
    assert "networking" not in kind.kind_config(StackSettings())  # default: 127.0.0.1, this machine only
    lan = StackSettings(session="monday", api_server_address="192.168.1.10")
    assert kind.kind_config(lan)["networking"] == {"apiServerAddress": "192.168.1.10"}
    diff = kind.KindClusterProvider().diff("labs-monday", _props(tmp_path), _props(tmp_path, lan))
    assert diff.replaces == ["config"] and diff.delete_before_replace


@pytest.mark.parametrize("settings, domain", [
    (StackSettings(), "localhost"),
    (StackSettings(api_server_address="192.168.1.10"), "192.168.1.10.sslip.io"),
    (StackSettings(api_server_address="192.168.1.10", base_domain="class.example.org"), "class.example.org"),
])
def test_web_uis_are_published_where_students_can_reach_them(settings, domain):
    assert kind_capabilities(settings).base_domain == domain


def test_preflight_refuses_an_address_this_machine_does_not_have(monkeypatch):
    monkeypatch.setattr("infra.doctor.docker_daemon_ready", lambda: None)
    fake = FakeKind()
    monkeypatch.setattr(kind, "_kind", fake)
    with pytest.raises(LabsError, match="apiServerAddress 203.0.113.7 is not an address of this machine"):
        kind.KindTarget().preflight(StackSettings(api_server_address="203.0.113.7"))  # TEST-NET-3
    assert fake.calls == []  # before anything is asked of kind
    assert kind.address_is_local("127.0.0.1")


@pytest.mark.parametrize("raw", ["192.168.1", "::1", "lan"])
def test_an_api_server_address_that_is_not_ipv4_is_one_clear_error(raw):
    with pytest.raises(LabsError, match=f"apiServerAddress must be an IPv4 address of this machine .*got '{raw}'"):
        StackSettings().with_config({"apiServerAddress": raw}, "command line")


def test_the_api_server_address_is_kind_only_and_the_base_domain_every_targets():
    kind_config = StackSettings(api_server_address="192.168.1.10", base_domain="x.org").as_config()
    assert kind_config["k8s-labs:apiServerAddress"] == "192.168.1.10" and kind_config["k8s-labs:baseDomain"] == "x.org"
    gke_config = StackSettings(target="gke", api_server_address="192.168.1.10").as_config()
    assert "k8s-labs:apiServerAddress" not in gke_config and "k8s-labs:baseDomain" in gke_config


# --- what real kind and Docker do when things go wrong (issue 16) -----------------------------------

def test_a_listing_that_fails_with_docker_down_is_an_error_naming_docker_never_gone(tmp_path, monkeypatch):
    """`kind get clusters` exits 1 when Docker does not answer: `read` must not answer "gone" (the
    engine would drop the cluster and every layer from the state while the nodes survive)."""
    fake = FakeKind(clusters=["labs-monday"], docker_up=False)
    monkeypatch.setattr(kind, "_kind", fake)
    with pytest.raises(LabsError) as err:
        kind.KindClusterProvider().read("labs-monday", _props(tmp_path))
    message = str(err.value)
    assert "`kind get clusters` failed (Command Output: Cannot connect to the Docker daemon" in message
    assert "is Docker running?" in message and "\n" not in message
    for target_call in (kind.KindTarget().cleanup, kind.KindTarget().cluster_vanished):
        with pytest.raises(LabsError, match="is Docker running"):
            target_call(StackSettings(session="monday"))
    assert fake.clusters == {"labs-monday"} and not [c for c in fake.calls if c[0] == "delete"]


def test_a_cluster_is_vanished_only_when_kind_answers_without_it(monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-other"]))
    assert kind.KindTarget().cluster_vanished(StackSettings(session="monday"))
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-monday"]))
    assert not kind.KindTarget().cluster_vanished(StackSettings(session="monday"))


def test_a_create_killed_midway_leaves_a_cluster_the_next_create_deletes_and_says_so(tmp_path, monkeypatch, capsys):
    fake = FakeKind(killed_create=True)
    monkeypatch.setattr(kind, "_kind", fake)
    with pytest.raises(LabsError) as err:
        kind.KindClusterProvider().create(_props(tmp_path))
    message = str(err.value)
    assert f"did not finish within {kind.CREATE_TIMEOUT_S} s: the node image was already there" in message
    assert "Docker is short of memory or CPU" in message and "labs-monday is deleted" in message
    assert fake.clusters == set()  # the half-made cluster went at once
    # kind killed outright (SIGKILL, a closed laptop) cleans nothing: the next create finds its nodes.
    fake = FakeKind(clusters=["labs-monday"])
    monkeypatch.setattr(kind, "_kind", fake)
    result = kind.KindClusterProvider().create(_props(tmp_path))
    assert result.id == "labs-monday" and fake.clusters == {"labs-monday"}
    verbs = [call[:2] for call in fake.calls if call[:2] != ("get", "kubeconfig")]
    assert verbs == [("get", "clusters"), ("delete", "cluster"), ("create", "cluster")]
    assert "note: deleted a leftover cluster labs-monday (an interrupted create" in capsys.readouterr().err


def test_a_create_racing_another_names_the_real_cause_not_docker(tmp_path, monkeypatch):
    """Another command made the cluster between our listing and our create: kind's own message, and the fix."""
    fake = FakeKind()
    real_listing = fake.__call__

    def listing_then_someone_creates(*args, **kwargs):
        answer = real_listing(*args, **kwargs)
        if args[:2] == ("get", "clusters"):
            fake.clusters.add("labs-monday")
        return answer

    monkeypatch.setattr(kind, "_kind", listing_then_someone_creates)
    with pytest.raises(LabsError) as err:
        kind.KindClusterProvider().create(_props(tmp_path))
    message = str(err.value)
    assert 'node(s) already exist for a cluster with the name "labs-monday"' in message
    assert "kind delete cluster --name labs-monday" in message and "Docker running" not in message


@pytest.mark.parametrize("pull, said", [
    ("offline", "pulling kindest/node:v1.36.1 failed (Error response from daemon: Get \"https://registry-1.docker.io"),
    ("slow", f"pulling kindest/node:v1.36.1 did not finish within {kind.PULL_TIMEOUT_S} s: the network"),
])
def test_the_node_image_pull_is_timed_apart_and_named_on_failure(tmp_path, monkeypatch, pull, said):
    fake, docker = FakeKind(), FakeDocker(images=(), pull=pull)
    monkeypatch.setattr(kind, "_kind", fake)
    monkeypatch.setattr(kind, "_docker", docker)
    with pytest.raises(LabsError) as err:
        kind.KindClusterProvider().create(_props(tmp_path))
    assert str(err.value).startswith(said)
    assert not [call for call in fake.calls if call[0] == "create"] and fake.clusters == set()
    assert docker.calls[-1] == ("pull", kind.NODE_IMAGE)


def test_a_present_node_image_is_not_pulled_again(tmp_path, monkeypatch):
    docker = FakeDocker()
    monkeypatch.setattr(kind, "_kind", FakeKind())
    monkeypatch.setattr(kind, "_docker", docker)
    kind.KindClusterProvider().create(_props(tmp_path))
    assert docker.calls == [("image", "inspect", kind.NODE_IMAGE)]


def test_a_no_op_up_shows_no_change_against_the_created_outputs(tmp_path, monkeypatch):
    """The engine diffs new inputs against the old outputs, which hold the discovered range in use."""
    monkeypatch.setattr(kind, "_kind", FakeKind())
    provider = kind.KindClusterProvider()
    outs = provider.create(_props(tmp_path)).outs
    diff = provider.diff("labs-monday", outs, _props(tmp_path))
    assert not diff.changes and diff.replaces == []
    configured = {**_props(tmp_path), "lb_address_range": "10.1.0.10-10.1.0.20"}
    assert provider.diff("labs-monday", outs, configured).changes  # configuring a range is a change
    # A state written before `lb_pool` existed gets it by one in-place update, never a replacement.
    before = {key: value for key, value in outs.items() if key != "lb_pool"}
    before["lb_address_range"] = outs["lb_pool"]
    upgrade = provider.diff("labs-monday", before, _props(tmp_path))
    assert upgrade.changes and upgrade.replaces == []
    assert provider.update("labs-monday", before, _props(tmp_path)).outs["lb_pool"] == outs["lb_pool"]
