"""The image cache: pull-through registries on the instructor's machine, wired into kind's containerd.

A classroom shares one venue connection, and Docker Hub rate-limits it by address. `invoke images
cache-up` runs one `registry:2` container per upstream registry (Distribution's proxy mode mirrors
exactly one upstream per instance) on the `kind` Docker network, so every node reaches it by
container name, with a named volume holding the cached layers across restarts:

  docker.io        -> https://registry-1.docker.io   container/volume labs-cache-docker-io
  ghcr.io          -> https://ghcr.io                labs-cache-ghcr-io
  quay.io          -> https://quay.io                labs-cache-quay-io
  registry.k8s.io  -> https://registry.k8s.io        labs-cache-registry-k8s-io

It then writes a containerd `hosts.toml` per upstream into the session's mirrors folder
(`infra.clusters.kind.mirrors_dir`), which every kind node mounts at /etc/containerd/certs.d:
containerd reads it at each pull, so no node restarts. Each file names the cache (plain http,
capabilities pull + resolve) and keeps the upstream as `server`: when the cache does not answer,
containerd goes to the registry itself, so a stopped cache never stops a class.

`invoke images pull --lab=X|all` warms the cache: `crictl pull` on one node of the session, for
every image `invoke images list` finds, through the wiring above.

Docker Hub credentials (optional, raise the pull limit): LABS_DOCKERHUB_USERNAME and
LABS_DOCKERHUB_TOKEN in the environment reach the docker.io cache as REGISTRY_PROXY_USERNAME /
REGISTRY_PROXY_PASSWORD through `docker run -e NAME` (the value is read from the environment by the
Docker CLI: it is never on a command line or in a log). They are read when the container is created.

Every Docker call goes through one small runner (`make_docker`), which tests replace.
"""
from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from infra import paths
from infra.errors import LabsError

# registry 2.8.3 is the last 2.x release; the digest is that tag's multi-arch index on Docker Hub.
REGISTRY_IMAGE = ("docker.io/library/registry:2.8.3"
                  "@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373")
KIND_NETWORK = "kind"
CACHE_PORT = 5000
MANAGED_LABEL = "app.kubernetes.io/managed-by=k8s-labs"
UPSTREAM_LABEL = "k8s-labs.cache/upstream"
# The pin the container was made from, as we wrote it: Docker may store `.Config.Image` in another
# spelling (normalized name, tag dropped beside the digest), which would look like a new pin each time.
IMAGE_LABEL = "k8s-labs.cache/image"
MARKER = "# Written by k8s-labs (invoke images cache-up)"
PULL_TIMEOUT_S = 900
PULL_WORKERS = 3
DOCKERHUB_ENV = {"REGISTRY_PROXY_USERNAME": "LABS_DOCKERHUB_USERNAME",
                 "REGISTRY_PROXY_PASSWORD": "LABS_DOCKERHUB_TOKEN"}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Upstream:
    registry: str  # as images name it: docker.io
    remote: str  # what the cache proxies: https://registry-1.docker.io

    @property
    def container(self) -> str:
        return "labs-cache-" + self.registry.replace(".", "-")

    @property
    def volume(self) -> str:
        return self.container

    @property
    def endpoint(self) -> str:
        return f"http://{self.container}:{CACHE_PORT}"


UPSTREAMS = (
    Upstream("docker.io", "https://registry-1.docker.io"),
    Upstream("ghcr.io", "https://ghcr.io"),
    Upstream("quay.io", "https://quay.io"),
    Upstream("registry.k8s.io", "https://registry.k8s.io"),
)


class Docker:
    """The one place that runs the Docker CLI."""

    def __call__(self, *args: str, check: bool = True, timeout: float = 120,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        from infra import toolchain

        binary = toolchain.find_tool("docker")
        if binary is None:
            raise LabsError(f"docker is not installed: {toolchain.install_hint('docker')}")
        try:
            done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **env} if env else None)
        except subprocess.TimeoutExpired:
            raise LabsError(f"`docker {' '.join(args[:2])}` did not finish within {timeout:g} s: is Docker responsive?") from None
        if check and done.returncode != 0:
            raise LabsError(f"`docker {' '.join(args[:2])}` failed: {last_line(done)}")
        return done


def make_docker() -> Docker:
    """The Docker runner (tests replace this function with a fake)."""
    return Docker()


def last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else f"exit code {done.returncode}"


def hosts_toml(upstream: Upstream) -> str:
    """containerd's per-registry configuration: the cache first, the upstream itself as fallback."""
    return (
        f"{MARKER}: pulls of {upstream.registry} go through the\n"
        f"# pull-through cache {upstream.container}, and straight to the registry when it does not answer.\n"
        "# Removed by `invoke images cache-down` and `invoke session down`.\n"
        f'server = "{upstream.remote}"\n'
        "\n"
        f'[host."{upstream.endpoint}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def _mirrors_dir(session: str) -> Path:
    from infra.clusters.kind import mirrors_dir

    return mirrors_dir(session)


def wiring_files(session: str) -> list[Path]:
    """The hosts.toml files of ours in the session's mirrors folder."""
    folder = _mirrors_dir(session)
    return [file for upstream in UPSTREAMS if _is_ours(file := folder / upstream.registry / "hosts.toml")]


def _is_ours(file: Path) -> bool:
    try:
        return file.is_file() and file.read_text(encoding="utf-8").startswith(MARKER)
    except OSError:
        return False


def wire(session: str) -> list[Path]:
    """Write (or rewrite, same content) the session's hosts.toml files."""
    written = []
    for upstream in UPSTREAMS:
        file = _mirrors_dir(session) / upstream.registry / "hosts.toml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(hosts_toml(upstream), encoding="utf-8")
        written.append(file)
    return written


def unwire(session: str) -> int:
    """Remove the session's hosts.toml files of ours (and their folders once empty); returns how many."""
    removed = 0
    for file in wiring_files(session):
        file.unlink()
        removed += 1
        try:
            file.parent.rmdir()
        except OSError:
            pass  # something else of the instructor's lives there
    return removed


def wired_sessions() -> list[str]:
    root = paths.state_root() / "sessions"
    return sorted(folder.name for folder in root.iterdir() if folder.is_dir() and wiring_files(folder.name)) \
        if root.is_dir() else []


# --- Docker side ------------------------------------------------------------------------------------

def require_daemon(docker: Docker) -> None:
    """One line when the daemon does not answer (nothing is created)."""
    from infra.doctor import DAEMON_FIX, SOCKET_PERMISSION_FIX

    done = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20)
    if done.returncode != 0 or not done.stdout.strip():
        problem = last_line(done)
        fix = SOCKET_PERMISSION_FIX if "permission denied" in problem.lower() else DAEMON_FIX
        raise LabsError(f"docker daemon not answering ({problem}): {fix}")


def kind_nodes(docker: Docker, session: str) -> list[str]:
    """The session's kind node containers, control plane first; one line when there are none."""
    from infra.clusters.kind import cluster_name

    cluster = cluster_name(session)
    done = docker("ps", "--filter", f"label=io.x-k8s.kind.cluster={cluster}", "--format", "{{.Names}}")
    nodes = sorted(done.stdout.split(), key=lambda name: (not name.endswith("-control-plane"), name))
    if not nodes:
        raise LabsError(f"no kind cluster '{cluster}' is running for session '{session}': run "
                        f"`invoke lab up --lab=<lab> --session={session}` first (the cache joins its Docker network)")
    return nodes


def _inspect(docker: Docker, upstream: Upstream) -> dict | None:
    """The cache container's state, or None when it does not exist."""
    done = docker("container", "inspect", "--format",
                  f'{{{{.State.Running}}}}|{{{{index .Config.Labels "{UPSTREAM_LABEL}"}}}}|'
                  f'{{{{index .Config.Labels "{IMAGE_LABEL}"}}}}|'
                  "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
                  upstream.container, check=False)
    if done.returncode != 0:
        return None
    running, label, image, networks = (done.stdout.strip().split("|") + ["", "", "", ""])[:4]
    return {"running": running == "true", "label": label, "image": image, "networks": networks.split()}


def _run_args(upstream: Upstream) -> tuple[list[str], dict[str, str]]:
    args = ["run", "--detach", "--name", upstream.container, "--restart", "unless-stopped",
            "--network", KIND_NETWORK, "--label", MANAGED_LABEL, "--label", f"{UPSTREAM_LABEL}={upstream.registry}",
            "--label", f"{IMAGE_LABEL}={REGISTRY_IMAGE}",
            "--volume", f"{upstream.volume}:/var/lib/registry",
            "--env", f"REGISTRY_PROXY_REMOTEURL={upstream.remote}"]
    env: dict[str, str] = {}
    if upstream.registry == "docker.io" and all(os.environ.get(var) for var in DOCKERHUB_ENV.values()):
        for name, var in DOCKERHUB_ENV.items():
            args += ["--env", name]  # value taken from the environment by the Docker CLI
            env[name] = os.environ[var]
    return [*args, REGISTRY_IMAGE], env


def ensure_cache(docker: Docker, upstream: Upstream) -> str:
    """Make the upstream's cache container run on the kind network; returns what was done."""
    state = _inspect(docker, upstream)
    if state is not None and state["label"] != upstream.registry:
        raise LabsError(f"a container named '{upstream.container}' exists and is not k8s-labs' cache: "
                        f"remove or rename it (`docker rm -f {upstream.container}`), then retry")
    if state is not None and state["image"] != REGISTRY_IMAGE:
        docker("rm", "--force", upstream.container)  # another pin: replace it, the volume keeps the cache
        state = None
    if state is None:
        args, env = _run_args(upstream)
        docker(*args, env=env or None, timeout=600)
        return "created"
    done = []
    if not state["running"]:
        docker("start", upstream.container)
        done.append("started")
    if KIND_NETWORK not in state["networks"]:
        docker("network", "connect", KIND_NETWORK, upstream.container)
        done.append("connected to the kind network")
    return ", ".join(done) or "already running"


def cache_up(session: str, say: Say = print, docker: Docker | None = None) -> list[Path]:
    """Run the caches and wire the session's nodes to them; safe to run again (converges)."""
    docker = docker or make_docker()
    require_daemon(docker)
    kind_nodes(docker, session)  # the kind network exists, and the session has nodes to wire
    for upstream in UPSTREAMS:
        say(f"{upstream.registry:<16} {upstream.container}: {ensure_cache(docker, upstream)}")
    files = wire(session)
    say(f"containerd mirrors written for session '{session}' in {_mirrors_dir(session)} "
        "(read at each pull: no node restart)")
    return files


def cache_down(remove_volumes: bool = False, say: Say = print, docker: Docker | None = None) -> None:
    """Remove the cache containers (and their volumes when asked) and every session's wiring."""
    docker = docker or make_docker()
    require_daemon(docker)
    sessions = wired_sessions()
    for session in sessions:
        unwire(session)
    for upstream in UPSTREAMS:
        state = _inspect(docker, upstream)
        if state is not None and state["label"] == upstream.registry:
            docker("rm", "--force", upstream.container)
            say(f"{upstream.registry:<16} {upstream.container}: removed")
        if remove_volumes:
            gone = docker("volume", "rm", upstream.volume, check=False)
            if gone.returncode == 0:
                say(f"{upstream.registry:<16} volume {upstream.volume}: removed")
    kept = "" if remove_volumes else " (cached layers kept in the volumes: --volumes removes them)"
    say(f"image cache removed; containerd mirrors removed from {len(sessions)} session(s){kept}")


def cache_running(docker: Docker) -> list[str]:
    """The upstreams whose cache container runs."""
    running = []
    for upstream in UPSTREAMS:
        state = _inspect(docker, upstream)
        if state and state["running"] and state["label"] == upstream.registry:
            running.append(upstream.registry)
    return running


@dataclass(frozen=True)
class PullResult:
    image: str
    ok: bool
    seconds: float
    detail: str = ""


def pull(images: list[str], session: str, say: Say = print, docker: Docker | None = None,
         workers: int = PULL_WORKERS) -> list[PullResult]:
    """Pull `images` on one node of the session (through its wiring): the cache keeps every layer."""
    from infra.images import registry_of

    docker = docker or make_docker()
    require_daemon(docker)
    node = kind_nodes(docker, session)[0]
    running = cache_running(docker)
    if not running or not wiring_files(session):
        raise LabsError(f"the image cache is not running or not wired for session '{session}': "
                        f"run `invoke images cache-up --session={session}` first")
    direct = sorted({registry_of(image) for image in images} - set(running))
    if direct:
        say(f"no cache for {', '.join(direct)}: those images are pulled straight from the registry")

    def one(image: str) -> PullResult:
        start = time.monotonic()
        done = docker("exec", node, "crictl", "pull", image, check=False, timeout=PULL_TIMEOUT_S)
        return PullResult(image, done.returncode == 0, time.monotonic() - start,
                          "" if done.returncode == 0 else last_line(done))

    results: list[PullResult] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(one, image) for image in images]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            mark = "ok" if result.ok else f"FAILED: {result.detail}"
            say(f"[{len(results)}/{len(images)}] {result.image} {mark} ({result.seconds:.1f}s)")
    failed = [r for r in results if not r.ok]
    say(f"{len(results) - len(failed)} of {len(images)} images pulled through the cache on {node}"
        + (f"; {len(failed)} failed: {', '.join(r.image for r in failed)}" if failed else ""))
    return sorted(results, key=lambda r: r.image)
