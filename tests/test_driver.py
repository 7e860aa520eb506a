"""The Pulumi driver's local parts: passphrase file, backend per session, failure reporting."""
from __future__ import annotations

import stat
from types import SimpleNamespace

import pytest
from pulumi import automation as auto
from rich.console import Console

from infra import driver, paths
from infra.errors import LabsError


def test_passphrase_file_is_created_once_and_private():
    first = driver.ensure_passphrase()
    secret = first.read_text()
    assert len(secret) >= 32
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert driver.ensure_passphrase().read_text() == secret


def test_each_session_has_its_own_local_backend():
    monday, tuesday = driver.backend_url("monday"), driver.backend_url("tuesday")
    assert monday.startswith("file://") and monday != tuesday
    assert monday.endswith("/sessions/monday/pulumi")
    assert str(paths.state_root()) in monday


def test_a_user_backend_wins(monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket/labs")
    assert driver.backend_url("monday") == "s3://bucket/labs"


def test_missing_pulumi_cli_is_one_line_before_anything_is_created(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabsError) as err:
        driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))._workspace()
    assert "pulumi" in str(err.value).lower() and "invoke setup" in str(err.value)
    assert not paths.session_dir("monday").exists()


def _diagnostic(urn: str, message: str):
    return SimpleNamespace(resource_pre_event=None, res_outputs_event=None, res_op_failed_event=None,
                           summary_event=None,
                           diagnostic_event=SimpleNamespace(severity="error", urn=urn, message=message))


def test_a_failed_update_names_the_failing_resource_and_its_message():
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    urn = "urn:pulumi:monday-kind::k8s-labs::labs:layer:Ingress$kubernetes:helm.sh/v3:Release::traefik"

    def failing_up(on_event):
        on_event(_diagnostic(urn, "context deadline exceeded\n"))
        raise auto.CommandError(auto.CommandResult("", "error: update failed", 255))

    with pytest.raises(LabsError) as err:
        pulumi_driver._run("lab 07-ingress", failing_up)
    message = str(err.value)
    assert "Release traefik: context deadline exceeded" in message and "last-run.log" in message


def test_a_locked_stack_says_another_command_is_running():
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))

    def locked(on_event):
        raise auto.ConcurrentUpdateError(auto.CommandResult("", "the stack is currently locked", 255))

    with pytest.raises(LabsError, match="another command is already changing session 'monday'"):
        pulumi_driver._run("lab up", locked)


def _lock(backend_dir, stack, pid, host):
    import json

    folder = backend_dir / ".pulumi" / "locks" / "organization" / "k8s-labs" / stack
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / f"lock-{pid}.json"
    lock.write_text(json.dumps({"pid": pid, "username": "me", "hostname": host, "timestamp": "2026-11-28T08:00:00Z"}))
    return lock


def test_only_a_dead_local_holders_lock_is_released(tmp_path):
    dead = _lock(tmp_path, "monday-kind", 111, "laptop")
    running = _lock(tmp_path, "monday-kind", 222, "laptop")
    elsewhere = _lock(tmp_path, "monday-kind", 333, "other-machine")
    other_stack = _lock(tmp_path, "tuesday-kind", 444, "laptop")
    removed = driver.release_stale_locks(tmp_path.as_uri(), "monday-kind", alive=lambda pid: pid == 222, host="laptop")
    assert removed == [dead] and not dead.exists()
    assert running.exists() and elsewhere.exists() and other_stack.exists()
    assert driver.release_stale_locks("s3://bucket", "monday-kind") == []  # not a local backend: left alone


def test_a_run_killed_hard_leaves_a_lock_the_next_run_releases(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("PULUMI_BACKEND_URL", tmp_path.as_uri())
    stale = _lock(tmp_path, "monday-kind", 2 ** 22 + 12345, socket.gethostname())  # no such process
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    attempts = []

    def up(on_event):
        attempts.append(1)
        if stale.exists():
            raise auto.ConcurrentUpdateError(auto.CommandResult("", "the stack is currently locked", 255))
        return auto.UpResult("", "", summary=None, outputs={"lab": auto.OutputValue("07-ingress", False)})

    outputs = pulumi_driver._run("lab up", up, "monday-kind")
    assert len(attempts) == 2 and outputs["lab"].value == "07-ingress" and not stale.exists()


def test_pulumi_runs_the_program_and_dynamic_provider_with_this_interpreter():
    import sys
    from pathlib import Path

    env = driver.interpreter_env()
    assert env["PULUMI_PYTHON_CMD"] == sys.executable
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    if sys.prefix != sys.base_prefix:
        assert env["PULUMI_RUNTIME_VIRTUALENV"] == sys.prefix


def test_private_files_are_created_0600_and_replaced(tmp_path):
    file = driver.write_private(tmp_path / "kubeconfig", "first")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    driver.write_private(file, "second")
    assert file.read_text() == "second" and stat.S_IMODE(file.stat().st_mode) == 0o600


class _Workspace:
    """A LocalWorkspace stand-in: a backend shared by several sessions (PULUMI_BACKEND_URL)."""

    def __init__(self, names):
        self.names, self.removed = names, []

    def list_stacks(self):
        return [SimpleNamespace(name=name) for name in self.names]

    def remove_stack(self, name):
        self.removed.append(name)


def test_session_down_on_a_shared_backend_touches_only_its_own_stacks(monkeypatch):
    workspace = _Workspace(["monday-kind", "tuesday-kind", "monday-2-kind", "acme/monday-gke", "tuesday-eks"])
    destroyed = []
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: workspace)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: SimpleNamespace(
        destroy=lambda **kwargs: destroyed.append(name) or SimpleNamespace()))
    assert pulumi_driver.list_stacks() == ["monday-kind", "acme/monday-gke"]
    assert pulumi_driver.destroy_session() == ["monday-kind", "acme/monday-gke"]
    assert destroyed == workspace.removed == ["monday-kind", "acme/monday-gke"]


def test_the_session_backend_folder_is_created_where_pulumi_looks(monkeypatch, tmp_path):
    """A state folder with a space: the file:// URL says %20, the folder must not."""
    root = tmp_path / "state dir"
    monkeypatch.setenv("LABS_STATE_DIR", str(root))
    monkeypatch.setattr("pulumi.automation.LocalWorkspace", lambda **kwargs: kwargs)
    monkeypatch.setattr("pulumi.automation.PulumiCommand", lambda **kwargs: None)
    monkeypatch.setattr(driver, "require_tool", lambda name: "/opt/pulumi/bin/pulumi")
    workspace = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))._workspace()
    assert "%20" in workspace["env_vars"]["PULUMI_BACKEND_URL"]
    assert (root / "sessions" / "monday" / "pulumi").is_dir()
    assert not (tmp_path / "state%20dir").exists()
