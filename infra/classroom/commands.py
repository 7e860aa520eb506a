"""What each `invoke classroom ...` task does (tasks.py parses the arguments and calls these).

A classroom lives in its session's folder (`paths.session_dir(session)`), beside the session's own files:
its classroom/ files (infra.classroom.record) and each student's students/<id>/kubeconfig (0600,
infra.classroom.credentials).

Every check that can fail on bad input (roster, lab, target, tenancy, limits) runs before anything is
created. No Pulumi import here: the render and the program are imported only where they run.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from infra import commands as core
from infra.catalog import Catalog, Lab
from infra.classroom.record import (ClassroomRecord, classroom_dir, drop_departed, issue_download_tokens, load_record,
                                    previous_record, roster_file, stack_lab, still_started)
from infra.classroom.roster import Student, dump_roster, load_students
from infra.errors import LabsError
from infra.settings import StackSettings

TENANCIES = ("namespace", "cluster")


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
    fields = ("id", "name", "group", "namespace", "service_account", "host_suffix", "lab_hosts")
    document["students"] = [{key: entry[key] for key in fields if key in entry} for entry in document["students"]]
    document["tenancy"] = tenancy
    return document


def classroom_render(settings: StackSettings, students: object = None, roster: str | None = None,
                     lab_ref: str | None = None, tenancy: str = "namespace", fmt: str = "json",
                     group_size: int = 1) -> str:
    from infra.render import check_format, serialize

    check_format(fmt)
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
    return serialize(document, fmt)


# --- up / down ------------------------------------------------------------------------------------

def classroom_up(settings: StackSettings, students: object = None, roster: str | None = None,
                 lab_ref: str | None = None, tenancy: str = "namespace", server: str | None = None,
                 yes: bool = False, group_size: int = 1, parallel: int | None = None) -> ClassroomRecord:
    """Bring the classroom up: the tenancy (or a cluster per student), then each student's kubeconfig."""
    from infra.driver import session_kubeconfig
    from infra.paths import write_private

    check_tenancy(tenancy)
    class_ = load_students(students, roster)
    core.require_target_sdk(settings)
    lab = _lab(lab_ref)
    previous = previous_record(settings.session)
    if previous and previous.tenancy != tenancy:
        raise LabsError(f"session '{settings.session}' already has a {previous.tenancy}-tenancy classroom: "
                        f"`invoke classroom down --session={settings.session}` first")
    if tenancy == "cluster":
        from infra.classroom.fanout import cluster_up

        return cluster_up(settings, class_, lab, group_size=group_size, parallel=parallel, yes=yes, server=server)
    from infra.clusters import get_target
    from infra.clusters.capabilities import target_capabilities

    target = get_target(settings.target)
    target.preflight(settings)
    check_isolation(target_capabilities(settings))
    settings = core.confirm_cloud_cost(settings, yes, len(class_))
    driver = core.make_driver(settings.session)
    lab_slug = lab.slug if lab else stack_lab(driver, settings)
    from infra.classroom.objects import SHARED_CLUSTER_NOTES, WHOLE_CLUSTER_LABS

    if lab_slug in WHOLE_CLUSTER_LABS:
        core.console.print(f"[yellow]note: lab {lab_slug} works on the cluster itself (its nodes): on a shared cluster "
                           "the students share that too and its workloads exceed their quota; --tenancy=cluster "
                           "gives each their own, or show it as a demonstration[/yellow]", soft_wrap=True)
    elif lab_slug in SHARED_CLUSTER_NOTES:
        core.console.print(f"[yellow]note: on a shared cluster, lab {lab_slug}: "
                           f"{SHARED_CLUSTER_NOTES[lab_slug]}[/yellow]", soft_wrap=True, highlight=False)
    from infra import sessions

    from infra.classroom.credentials import cluster_access, expiration_seconds, issue_kubeconfigs, students_dir

    now = sessions.utc_now()
    session_record = sessions.planned(settings, now)
    expiration_seconds(session_record.expires)  # an expired session: say so before anything changes
    file = write_private(roster_file(settings.session), dump_roster(class_, "namespace"))
    settings = replace(settings, lab=lab_slug, roster=str(file))
    with sessions.recording(settings, now):
        driver.up(settings, f"classroom of {len(class_)} students on {settings.stack_name}")
    kubeconfig = session_kubeconfig(settings.session)
    settings = core.publish_at_ingress_address(settings, lab or _lab(lab_slug or None), driver, (str(kubeconfig), None))
    issued = issue_kubeconfigs(settings.session, class_, kubeconfig, session_record.expires, server=server)
    drop_departed(settings.session, class_)
    issue_download_tokens(settings.session, class_)
    caps = target_capabilities(settings)
    record = ClassroomRecord(
        session=settings.session, target=settings.target, tenancy="namespace", lab=lab_slug,
        server=server or cluster_access(kubeconfig).server, base_domain=caps.base_domain, http_port=caps.http_port,
        expires_at=session_record.expires_at, serve_url=previous.serve_url if previous else "",
        started=still_started(previous, class_),
    )
    record.save()
    _warn_if_local(record.server)
    if lab:
        from infra.classroom.starting_points import apply_starting_points

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


def _warn_if_local(server: str) -> None:
    from urllib.parse import urlsplit

    host = urlsplit(server).hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        core.console.print(f"[yellow]note: the students' kubeconfigs point at {server}, this machine only: for students "
                           "on their own machines, start the session with --api-server-address=<this machine's LAN "
                           "address> on kind (see the README's classroom section)[/yellow]", soft_wrap=True)


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
