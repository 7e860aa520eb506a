"""Teaching sessions on this machine: when each was created, until when it is meant to live, where.

Each session folder (`paths.session_dir`) holds `session.json`, written once the session's first
`lab up` (or `classroom up`) has created something (or failed after creating something), and kept
afterwards:

  {"session": "monday", "targets": ["kind"], "created_at": "2026-09-01T08:00:00+00:00",
   "expires_at": "2026-09-01T16:00:00+00:00", "options": {"kind": {"k8s-labs:httpPort": "8080", ...}}}

`options` keeps, per target, the cluster's settings of the last `lab up` / `classroom up` (workers,
ports, addresses, region, node size...): the next command of the session starts from them, so an
option given once is not silently reset (a kind cluster whose ports change is recreated).

The expiry is the creation time plus LABS_SESSION_HOURS (default: the settings' `expires_hours`,
8 h; a cloud stack file may set expiresHours), or the cloud expiry tag the session already has
(`infra.clusters.cloud`, so the tag on the resources and this record agree). Nothing deletes a
session at its expiry: every command warns (one yellow line) while an expired session is still
there, `invoke session list` shows it, and `invoke session extend --hours=N` moves the expiry.

A first `up` that fails having created nothing leaves no session behind (only its log, which the error
names). What a session created is read from Pulumi's checkpoint files in the session's local backend
(`created_resources`), without the Pulumi CLI. A record that cannot be read (broken JSON, a hand-edited
field of the wrong type) is one error naming the file and the fix, never taken for an absent one.

Plain Python and JSON only: every command reads it, `invoke lab list` must stay instant.
"""
from __future__ import annotations

import gzip
import importlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from infra import paths
from infra.clusters import CLOUD_TARGETS, TARGETS
from infra.errors import LabsError
from infra.settings import StackSettings

FILE = "session.json"
HOURS_ENV = "LABS_SESSION_HOURS"
MAX_HOURS = 168
COST_MODULES = ("infra.cost", "infra.pricing")  # the cloud cost estimate, when it is installed
FIELDS = ("session", "targets", "created_at", "expires_at", "options")
RUN_LOG = "last-run.log"  # the engine's log of the last run (infra.driver): a failed first up keeps it


@dataclass
class SessionRecord:
    session: str
    targets: list[str] = field(default_factory=list)
    created_at: str = ""  # ISO 8601, UTC
    expires_at: str = ""
    options: dict = field(default_factory=dict)  # target -> the stack config its cluster was made with

    @property
    def target(self) -> str:
        return self.targets[0] if self.targets else ""

    @property
    def created(self) -> datetime | None:
        return _parse(self.created_at)

    @property
    def expires(self) -> datetime | None:
        return _parse(self.expires_at)

    def expired(self, now: datetime | None = None) -> bool:
        expires = self.expires
        return bool(expires and (now or utc_now()) >= expires)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def record_file(session: str) -> Path:
    return paths.session_dir(session) / FILE


def session_hours(settings=None) -> int:
    """How long a new session lives: LABS_SESSION_HOURS, else the settings' expires_hours (8)."""
    raw = os.environ.get(HOURS_ENV)
    if raw is None or raw == "":
        return int(getattr(settings, "expires_hours", 8) or 8)
    try:
        hours = int(raw)
    except ValueError:
        raise LabsError(f"{HOURS_ENV} must be a whole number of hours, got '{raw}'") from None
    if not 1 <= hours <= MAX_HOURS:
        raise LabsError(f"{HOURS_ENV} must be between 1 and {MAX_HOURS}, got {hours}")
    return hours


def load(session: str) -> SessionRecord | None:
    """The session's record, or None when it has none. A file that is not a record is one LabsError
    naming it and the fix: never taken for an absent record, never rewritten."""
    file = record_file(session)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(file, session, f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _unreadable(file, session, f"not JSON: {exc}") from None
    problem = _record_problem(session, data)
    if problem:
        raise _unreadable(file, session, problem)
    targets = data.get("targets") or [data["target"]]
    return SessionRecord(session=session, targets=list(targets), created_at=data["created_at"],
                         expires_at=data["expires_at"], options={t: dict(o) for t, o in data.get("options", {}).items()})


def _unreadable(file: Path, session: str, problem: str) -> LabsError:
    return LabsError(f"{file} is not a valid session record ({problem}): repair it by hand, or remove the session "
                     f"with `invoke session down --session={session}`")


def _record_problem(session: str, data) -> str:
    """What makes `data` not a session record ("" when it is one; `target` is the older form of `targets`)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    unknown = sorted(set(data) - set(FIELDS) - {"target"})
    if unknown:
        return f"unknown field '{unknown[0]}' (fields: {', '.join(FIELDS)})"
    if data.get("session", session) != session:
        return f"field 'session' is '{data['session']}', the folder's session is '{session}'"
    targets = data["targets"] if "targets" in data else ([data["target"]] if "target" in data else None)
    if not isinstance(targets, list) or not targets or any(target not in TARGETS for target in targets):
        return f"field 'targets' must list targets among {', '.join(TARGETS)}"
    for name in ("created_at", "expires_at"):
        if not isinstance(data.get(name), str) or _parse(data[name]) is None:
            return f"field '{name}' must be an ISO 8601 date and time"
    options = data.get("options", {})
    if not isinstance(options, dict) or any(not isinstance(o, dict) for o in options.values()) \
            or any(not isinstance(v, str) for o in options.values() for v in o.values()):
        return "field 'options' must map each target to its settings (strings)"
    return ""


def _write(record: SessionRecord) -> None:
    file = record_file(record.session)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    tmp.replace(file)


def _cloud_expiry(settings) -> datetime | None:
    """The expiry tag a cloud session already carries (infra.clusters.cloud), if any."""
    if getattr(settings, "target", "") not in CLOUD_TARGETS:
        return None
    file = paths.session_dir(settings.session) / "expires-at"
    if not file.is_file():
        return None
    try:
        from infra.clusters.cloud import parse_expiry
    except ImportError:
        return None
    return parse_expiry(file.read_text().strip())


# Settings that are not the cluster's shape: given per command, or fixed elsewhere (the expiry).
_NOT_REMEMBERED = ("session", "target", "lab", "roster", "expiresAt", "expiresHours", "networkOnly")


def _cluster_options(settings) -> dict[str, str]:
    return {key: value for key, value in settings.as_config().items()
            if key.split(":", 1)[-1] not in _NOT_REMEMBERED}


def remembered_options(session: str, target: str) -> dict[str, str]:
    """The stack config the session's `target` cluster was last brought up with ({} for none)."""
    existing = load(session)
    return dict(existing.options.get(target, {})) if existing else {}


def planned(settings, now: datetime | None = None) -> SessionRecord:
    """The record `record(settings, now)` writes: the session's own with this target and its cluster
    options, or a new one created `now` (its expiry: the cloud tag the session carries, else the hours)."""
    existing = load(settings.session)
    if existing is not None:
        if settings.target not in existing.targets:
            existing.targets.append(settings.target)
        existing.options[settings.target] = _cluster_options(settings)
        return existing
    now = (now or utc_now()).replace(microsecond=0)
    expires = _cloud_expiry(settings) or now + timedelta(hours=session_hours(settings))
    return SessionRecord(session=settings.session, targets=[settings.target], created_at=now.isoformat(),
                         expires_at=expires.isoformat(), options={settings.target: _cluster_options(settings)})


def record(settings, now: datetime | None = None) -> SessionRecord:
    """Write the session's record (when it changes): call it once the session's cluster exists, or
    through `recording`. A target used for the first time is added, and the cluster options of this
    target are kept for the session's next commands."""
    existing = load(settings.session)
    wanted = planned(settings, now)
    if wanted != existing:
        _write(wanted)
    return wanted


@contextmanager
def recording(settings, now: datetime | None = None):
    """Around an `up` that may create the session's first resources: the record is written after it,
    or after it failed having created something (or when the state is not here to tell). A session that
    had no record and whose `up` failed having created nothing is removed, its log aside."""
    had_record = load(settings.session) is not None
    try:
        yield
    except BaseException:
        created = created_resources(settings.session)
        if created is None or created:
            record(settings, now)
        elif not had_record:
            remove_files(settings.session, keep=(RUN_LOG,))
        raise
    record(settings, now)


def created_resources(session: str) -> list[str] | None:
    """The URNs of what the session's stacks hold, read from Pulumi's checkpoint files in its local
    backend (no Pulumi CLI): custom resources other than providers, and operations left pending by a
    run that died (what they were creating may exist). None when that cannot be told here: the state
    lives in another backend (PULUMI_BACKEND_URL) or a checkpoint does not read."""
    if paths.backend_url(session) != paths.session_backend(session).as_uri():
        return None
    root = paths.session_backend(session) / ".pulumi" / "stacks"
    found: list[str] = []
    for file in sorted(root.rglob("*")) if root.is_dir() else []:
        if not file.name.endswith((".json", ".json.gz")) or "backups" in file.parts:
            continue
        try:
            raw = file.read_bytes()
            latest = (json.loads(gzip.decompress(raw) if file.name.endswith(".gz") else raw)
                      .get("checkpoint") or {}).get("latest") or {}
            found += [r["urn"] for r in latest.get("resources") or []
                      if r.get("custom") and not r.get("type", "").startswith("pulumi:providers:")]
            found += [op["resource"]["urn"] for op in latest.get("pending_operations") or []]
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            return None
    return found


def remove_files(session: str, keep: tuple[str, ...] = ()) -> None:
    """What a session leaves on this machine once its stacks are gone: its folder (but the files in
    `keep`) and its stack files."""
    folder = paths.session_dir(session)
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name in keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()
    for target in TARGETS:
        stack = StackSettings(session=session, target=target).stack_name
        (paths.STACKS_DIR / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)


def extend(session: str, hours: int, now: datetime | None = None) -> SessionRecord:
    """Set the expiry to now + `hours` (the session goes on past its planned end)."""
    paths.check_session_name(session)
    if not 1 <= hours <= MAX_HOURS:
        raise LabsError(f"--hours must be between 1 and {MAX_HOURS}, got {hours}")
    existing = load(session)
    if existing is None:
        raise LabsError(f"session '{session}' has no record: `invoke session list` shows the sessions "
                        "(a session gets one at its first `lab up`)")
    existing.expires_at = ((now or utc_now()).replace(microsecond=0) + timedelta(hours=hours)).isoformat()
    _write(existing)
    return existing


def expiry_warning(session: str, now: datetime | None = None) -> str | None:
    """One line when the session is past its expiry, else None (cheap: one small file read)."""
    existing = load(session)
    if existing is None or not existing.expired(now):
        return None
    late = duration((now or utc_now()) - existing.expires)
    return (f"warning: session '{session}' expired {late} ago ({existing.expires_at}): "
            f"`invoke session down --session={session}` removes it, "
            f"`invoke session extend --session={session} --hours=N` keeps it")


def duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


@dataclass
class SessionInfo:
    session: str
    record: SessionRecord | None
    stacks: list[str]
    cost: str  # estimated cost so far, "-" off the clouds, "n/a" without the cost module
    problem: str = ""  # why its record cannot be read (the record is then None)


def stacks_of(session: str) -> list[str]:
    """The session's Pulumi stacks, read from its local backend (no Pulumi CLI) and stack files."""
    names: set[str] = set()
    backend = paths.session_backend(session) / ".pulumi" / "stacks"
    if backend.is_dir():
        for file in backend.rglob("*.json*"):
            if file.name.endswith((".json", ".json.gz")) and "backups" not in file.parts:
                names.add(file.name.removesuffix(".gz").removesuffix(".json"))
    if paths.STACKS_DIR.is_dir():
        prefix = f"Pulumi.{session}-"
        for file in paths.STACKS_DIR.glob(f"{prefix}*.yaml"):
            target = file.name[len(prefix):-len(".yaml")]
            if target and "-" not in target:  # Pulumi.monday-2-kind.yaml belongs to session monday-2
                names.add(f"{session}-{target}")
    return sorted(names)


def _target_cost(module, target: str, hours: float) -> float:
    """One target's cost for `hours`, from whatever the cost module offers."""
    if hasattr(module, "cost_so_far"):
        return float(module.cost_so_far(target, hours))
    # infra.pricing's estimate() for the target's committed settings (node size, pool, region):
    # the cluster alone (0 students: what the session's students added is not recorded here).
    from infra.clusters.cloud import node_counts
    from infra.settings import StackSettings

    settings = StackSettings.for_target(target)
    nodes, _, high = node_counts(settings)
    return float(module.estimate(target, 0, max(hours, 1 / 60), settings.node_size, nodes, high,
                                 settings.region).total)


def cost_so_far(existing: SessionRecord | None, now: datetime | None = None) -> str:
    """The estimated cost of a cloud session so far, from the cost module when it is there.

    The cost module (infra.cost or infra.pricing, written separately) is imported lazily, only for
    cloud sessions, and asked through `cost_so_far(target, hours) -> float` when it has one, else
    through `estimate(...)` for the target's committed settings (`.total`). Off the clouds: "-".
    No module, or any failure: "n/a" (an estimate never breaks the listing).
    """
    if existing is None or not any(target in CLOUD_TARGETS for target in existing.targets):
        return "-"
    created = existing.created
    if created is None:
        return "n/a"
    hours = max(0.0, ((now or utc_now()) - created).total_seconds() / 3600)
    for name in COST_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # not written (yet): no estimate
        try:
            if not (hasattr(module, "cost_so_far") or hasattr(module, "estimate")):
                continue
            total = sum(_target_cost(module, target, hours) for target in existing.targets if target in CLOUD_TARGETS)
            return f"~${total:,.2f}"
        except Exception:  # noqa: BLE001 - an estimate must never break the listing
            return "n/a"
    return "n/a"


def list_sessions(now: datetime | None = None) -> list[SessionInfo]:
    root = paths.state_root() / "sessions"
    folders = sorted(folder.name for folder in root.iterdir() if folder.is_dir()) if root.is_dir() else []
    infos = []
    for session in folders:
        try:
            paths.check_session_name(session)
        except LabsError:
            continue  # not a session folder of ours
        try:
            existing, problem = load(session), ""
        except LabsError as exc:
            existing, problem = None, str(exc)
        stacks = stacks_of(session)
        if existing is None and not stacks and not problem:
            continue  # what a first `up` that created nothing leaves: its log, no session
        infos.append(SessionInfo(session, existing, stacks, cost_so_far(existing, now), problem))
    return infos
