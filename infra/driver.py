"""The Pulumi driver: every call of the Pulumi CLI goes through here (tests replace this class).

Automation API with this checkout's Pulumi.yaml and the program run inline, in this very process
(`infra.program.build`): the Automation API serves the language runtime itself, so no
`pulumi-language-python` host is needed (the Go module proxy does not serve it: a machine that
builds its tools from source has none), and the program needs no second interpreter start. With:
  - PULUMI_HOME in the tools folder (`paths.pulumi_home()`): the provider plugins `invoke setup`
    installed, downloaded or built from source, apart from the user's own ~/.pulumi;
  - a local `file://` backend per session under the per-user state folder (never Pulumi Cloud,
    unless PULUMI_BACKEND_URL is set by the user), so `session down` can remove it whole;
  - the passphrase secrets provider with a generated passphrase in a 0600 file: no prompt, no account;
  - one stack per session and target (`<session>-<target>`), its config written from StackSettings;
  - progress streamed from engine events, and failures reported as the failing resource's message;
    every other failure of the CLI (stack selection, config, listing, a lost passphrase) as one line.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.request import url2pathname

from rich.console import Console

from infra import paths
from infra.checkpoints import TAKE_OVER, UnsavedRun, environment, may_skip_checkpoints
from infra.errors import LabsError
from infra.progress import ProgressDisplay
from infra.sessions import RUN_LOG
from infra.settings import StackSettings
from infra.toolchain import require_tool


def ensure_passphrase() -> Path:
    """The state passphrase file, created once with a random passphrase, readable by its owner only.

    Parallel commands on a fresh machine (a classroom's tenant clusters) race to create it: each
    writes a whole private temporary file, and a hard link publishes it under the final name only
    if that name is free (atomic; never replaces). The losers drop theirs and use the winner's, so
    no stack is ever initialised with a passphrase that another command then overwrites."""
    file = paths.passphrase_file()
    if file.exists():
        return file
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")  # O_CREAT|O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, file)
        except FileExistsError:
            pass  # another command won the race: its passphrase is the one
    finally:
        os.unlink(draft)
    return file


def pulumi_error_line(exc: Exception) -> str:
    """The line of a failed Pulumi CLI command that says what went wrong: the first `error:` line of
    its stderr, else its last line of output; any passphrase in it is masked."""
    head, _, stderr = str(exc).rpartition("\n stderr: ")  # str(CommandResult): code, stdout, stderr
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    stdout = [line.strip() for line in head.partition(" stdout: ")[2].splitlines() if line.strip()]
    line = (errors or lines or stdout or [type(exc).__name__])[0 if errors else -1]
    file = paths.passphrase_file()
    passphrases = [os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""), file.read_text().strip() if file.is_file() else ""]
    for passphrase in filter(None, passphrases):
        line = line.replace(passphrase, "[secret]")
    return line


def cluster_vanished(settings: StackSettings) -> bool:
    """True when the target answers that the session's cluster does not exist (kind), so an `up` may
    drop the objects the state still holds of it; False for targets that cannot tell."""
    from infra.clusters import get_target

    check = getattr(get_target(settings.target), "cluster_vanished", None)
    return bool(check and check(settings))


# Steps the engine runs at once. Pulumi's default is 4 per CPU (8 on a 2-core laptop), and a classroom's
# steps mostly wait on the API server (a student's namespace being deleted): `classroom down` of 30
# students on kwok took 79 s at 8, 50 s at 64. PULUMI_PARALLEL in the user's environment wins.
ENGINE_PARALLEL = 64


def engine_parallel() -> dict:
    """The Automation API's `parallel` argument, unless the user set PULUMI_PARALLEL."""
    return {} if os.environ.get("PULUMI_PARALLEL") else {"parallel": ENGINE_PARALLEL}


def run_log(session: str) -> Path:
    """The engine's whole output of the session's last update or destroy (the screen shows progress)."""
    return paths.session_dir(session) / RUN_LOG


def session_kubeconfig(session: str) -> Path:
    """The cluster's kubeconfig, from the stack's secret output, kept 0600 in the session folder."""
    return paths.session_dir(session) / "kubeconfig"


def interpreter_env() -> dict[str, str]:
    """Make Pulumi run the program and the kind dynamic provider with this very interpreter.

    The program's host honours PULUMI_PYTHON_CMD; the dynamic provider's launcher runs the Python of
    PULUMI_RUNTIME_VIRTUALENV when set, else `python3` from PATH: set both, whatever venv (or none)
    the user installed k8s-labs in.
    """
    env = {
        "PULUMI_PYTHON_CMD": sys.executable,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    if sys.prefix != sys.base_prefix:
        env["PULUMI_RUNTIME_VIRTUALENV"] = sys.prefix
    return env


def run_program() -> None:
    """The stack's program, run inline by the Automation API with the settings of the stack's config."""
    from infra.program import build

    build(StackSettings.from_pulumi_config())


# The Kubernetes SDK's modules the program uses (k8s.<group>.<version> in infra/).
PROGRAM_SDK_MODULES = tuple(f"pulumi_kubernetes.{name}" for name in (
    "admissionregistration.v1", "apps.v1", "core.v1", "helm.v3", "meta.v1", "networking.v1", "rbac.v1",
    "storage.v1", "yaml.v2"))
_program_modules_lock = threading.Lock()


def load_program_modules() -> None:
    """Load the program and the SDK modules it uses, whole, before any program runs. The SDK loads its
    modules lazily (importlib's LazyLoader), which is not thread-safe: two programs started at once in
    this process (a classroom's cluster per student) saw a half-loaded module ("module
    'pulumi_kubernetes.meta.v1' has no attribute 'ObjectMetaArgs'")."""
    import importlib

    groups = {name.rsplit(".", 1)[0] for name in PROGRAM_SDK_MODULES}  # lazy too: pulumi_kubernetes.meta
    with _program_modules_lock:
        for name in ("infra.program", *sorted(groups | set(PROGRAM_SDK_MODULES))):
            module = importlib.import_module(name)
            getattr(module, "load_now", None)  # a lazy module loads on its first (non-introspection) attribute


class PulumiDriver:
    """Brings a session's stack up or down with the Pulumi CLI."""

    def __init__(self, session: str, console: Console):
        self.session = session
        self.console = console

    def _workspace(self, delete_unreachable: bool = False):
        from pulumi import automation as auto

        load_program_modules()
        pulumi_bin = Path(require_tool("pulumi"))
        backend = paths.backend_url(self.session)
        if backend.startswith("file://"):
            # The folder itself, not the URL's text: Path.as_uri() percent-encodes (a space is %20).
            folder = backend.removeprefix("file://").split("?", 1)[0]
            Path(url2pathname(folder)).expanduser().mkdir(parents=True, exist_ok=True)
        env = {
            "PULUMI_BACKEND_URL": backend,
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(ensure_passphrase()),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_HOME": str(paths.pulumi_home()),
            **interpreter_env(),
        }
        if delete_unreachable:
            # A final destroy: objects of a cluster that is already gone are dropped from the state
            # instead of failing the destroy (and leaving the network and the cluster's cloud
            # resources behind). For `up`, only when the target said its cluster no longer exists
            # (`cluster_vanished`): an API server briefly out of reach must not drop layers from the state.
            env["PULUMI_K8S_DELETE_UNREACHABLE"] = "true"
        try:  # PulumiCommand runs `pulumi version`
            command = auto.PulumiCommand(root=str(pulumi_bin.parent.parent), skip_version_check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise LabsError(f"the Pulumi CLI at {pulumi_bin} does not run ({exc}): run `invoke setup` "
                            "to install it again") from None
        return auto.LocalWorkspace(
            work_dir=str(paths.PROJECT_ROOT), program=run_program, env_vars=env, secrets_provider="passphrase",
            pulumi_command=command,
        )

    def _busy(self) -> LabsError:
        return LabsError(f"another command is already changing session '{self.session}': wait for it to finish")

    @contextmanager
    def _pulumi_errors(self, doing: str, progress: ProgressDisplay | None = None):
        """Any failure of the Pulumi CLI within becomes one LabsError line: what failed, why, the fix.
        With `progress` (an update or a destroy), the failing resource's own message when there is one."""
        from pulumi import automation as auto

        try:
            yield
        except auto.ConcurrentUpdateError:
            raise self._busy() from None
        except auto.CommandError as exc:
            line = pulumi_error_line(exc)
            if "passphrase" in line.lower():
                fix = "put back the file the session was created with"
                if "PULUMI_CONFIG_PASSPHRASE" in os.environ:  # Pulumi reads it before the file
                    fix = "PULUMI_CONFIG_PASSPHRASE, set in your environment, is used instead: unset it, or " + fix
                raise LabsError(f"{doing} failed: Pulumi cannot read session '{self.session}''s state with the "
                                f"passphrase in {paths.passphrase_file()} ({line}): {fix}") from None
            if progress is None:
                raise LabsError(f"{doing} failed: {line}") from None
            failure = progress.failures[0] if progress.failures else None
            what = f" at {failure.resource}: {failure.message}" if failure else f": {line}"
            raise LabsError(f"{doing} failed{what} (full log: {run_log(self.session)})") from None

    def _stack(self, workspace, stack_name: str):
        from pulumi import automation as auto

        return auto.Stack.create_or_select(stack_name, workspace)

    def up(self, settings: StackSettings, title: str) -> dict:
        """Converge the session's stack to `settings`; returns the stack outputs (secrets stay secret)."""
        from infra.bundle import cache_charts, lab_charts

        vanished = cluster_vanished(settings)  # asks the target first: Docker down stops here, before a refresh
        cache_charts(lab_charts(settings.lab), lambda line: self.console.print(line, markup=False, highlight=False,
                                                                              soft_wrap=True))
        with self._pulumi_errors(title):
            workspace = self._workspace(delete_unreachable=vanished)
            stack = self._stack(workspace, settings.stack_name)
            unsaved = UnsavedRun(self.session, settings.stack_name)
            left = self._unsaved_run_left(unsaved)
            deployment, interrupted = self._resume_interrupted(stack, left[0] if left else settings)
            if stack_locks(paths.backend_url(self.session), stack.name):  # a live run holds it (stale ones are gone)
                raise self._busy()
        take_over = bool(left) and interrupted  # a run killed before it saved: the next one takes over its objects
        if left:
            previous, previous_title = left
            # Run it again first, so the state knows all it made (unless it is this very run).
            if take_over and previous.as_config() != settings.as_config():
                self.console.print(f"note: an interrupted run ({previous_title}) is finished first, so that the "
                                   "state knows all it made", markup=False, highlight=False, soft_wrap=True)
                self._converge(stack, previous, previous_title, deployment, unsaved, take_over=True)
                take_over = False
            unsaved.finish()
        outputs = self._converge(stack, settings, title, deployment, unsaved, take_over=take_over)
        if "kubeconfig" in outputs:
            paths.write_private(session_kubeconfig(self.session), outputs["kubeconfig"].value)
        return {key: ("[secret]" if value.secret else value.value) for key, value in outputs.items()}

    def _unsaved_run_left(self, unsaved: UnsavedRun) -> tuple[StackSettings, str] | None:
        """(settings, title) of a run without checkpoints that did not finish, when it can be run again:
        a classroom run needs its roster, which `classroom down` removes."""
        left = unsaved.left()
        if left and left[0].roster and not Path(left[0].roster).exists():
            self.console.print(f"[yellow]warning[/yellow]: an interrupted run ({left[1]}) cannot be finished: its "
                               f"roster {left[0].roster} is gone; what it made may stay in the cluster until "
                               f"`invoke session down --session={self.session}`", soft_wrap=True, highlight=False)
            unsaved.finish()
            return None
        return left

    def _converge(self, stack, settings: StackSettings, title: str, deployment: dict, unsaved: UnsavedRun,
                  take_over: bool = False) -> dict:
        """One `up` of `stack` to `settings`; without intermediate checkpoints where infra.checkpoints
        allows it, its settings kept in `unsaved` until the engine has saved the state. `take_over`: the
        first run after one killed before it saved takes over the fields of the objects that run made."""
        from pulumi import automation as auto

        with self._pulumi_errors(title):
            stack.set_all_config({key: auto.ConfigValue(value) for key, value in settings.as_config().items()})
        fast = may_skip_checkpoints(settings, deployment)
        with environment(stack.workspace, TAKE_OVER) if take_over else nullcontext(), \
                unsaved.running(stack.workspace, settings, title) if fast else nullcontext():
            outputs = self._run(title, lambda on_event: stack.up(refresh=True, on_event=on_event, **engine_parallel(),
                                                                 on_output=self._log, color="never"),
                                settings.stack_name)
        return outputs

    def _resume_interrupted(self, stack, settings: StackSettings) -> tuple[dict, bool]:
        """After a run killed outright (its lock left behind, or operations left pending): release its
        lock, unblock the Helm releases it interrupted (infra.recovery), clear its pending creates.
        Returns the stack's deployment and whether a run had been interrupted."""
        from infra.recovery import interrupted_releases, planned_releases, unblock

        stale = release_stale_locks(paths.backend_url(self.session), stack.name)
        if stale:
            self.console.print(f"note: an interrupted run had left {stack.name} locked; lock released")
        deployment = stack.export_stack().deployment or {}
        pending = deployment.get("pending_operations") or []
        if not stale and not pending:
            return deployment, False
        if pending:
            self.console.print(f"note: an interrupted run left {len(pending)} operation(s) pending: they are done again")
        for release in interrupted_releases(deployment, planned_releases(settings)):
            where = f"{release['namespace']}/{release['name']}"
            try:
                deleted = unblock(release)
            except Exception as exc:  # the cluster not answering: the update then says what is wrong
                self.console.print(f"[yellow]warning[/yellow]: could not clear Helm release {where}'s record "
                                   f"({type(exc).__name__})")
                continue
            if deleted:
                self.console.print(f"note: Helm release {where} was interrupted: its record(s) {', '.join(deleted)} "
                                   "removed, the release is installed or upgraded again")
        # Pulumi keeps pending creates until told what to do with them: dropped from the state, the
        # update creates them again (server-side apply and Helm adopt what the dead run had made).
        stack.refresh(clear_pending_creates=True, on_output=self._log, color="never")
        return deployment, True

    def list_stacks(self) -> list[str]:
        """The names of the session's stacks (`<session>-<target>`)."""
        with self._pulumi_errors(f"listing the stacks of session '{self.session}'"):
            return self._session_stacks(self._workspace())

    def _session_stacks(self, workspace) -> list[str]:
        """Only this session's stacks: a backend set with PULUMI_BACKEND_URL holds every session's."""
        from infra.clusters import TARGETS

        own = {StackSettings(session=self.session, target=target).stack_name for target in TARGETS}
        return [summary.name for summary in workspace.list_stacks() if summary.name.split("/")[-1] in own]

    def stack_settings(self, stack_name: str) -> StackSettings:
        """The settings a stack was last brought up with, read back from its config."""
        from infra.settings import PROJECT

        with self._pulumi_errors(f"reading the settings of stack {stack_name}"):
            stack = self._stack(self._workspace(), stack_name)
            config = {key: value.value for key, value in stack.get_all_config().items()
                      if key.startswith(f"{PROJECT}:")}
        return StackSettings().with_config(config, f"stack {stack_name}")

    def destroy_session(self) -> list[str]:
        """Destroy and remove every stack of the session; returns their names.

        Everything a kind stack manages lives inside its cluster (or only in the state): deleting the
        cluster by name, then removing the stack's state, ends as its destroy would (nothing remains),
        in seconds, and no release's stuck deletion can block it. Other stacks are destroyed."""
        from infra.clusters.kind import KindTarget

        kind = StackSettings(session=self.session, target="kind")
        with self._pulumi_errors(f"destroying session '{self.session}'"):
            workspace = self._workspace(delete_unreachable=True)
            names = self._session_stacks(workspace)
            for name in names:
                if name.split("/")[-1] == kind.stack_name:
                    KindTarget().cleanup(kind)
                    workspace.remove_stack(name, force=True)  # --force: its resources went with the cluster
                    continue
                stack = self._stack(workspace, name)
                self._run(f"destroying {name}", lambda on_event: stack.destroy(refresh=True, on_event=on_event,
                                                                              **engine_parallel(),
                                                                              on_output=self._log, color="never"),
                          name)
                workspace.remove_stack(name)
        return names

    def _log(self, line: str) -> None:
        """The engine's text output goes to the session's log, not the screen (the live display is there)."""
        with run_log(self.session).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def _run(self, title: str, operation, stack_name: str = ""):
        from pulumi import automation as auto

        log = run_log(self.session)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        with ProgressDisplay(self.console, title) as progress, self._pulumi_errors(title, progress):
            try:
                result = operation(progress.handle)
            except auto.ConcurrentUpdateError:
                # A run killed hard (a second Ctrl-C) leaves its lock behind: release it and go on.
                if not release_stale_locks(paths.backend_url(self.session), stack_name):
                    raise
                self.console.print(f"note: an interrupted run had left {stack_name} locked; lock released")
                result = operation(progress.handle)
        self.console.print(f"[green]done[/green]: {progress.summary()}")
        return getattr(result, "outputs", {})


def stack_locks(backend: str, stack_name: str) -> list[Path]:
    """The lock files of `stack_name` in a local (file://) backend (Pulumi's DIY lock files:
    .pulumi/locks/<org>/<project>/<stack>/<id>.json); none for another backend."""
    if not stack_name or not backend.startswith("file://"):
        return []
    root = Path(url2pathname(backend.removeprefix("file://").split("?", 1)[0])).expanduser() / ".pulumi" / "locks"
    return sorted(root.glob(f"**/{stack_name}/*.json"))


def release_stale_locks(backend: str, stack_name: str, alive=None, host: str | None = None) -> list[Path]:
    """Remove the locks of `stack_name` in a local (file://) backend that a process of this machine
    left when it died (Pulumi's DIY lock files: .pulumi/locks/<org>/<project>/<stack>/<id>.json, with
    the pid and host name of their holder). A live holder, another machine's lock or another backend
    is left alone. Returns the locks removed."""
    import json
    import socket

    alive = alive or _process_alive
    host = host or socket.gethostname()
    removed = []
    for lock in stack_locks(backend, stack_name):
        try:
            holder = json.loads(lock.read_text())
        except (OSError, ValueError):
            continue
        if holder.get("hostname") == host and isinstance(holder.get("pid"), int) and not alive(holder["pid"]):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def _process_alive(pid: int) -> bool:
    """A killed run's process can linger as a zombie until its parent reaps it: dead all the same."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check above is all there is
    return state not in ("Z", "X")
