"""The pull-through image cache: the Docker commands it issues (through a fake runner), the
containerd hosts.toml it writes, idempotence, and its one-line errors. No Docker needed."""
from __future__ import annotations

import re
import subprocess

import pytest

from infra import imagecache
from infra.clusters.kind import mirrors_dir
from infra.errors import LabsError
from infra.imagecache import REGISTRY_IMAGE, UPSTREAMS, cache_down, cache_up, hosts_toml, pull, unwire, wire
from tests.conftest import write_pulumi_state

NODES = ["labs-default-worker", "labs-default-control-plane", "labs-default-worker2"]
DAEMON_DOWN = ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
               "Is the docker daemon running?")


def done(code=0, stdout="", stderr=""):
    return subprocess.CompletedProcess([], code, stdout, stderr)


def stored_image(reference: str) -> str:
    """How the daemon may keep `.Config.Image` for `name:tag@digest`: normalized, the tag dropped."""
    name, _, digest = reference.partition("@")
    return f"{name.rsplit(':', 1)[0].removeprefix('docker.io/library/')}@{digest}" if digest else reference


def render_format(template: str, state: dict) -> str:
    """The few Go-template actions `docker container inspect --format` is given here."""
    text = re.sub(r'\{\{index \.Config\.Labels "([^"]+)"\}\}', lambda m: state["labels"].get(m.group(1), ""), template)
    text = text.replace("{{.State.Running}}", str(state["running"]).lower()).replace("{{.Config.Image}}", state["image"])
    networks = "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}"
    return text.replace(networks, "".join(f"{n} " for n in state["networks"]))


class FakeDocker:
    """Plays the Docker CLI: keeps containers, answers inspect/ps, records every call."""

    def __init__(self, daemon=True, nodes=None, failing_pulls=()):
        self.daemon = daemon
        self.nodes = {"labs-default": list(NODES)} if nodes is None else nodes
        self.containers: dict[str, dict] = {}
        self.volumes: set[str] = set()
        self.failing_pulls = set(failing_pulls)
        self.calls: list[list[str]] = []
        self.envs: list[dict | None] = []

    def mutations(self):
        return [call for call in self.calls if call[0] in ("run", "start", "rm", "network", "volume")]

    def __call__(self, *args, check=True, timeout=120, env=None):
        self.calls.append(list(args))
        self.envs.append(env)
        result = self._answer(list(args))
        if check and result.returncode != 0:
            raise LabsError(f"`docker {' '.join(args[:2])}` failed: {result.stderr.strip()}")
        return result

    def _answer(self, args):
        if not self.daemon:
            return done(1, stderr=DAEMON_DOWN)
        verb = args[0]
        if verb == "info":
            return done(stdout="27.3.1\n")
        if verb == "ps":
            cluster = args[args.index("--filter") + 1].split("=", 2)[2]
            return done(stdout="".join(f"{node}\n" for node in self.nodes.get(cluster, [])))
        if args[:2] == ["container", "inspect"]:
            state = self.containers.get(args[-1])
            if state is None:
                return done(1, stderr=f"Error: No such container: {args[-1]}")
            return done(stdout=render_format(args[args.index("--format") + 1], state) + "\n")
        if verb == "run":
            name = args[args.index("--name") + 1]
            labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
            self.containers[name] = {"running": True, "labels": labels, "image": stored_image(args[-1]),
                                     "networks": [args[args.index("--network") + 1]]}
            self.volumes.add(args[args.index("--volume") + 1].split(":")[0])
            return done(stdout="0123abcd\n")
        if verb == "start":
            self.containers[args[1]]["running"] = True
            return done(stdout=args[1])
        if verb == "rm":
            self.containers.pop(args[-1], None)
            return done(stdout=args[-1])
        if args[:2] == ["network", "connect"]:
            self.containers[args[3]]["networks"].append(args[2])
            return done()
        if args[:2] == ["volume", "rm"]:
            if args[2] in self.volumes:
                self.volumes.discard(args[2])
                return done(stdout=args[2])
            return done(1, stderr=f"Error: No such volume: {args[2]}")
        if verb == "exec":
            image = args[-1]
            if image in self.failing_pulls:
                return done(1, stderr=f'E0901 pulling image "{image}": not found')
            return done(stdout=f"Image is up to date for sha256:{abs(hash(image)):x}\n")
        raise AssertionError(f"unexpected docker call {args}")


@pytest.fixture
def docker(monkeypatch):
    fake = FakeDocker()
    monkeypatch.setattr(imagecache, "make_docker", lambda: fake)
    return fake


# --- hosts.toml -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("registry, server, host", [
    ("docker.io", "https://registry-1.docker.io", "http://labs-cache-docker-io:5000"),
    ("ghcr.io", "https://ghcr.io", "http://labs-cache-ghcr-io:5000"),
    ("quay.io", "https://quay.io", "http://labs-cache-quay-io:5000"),
    ("registry.k8s.io", "https://registry.k8s.io", "http://labs-cache-registry-k8s-io:5000"),
])
def test_hosts_toml_names_the_cache_first_and_keeps_the_upstream_as_fallback(registry, server, host):
    tomllib = pytest.importorskip("tomllib")
    upstream = next(u for u in UPSTREAMS if u.registry == registry)
    text = hosts_toml(upstream)
    assert tomllib.loads(text) == {"server": server, "host": {host: {"capabilities": ["pull", "resolve"]}}}
    assert text.startswith(imagecache.MARKER)


def test_wire_writes_one_file_per_upstream_in_the_kind_mirrors_folder():
    files = wire("monday")
    folder = mirrors_dir("monday")
    assert sorted(f.relative_to(folder).as_posix() for f in files) == [
        "docker.io/hosts.toml", "ghcr.io/hosts.toml", "quay.io/hosts.toml", "registry.k8s.io/hosts.toml"]


def test_unwire_removes_only_our_files():
    wire("monday")
    foreign = mirrors_dir("monday") / "my-registry.local:5000" / "hosts.toml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text('server = "https://my-registry.local:5000"\n')
    assert unwire("monday") == 4
    assert foreign.is_file()
    assert not (mirrors_dir("monday") / "docker.io").exists()
    assert unwire("monday") == 0


# --- cache up ---------------------------------------------------------------------------------------------

def test_cache_up_runs_one_registry_per_upstream_on_the_kind_network_and_wires_the_session(docker):
    files = cache_up("default", say=lambda line: None)
    runs = [call for call in docker.calls if call[0] == "run"]
    assert len(runs) == 4
    for upstream, run in zip(UPSTREAMS, runs):
        assert run[-1] == REGISTRY_IMAGE
        flags = list(zip(run, run[1:]))
        assert ("--name", upstream.container) in flags and ("--network", "kind") in flags
        assert ("--volume", f"{upstream.volume}:/var/lib/registry") in flags
        assert ("--env", f"REGISTRY_PROXY_REMOTEURL={upstream.remote}") in flags
        assert ("--restart", "unless-stopped") in flags
        assert ("--label", f"k8s-labs.cache/upstream={upstream.registry}") in flags
        assert ("--label", f"k8s-labs.cache/image={REGISTRY_IMAGE}") in flags
    assert [call[0] for call in docker.calls[:2]] == ["info", "ps"]  # checks before anything is created
    assert all(file.read_text() == hosts_toml(u) for file, u in zip(files, UPSTREAMS))


def test_the_registry_image_is_pinned_to_a_2_8_tag_and_digest():
    assert REGISTRY_IMAGE.startswith("docker.io/library/registry:2.8.3@sha256:")
    assert len(REGISTRY_IMAGE.split("@sha256:")[1]) == 64


def test_cache_up_twice_changes_nothing_the_second_time(docker):
    cache_up("default", say=lambda line: None)
    files = {f: f.read_text() for f in mirrors_dir("default").rglob("hosts.toml")}
    before = len(docker.mutations())
    lines = []
    cache_up("default", say=lines.append)
    assert len(docker.mutations()) == before  # no run, start, rm or connect
    assert {f: f.read_text() for f in mirrors_dir("default").rglob("hosts.toml")} == files
    assert sum("already running" in line for line in lines) == 4


def test_cache_up_restarts_a_stopped_cache_and_reconnects_it_to_a_new_kind_network(docker):
    cache_up("default", say=lambda line: None)
    docker.containers["labs-cache-quay-io"]["running"] = False
    docker.containers["labs-cache-ghcr-io"]["networks"] = ["bridge"]  # kind network recreated meanwhile
    docker.calls.clear()
    cache_up("default", say=lambda line: None)
    assert docker.mutations() == [["network", "connect", "kind", "labs-cache-ghcr-io"], ["start", "labs-cache-quay-io"]]


def test_cache_up_replaces_a_cache_of_an_older_pin_and_keeps_its_volume(docker):
    cache_up("default", say=lambda line: None)
    docker.containers["labs-cache-docker-io"]["labels"][imagecache.IMAGE_LABEL] = "docker.io/library/registry:2"
    del docker.containers["labs-cache-quay-io"]["labels"][imagecache.IMAGE_LABEL]  # made before the label
    docker.calls.clear()
    cache_up("default", say=lambda line: None)
    assert [c[:3] for c in docker.mutations()] == [["rm", "--force", "labs-cache-docker-io"], ["run", "--detach", "--name"],
                                                   ["rm", "--force", "labs-cache-quay-io"], ["run", "--detach", "--name"]]
    assert not any(call[0] == "volume" for call in docker.calls)


def test_cache_up_refuses_a_foreign_container_with_the_caches_name(docker):
    docker.containers["labs-cache-docker-io"] = {"running": True, "labels": {}, "image": "nginx", "networks": ["kind"]}
    with pytest.raises(LabsError, match="exists and is not k8s-labs' cache"):
        cache_up("default", say=lambda line: None)
    assert not docker.mutations()


def test_docker_hub_credentials_reach_the_cache_through_the_environment_only(docker, monkeypatch):
    monkeypatch.setenv("LABS_DOCKERHUB_USERNAME", "teacher")
    monkeypatch.setenv("LABS_DOCKERHUB_TOKEN", "dckr_pat_SECRET")
    lines = []
    cache_up("default", say=lines.append)
    index = next(i for i, call in enumerate(docker.calls) if call[0] == "run" and "labs-cache-docker-io" in call)
    run, env = docker.calls[index], docker.envs[index]
    assert ("--env", "REGISTRY_PROXY_PASSWORD") in list(zip(run, run[1:]))
    assert env == {"REGISTRY_PROXY_USERNAME": "teacher", "REGISTRY_PROXY_PASSWORD": "dckr_pat_SECRET"}
    assert not any("dckr_pat_SECRET" in arg for call in docker.calls for arg in call)
    assert not any("dckr_pat_SECRET" in line for line in lines)
    others = [e for call, e in zip(docker.calls, docker.envs) if call[0] == "run" and "labs-cache-docker-io" not in call]
    assert others == [None, None, None]  # the credentials go to Docker Hub's cache only


def test_a_stopped_docker_daemon_is_one_line_and_nothing_is_created(monkeypatch):
    fake = FakeDocker(daemon=False)
    with pytest.raises(LabsError) as error:
        cache_up("default", docker=fake)
    message = str(error.value)
    assert message.startswith("docker daemon not answering") and "start Docker" in message
    assert "\n" not in message
    assert fake.calls == [["info", "--format", "{{.ServerVersion}}"]]
    assert not mirrors_dir("default").exists()


def test_without_a_kind_cluster_cache_up_says_to_run_lab_up_first():
    fake = FakeDocker(nodes={})
    with pytest.raises(LabsError) as error:
        cache_up("monday", docker=fake)
    assert "run `invoke lab up --lab=<lab> --session=monday` first" in str(error.value)
    assert "\n" not in str(error.value)
    assert not fake.mutations() and not mirrors_dir("monday").exists()


# --- cache down -------------------------------------------------------------------------------------------

def test_cache_down_removes_the_containers_and_every_sessions_wiring_and_keeps_the_volumes(docker):
    cache_up("default", say=lambda line: None)
    wire("monday")
    docker.calls.clear()
    cache_down(say=lambda line: None)
    assert sorted(call[-1] for call in docker.mutations()) == sorted(u.container for u in UPSTREAMS)
    assert all(call[:2] == ["rm", "--force"] for call in docker.mutations())
    assert not list(mirrors_dir("default").rglob("hosts.toml")) and not list(mirrors_dir("monday").rglob("hosts.toml"))
    assert docker.volumes == {u.volume for u in UPSTREAMS}


def test_cache_down_with_volumes_removes_the_cached_layers_too(docker):
    cache_up("default", say=lambda line: None)
    cache_down(remove_volumes=True, say=lambda line: None)
    assert docker.volumes == set() and docker.containers == {}
    cache_down(remove_volumes=True, say=lambda line: None)  # again: nothing left, no error


def test_cache_down_leaves_a_foreign_container_alone(docker):
    docker.containers["labs-cache-quay-io"] = {"running": True, "labels": {}, "image": "nginx", "networks": []}
    cache_down(say=lambda line: None)
    assert "labs-cache-quay-io" in docker.containers


# --- pull -------------------------------------------------------------------------------------------------

IMAGES = ["docker.io/library/traefik:v3.7.11", "docker.io/traefik/whoami:v1.11.0", "quay.io/kiali/kiali:v2.29.0"]


def test_pull_warms_the_cache_from_the_control_plane_with_progress_and_a_summary(docker):
    cache_up("default", say=lambda line: None)
    lines = []
    results = pull(IMAGES, "default", say=lines.append, workers=1)
    execs = [call for call in docker.calls if call[0] == "exec"]
    assert execs == [["exec", "labs-default-control-plane", "crictl", "pull", image] for image in IMAGES]
    assert all(result.ok for result in results)
    assert [line.split()[0] for line in lines[:3]] == ["[1/3]", "[2/3]", "[3/3]"]
    assert lines[-1].startswith("3 of 3 images pulled through the cache on labs-default-control-plane")


def test_pull_reports_failures_in_the_summary(docker):
    cache_up("default", say=lambda line: None)
    docker.failing_pulls = {IMAGES[1]}
    lines = []
    results = pull(IMAGES, "default", say=lines.append)
    assert [r.ok for r in results] == [True, False, True]
    assert "not found" in results[1].detail
    assert lines[-1] == f"2 of 3 images pulled through the cache on labs-default-control-plane; 1 failed: {IMAGES[1]}"


def test_pull_names_registries_without_a_cache(docker):
    cache_up("default", say=lambda line: None)
    lines = []
    pull(["docker.io/library/busybox:1.36", "public.ecr.aws/x/y:1"], "default", say=lines.append)
    assert lines[0] == "no cache for public.ecr.aws: those images are pulled straight from the registry"


def test_pull_without_the_cache_says_to_run_cache_up_first(docker):
    with pytest.raises(LabsError, match="run `invoke images cache-up --session=default` first"):
        pull(IMAGES, "default", say=lambda line: None)
    assert not any(call[0] == "exec" for call in docker.calls)


# --- the CLI and session down ------------------------------------------------------------------------------

def _invoke(*argv):
    from invoke import Program

    import tasks

    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


def test_invoke_images_cache_up_and_down(docker, capsys):
    _invoke("images", "cache-up", "--session=default")
    assert len([c for c in docker.calls if c[0] == "run"]) == 4
    assert (mirrors_dir("default") / "docker.io" / "hosts.toml").is_file()
    _invoke("images.cache-down", "--volumes")
    assert docker.containers == {} and docker.volumes == set()
    assert not (mirrors_dir("default") / "docker.io" / "hosts.toml").exists()


def test_invoke_images_cache_up_without_docker_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(imagecache, "make_docker", lambda: FakeDocker(daemon=False))
    with pytest.raises(SystemExit) as exit_:
        _invoke("images", "cache-up")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: docker daemon not answering") and len(err.splitlines()) == 1


def test_session_down_removes_the_sessions_cache_wiring(docker, monkeypatch, tmp_path):
    from infra import commands, instructor, paths

    class Driver:
        def __init__(self, session):
            pass

        def list_stacks(self):
            return ["monday-kind"]

        def destroy_session(self):
            return ["monday-kind"]

    monkeypatch.setattr(commands, "make_driver", Driver)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.cleanup", lambda self, settings: None)
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path)
    removed = []
    real_unwire = imagecache.unwire
    monkeypatch.setattr(imagecache, "unwire", lambda session: removed.append(session) or real_unwire(session))
    wire("monday")
    wire("tuesday")
    write_pulumi_state("monday", "monday-kind")
    instructor.session_down("monday")
    assert removed == ["monday"]
    assert not mirrors_dir("monday").exists()
    assert (mirrors_dir("tuesday") / "docker.io" / "hosts.toml").is_file()
