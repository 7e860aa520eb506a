"""Where things live: the project checkout, per-user state, per-user tools.

Every location can be overridden by an environment variable so tests and instructors with unusual
machines can move it (LABS_STATE_DIR, LABS_TOOLS_DIR, LABS_BUNDLE, LABS_CACHE_DIR).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = PROJECT_ROOT / "labs"
STACKS_DIR = PROJECT_ROOT / "stacks"

_SESSION_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def state_root() -> Path:
    """Per-user state: Pulumi backends (one per session) and the passphrase file."""
    override = os.environ.get("LABS_STATE_DIR")
    return Path(override) if override else _xdg("XDG_STATE_HOME", ".local/state") / "k8s-labs"


def tools_dir() -> Path:
    """Per-user folder where `invoke setup` installs kind, kubectl and the Pulumi CLI."""
    override = os.environ.get("LABS_TOOLS_DIR")
    return Path(override) if override else _xdg("XDG_DATA_HOME", ".local/share") / "k8s-labs" / "tools"


def cache_dir() -> Path:
    """Per-user cache (Go builds; charts `lab up` and `images list` downloaded, kept by pinned version
    so the next `up` needs no network for them): LABS_CACHE_DIR, else
    $XDG_CACHE_HOME/k8s-labs, else ~/.cache/k8s-labs."""
    override = os.environ.get("LABS_CACHE_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "k8s-labs"


def pulumi_home() -> Path:
    """PULUMI_HOME for every Pulumi run of ours: its plugins/ holds the provider plugins `invoke setup`
    installs (downloaded, or built from source), so a user's ~/.pulumi never mixes with the labs'."""
    return tools_dir() / "pulumi-home"


def bundle_dir() -> Path:
    """The offline bundle of charts and remote manifests (`invoke bundle`); LABS_BUNDLE moves it."""
    override = os.environ.get("LABS_BUNDLE")
    return Path(override) if override else _xdg("XDG_DATA_HOME", ".local/share") / "k8s-labs" / "bundle"


def passphrase_file() -> Path:
    return state_root() / "passphrase"


def check_session_name(session: str) -> str:
    """Session names key stacks, state folders and kind cluster names: keep them DNS-safe and short."""
    if not _SESSION_NAME.match(session or ""):
        from infra.errors import LabsError

        raise LabsError(
            f"invalid session name '{session}': use 1-20 lowercase letters, digits or '-' "
            "(not starting or ending with '-'), e.g. --session=monday"
        )
    return session


def session_dir(session: str) -> Path:
    """Everything a session owns on this machine; `session down` removes this folder."""
    return state_root() / "sessions" / check_session_name(session)


def write_private(file: Path, text: str) -> Path:
    """Write a file only its owner can read (kubeconfigs): created 0600 before any byte is written."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.unlink(missing_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return file


def session_backend(session: str) -> Path:
    """The session's own Pulumi state backend folder (used unless PULUMI_BACKEND_URL says otherwise)."""
    return session_dir(session) / "pulumi"


def backend_url(session: str) -> str:
    """The Pulumi state backend of a session: PULUMI_BACKEND_URL when set, else the session's folder."""
    return os.environ.get("PULUMI_BACKEND_URL") or session_backend(session).as_uri()
