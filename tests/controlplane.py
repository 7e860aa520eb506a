"""What the `controlplane` tests share: the real tools, a throw-away state folder, the CLI as typed.

These tests run the real Pulumi engine, the real Kubernetes provider and a real API server (the
kwok target). The tools come from the per-user tools folder (`invoke setup --from-source` or
`invoke setup`), read once at import, before the per-test fixture points LABS_TOOLS_DIR at an
empty folder. Without them the tests skip, naming what is missing; `.ci/run` sets
LABS_REQUIRE_CONTROLPLANE=1, which turns that skip into a failure: CI never skips this tier quietly.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra import paths
from infra.paths import PROJECT_ROOT

REAL_TOOLS = paths.tools_dir()  # before any test's monkeypatch
REAL_BUNDLE = paths.bundle_dir()
TOOLS = ("pulumi", "kubectl", "kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager",
         "kube-scheduler", "helm")  # helm: lab 20's solve steps
COMMAND_TIMEOUT_S = 1200


def missing_prerequisites() -> list[str]:
    """What this machine lacks for the tier, one item per tool or folder."""
    from infra.toolchain import find_tool

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABS_TOOLS_DIR", str(REAL_TOOLS))
        missing = [tool for tool in TOOLS if not find_tool(tool)]
        plugins = REAL_TOOLS / "pulumi-home" / "plugins"
        if not any(plugins.glob("resource-kubernetes-v*/pulumi-resource-kubernetes")):
            missing.append(f"the kubernetes provider plugin (under {plugins})")
    if not (REAL_BUNDLE / "charts").is_dir():
        missing.append(f"the offline bundle ({REAL_BUNDLE}: `invoke bundle`)")
    return missing


def require_controlplane() -> None:
    missing = missing_prerequisites()
    if not missing:
        return
    why = f"needs the real toolchain (`invoke setup --from-source`): missing {', '.join(missing)}"
    if os.environ.get("LABS_REQUIRE_CONTROLPLANE"):
        pytest.fail(why)
    pytest.skip(why)


def throwaway_cli(tmp_path_factory, prefix: str, length: int = 6) -> "Cli":
    """The CLI of a test module's own session: a fresh state folder and a unique session name
    `<prefix>-<hex>` (`length` hex digits: a session name is at most 20 characters). Skips (or, in
    CI, fails) without the real toolchain."""
    import uuid

    require_controlplane()
    return Cli(tmp_path_factory.mktemp(prefix), f"{prefix}-{uuid.uuid4().hex[:length]}")


class Cli:
    """`invoke ...` exactly as an instructor types it, with its own state folder and the real tools."""

    def __init__(self, state: Path, session: str):
        self.session = session
        self.state = state
        self.env = {**os.environ, "LABS_STATE_DIR": str(state), "LABS_TOOLS_DIR": str(REAL_TOOLS),
                    "LABS_BUNDLE": str(REAL_BUNDLE), "COLUMNS": "200", "NO_COLOR": "1"}
        self.env.pop("PULUMI_BACKEND_URL", None)

    def run(self, *args: str, check: bool = True, timeout: int = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "invoke", *args]
        takes_session = args[0] in ("lab", "session", "classroom") and args[:2] != ("session", "list")
        if takes_session and not any(arg.startswith("--session") for arg in args):
            argv.append(f"--session={self.session}")
        result = subprocess.run(argv, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        result.output = result.stdout + result.stderr  # progress and notes go to stderr, results to stdout
        if check and result.returncode != 0:
            raise AssertionError(f"`invoke {' '.join(args)}` exited {result.returncode}:\n{result.output[-6000:]}")
        return result

    def kubectl(self, *args: str, check: bool = True, kubeconfig: Path | None = None,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        """kubectl with the session's (the instructor's) kubeconfig, or another one (a student's)."""
        return self.tool("kubectl", *args, check=check, kubeconfig=kubeconfig, stdin=stdin)

    def tool(self, name: str, *args: str, check: bool = True, kubeconfig: Path | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
        """One of the real tools (kubectl, helm) on this session's cluster, run from the project's root as
        a lab's solve steps are (their files are named from there)."""
        kubeconfig = kubeconfig or Path(self.env["LABS_STATE_DIR"]) / "sessions" / self.session / "kubeconfig"
        result = subprocess.run([str(REAL_TOOLS / "bin" / name), "--kubeconfig", str(kubeconfig), *args],
                                cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=120,
                                input=stdin)
        result.output = result.stdout + result.stderr
        if check and result.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def student_kubeconfig(self, student: str) -> Path:
        """The kubeconfig `classroom up` wrote for a student of this session's classroom."""
        return self.state / "sessions" / self.session / "students" / student / "kubeconfig"

    def objects(self, *kinds: str) -> list[dict]:
        return json.loads(self.kubectl("get", ",".join(kinds), "-A", "-o", "json").stdout)["items"]

    def objects_in(self, namespace: str, *kinds: str) -> list[dict]:
        return json.loads(self.kubectl("get", ",".join(kinds), "-n", namespace, "-o", "json").stdout)["items"]


DONE = re.compile(r"done: (.*?) in \d+ s$", re.M)


def engine_changes(output: str) -> dict[str, int]:
    """The engine's own summary of the last operation in `output` ("done: 3 create, 40 same in 12 s")."""
    found = DONE.findall(output)
    assert found, f"no engine summary in:\n{output[-3000:]}"
    last = found[-1]
    if last == "no changes":
        return {}
    return {op: int(n) for n, op in (part.split(" ", 1) for part in last.split(", "))}


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL to the whole tree at once, as a power cut would: the CLI, the engine and its provider
    plugins (which run in process groups of their own and would otherwise finish their work)."""
    import signal

    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
