"""The Pulumi driver's local parts: passphrase file, backend per session, failure reporting."""
from __future__ import annotations

import json
import stat
from types import SimpleNamespace

import pytest
from pulumi import automation as auto
from rich.console import Console

from infra import driver, paths
from infra.clusters import kind
from infra.errors import LabsError
from infra.settings import StackSettings
from tests.test_kind_target import FakeKind


@pytest.fixture(autouse=True)
def kind_cli(monkeypatch):
    """The kind CLI on a Docker that runs the session's cluster (the driver asks it before an up)."""
    fake = FakeKind(clusters=["labs-monday"])
    monkeypatch.setattr(kind, "_kind", fake)
    return fake


def test_passphrase_file_is_created_once_and_private():
    first = driver.ensure_passphrase()
    secret = first.read_text()
    assert len(secret) >= 32
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert driver.ensure_passphrase().read_text() == secret
    assert [p.name for p in first.parent.iterdir()] == ["passphrase"]  # no draft left behind


def test_parallel_first_commands_all_get_the_one_passphrase(monkeypatch):
    """Tenant clusters brought up in parallel on a fresh machine: every thread checks for the file
    before any has written it (a barrier in the generator holds them there), then they all write."""
    import secrets
    import threading

    threads = 8
    everyone_checked = threading.Barrier(threads)
    generated = []
    real_token = secrets.token_urlsafe

    def token_once_all_have_checked(n):
        everyone_checked.wait(timeout=30)
        token = real_token(n)
        generated.append(token)
        return token

    monkeypatch.setattr(secrets, "token_urlsafe", token_once_all_have_checked)
    seen, failures = [], []

    def first_command():
        try:
            seen.append(driver.ensure_passphrase().read_text())
        except Exception as exc:  # noqa: BLE001 - the old code raised FileExistsError here
            failures.append(exc)

    workers = [threading.Thread(target=first_command) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == [] and len(generated) == threads
    # One winner: everybody read its passphrase, and it is still the file's, untouched by the losers.
    assert len(set(seen)) == 1 and seen[0] in generated
    file = paths.passphrase_file()
    assert file.read_text() == seen[0] and stat.S_IMODE(file.stat().st_mode) == 0o600
    assert [p.name for p in file.parent.iterdir()] == ["passphrase"]


def test_each_session_has_its_own_local_backend():
    monday, tuesday = paths.backend_url("monday"), paths.backend_url("tuesday")
    assert monday.startswith("file://") and monday != tuesday
    assert monday.endswith("/sessions/monday/pulumi")
    assert str(paths.state_root()) in monday


def test_a_user_backend_wins(monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket/labs")
    assert paths.backend_url("monday") == "s3://bucket/labs"


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
    file = paths.write_private(tmp_path / "kubeconfig", "first")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    paths.write_private(file, "second")
    assert file.read_text() == "second" and stat.S_IMODE(file.stat().st_mode) == 0o600


class _Workspace:
    """A LocalWorkspace stand-in: a backend shared by several sessions (PULUMI_BACKEND_URL)."""

    def __init__(self, names):
        self.names, self.removed = names, []

    def list_stacks(self):
        return [SimpleNamespace(name=name) for name in self.names]

    def remove_stack(self, name, force=None):
        self.removed.append((name, force))


def test_session_down_on_a_shared_backend_touches_only_its_own_stacks(monkeypatch, kind_cli):
    workspace = _Workspace(["monday-kind", "tuesday-kind", "monday-2-kind", "acme/monday-gke", "tuesday-eks"])
    kind_cli.clusters |= {"labs-tuesday", "labs-monday-2"}
    destroyed = []
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: workspace)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: SimpleNamespace(
        destroy=lambda **kwargs: destroyed.append(name) or SimpleNamespace()))
    assert pulumi_driver.list_stacks() == ["monday-kind", "acme/monday-gke"]
    assert pulumi_driver.destroy_session() == ["monday-kind", "acme/monday-gke"]
    # The kind stack: its cluster deleted by name, then its state removed (--force), no release-by-release destroy.
    assert destroyed == ["acme/monday-gke"]
    assert workspace.removed == [("monday-kind", True), ("acme/monday-gke", None)]
    assert kind_cli.clusters == {"labs-tuesday", "labs-monday-2"}


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


# --- every failure of the Pulumi CLI, in an update or not, is one line -----------------------------

BROKEN_STATE = ("warning: A new version of Pulumi is available.\n"
                "error: failed to load checkpoint: open monday-kind.json: permission denied\n"
                "error: one more line the user needs less\n")


class _Failing:
    """A LocalWorkspace and Stack stand-in whose call named `fails` raises as the Pulumi CLI would."""

    def __init__(self, fails, error, name="monday-kind"):
        self.fails, self.error, self.name = fails, error, name

    def _call(self, name, answer=None):
        if name == self.fails:
            raise self.error
        return answer

    def list_stacks(self):
        return self._call("list_stacks", [SimpleNamespace(name=self.name)])

    def remove_stack(self, name, force=None):
        return self._call("remove_stack")

    def set_all_config(self, config):
        return self._call("set_all_config")

    def get_all_config(self):
        return self._call("get_all_config", {})

    def up(self, **kwargs):
        return self._call("up", SimpleNamespace(outputs={}))

    def export_stack(self):
        return self._call("export_stack", SimpleNamespace(deployment={"resources": []}))

    def refresh(self, **kwargs):
        return self._call("refresh", SimpleNamespace())

    def destroy(self, **kwargs):
        return self._call("destroy", SimpleNamespace())


def _driver_failing_at(monkeypatch, fails, error, stack="monday-kind"):
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    fake = _Failing(fails, error, stack)
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: fake)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: fake._call("select", fake))
    return pulumi_driver


def _cli_error(stderr, kind=auto.CommandError):
    return kind(auto.CommandResult("", stderr, 255))


def UP(pulumi_driver):
    return pulumi_driver.up(StackSettings(session="monday"), "lab 07-ingress")


@pytest.mark.parametrize("fails, call, said, stack", [
    ("select", UP, "lab 07-ingress failed: ", "monday-kind"),  # create_or_select
    ("set_all_config", UP, "lab 07-ingress failed: ", "monday-kind"),
    ("export_stack", UP, "lab 07-ingress failed: ", "monday-kind"),
    ("up", UP, "lab 07-ingress failed: ", "monday-kind"),
    ("list_stacks", lambda d: d.list_stacks(), "listing the stacks of session 'monday' failed: ", "monday-kind"),
    ("select", lambda d: d.stack_settings("monday-kind"), "reading the settings of stack monday-kind failed: ",
     "monday-kind"),
    ("get_all_config", lambda d: d.stack_settings("monday-kind"), "reading the settings of stack monday-kind failed: ",
     "monday-kind"),
    ("destroy", lambda d: d.destroy_session(), "destroying monday-gke failed: ", "monday-gke"),
    ("remove_stack", lambda d: d.destroy_session(), "destroying session 'monday' failed: ", "monday-gke"),
    ("remove_stack", lambda d: d.destroy_session(), "destroying session 'monday' failed: ", "monday-kind"),
])
def test_a_pulumi_failure_anywhere_is_one_line_with_the_cli_error(monkeypatch, fails, call, said, stack):
    pulumi_driver = _driver_failing_at(monkeypatch, fails, _cli_error(BROKEN_STATE), stack)
    with pytest.raises(LabsError) as err:
        call(pulumi_driver)
    message = str(err.value)
    assert message.startswith(said + "failed to load checkpoint: open monday-kind.json: permission denied")
    assert "\n" not in message and "stderr" not in message and err.value.__suppress_context__


def test_a_locked_stack_outside_an_update_says_another_command_is_running(monkeypatch):
    pulumi_driver = _driver_failing_at(monkeypatch, "set_all_config",
                                       _cli_error("error: the stack is currently locked by 1 lock(s)",
                                                  auto.ConcurrentUpdateError))
    with pytest.raises(LabsError, match="^another command is already changing session 'monday': wait"):
        UP(pulumi_driver)


def test_a_wrong_passphrase_names_the_file_never_the_passphrase(monkeypatch):
    passphrase = driver.ensure_passphrase().read_text()
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "hunter2-from-the-environment")
    stderr = ("error: getting secrets manager: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE "
              f"(tried {passphrase} and hunter2-from-the-environment)\n")
    pulumi_driver = _driver_failing_at(monkeypatch, "get_all_config", _cli_error(stderr))
    with pytest.raises(LabsError) as err:
        pulumi_driver.stack_settings("monday-kind")
    message = str(err.value)
    assert f"with the passphrase in {paths.passphrase_file()}" in message and "put back the file" in message
    assert "PULUMI_CONFIG_PASSPHRASE, set in your environment, is used instead: unset it" in message
    assert "incorrect passphrase" in message and "tried [secret] and [secret]" in message
    assert passphrase not in message and "hunter2" not in message


def test_the_error_line_falls_back_to_the_last_line_of_output():
    assert driver.pulumi_error_line(_cli_error("")) == "CommandError"
    assert driver.pulumi_error_line(auto.CommandError(auto.CommandResult("Updating\nno Pulumi.yaml found\n", "", 1))) \
        == "no Pulumi.yaml found"
    assert driver.pulumi_error_line(_cli_error("warning: slow\nstack monday-kind has no state\n")) \
        == "stack monday-kind has no state"


def test_a_pulumi_cli_that_does_not_run_is_one_line(monkeypatch, tmp_path):
    pulumi = tmp_path / "pulumi" / "bin" / "pulumi"
    pulumi.parent.mkdir(parents=True)
    pulumi.write_text("#!/bin/sh\nexit 3\n")
    monkeypatch.setattr(driver, "require_tool", lambda name: str(pulumi))
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    for mode in (0o755, 0o644):  # `pulumi version` fails; the file cannot be run at all
        pulumi.chmod(mode)
        with pytest.raises(LabsError, match=f"^the Pulumi CLI at {pulumi} does not run .*: run `invoke setup`"):
            pulumi_driver._workspace()


def test_session_down_with_a_broken_state_exits_with_one_line(monkeypatch, capsys):
    from tests.conftest import write_pulumi_state
    from tests.test_cli import invoke

    write_pulumi_state("monday", "monday-kind")

    monkeypatch.setattr(driver.PulumiDriver, "_workspace",
                        lambda self, delete_unreachable=False: _Failing("list_stacks", _cli_error(BROKEN_STATE)))
    with pytest.raises(SystemExit) as exit_:
        invoke("session", "down", "--session=monday")
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip() == ("error: listing the stacks of session 'monday' failed: failed to load "
                                               "checkpoint: open monday-kind.json: permission denied")


def test_without_a_passphrase_in_the_environment_the_fix_is_the_file_alone(monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    stderr = "error: constructing secrets manager of type \"passphrase\": incorrect passphrase\n"
    pulumi_driver = _driver_failing_at(monkeypatch, "set_all_config", _cli_error(stderr))
    with pytest.raises(LabsError) as err:
        UP(pulumi_driver)
    assert str(err.value).endswith(": put back the file the session was created with")
    assert str(err.value).startswith("lab 07-ingress failed: Pulumi cannot read session 'monday''s state")


class _Interrupted(_Failing):
    """A stack a killed run left with a pending Helm install."""

    def __init__(self):
        super().__init__(None, None)
        self.calls = []

    def export_stack(self):
        pending = [{"type": "creating", "resource": {"type": "kubernetes:helm.sh/v3:Release", "provider": "p::1",
                                                      "inputs": {"name": "loki", "namespace": "logging"}}}]
        return SimpleNamespace(deployment={"resources": [], "pending_operations": pending})

    def refresh(self, **kwargs):
        self.calls.append(("refresh", kwargs.get("clear_pending_creates")))

    def up(self, **kwargs):
        self.calls.append(("up", None))
        return SimpleNamespace(outputs={})


def test_after_a_killed_run_the_pending_helm_record_goes_and_pending_creates_are_cleared_before_the_up(monkeypatch):
    from infra import recovery

    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    fake = _Interrupted()
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: fake)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: fake)
    unblocked = []
    monkeypatch.setattr(recovery, "unblock", lambda release: unblocked.append(release) or ["sh.helm.release.v1.loki.v1"])
    monkeypatch.setattr(recovery, "planned_releases", lambda settings: {("logging", "loki")})
    UP(pulumi_driver)
    assert [(r["namespace"], r["name"]) for r in unblocked] == [("logging", "loki")]
    assert fake.calls == [("refresh", True), ("up", None)]


def test_a_killed_runs_process_left_as_a_zombie_holds_no_lock(tmp_path):
    """SIGKILL leaves the CLI a zombie until its parent reaps it: `kill -0` still finds it, /proc says Z."""
    import signal
    import socket
    import subprocess
    import time

    child = subprocess.Popen(["sleep", "60"])
    try:
        child.send_signal(signal.SIGKILL)
        time.sleep(0.3)  # killed, not reaped yet: a zombie
        lock = _lock(tmp_path, "monday-kind", child.pid, socket.gethostname())
        assert driver.release_stale_locks(tmp_path.as_uri(), "monday-kind") == [lock]
        live = subprocess.Popen(["sleep", "60"])
        try:
            held = _lock(tmp_path, "monday-kind", live.pid, socket.gethostname())
            assert driver.release_stale_locks(tmp_path.as_uri(), "monday-kind") == [] and held.exists()
        finally:
            live.kill()
            live.wait()
    finally:
        child.wait()


def _recording_driver(monkeypatch):
    """A driver whose workspace records what delete_unreachable each run was given."""
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    fake, given = _Failing(None, None), []
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: given.append(delete_unreachable)
                        or fake)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: fake)
    return pulumi_driver, given


def test_an_up_drops_unreachable_objects_only_when_kind_says_the_cluster_is_gone(monkeypatch, kind_cli):
    """An API server briefly down must fail the refresh, not empty the state: delete_unreachable only
    when kind answered and listed no cluster of the session (deleted behind Pulumi's back)."""
    pulumi_driver, given = _recording_driver(monkeypatch)
    UP(pulumi_driver)
    kind_cli.clusters.clear()  # `kind delete cluster`, or a Docker reset
    UP(pulumi_driver)
    assert given == [False, True]


def test_no_refresh_runs_before_docker_answers(monkeypatch, kind_cli):
    pulumi_driver, given = _recording_driver(monkeypatch)
    kind_cli.docker_up = False
    with pytest.raises(LabsError, match=r"^`kind get clusters` failed \(Command Output: Cannot connect to the Docker "
                                        r"daemon.*\): is Docker running\?"):
        UP(pulumi_driver)
    assert given == []  # no workspace opened: nothing refreshed
    workspace = _Workspace(["monday-kind"])
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: workspace)
    with pytest.raises(LabsError, match="is Docker running"):
        pulumi_driver.destroy_session()
    assert workspace.removed == [] and kind_cli.clusters == {"labs-monday"}  # the state kept, the cluster too


def test_session_down_on_kind_deletes_the_cluster_then_the_state_and_nothing_remains(monkeypatch, kind_cli, capsys):
    """No release-by-release destroy (slow, and one stuck deletion blocks it): the cluster holds them all."""
    from tests.test_cli import invoke

    kind_cli.clusters.add("labs-tuesday")
    workspace = _Workspace(["monday-kind"])
    monkeypatch.setattr(driver.PulumiDriver, "_workspace", lambda self, delete_unreachable=False: workspace)
    monkeypatch.setattr(driver.PulumiDriver, "_stack", lambda self, ws, name: pytest.fail("no stack is destroyed"))
    paths.session_dir("monday").mkdir(parents=True)
    (paths.session_dir("monday") / "kubeconfig").write_text("apiVersion: v1\n")
    checkpoint = paths.session_backend("monday") / ".pulumi" / "stacks" / "k8s-labs" / "monday-kind.json"
    checkpoint.parent.mkdir(parents=True)  # what the state holds: the cluster (as Pulumi's checkpoint says)
    checkpoint.write_text(json.dumps({"checkpoint": {"latest": {"resources": [
        {"urn": "urn:pulumi:monday-kind::k8s-labs::pulumi-python:dynamic:Resource::kind", "custom": True,
         "type": "pulumi-python:dynamic:Resource"}]}}}))
    invoke("session", "down", "--session=monday")
    assert kind_cli.clusters == {"labs-tuesday"} and workspace.removed == [("monday-kind", True)]
    assert not paths.session_dir("monday").exists()
    assert "session 'monday' removed (monday-kind;" in capsys.readouterr().err


def test_an_up_brings_the_labs_charts_into_the_local_cache_before_the_engine_runs(monkeypatch):
    from infra import bundle
    from infra.layers.ingress import PIN as TRAEFIK

    events = []
    monkeypatch.setattr(bundle, "cache_charts", lambda pins, say: events.append(("cache", list(pins))))
    pulumi_driver, _ = _recording_driver(monkeypatch)
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: events.append(("engine",))
                        or _Failing(None, None))
    pulumi_driver.up(StackSettings(session="monday", lab="ingress"), "lab 07-ingress")
    assert events[0][0] == "cache" and TRAEFIK in events[0][1] and events[1] == ("engine",)


def test_a_note_the_kind_provider_prints_is_shown_after_the_run(tmp_path):
    """A dynamic provider's stderr line reaches the Automation API as an "info#err" diagnostic (seen with
    the real engine: Pulumi 3.274); the leftover kind cluster's deletion is said on screen."""
    import io

    screen = io.StringIO()
    pulumi_driver = driver.PulumiDriver("monday", Console(file=screen, width=200))

    def up(on_event):
        on_event(SimpleNamespace(resource_pre_event=None, res_outputs_event=None, res_op_failed_event=None,
                                 summary_event=None, diagnostic_event=SimpleNamespace(
                                     severity="info#err", urn=None,
                                     message="note: deleted a leftover cluster labs-monday (an interrupted create, "
                                             "or a lost state) before creating it\n\n")))
        on_event(SimpleNamespace(resource_pre_event=None, res_outputs_event=None, res_op_failed_event=None,
                                 summary_event=None, diagnostic_event=SimpleNamespace(
                                     severity="info", urn=None, message="chart traefik 41.3.0 from the bundle\n")))
        return SimpleNamespace(outputs={})

    pulumi_driver._run("lab 07-ingress", up)
    shown = screen.getvalue()
    assert "note: deleted a leftover cluster labs-monday (an interrupted create, or a lost state)" in shown
    assert "chart traefik" not in shown  # the engine's other info lines stay in the run log


def test_the_program_sdk_modules_are_every_kubernetes_module_infra_uses():
    """Each `k8s.<group>.<version>` of infra/ is loaded whole before programs run side by side."""
    import re

    from infra.paths import PROJECT_ROOT

    used = {f"pulumi_kubernetes.{match}" for file in (PROJECT_ROOT / "infra").rglob("*.py")
            for match in re.findall(r"\bk8s\.([a-z_]+\.v\d\w*)", file.read_text())}
    assert used and used <= set(driver.PROGRAM_SDK_MODULES)


def test_loading_the_program_modules_leaves_no_lazy_module_behind():
    import subprocess
    import sys

    script = ("import sys, types; from infra.driver import PROGRAM_SDK_MODULES, load_program_modules; "
              "load_program_modules(); "
              "names = {m for n in PROGRAM_SDK_MODULES for m in (n, n.rsplit('.', 1)[0])}; "
              "print(sorted(n for n in names if type(sys.modules[n]) is not types.ModuleType))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_up_while_a_live_run_holds_the_stack_is_refused_before_it_changes_anything(monkeypatch):
    """Pulumi's own refusal comes only once the update starts; before it, the settings of a run without
    checkpoints (infra.checkpoints) would be written over the live run's."""
    import os
    import socket

    pulumi_driver = _driver_failing_at(monkeypatch, None, None)
    _lock(paths.session_backend("monday"), "monday-kind", os.getpid(), socket.gethostname())
    with pytest.raises(LabsError) as err:
        UP(pulumi_driver)
    assert str(err.value) == "another command is already changing session 'monday': wait for it to finish"
