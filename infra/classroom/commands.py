"""What each `invoke classroom ...` task does (tasks.py parses the arguments and calls these).

A classroom lives in its session's folder (`paths.session_dir(session)`), beside the session's own files:

  classroom/roster.json      the normalized roster (0600: names and emails); the stack's `roster` setting
  classroom/classroom.json   target, tenancy, lab, API server, the download URL base once served (0600)
  classroom/downloads.json   one unguessable download token per student, for `classroom serve` (0600)
  classroom/grafana.json     each student's Grafana password, when the lab uses monitoring (0600)
  students/<id>/kubeconfig   each student's kubeconfig (0600)

Every check that can fail on bad input (roster, lab, target, tenancy, limits) runs before anything is
created. No Pulumi import here: the render and the program are imported only where they run.
"""
from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from infra import commands as core
from infra import paths
from infra.catalog import Catalog, Lab
from infra.classroom.roster import Student, dump_roster, load_roster_json, load_students
from infra.errors import LabsError
from infra.settings import StackSettings

TENANCIES = ("namespace", "cluster")
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
        from infra.driver import write_private

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


def check_tenancy(tenancy: str) -> str:
    if tenancy not in TENANCIES:
        raise LabsError(f"unknown tenancy '{tenancy}': use --tenancy=namespace (one shared cluster) "
                        "or --tenancy=cluster (a cluster per student)")
    return tenancy


def check_isolation(caps) -> None:
    """Namespace tenancy isolates students with NetworkPolicies: refuse a target whose network does not
    enforce them. kwok is the exception: no container runs there, so no traffic can cross namespaces
    and the classroom still isolates what exists, at the API level (RBAC, quotas): a warning says so."""
    if caps.network_policy_enforced:
        return
    if caps.containers_run:
        raise LabsError(f"--tenancy=namespace needs NetworkPolicies enforced, and the {caps.provider} cluster does "
                        "not enforce them: students could reach each other's pods. Use --tenancy=cluster, or a "
                        "target that enforces them (kind, gke, eks, aks)")
    core.console.print(f"[yellow]note: {caps.provider} runs no container, so its NetworkPolicies are not enforced: "
                       "the classroom isolates students at the API level only (RBAC, quotas)[/yellow]",
                       soft_wrap=True)


def _lab(ref: str | None, catalog: Catalog | None = None) -> Lab | None:
    return (catalog or Catalog.load()).resolve(ref) if ref else None


# --- render ---------------------------------------------------------------------------------------

def _object_order(obj: dict) -> tuple:
    """Objects grouped by namespace (a Namespace with its contents), cluster-scoped ones first."""
    meta = obj.get("metadata") or {}
    group = meta.get("name", "") if obj.get("kind") == "Namespace" else meta.get("namespace", "")
    return (group, obj.get("kind") != "Namespace", obj.get("kind", ""), meta.get("name", ""))


def render_classroom(settings: StackSettings, students: list[Student], lab: Lab | None, catalog: Catalog,
                     tenancy: str = "namespace") -> dict:
    """The render document of a namespace-tenancy classroom: `lab render`'s contract (the program
    under the mock runtime, through infra.render), with `students` beside `objects`."""
    import tempfile

    from infra.render import render_lab

    with tempfile.TemporaryDirectory(prefix="classroom-render-") as folder:
        file = Path(folder) / "roster.json"
        file.write_text(dump_roster(students, tenancy))
        document = render_lab(lab, replace(settings, lab=lab.slug if lab else "", roster=str(file)), catalog)
    document["objects"].sort(key=_object_order)
    fields = ("id", "name", "group", "namespace", "service_account", "host_suffix", "lab_hosts")
    document["students"] = [{key: entry[key] for key in fields if key in entry} for entry in document["students"]]
    document["tenancy"] = tenancy
    return document


def classroom_render(settings: StackSettings, students: object = None, roster: str | None = None,
                     lab_ref: str | None = None, tenancy: str = "namespace", fmt: str = "json",
                     group_size: int = 1) -> str:
    import yaml

    if fmt not in ("json", "yaml"):
        raise LabsError(f"unknown format '{fmt}': use --format=json or --format=yaml")
    check_tenancy(tenancy)
    class_ = load_students(students, roster)
    core.require_target_sdk(settings)
    catalog = Catalog.load()
    lab = _lab(lab_ref, catalog)
    if tenancy == "cluster":
        from infra.classroom.fanout import plan_tenants

        plan = plan_tenants(settings, class_, group_size)
        document: dict | list = [render_classroom(tenant.settings, tenant.students, lab, catalog, "cluster")
                                 for tenant in plan]
    else:
        document = render_classroom(settings, class_, lab, catalog)
    if fmt == "yaml":
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return json.dumps(document, indent=2, ensure_ascii=False)


# --- up / down ------------------------------------------------------------------------------------

def _current_lab(driver, settings: StackSettings) -> str:
    """The lab the session's stack has now ("" for a new stack): `classroom up` without --lab keeps it."""
    if settings.stack_name not in driver.list_stacks():
        return ""
    return driver.stack_settings(settings.stack_name).lab


def kept_secrets(session: str, name: str, students: list[Student], nbytes: int) -> dict[str, str]:
    """One random secret per student in `classroom/<name>` (0600), kept across `classroom up` runs so
    printed cards stay valid; students no longer in the roster are dropped."""
    from infra.driver import write_private

    known = read_secrets(session, name)
    values = {s.id: known.get(s.id) or secrets.token_urlsafe(nbytes) for s in students}
    write_private(classroom_dir(session) / name, json.dumps(values, indent=2) + "\n")
    return values


def read_secrets(session: str, name: str) -> dict[str, str]:
    try:
        return json.loads((classroom_dir(session) / name).read_text())
    except (OSError, ValueError):
        return {}


def _download_tokens(session: str, students: list[Student]) -> dict[str, str]:
    """One unguessable download token per student (192 bits)."""
    return kept_secrets(session, DOWNLOADS, students, 24)


def download_tokens(session: str) -> dict[str, str]:
    return read_secrets(session, DOWNLOADS)


def _drop_departed(session: str, students: list[Student]) -> None:
    """Kubeconfig folders of students no longer in the roster (their ServiceAccounts are gone too)."""
    from infra.classroom.credentials import students_dir

    keep = {s.id for s in students}
    folder = students_dir(session)
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)


def classroom_up(settings: StackSettings, students: object = None, roster: str | None = None,
                 lab_ref: str | None = None, tenancy: str = "namespace", server: str | None = None,
                 yes: bool = False, group_size: int = 1, parallel: int | None = None) -> ClassroomRecord:
    """Bring the classroom up: the tenancy (or a cluster per student), then each student's kubeconfig."""
    from infra.driver import session_kubeconfig, write_private

    check_tenancy(tenancy)
    class_ = load_students(students, roster)
    core.require_target_sdk(settings)
    lab = _lab(lab_ref)
    previous = _previous_record(settings.session)
    if previous and previous.tenancy != tenancy:
        raise LabsError(f"session '{settings.session}' already has a {previous.tenancy}-tenancy classroom: "
                        f"`invoke classroom down --session={settings.session}` first")
    if tenancy == "cluster":
        from infra.classroom.fanout import cluster_up

        return cluster_up(settings, class_, lab, group_size=group_size, parallel=parallel, yes=yes, server=server)
    from infra.clusters import get_target

    target = get_target(settings.target)
    target.preflight(settings)
    check_isolation(target.capabilities(settings))
    settings = core.confirm_cloud_cost(settings, yes, len(class_))
    driver = core.make_driver(settings.session)
    lab_slug = lab.slug if lab else _current_lab(driver, settings)
    from infra.classroom.objects import SHARED_CLUSTER_NOTES, WHOLE_CLUSTER_LABS

    if lab_slug in WHOLE_CLUSTER_LABS:
        core.console.print(f"[yellow]note: lab {lab_slug} works on the cluster itself (its nodes): on a shared cluster "
                           "the students share that too and its workloads exceed their quota; --tenancy=cluster "
                           "gives each their own, or show it as a demonstration[/yellow]", soft_wrap=True)
    elif lab_slug in SHARED_CLUSTER_NOTES:
        core.console.print(f"[yellow]note: on a shared cluster, lab {lab_slug}: "
                           f"{SHARED_CLUSTER_NOTES[lab_slug]}[/yellow]", soft_wrap=True, highlight=False)
    from infra import sessions

    from infra.classroom.credentials import expiration_seconds, issue_kubeconfigs, students_dir

    session_record = sessions.record(settings)
    expiration_seconds(session_record.expires)  # an expired session: say so before anything changes
    file = write_private(roster_file(settings.session), dump_roster(class_, "namespace"))
    settings = replace(settings, lab=lab_slug, roster=str(file))
    driver.up(settings, f"classroom of {len(class_)} students on {settings.stack_name}")
    kubeconfig = session_kubeconfig(settings.session)
    settings = core.publish_at_ingress_address(settings, lab or _lab(lab_slug or None), driver, (str(kubeconfig), None))
    issued = issue_kubeconfigs(settings.session, class_, kubeconfig, session_record.expires, server=server)
    _drop_departed(settings.session, class_)
    _download_tokens(settings.session, class_)
    caps = target.capabilities(settings)
    record = ClassroomRecord(
        session=settings.session, target=settings.target, tenancy="namespace", lab=lab_slug,
        server=server or _server_of(kubeconfig), base_domain=caps.base_domain, http_port=caps.http_port,
        expires_at=session_record.expires_at, serve_url=previous.serve_url if previous else "",
        started=_still_started(previous, class_),
    )
    record.save()
    _warn_if_local(record.server)
    if lab:
        apply_starting_points(record, class_, lab, parallel)
    from infra.classroom.grafana import grafana_accounts, uses_grafana

    if uses_grafana(lab or _lab(lab_slug or None)):
        if caps.containers_run:
            grafana_accounts(settings.session, class_, str(kubeconfig))
            core.console.print("Grafana: one login per student (role Editor), printed on their card only")
        else:  # Grafana's API answers from a running process: there is none on this target
            core.console.print(f"[yellow]Grafana: students' logins skipped on {settings.target} (no container runs "
                               "there, so Grafana cannot answer)[/yellow]", soft_wrap=True)
    core.console.print(
        f"[green]classroom ready[/green]: {len(class_)} students in their namespaces on {settings.stack_name}; "
        f"{len(issued)} kubeconfigs (valid until {session_record.expires_at}) in {students_dir(settings.session)}. "
        f"Next: invoke classroom cards --session={settings.session}"
    )
    return record


# --- the lab's starting point in every student's namespace ------------------------------------------

STARTING_POINT_PARALLEL = 8  # namespaces applied at once (each a `kubectl apply` against the API server)


def _still_started(previous: ClassroomRecord | None, students: list[Student]) -> dict:
    keep = {s.id for s in students}
    return {sid: lab for sid, lab in ((previous.started if previous else None) or {}).items() if sid in keep}


def apply_starting_points(record: ClassroomRecord, students: list[Student], lab: Lab,
                          parallel: int | None = None) -> list[str]:
    """`classroom up --lab`: the lab's starting point (manifests/, retargeted by infra.manifests: no
    Namespace, the student's namespace and host names) in each student's namespace, a few at a time,
    with the instructor's kubeconfig of the cluster the student is on.

    Only where this lab's starting point is not there yet (a new student, or a new lab for the class):
    `classroom up` again (to add a student) never resets someone's work; `invoke lab reset --lab=...
    --student=<id>` does that for one student. When the class moves on to another lab, the previous
    lab's objects (its starting point and solution, by name) leave each namespace first: they would
    otherwise pile up lab after lab until the quota refuses the next lab's pods, silently (a Deployment
    is accepted, its ReplicaSet gets no pod). Failures are reported together at the end, after the
    others are done; running the same command again retries them. Returns the students applied."""
    from concurrent.futures import ThreadPoolExecutor

    from infra.classroom.board import kubeconfig_for
    from infra.manifests import load_lab_objects, retarget

    if parallel is not None and parallel < 1:
        raise LabsError(f"--parallel must be 1 or more, got {parallel}")
    todo = [s for s in students if record.started.get(s.id) != lab.slug]
    if not todo:
        return []
    starting_point = load_lab_objects(lab, ("manifests",))
    skipped = retarget(starting_point, lab.namespace, todo[0].namespace).skipped
    if skipped:
        core.console.print(f"[yellow]{lab.id}: left out of every student's namespace (they live in another "
                           f"namespace of the lab): {', '.join(skipped)}[/yellow]", soft_wrap=True)
    catalog = Catalog.load()
    earlier = {slug: (catalog.resolve(slug), load_lab_objects(catalog.resolve(slug), ("solution", "manifests")))
               for slug in {record.started.get(s.id) for s in todo} - {None, "", lab.slug}}
    if earlier:
        core.console.print(f"{lab.id}: removing the objects of {', '.join(sorted(earlier))} from the students' "
                           "namespaces first (the class moves on; anything made under other names stays)")

    def one(student: Student) -> str:
        kubeconfig = kubeconfig_for(record, student)
        before = earlier.get(record.started.get(student.id, ""))
        if before:
            previous_lab, objects = before
            gone = retarget(objects, previous_lab.namespace, student.namespace, student.id, record.base_domain)
            if gone.objects:
                _delete_objects(gone.yaml, kubeconfig)
        result = retarget(starting_point, lab.namespace, student.namespace, student.id, record.base_domain)
        if result.objects:
            core._kubectl(["apply", "-f", "-"], kubeconfig, None, stdin=result.yaml)
        return ""

    def guarded(student: Student) -> str:
        try:
            return one(student)
        except LabsError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=min(parallel or STARTING_POINT_PARALLEL, len(todo))) as pool:
        errors = dict(zip([s.id for s in todo], pool.map(guarded, todo)))
    done = [sid for sid, error in errors.items() if not error]
    record.started.update({sid: lab.slug for sid in done})
    record.save()
    failed = {sid: error for sid, error in errors.items() if error}
    if done:
        core.console.print(f"{lab.id}: starting point applied in {len(done)} student namespace(s)")
    if failed:
        first = next(iter(failed))
        raise LabsError(f"{lab.id}: the starting point failed in {len(failed)} of {len(todo)} student namespaces "
                        f"({first}: {failed[first]}); run the same command again to retry them")
    return done


GONE_WITH_THEIR_CRD = ("no matches for kind", "resource mapping not found", "ensure CRDs are installed first")


def _delete_objects(manifests: str, kubeconfig: str) -> None:
    """`kubectl delete` of these objects, where kinds whose CRD went with a layer count as deleted
    (their objects went with the CRD); any other failure is one line."""
    done = core._kubectl(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], kubeconfig, None,
                         check=False, stdin=manifests)
    errors = [line for line in (done.stderr or "").splitlines()
              if line.strip() and not any(mark in line for mark in GONE_WITH_THEIR_CRD)]
    if done.returncode != 0 and errors:
        raise LabsError(f"`kubectl delete` of the previous lab's objects failed: {errors[-1]}")


def _warn_if_local(server: str) -> None:
    from urllib.parse import urlsplit

    host = urlsplit(server).hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        core.console.print(f"[yellow]note: the students' kubeconfigs point at {server}, this machine only: for students "
                           "on their own machines, start the session with --api-server-address=<this machine's LAN "
                           "address> on kind (see the README's classroom section)[/yellow]", soft_wrap=True)


def _previous_record(session: str) -> ClassroomRecord | None:
    try:
        return load_record(session)
    except LabsError:
        return None


def _server_of(kubeconfig: Path) -> str:
    from infra.classroom.credentials import cluster_access

    return cluster_access(kubeconfig).server


def classroom_down(session: str) -> None:
    """Remove the classroom: the students' tenancy (or their clusters), kubeconfigs and classroom files.
    The cluster and the lab layers stay (`session down` removes everything)."""
    from infra.classroom.credentials import students_dir

    record = load_record(session)
    if record.tenancy == "cluster":
        from infra.classroom.fanout import cluster_down, remove_shared_network

        cluster_down(record)
        remove_shared_network(session)
    else:
        driver = core.make_driver(session)
        stack = StackSettings(session=session, target=record.target).stack_name
        if stack in driver.list_stacks():
            current = replace(driver.stack_settings(stack), session=session, target=record.target)
            driver.up(replace(current, roster=""), f"removing the classroom from {stack}")
    shutil.rmtree(students_dir(session), ignore_errors=True)
    shutil.rmtree(classroom_dir(session), ignore_errors=True)
    core.console.print(f"classroom of session '{session}' removed (students' namespaces, identities and kubeconfigs); "
                       f"the cluster stays: `invoke session down --session={session}` removes everything")
