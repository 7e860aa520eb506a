"""`invoke doctor`: is this machine ready to run labs, and if not, exactly what to do about it.

Every external command goes through the module-level `run` (tests replace it) with a timeout, and every
failure becomes a CheckResult or a one-line LabsError, never a traceback.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

from infra import toolchain
from infra.errors import LabsError

COMMAND_TIMEOUT_S = 20

run = subprocess.run

DAEMON_FIX = "start Docker Desktop, or on Linux run `sudo systemctl start docker`, then retry"
SOCKET_PERMISSION_FIX = (
    "let your user talk to Docker: `sudo usermod -aG docker $USER`, then log out and back in"
)

# Display name and the arguments that print a version, per tool `invoke setup` installs.
_VERSION_COMMANDS = {
    "kind": ("kind", ["version"]),
    "pulumi": ("Pulumi CLI", ["version"]),
    "kubectl": ("kubectl", ["version", "--client"]),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    version_or_problem: str
    fix: str  # empty when ok


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
        return CheckResult("docker", False, "not installed", toolchain.install_hint("docker"))
    answered, output = _run_for_first_line([docker, "info", "--format", "{{.ServerVersion}}"])
    if not answered or not output:
        fix = SOCKET_PERMISSION_FIX if "permission denied" in output.lower() else DAEMON_FIX
        return CheckResult("docker", False, f"daemon not answering ({output or 'no version reported'})", fix)
    return CheckResult("docker", True, f"server {output}", "")


def check_tool(name: str) -> CheckResult:
    """A tool `invoke setup` provides: present, and runs far enough to print its version."""
    label, version_args = _VERSION_COMMANDS[name]
    path = toolchain.find_tool(name)
    if path is None:
        return CheckResult(label, False, "not installed", toolchain.install_hint(name))
    ran, output = _run_for_first_line([path, *version_args])
    if not ran:
        return CheckResult(label, False, f"{path} does not run ({output})", "reinstall it: run `invoke setup`")
    return CheckResult(label, True, f"{output} ({path})", "")


def run_doctor() -> list[CheckResult]:
    return [check_docker(), *(check_tool(name) for name in _VERSION_COMMANDS)]


def docker_daemon_ready() -> None:
    """Called by `lab up` before creating anything, so a stopped daemon fails fast and clearly."""
    result = check_docker()
    if not result.ok:
        raise LabsError(f"docker {result.version_or_problem}: {result.fix}")
