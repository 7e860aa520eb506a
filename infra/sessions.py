"""Teaching sessions on this machine: when each was created, until when it is meant to live, where.

Each session folder (`paths.session_dir`) holds `session.json`, written by the first `lab up` (or
`classroom up`) of the session and kept afterwards:

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

Plain Python and JSON only: every command reads it, `invoke lab list` must stay instant.
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from infra import paths
from infra.errors import LabsError

FILE = "session.json"
HOURS_ENV = "LABS_SESSION_HOURS"
MAX_HOURS = 168
COST_MODULES = ("infra.cost", "infra.pricing")  # the cloud cost estimate, when it is installed
CLOUD_TARGETS = ("gke", "eks", "aks")


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
        return bool(expires and (now or _now()) >= expires)


def _now() -> datetime:
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
    """The session's record, or None when it has none (or an unreadable one)."""
    file = record_file(session)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    targets = data.get("targets") or ([data["target"]] if data.get("target") else [])
    options = data.get("options") if isinstance(data.get("options"), dict) else {}
    return SessionRecord(session=session, targets=[str(t) for t in targets],
                         created_at=str(data.get("created_at") or ""), expires_at=str(data.get("expires_at") or ""),
                         options={str(t): dict(o) for t, o in options.items() if isinstance(o, dict)})


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


def record(settings, now: datetime | None = None) -> SessionRecord:
    """The session's record, written when absent; a target used for the first time is added, and the
    cluster options of this target are kept for the session's next commands."""
    existing = load(settings.session)
    if existing is not None:
        options = _cluster_options(settings)
        if settings.target not in existing.targets or existing.options.get(settings.target) != options:
            if settings.target not in existing.targets:
                existing.targets.append(settings.target)
            existing.options[settings.target] = options
            _write(existing)
        return existing
    now = (now or _now()).replace(microsecond=0)
    expires = _cloud_expiry(settings) or now + timedelta(hours=session_hours(settings))
    fresh = SessionRecord(session=settings.session, targets=[settings.target], created_at=now.isoformat(),
                          expires_at=expires.isoformat(), options={settings.target: _cluster_options(settings)})
    _write(fresh)
    return fresh


def extend(session: str, hours: int, now: datetime | None = None) -> SessionRecord:
    """Set the expiry to now + `hours` (the session goes on past its planned end)."""
    paths.check_session_name(session)
    if not 1 <= hours <= MAX_HOURS:
        raise LabsError(f"--hours must be between 1 and {MAX_HOURS}, got {hours}")
    existing = load(session)
    if existing is None:
        raise LabsError(f"session '{session}' has no record: `invoke session list` shows the sessions "
                        "(a session gets one at its first `lab up`)")
    existing.expires_at = ((now or _now()).replace(microsecond=0) + timedelta(hours=hours)).isoformat()
    _write(existing)
    return existing


def expiry_warning(session: str, now: datetime | None = None) -> str | None:
    """One line when the session is past its expiry, else None (cheap: one small file read)."""
    existing = load(session)
    if existing is None or not existing.expired(now):
        return None
    late = duration((now or _now()) - existing.expires)
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


def stacks_of(session: str) -> list[str]:
    """The session's Pulumi stacks, read from its local backend (no Pulumi CLI) and stack files."""
    names: set[str] = set()
    backend = paths.session_dir(session) / "pulumi" / ".pulumi" / "stacks"
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
    hours = max(0.0, ((now or _now()) - created).total_seconds() / 3600)
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
        existing = load(session)
        infos.append(SessionInfo(session, existing, stacks_of(session), cost_so_far(existing, now)))
    return infos
