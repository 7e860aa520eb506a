"""The kwok target offline: its nodes, its kwokctl command line, its capabilities, and a kwokctl that
fails. The real run (kwokctl, the control plane, the engine) is the `controlplane` tier."""
from __future__ import annotations

import os
import stat

import pytest

from infra.clusters import get_target
from infra.clusters.capabilities import BY_TARGET
from infra.clusters import kwok
from infra.errors import LabsError
from infra.settings import StackSettings


def test_nodes_are_named_and_labelled_like_kinds():
    nodes = kwok.node_manifests("monday", 2)
    assert [n["metadata"]["name"] for n in nodes] == [
        "labs-monday-control-plane", "labs-monday-worker", "labs-monday-worker2"]
    control_plane, worker = nodes[0], nodes[1]
    assert "node-role.kubernetes.io/control-plane" in control_plane["metadata"]["labels"]
    assert control_plane["spec"]["taints"][0]["effect"] == "NoSchedule"
    assert "taints" not in worker["spec"]
    # Like kind's: the first worker alone carries the label lab 11's hostPath PV pins itself to.
    assert [n["metadata"]["labels"].get("k8s-labs.io/hostpath-node") for n in nodes] == [None, "true", None]
    # The kwok controller started by kwokctl manages the nodes carrying this annotation only.
    assert all(n["metadata"]["annotations"] == {"kwok.x-k8s.io/node": "fake"} for n in nodes)
    assert all(n["status"]["allocatable"]["pods"] == "110" for n in nodes)


def test_the_cluster_holds_kinds_default_class_as_its_capabilities_say():
    """A claim that names no class gets the default one on kind; with no default class it would bind to a
    class-less PersistentVolume instead (the API server's rule), so kwok carries kind's class too."""
    objects = kwok.cluster_objects("monday", 2)
    classes = [obj for obj in objects if obj["kind"] == "StorageClass"]
    assert len(objects) == 4 and len(classes) == 1
    caps = BY_TARGET["kwok"](StackSettings(target="kwok"))
    (default,) = classes
    assert default["metadata"]["name"] == caps.default_storage_class
    assert default["provisioner"] == caps.default_provisioner
    assert default["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert default["volumeBindingMode"] == "WaitForFirstConsumer"


def test_capabilities_say_what_kwok_cannot_do():
    caps = BY_TARGET["kwok"](StackSettings(target="kwok"))
    assert caps.containers_run is False
    assert caps.ingress_exposure == "cluster-ip" and caps.load_balancer is False
    assert caps.nodes == 3
    assert BY_TARGET["kind"](StackSettings()).containers_run is True


def _fake_tools(folder, kwokctl_script: str):
    folder.mkdir(parents=True, exist_ok=True)
    for tool in ("kubectl", *kwok.BINARY_FLAGS.values()):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
    (folder / "kwokctl").write_text(kwokctl_script)
    for path in folder.iterdir():
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_create_command_points_kwokctl_at_the_local_binaries(isolated_user_dirs):
    _fake_tools(isolated_user_dirs / "tools" / "bin", "#!/bin/sh\nexit 0\n")
    argv = kwok.create_command("monday", "labs-monday")
    assert argv[:6] == ["create", "cluster", "--name", "labs-monday", "--runtime", "binary"]
    flags = dict(arg.split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    for flag, tool in kwok.BINARY_FLAGS.items():
        assert flags[flag] == str(isolated_user_dirs / "tools" / "bin" / tool)
    # Never the user's ~/.kube/config: kwokctl writes its context into the session's folder.
    kubeconfig = argv[argv.index("--kubeconfig") + 1]
    assert kubeconfig.startswith(str(kwok.workdir("monday")))


def test_the_service_range_holds_the_largest_class_of_the_lab_with_most_services(isolated_user_dirs):
    """kube-apiserver's default range (254 addresses) was full at 126 students of lab 07 on kwok."""
    import ipaddress

    from infra.catalog import Catalog
    from infra.classroom.roster import MAX_STUDENTS
    from infra.manifests import load_lab_objects

    _fake_tools(isolated_user_dirs / "tools" / "bin", "#!/bin/sh\nexit 0\n")
    argv = kwok.create_command("monday", "labs-monday")
    assert f"--extra-args=kube-apiserver=service-cluster-ip-range={kwok.SERVICE_CIDR}" in argv
    most = max(sum(obj["kind"] == "Service" for obj in load_lab_objects(lab, ("manifests", "solution")))
               for lab in Catalog.load().labs)
    assert most >= 3  # lab 07's starting point alone has three
    assert ipaddress.ip_network(kwok.SERVICE_CIDR).num_addresses - 2 >= MAX_STUDENTS * most


def test_a_failing_listing_is_an_error_never_an_empty_set(isolated_user_dirs):
    # As kwokctl fails when its workdir is unreadable: exit 1, the reason on stderr.
    _fake_tools(isolated_user_dirs / "tools" / "bin",
                "#!/bin/sh\necho 'Error: open /x/clusters: permission denied' >&2\nexit 1\n")
    with pytest.raises(RuntimeError, match="kwokctl get clusters failed: Error: open /x/clusters: permission denied"):
        kwok.existing_clusters("monday")
    provider = kwok.KwokClusterProvider()
    with pytest.raises(RuntimeError):  # `read` must not answer "gone" (Pulumi would drop the layers)
        provider.read("labs-monday", {"session": "monday"})


def test_cleanup_deletes_the_session_cluster_by_name(isolated_user_dirs):
    log = isolated_user_dirs / "kwokctl.log"
    _fake_tools(isolated_user_dirs / "tools" / "bin",
                f"#!/bin/sh\necho \"$KWOK_WORKDIR $*\" >> {log}\n"
                "[ \"$1 $2\" = 'get clusters' ] && echo labs-monday\nexit 0\n")
    kwok.workdir("monday").mkdir(parents=True)
    get_target("kwok").cleanup(StackSettings(session="monday", target="kwok"))
    calls = log.read_text().splitlines()
    assert calls[-1] == f"{kwok.workdir('monday')} delete cluster --name labs-monday"


def test_cleanup_failure_is_one_line(isolated_user_dirs):
    _fake_tools(isolated_user_dirs / "tools" / "bin",
                "#!/bin/sh\n[ \"$1 $2\" = 'get clusters' ] && { echo labs-monday; exit 0; }\n"
                "echo 'Error: failed to stop etcd' >&2\nexit 1\n")
    kwok.workdir("monday").mkdir(parents=True)
    with pytest.raises(LabsError, match=r"kwokctl delete cluster labs-monday failed: Error: failed to stop etcd; "
                                        r"then run `invoke session down` again"):
        get_target("kwok").cleanup(StackSettings(session="monday", target="kwok"))


def test_preflight_names_a_missing_tool(isolated_user_dirs):
    with pytest.raises(LabsError, match="kwokctl not found"):
        get_target("kwok").preflight(StackSettings(target="kwok"))
    assert not os.path.exists(kwok.workdir("default"))  # nothing created


def test_a_no_op_up_shows_no_change_against_the_created_outputs(isolated_user_dirs):
    """The engine diffs new inputs against the old outputs: kwok's outputs add only the kubeconfig,
    which the diff does not compare (issue 16: kind's discovered LB range made every up an update)."""
    _fake_tools(isolated_user_dirs / "tools" / "bin",
                "#!/bin/sh\n[ \"$1 $2\" = 'get kubeconfig' ] && echo 'apiVersion: v1'\nexit 0\n")
    props = {"name": "labs-monday", "session": "monday", "workers": 2}
    provider = kwok.KwokClusterProvider()
    outs = provider.create(props).outs
    assert outs["kubeconfig"].startswith("apiVersion: v1")
    assert not provider.diff("labs-monday", outs, props).changes
    assert provider.diff("labs-monday", outs, {**props, "workers": 3}).replaces == ["workers"]


def test_kwok_clusters_are_created_one_at_a_time_across_processes(tmp_path):
    """kwokctl picks the same ports in two processes started together: creations take turns (a file lock)."""
    import subprocess
    import sys

    events = tmp_path / "events"
    script = ("import sys, time; from infra.clusters.kwok import creating_alone\n"
              "with creating_alone():\n"
              "    open(sys.argv[1], 'a').write('start\\n'); time.sleep(0.5); open(sys.argv[1], 'a').write('end\\n')\n")
    env = {**os.environ, "LABS_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.Popen([sys.executable, "-c", script, str(events)], env=env) for _ in range(3)]
    assert [run.wait() for run in runs] == [0, 0, 0]
    assert events.read_text().split() == ["start", "end"] * 3
