"""A classroom's files in its session's folder, read and written by every classroom command.

  classroom/roster.json      the normalized roster (0600: names and emails); the stack's `roster` setting
  classroom/classroom.json   target, tenancy, lab, API server, the download URL base once served (0600)
  classroom/downloads.json   one unguessable download token per student, for `classroom serve` (0600)
  classroom/grafana.json     each student's Grafana password, when the lab uses monitoring (0600)
"""
from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from infra import paths
from infra.classroom.roster import Student, load_roster_json
from infra.errors import LabsError
from infra.settings import StackSettings

RECORD = "classroom.json"
DOWNLOADS = "downloads.json"


def classroom_dir(session: str) -> Path:
    return paths.session_dir(session) / "classroom"


def roster_file(session: str) -> Path:
    return classroom_dir(session) / "roster.json"


@dataclass
class ClassroomRecord:
    """What `classroom up` decided, for the commands that come after it (cards, serve, status, down)."""

    session: str
    target: str
    tenancy: str
    lab: str = ""
    server: str = ""  # the API server in the students' kubeconfigs
    base_domain: str = "localhost"
    http_port: int = 80
    expires_at: str = ""
    serve_url: str = ""  # http://<address>:<port> of `classroom serve`, once it ran
    # cluster tenancy: tenant -> {"session", "students", "http_port", "status": creating|ready|failed, ...}
    tenants: dict = field(default_factory=dict)
    started: dict = field(default_factory=dict)  # student -> the lab whose starting point their namespace got

    def save(self) -> Path:
        from infra.paths import write_private

        return write_private(classroom_dir(self.session) / RECORD, json.dumps(self.__dict__, indent=2) + "\n")


def load_record(session: str) -> ClassroomRecord:
    paths.check_session_name(session)
    file = classroom_dir(session) / RECORD
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        raise LabsError(f"session '{session}' has no classroom: run `invoke classroom up --session={session} "
                        "--students=N` (or --roster=FILE.csv) first") from None
    known = set(ClassroomRecord.__dataclass_fields__)
    return ClassroomRecord(**{key: value for key, value in data.items() if key in known})


def load_classroom(session: str) -> tuple[ClassroomRecord, list[Student]]:
    record = load_record(session)
    students, _ = load_roster_json(roster_file(session))
    return record, students


def previous_record(session: str) -> ClassroomRecord | None:
    """The session's classroom record, or None when it has none."""
    try:
        return load_record(session)
    except LabsError:
        return None


def stack_lab(driver, settings: StackSettings) -> str:
    """The lab the session's stack has now ("" for a new stack): `classroom up` without --lab keeps it."""
    if settings.stack_name not in driver.list_stacks():
        return ""
    return driver.stack_settings(settings.stack_name).lab


def kept_secrets(session: str, name: str, students: list[Student], nbytes: int) -> dict[str, str]:
    """One random secret per student in `classroom/<name>` (0600), kept across `classroom up` runs so
    printed cards stay valid; students no longer in the roster are dropped."""
    from infra.paths import write_private

    known = read_secrets(session, name)
    values = {s.id: known.get(s.id) or secrets.token_urlsafe(nbytes) for s in students}
    write_private(classroom_dir(session) / name, json.dumps(values, indent=2) + "\n")
    return values


def read_secrets(session: str, name: str) -> dict[str, str]:
    try:
        return json.loads((classroom_dir(session) / name).read_text())
    except (OSError, ValueError):
        return {}


def issue_download_tokens(session: str, students: list[Student]) -> dict[str, str]:
    """One unguessable download token per student (192 bits)."""
    return kept_secrets(session, DOWNLOADS, students, 24)


def download_tokens(session: str) -> dict[str, str]:
    return read_secrets(session, DOWNLOADS)


def drop_departed(session: str, students: list[Student]) -> None:
    """Kubeconfig folders of students no longer in the roster (their ServiceAccounts are gone too)."""
    from infra.classroom.credentials import students_dir

    keep = {s.id for s in students}
    folder = students_dir(session)
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)


def still_started(previous: ClassroomRecord | None, students: list[Student]) -> dict:
    """The students of `previous` still in the roster, with the lab whose starting point they got."""
    keep = {s.id for s in students}
    return {sid: lab for sid, lab in ((previous.started if previous else None) or {}).items() if sid in keep}
