"""`invoke doctor`: is this machine ready to run labs, and if not, exactly what to do about it.

Every external command goes through the module-level `run` (tests replace it) with a timeout, and every
failure becomes a CheckResult or a one-line LabsError, never a traceback.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, replace

from infra import toolchain
from infra.errors import LabsError

COMMAND_TIMEOUT_S = 20

run = subprocess.run

DAEMON_FIX = "start Docker Desktop, or on Linux run `sudo systemctl start docker`, then retry"
SOCKET_PERMISSION_FIX = (
    "let your user talk to Docker: `sudo usermod -aG docker $USER`, then log out and back in"
)

# Which clusters need a tool: every one, kind clusters (Docker), or kwok clusters (kwokctl runs a control
# plane of binaries, built by `invoke setup --from-source` where no release can be downloaded).
ALL, KIND, KWOK = "all", "kind", "kwok"
# A tool only some labs' `lab solve` steps run (helm, lab 20): missing, it makes no target unready.
SOLVE_STEPS = "solve steps"

# Display name, the arguments that print a version, and which clusters need it, per tool `invoke setup`
# (or `invoke setup --from-source`) installs.
_VERSION_COMMANDS = {
    "kind": ("kind", ["version"], KIND),
    "pulumi": ("Pulumi CLI", ["version"], ALL),
    "kubectl": ("kubectl", ["version", "--client"], ALL),
    "kwokctl": ("kwokctl", ["--version"], KWOK),
    "kwok": ("kwok", ["--version"], KWOK),
    "etcd": ("etcd", ["--version"], KWOK),
    "kube-apiserver": ("kube-apiserver", ["--version"], KWOK),
    "kube-controller-manager": ("kube-controller-manager", ["--version"], KWOK),
    "kube-scheduler": ("kube-scheduler", ["--version"], KWOK),
    "helm": ("helm", ["version", "--short"], SOLVE_STEPS),
}
PROVIDER_PLUGIN = "kubernetes provider plugin"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    version_or_problem: str
    fix: str  # empty when ok and nothing to warn about
    needed_for: str = ALL  # ALL, KIND or KWOK
    warning: str = ""  # ok, but not the pinned version (or kubectl too far from the clusters' Kubernetes)


def _run_for_first_line(argv: list[str]) -> tuple[bool, str]:
    """(succeeded, first line of stdout) or (False, why it failed), in one line either way."""
    try:
        completed = run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False, f"no answer within {COMMAND_TIMEOUT_S}s"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    if completed.returncode != 0:
        return False, _first_line(completed.stderr) or f"exit code {completed.returncode}"
    return True, _first_line(completed.stdout)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def check_docker() -> CheckResult:
    """Docker must be installed *and* its daemon must answer: kind runs every node as a container."""
    docker = toolchain.find_tool("docker")
    if docker is None:
        return CheckResult("docker", False, "not installed", toolchain.install_hint("docker"), KIND)
    answered, output = _run_for_first_line([docker, "info", "--format", "{{.ServerVersion}}"])
    if not answered or not output:
        fix = SOCKET_PERMISSION_FIX if "permission denied" in output.lower() else DAEMON_FIX
        return CheckResult("docker", False, f"daemon not answering ({output or 'no version reported'})", fix, KIND)
    return CheckResult("docker", True, f"server {output}", "", KIND)


def check_tool(name: str) -> CheckResult:
    """A tool `invoke setup` provides: present, and runs far enough to print its version."""
    label, version_args, needed_for = _VERSION_COMMANDS[name]
    path = toolchain.find_tool(name)
    if path is None:
        return CheckResult(label, False, "not installed", toolchain.install_hint(name), needed_for)
    ran, output = _run_for_first_line([path, *version_args])
    if not ran:
        again = "`invoke setup`" if name in toolchain.PINS or name == "pulumi" else "`invoke setup --from-source`"
        return CheckResult(label, False, f"{path} does not run ({output})", f"reinstall it: run {again}", needed_for)
    result = CheckResult(label, True, f"{output} ({path})", "", needed_for)
    warnings = [pin_warning(name, output)] + ([kubectl_skew_warning(output)] if name == "kubectl" else [])
    warnings = [warning for warning in warnings if warning]
    if not warnings:
        return result
    again = "`invoke setup`" if name in toolchain.PINS or name == "pulumi" else "`invoke setup --from-source`"
    return replace(result, warning="; ".join(warnings), fix=f"run {again} for the pinned version")


_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, ...] | None:
    """(major, minor[, patch]) of the first version in `text` ("Client Version: v1.36.1", "1.35")."""
    found = _VERSION.search(text or "")
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


def pinned_version(name: str) -> str:
    """The version `invoke setup` (or `--from-source`) installs of the command `name`."""
    if name == "pulumi":
        return toolchain.PULUMI_VERSION
    if name in toolchain.PINS:
        return toolchain.PINS[name].version
    source = toolchain.source_pin_of(name)
    return source.shown_version if source else ""


def pin_warning(name: str, output: str) -> str:
    """Empty when the tool reports its pinned version; else what differs, or that it could not be told."""
    pinned = pinned_version(name)
    found = parse_version(output)
    if found is None:
        return f"no version found in its output: not compared with the pin {pinned}"
    if found != parse_version(pinned):
        return f"version {'.'.join(map(str, found))} is not the pinned {pinned}"
    return ""


def cluster_versions() -> dict[str, str]:
    """The Kubernetes version of each target's clusters: the pinned one on kind and kwok, the committed
    `kubernetesVersion` of each cloud's stack."""
    from infra.clusters import CLOUD_TARGETS
    from infra.settings import StackSettings

    versions = {"kind and kwok": toolchain.KUBERNETES_VERSION}
    for target in CLOUD_TARGETS:
        version = StackSettings.for_target(target).kubernetes_version
        if version:
            versions[target] = version
    return versions


def kubectl_skew_warning(output: str) -> str:
    """kubectl works with a cluster one minor version older or newer: name the clusters beyond that."""
    found = parse_version(output)
    if found is None:
        return ""  # pin_warning already says the version could not be read
    far = [f"{where} ({version})" for where, version in cluster_versions().items()
           if (cluster := parse_version(version)) and (cluster[0] != found[0] or abs(cluster[1] - found[1]) > 1)]
    if not far:
        return ""
    return (f"kubectl {found[0]}.{found[1]} is more than one minor version away from the clusters of "
            f"{', '.join(far)}")


def check_provider_plugin() -> CheckResult:
    """The kubernetes provider plugin where Pulumi looks for it (PULUMI_HOME=paths.pulumi_home()). Only
    kwok clusters need it installed beforehand: where releases are reachable Pulumi downloads it itself."""
    version = toolchain.KUBERNETES_PROVIDER_VERSION
    path = toolchain.provider_plugin_path()
    if path.is_file() and os.access(path, os.X_OK):
        return CheckResult(PROVIDER_PLUGIN, True, f"{version} ({path})", "", KWOK)
    fix = ("run `invoke setup --from-source` (builds it), or let Pulumi download it on the first `lab up` "
           "where releases are reachable")
    return CheckResult(PROVIDER_PLUGIN, False, f"{version} not installed", fix, KWOK)


def run_doctor() -> list[CheckResult]:
    return [check_docker(), *(check_tool(name) for name in _VERSION_COMMANDS), check_provider_plugin()]


def ready_for(results: list[CheckResult]) -> list[str]:
    """The clusters this machine can run labs on: KIND and/or KWOK (every tool each needs is ok)."""
    if not all(result.ok for result in results if result.needed_for == ALL):
        return []
    return [target for target in (KIND, KWOK)
            if all(result.ok for result in results if result.needed_for == target)]


def docker_daemon_ready() -> None:
    """Called by `lab up` before creating anything, so a stopped daemon fails fast and clearly."""
    result = check_docker()
    if not result.ok:
        raise LabsError(f"docker {result.version_or_problem}: {result.fix}")
