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


class FakeKind:
    """Stands in for the kind CLI: records calls, keeps a set of clusters."""

    def __init__(self, clusters=(), fail: str | None = None):
        self.clusters = set(clusters)
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def __call__(self, *args, timeout=120, stdin=None):
        self.calls.append(args)
        if self.fail and args[0] == self.fail:
            return subprocess.CompletedProcess(args, 1, "", "ERROR: failed to create cluster: node(s) not ready\n")
        if args[:2] == ("get", "clusters"):
            return subprocess.CompletedProcess(args, 0, "\n".join(sorted(self.clusters)), "")
        if args[:2] == ("create", "cluster"):
            self.clusters.add(args[args.index("--name") + 1])
        if args[:2] == ("delete", "cluster"):
            self.clusters.discard(args[args.index("--name") + 1])
        if args[:2] == ("get", "kubeconfig"):
            return subprocess.CompletedProcess(args, 0, "apiVersion: v1\nkind: Config\n", "")
        return subprocess.CompletedProcess(args, 0, "", "")


@pytest.fixture(autouse=True)
def kind_network(monkeypatch):
    """The kind Docker network's LoadBalancer range, as `docker network inspect` would give it."""
    monkeypatch.setattr(kind, "discover_lb_address_range", lambda: "172.18.255.200-172.18.255.250")


def _props(tmp_path, settings=StackSettings(session="monday")):
    config = kind.kind_config(settings)
    return {"name": config["name"], "config": config, "mirrors_dir": str(tmp_path / "certs.d"), "lb_address_range": ""}


def test_create_writes_the_config_and_returns_the_kubeconfig(tmp_path, monkeypatch):
    fake = FakeKind()
    monkeypatch.setattr(kind, "_kind", fake)
    result = kind.KindClusterProvider().create(_props(tmp_path))
    assert result.id == "labs-monday"
    assert result.outs["kubeconfig"].startswith("apiVersion: v1")
    assert result.outs["lb_address_range"] == "172.18.255.200-172.18.255.250"
    create = next(call for call in fake.calls if call[0] == "create")
    config_file = create[create.index("--config") + 1]
    assert "labs-monday" in open(config_file).read()
    assert (tmp_path / "certs.d").is_dir()


def test_a_failed_create_reports_kinds_last_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(fail="create"))
    with pytest.raises(RuntimeError, match="node\\(s\\) not ready"):
        kind.KindClusterProvider().create(_props(tmp_path))


def test_read_reports_a_cluster_deleted_behind_pulumis_back(tmp_path, monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-other"]))
    assert kind.KindClusterProvider().read("labs-monday", _props(tmp_path)).id is None
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-monday"]))
    assert kind.KindClusterProvider().read("labs-monday", _props(tmp_path)).id == "labs-monday"


def test_node_count_change_replaces_delete_first(tmp_path):
    old = _props(tmp_path)
    new = _props(tmp_path, StackSettings(session="monday", workers=3))
    diff = kind.KindClusterProvider().diff("labs-monday", old, new)
    assert diff.changes and diff.replaces == ["config"] and diff.delete_before_replace
    same = kind.KindClusterProvider().diff("labs-monday", old, _props(tmp_path))
    assert not same.changes and same.replaces == []


def test_cleanup_that_kind_cannot_do_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(kind, "_kind", FakeKind(clusters=["labs-monday"], fail="delete"))
    with pytest.raises(LabsError, match="kind delete cluster labs-monday failed: ERROR: .*run `invoke session down` again"):
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
    assert kind.KindClusterProvider().create(props).outs["lb_address_range"] == "10.1.0.10-10.1.0.20"
    diff = kind.KindClusterProvider().diff("labs-monday", props, {**props, "lb_address_range": "10.1.0.30-10.1.0.40"})
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
