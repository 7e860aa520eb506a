"""`invoke classroom status`: the lab's checks for every student, as a students x checks board.

The checks are the lab's own (`infra.checks.run_checks`), retargeted to the student
(`infra.manifests.retarget_checks`: their namespace, their host names `<app>.<id>.<domain>` in `http`
checks, their namespace in PromQL/LogQL queries), each run once (no retry) with the instructor's
kubeconfig, for many students at once (a bounded thread pool, 16 by default). One refresh reads each
cluster once per kind (`ClassReads`: a cluster-wide list shared by every student), so its cost grows
with the lab's checks, not with the class; `http` checks go to the
ingress of the student's cluster (kind: its host port; a cloud: its load balancer, looked up once per
cluster). A student whose cluster does not answer is an error row; the others' rows go on. The board
prints as a rich table; `--html=FILE` also writes a page that reloads itself (meta refresh), for the
projector; `--watch=N` runs the checks again every N seconds and rewrites it. The page is replaced
atomically, so a reload never shows half a board.

Checks that look at something shared rather than at the student's namespace (a host name or a
PromQL/LogQL query the retargeting leaves unchanged) read the same thing for everyone: their column
says so for the whole class. An `alert` check counts an alert labelled with a namespace in that
namespace only (lab 17's rule keeps the label).

On a target whose containers do not run (kwok), the checks that need them are skipped
(`infra.checks.skips_for`, from the classroom target's capabilities) and nothing is asked for them: their
cells show "–" (the legend says why), never ✓, and a student is "done" when every check that could be
decided passed (at least one).
"""
from __future__ import annotations

import html
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from infra.catalog import Catalog, Lab
from infra.classroom.record import ClassroomRecord, load_classroom
from infra.classroom.roster import Student
from infra.errors import LabsError

PARALLEL = 16
REFRESH_S = 30
SHARED_KINDS = ("http", "promql", "loki")  # what they read is the same for every student, unless retargeted


@dataclass
class StudentRow:
    student: Student
    results: dict[str, bool] = field(default_factory=dict)  # check id -> passed (decided checks only)
    details: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the student's checks could not run at all
    skipped: dict[str, str] = field(default_factory=dict)  # check id -> why it was not decided

    @property
    def passed(self) -> int:
        return sum(self.results.values())

    def done(self, ids: list[str]) -> bool:
        """Every check that could be decided passed, and there was one: a row of skipped cells is not done."""
        decided = [i for i in ids if i not in self.skipped]
        return not self.error and bool(decided) and all(self.results.get(i) for i in decided)


def kubeconfig_for(record: ClassroomRecord, student: Student) -> str:
    """The instructor's kubeconfig of the cluster the student works on."""
    from infra.driver import session_kubeconfig

    for tenant in (record.tenants or {}).values():
        if student.id in tenant.get("students", []):
            return str(session_kubeconfig(tenant["session"]))
    return str(session_kubeconfig(record.session))


def ingress_urls(record: ClassroomRecord, students: list[Student], pool) -> dict[str, str | LabsError]:
    """Where each student's `http` checks go (student id -> URL, or why there is none): their cluster's
    ingress (infra.commands.ingress_url), looked up once per cluster, the clusters in parallel."""
    from infra.classroom.cards import student_access
    from infra.commands import ingress_url

    def lookup(cluster: tuple[str, int]) -> str | LabsError:
        try:
            return ingress_url(record.target, cluster[1], cluster[0], None)
        except LabsError as exc:  # that cluster's students get it as their error, the others go on
            return exc

    cluster_of = {s.id: (kubeconfig_for(record, s), student_access(record, s)[1]) for s in students}
    clusters = sorted(set(cluster_of.values()))
    found = dict(zip(clusters, pool.map(lookup, clusters)))
    return {student_id: found[cluster] for student_id, cluster in cluster_of.items()}


def student_checks(lab: Lab, student: Student, base_domain: str) -> list[dict]:
    """The lab's checks for one student: their namespace, their host names."""
    from infra.manifests import retarget_checks

    return retarget_checks(lab.checks, lab.namespace, student.namespace, student.id, base_domain)


def shared_checks(lab: Lab) -> set[str]:
    """Ids of the checks that read the same thing for every student (nothing in them is the student's)."""
    probe = student_checks(lab, Student(id="probe", name="probe"), "localhost")
    strip = lambda check: {key: value for key, value in check.items() if key != "hint"}  # noqa: E731
    return {check["id"] for check, mine in zip(lab.checks, probe)
            if check["kind"] in SHARED_KINDS and strip(check) == strip(mine)}


def target_skips(record: ClassroomRecord) -> dict[str, str]:
    """Check kind -> why it is skipped on the classroom's target (its capabilities: kwok runs no containers)."""
    from dataclasses import replace

    from infra.checks import skips_for
    from infra.clusters.capabilities import target_capabilities
    from infra.settings import StackSettings

    settings = replace(StackSettings.for_target(record.target), session=record.session)
    return skips_for(target_capabilities(settings))


def selector_terms(selector: str) -> list[tuple[str, str, str]] | None:
    """`a=b,c!=d,e,!f` as (key, operator, value) terms; None for set-based terms (`in`, `notin`)."""
    terms = []
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "(" in term or " " in term:
            return None
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append((key, "!=", value))
        elif "=" in term:
            key, value = term.split("=", 1)
            terms.append((key, "=", value.lstrip("=")))
        elif term.startswith("!"):
            terms.append((term[1:], "absent", ""))
        else:
            terms.append((term, "present", ""))
    return terms


def selected(labels: dict, terms: list[tuple[str, str, str]]) -> bool:
    """Whether labels match the terms, as the API server's label selectors do."""
    for key, operator, value in terms:
        if operator == "=" and labels.get(key) != value:
            return False
        if operator == "!=" and key in labels and labels[key] == value:
            return False
        if operator == "present" and key not in labels:
            return False
        if operator == "absent" and key in labels:
            return False
    return True


class ClassReads:
    """One board refresh's reads of one cluster, shared by every student on it.

    Each kind is listed once, cluster-wide, and every student's `get` and `list` is answered from that
    list; a Prometheus or Loki query asked by several students is asked once. A board of 60 students
    then costs one request per kind its checks read, not one per check and student. Only `http`
    checks (each student's own host names) go out one by one."""

    def __init__(self, reader):
        self.reader = reader
        self.ingress_url = reader.ingress_url
        self._lock = threading.Lock()
        self._answers: dict[tuple, object] = {}
        self._pending: dict[tuple, threading.Lock] = {}

    def _once(self, key: tuple, ask):
        """`ask()` the first time `key` is wanted; students asking meanwhile wait for that answer."""
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            gate = self._pending.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            answer = ask()
            with self._lock:
                self._answers[key] = answer
            return answer

    def _every(self, api_version: str, kind: str) -> list[dict]:
        return self._once(("list", api_version, kind), lambda: self.reader.list(api_version, kind, None))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None):
        for obj in self._every(api_version, kind):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and meta.get("namespace") == namespace:
                return {"apiVersion": api_version, "kind": kind, **obj}  # a list's items carry neither
        return None

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str = "") -> list[dict]:
        terms = selector_terms(selector)
        if terms is None:  # a set-based selector: the API server reads it
            return self.reader.list(api_version, kind, namespace, selector)
        return [obj for obj in self._every(api_version, kind)
                if (namespace is None or (obj.get("metadata") or {}).get("namespace") == namespace)
                and selected((obj.get("metadata") or {}).get("labels") or {}, terms)]

    def service_get(self, service: tuple[str, str, int], path: str, query: dict):
        key = ("service", service, path, tuple(sorted(query.items())))
        return self._once(key, lambda: self.reader.service_get(service, path, query))

    def http_get(self, host: str, path: str) -> tuple[int, str]:
        return self.reader.http_get(host, path)


def run_board(record: ClassroomRecord, students: list[Student], lab: Lab, lang: str = "fr",
              parallel: int | None = None) -> list[StudentRow]:
    """Every student's check results (in roster order), each cluster read once per kind (ClassReads)."""
    from infra.checks import ClusterReader, run_checks

    urls: dict[str, str | LabsError] = {}
    skip = target_skips(record)
    readers: dict[tuple[str, str], ClassReads] = {}
    readers_lock = threading.Lock()

    def reader_for(kubeconfig: str, url: str) -> ClassReads:
        with readers_lock:
            if (kubeconfig, url) not in readers:
                readers[(kubeconfig, url)] = ClassReads(ClusterReader(kubeconfig, None, ingress_url=url))
            return readers[(kubeconfig, url)]

    def one(student: Student) -> StudentRow:
        row = StudentRow(student)
        try:
            url = urls.get(student.id, "")
            if isinstance(url, LabsError):
                raise url  # their cluster's ingress has no address, or their cluster does not answer
            reader = reader_for(kubeconfig_for(record, student), url)
            run = run_checks(student_checks(lab, student, record.base_domain), reader, student.namespace, lang,
                             timeout_s=0, skip=skip)
        except LabsError as exc:  # ClusterUnreachable too: this student's cluster, not the whole board
            row.error = str(exc)
            return row
        for result in run.results:
            if result.skipped:
                row.skipped[result.id] = result.detail
                continue
            row.results[result.id] = result.passed
            row.details[result.id] = result.detail if result.passed else f"{result.detail} → {result.hint}"
        return row

    with ThreadPoolExecutor(max_workers=parallel or PARALLEL) as pool:
        # On a cloud, finding the ingress asks each cluster: only when an `http` check is to be run.
        if any(check["kind"] == "http" and check["kind"] not in skip for check in lab.checks):
            urls.update(ingress_urls(record, students, pool))
        return list(pool.map(one, students))


def board_table(rows: list[StudentRow], lab: Lab):
    from rich.markup import escape
    from rich.table import Table

    ids = [check["id"] for check in lab.checks]
    shared = shared_checks(lab)
    table = Table(title=f"{lab.id}: {sum(r.done(ids) for r in rows)}/{len(rows)} students done "
                        f"({datetime.now().strftime('%H:%M:%S')})")
    table.add_column("student", no_wrap=True)
    for check_id in ids:
        table.add_column(check_id + (" *" if check_id in shared else ""), justify="center", overflow="fold")
    table.add_column("done", justify="right")
    for row in rows:
        if row.error:
            table.add_row(escape(row.student.name), *(["[red]?[/red]"] * len(ids)), "[red]error[/red]")
            continue
        cells = [f"[yellow]{SKIPPED}[/yellow]" if i in row.skipped else
                 "[green]✓[/green]" if row.results.get(i) else "[red]✗[/red]" for i in ids]
        # The roster's names are free text: "[b]" or "[/x]" in one is not rich markup (the latter raises).
        table.add_row(escape(row.student.name), *cells, f"{row.passed}/{len(ids) - len(row.skipped)}")
    legend = ([f"{SKIPPED} {reason} (not decided)" for reason in skip_reasons(rows)]
              + (["* reads something shared (same host name or metrics for everyone)"] if shared else []))
    if legend:
        table.caption = "\n".join(legend)
    return table


SKIPPED = "–"  # a cell of a check that was skipped (not decided)


def skip_reasons(rows: list[StudentRow]) -> list[str]:
    """Why cells were skipped, once each (e.g. "skipped on kwok: needs running containers")."""
    return sorted({reason for row in rows for reason in row.skipped.values()})


def board_html(rows: list[StudentRow], lab: Lab, session: str, refresh_s: int, when: datetime | None = None) -> str:
    e = html.escape
    ids = [check["id"] for check in lab.checks]
    done = sum(r.done(ids) for r in rows)
    stamp = (when or datetime.now(timezone.utc)).astimezone().strftime("%H:%M:%S")
    head = "".join(f"<th>{e(i)}</th>" for i in ids)
    body = []

    def cell(row: StudentRow, i: str) -> str:
        if i in row.skipped:
            return f'<td class="skip" title="{e(row.skipped[i])}">{SKIPPED}</td>'
        ok = row.results.get(i)
        return f'<td class="{"ok" if ok else "ko"}" title="{e(row.details.get(i, ""))}">{"✓" if ok else "✗"}</td>'

    for row in rows:
        if row.error:
            cells = f'<td class="err" colspan="{len(ids) + 1}" title="{e(row.error)}">error</td>'
        else:
            cells = "".join(cell(row, i) for i in ids) + f"<td>{row.passed}/{len(ids) - len(row.skipped)}</td>"
        body.append(f'<tr data-student="{e(row.student.id)}"><th scope="row">{e(row.student.name)}</th>{cells}</tr>')
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
        f"<title>{e(lab.id)} · {e(session)} · {done}/{len(rows)}</title><style>"
        "body{font-family:Arial,sans-serif;margin:1em;background:#fff}table{border-collapse:collapse;font-size:1.1em}"
        "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:center}tbody th{text-align:left}"
        ".ok{background:#c8f0c8}.ko{background:#f6d0d0}.err{background:#eee;color:#900}"
        ".skip{background:#fbf0c0;color:#6b5900}"
        "</style></head><body>"
        f"<h1>{e(lab.slide)} — {done}/{len(rows)}</h1>"
        f'<p>session {e(session)} · {stamp} · refreshes every {int(refresh_s)} s</p>'
        f"<table><thead><tr><th>student</th>{head}<th>done</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
        + "".join(f'<p class="legend"><span class="skip">{SKIPPED}</span> {e(reason)} (not decided)</p>'
                  for reason in skip_reasons(rows))
        + "</body></html>\n"
    )


def write_atomically(file: Path, text: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)


def classroom_status(session: str, lab_ref: str | None = None, html_file: str | None = None, watch: int = 0,
                     lang: str = "fr", parallel: int | None = None, catalog: Catalog | None = None) -> list[StudentRow]:
    from infra.commands import out

    if lang not in ("fr", "en"):
        raise LabsError(f"unknown language '{lang}': use --lang=fr or --lang=en")
    record, students = load_classroom(session)
    ref = lab_ref or record.lab
    if not ref:
        raise LabsError("which lab? pass --lab=<slug|number> (the classroom was brought up without one)")
    lab = (catalog or Catalog.load()).resolve(ref)
    rows: list[StudentRow] = []
    try:
        while True:
            rows = run_board(record, students, lab, lang, parallel)
            out.print(board_table(rows, lab))
            if html_file:
                write_atomically(Path(html_file), board_html(rows, lab, session, watch or REFRESH_S))
            if not watch:
                return rows
            time.sleep(watch)
    except KeyboardInterrupt:  # --watch ends with Ctrl-C
        return rows
