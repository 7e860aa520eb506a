"""Cluster tenancy: a cluster per student (or per group of K students), created in parallel, bounded.

Each cluster is a session of its own, `<session>-<student>` (or `<session>-team-NN` for groups): its own
stack (`<session>-<student>-<target>`, in that session's own state folder), kind cluster
(`labs-<session>-<student>`), kubeconfig and logs, so the clusters never share a file while they are
created side by side, and `invoke session list` shows each. The classroom's session records them
(`classroom.json`, `tenants`, each with its status: creating, ready or failed) before any stack is
touched: `classroom down` and `session down` of the classroom's session destroy them all, failed ones
included. In each cluster the same tenancy objects as on a shared cluster are created, except that
the students' ServiceAccount is bound to cluster-admin: the cluster is theirs.

kind runs every cluster on this one machine: at most MAX_CLUSTERS["kind"] (memory, see below); each
kind cluster listens on its own host ports (8080+i / 8443+i by default). kwok runs each control plane
as local processes: as many as this machine's available memory holds (KWOK_CLUSTER_MB each), said
before anything is made. Clouds take more.

Each cluster's `up` goes through the driver like any stack (`make_tenant_driver`: a PulumiDriver whose
live progress goes to that session's `progress.log`, not to the shared screen); the screen shows one
line per cluster as it finishes. One cluster failing does not stop the others: every student whose
cluster came up gets a kubeconfig, and the failures are reported together at the end.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

from infra import commands as core
from infra import paths
from infra.catalog import Lab
from infra.classroom.roster import Student, dump_roster
from infra.errors import LabsError
from infra.settings import StackSettings

# kind: every cluster's nodes are containers on the instructor's machine, each cluster 1.5 to 3 GB of
# memory before any lab (control plane, kubelets, CNI, the lab layers on top).
MAX_CLUSTERS = {"kind": 4, "kwok": 50, "gke": 50, "eks": 50, "aks": 50}
# kwok: a control plane with a lab's layers (etcd, API server, controller manager, scheduler, kwok)
# held about 750 MB, measured with the ingress layer; 1 GB leaves room for the engine while it runs.
KWOK_CLUSTER_MB = 1024
PARALLEL = {"kind": 2, "kwok": 2}  # clouds: DEFAULT_PARALLEL
DEFAULT_PARALLEL = 4
KIND_HTTP_BASE, KIND_HTTPS_BASE = 8080, 8443


@dataclass
class Tenant:
    name: str  # the student's id, or team-NN
    session: str  # the cluster's own session: <classroom session>-<name>
    students: list[Student]
    settings: StackSettings  # the cluster's stack settings (its session, its host ports)


def make_tenant_driver(session: str):
    """A driver for one tenant's stack whose live progress goes to the tenant session's progress.log."""
    from rich.console import Console

    from infra.driver import PulumiDriver

    log = paths.session_dir(session) / "progress.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return PulumiDriver(session, Console(file=log.open("a", encoding="utf-8"), width=120, force_terminal=False))


def available_memory_mb() -> int:
    """Memory this machine can still give (MemAvailable on Linux; else half of the physical memory)."""
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2 // 2**20


def cluster_limit(target: str) -> tuple[int, str]:
    """How many clusters --tenancy=cluster may make on `target`, and why no more."""
    if target == "kind":
        return MAX_CLUSTERS["kind"], "kind runs every cluster on this machine and each takes 1.5 to 3 GB of memory before any lab"
    if target == "kwok":
        available = available_memory_mb()
        return (min(MAX_CLUSTERS["kwok"], available // KWOK_CLUSTER_MB),
                f"each kwok control plane takes about {KWOK_CLUSTER_MB} MB of this machine's memory "
                f"({available} MB available now)")
    return MAX_CLUSTERS.get(target, 0), "each is a billed cloud cluster"


def plan_tenants(settings: StackSettings, students: list[Student], group_size: int = 1) -> list[Tenant]:
    """Who goes on which cluster; every limit is checked here, before anything is created."""
    if group_size < 1:
        raise LabsError(f"--group-size must be 1 or more, got {group_size}")
    clusters = math.ceil(len(students) / group_size)
    limit, why = cluster_limit(settings.target)
    if clusters > limit:
        raise LabsError(f"--tenancy=cluster would create {clusters} {settings.target} clusters; at most {limit}: {why}. "
                        "Use --tenancy=namespace (one shared cluster), a larger --group-size"
                        + (", or a cloud target" if settings.target in ("kind", "kwok") else ""))
    tenants = []
    for index in range(clusters):
        members = students[index * group_size:(index + 1) * group_size]
        name = members[0].id if group_size == 1 else f"team-{index + 1:02d}"
        session = f"{settings.session}-{name}"
        try:
            paths.check_session_name(session)
        except LabsError:
            raise LabsError(f"--tenancy=cluster names each cluster's session <session>-<student>, and '{session}' "
                            "is longer than 20 characters: use a shorter --session, --students=N, "
                            "or --group-size") from None
        ports = {}
        if settings.target == "kind":
            http = KIND_HTTP_BASE if settings.http_port == 80 else settings.http_port
            https = KIND_HTTPS_BASE if settings.https_port == 443 else settings.https_port
            ports = {"http_port": http + index, "https_port": https + index}
        tenants.append(Tenant(name, session, members, replace(settings, session=session, **ports)))
    return tenants


def _tenant_up(tenant: Tenant, lab: Lab | None) -> dict:
    from infra import sessions
    from infra.classroom.record import roster_file, stack_lab
    from infra.paths import write_private

    driver = make_tenant_driver(tenant.session)
    settings = tenant.settings
    lab_slug = lab.slug if lab else stack_lab(driver, settings)
    file = write_private(roster_file(tenant.session), dump_roster(tenant.students, "cluster"))
    with sessions.recording(settings):
        driver.up(replace(settings, lab=lab_slug, roster=str(file)),
                  f"cluster of {tenant.name} ({len(tenant.students)} student(s)) on {settings.stack_name}")
    return {"lab": lab_slug}


def cluster_up(settings: StackSettings, students: list[Student], lab: Lab | None, group_size: int = 1,
               parallel: int | None = None, yes: bool = False, server: str | None = None):
    """Create (or converge) every tenant's cluster in parallel, then issue each student's kubeconfig."""
    from infra import sessions
    from infra.classroom.credentials import cluster_access, expiration_seconds, issue_kubeconfigs
    from infra.classroom.record import (ClassroomRecord, drop_departed, issue_download_tokens, previous_record,
                                        roster_file, still_started)
    from infra.classroom.starting_points import apply_starting_points
    from infra.clusters import get_target
    from infra.clusters.capabilities import target_capabilities
    from infra.driver import run_log, session_kubeconfig
    from infra.paths import write_private

    tenants = plan_tenants(settings, students, group_size)
    if parallel is not None and parallel < 1:
        raise LabsError(f"--parallel must be 1 or more, got {parallel}")
    workers = parallel or PARALLEL.get(settings.target, DEFAULT_PARALLEL)
    target = get_target(settings.target)
    for tenant in tenants:
        target.preflight(tenant.settings)
    settings = core.confirm_cloud_cost(settings, yes, group_size, clusters=len(tenants))
    # Each cluster carries the session's expiry fixed by the confirmation (never "set-at-first-up"), and
    # the pool sized there for its students.
    tenants = [replace(tenant, settings=replace(tenant.settings, expires_at=settings.expires_at,
                                                max_nodes=settings.max_nodes, workers=settings.workers))
               for tenant in tenants]
    now = sessions.utc_now()
    session_record = sessions.planned(settings, now)
    expiration_seconds(session_record.expires)  # an expired session: say so before any cluster is made
    write_private(roster_file(settings.session), dump_roster(students, "cluster"))

    previous = previous_record(settings.session)
    record = ClassroomRecord(session=settings.session, target=settings.target, tenancy="cluster",
                             lab=lab.slug if lab else "", expires_at=session_record.expires_at,
                             base_domain=target_capabilities(settings).base_domain,
                             started=still_started(previous, students))
    # Every cluster is recorded before its stack is touched, so `classroom down` and `session down`
    # destroy it whatever happens next (a layer failing, a cloud quota reached after the network was
    # made, Ctrl-C). An earlier run's cluster this run no longer plans (fewer students, other groups)
    # stays recorded, with no student on it, for the same reason.
    record.tenants = {name: {**entry, "students": []} for name, entry in (previous.tenants if previous else {}).items()}
    kept = sorted(set(record.tenants) - {tenant.name for tenant in tenants})
    if kept:
        core.console.print(f"[yellow]note: cluster(s) of an earlier `classroom up` with no student now: {', '.join(kept)}; "
                           f"`invoke classroom down --session={settings.session}` removes them[/yellow]", soft_wrap=True)
    for tenant in tenants:
        record.tenants[tenant.name] = {"session": tenant.session, "students": [s.id for s in tenant.students],
                                       "http_port": tenant.settings.http_port, "status": "creating"}
    record.save()
    tenants = shared_network(settings, tenants)

    failures: dict[str, str] = {}
    ready: list[Tenant] = []
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_tenant_up, tenant, lab): tenant for tenant in tenants}
            for done in as_completed(futures):
                tenant = futures[done]
                entry = record.tenants[tenant.name]
                try:
                    entry.update(lab=done.result()["lab"], status="ready")
                    ready.append(tenant)
                    core.console.print(f"{tenant.name}: cluster ready ({len(ready)}/{len(tenants)})")
                except LabsError as exc:
                    entry["status"] = "failed"
                    failures[tenant.name] = str(exc)
                    core.console.print(f"[red]{tenant.name}: {exc}[/red]")
    finally:  # the class's own session record, once a tenant's cluster created something (its record says so)
        if any(sessions.load(tenant.session) for tenant in tenants):
            sessions.record(settings, now)
    ready.sort(key=tenants.index)
    for tenant in ready:
        kubeconfig = session_kubeconfig(tenant.session)
        entry = record.tenants[tenant.name]
        try:  # one cluster's TokenRequest failing does not deprive the others of their kubeconfigs
            entry["server"] = server or cluster_access(kubeconfig).server
            issue_kubeconfigs(settings.session, tenant.students, kubeconfig, session_record.expires, server=server)
        except LabsError as exc:
            failures[tenant.name] = str(exc)
            core.console.print(f"[red]{tenant.name}: {exc}[/red]")
    drop_departed(settings.session, [s for t in ready for s in t.students])
    issue_download_tokens(settings.session, students)
    record.save()
    starting_error = None
    if lab:  # each ready student's namespace, in their own cluster
        try:
            apply_starting_points(record, [s for t in ready for s in t.students], lab, parallel)
        except LabsError as exc:
            starting_error = exc
    if failures:
        first = next(tenant for tenant in tenants if tenant.name in failures)
        raise LabsError(f"{len(failures)} of {len(tenants)} clusters failed ({', '.join(sorted(failures))}); the other "
                        f"students have their kubeconfigs. Run the same command again to retry, or `invoke classroom "
                        f"down --session={settings.session}` to remove every cluster, failed ones included "
                        f"(first failure's log: {run_log(first.session)})")
    if starting_error:
        raise starting_error
    core.console.print(f"[green]classroom ready[/green]: {len(ready)} clusters for {len(students)} students; "
                       f"next: invoke classroom cards --session={settings.session}")
    return record


def shared_network(settings: StackSettings, tenants: list[Tenant]) -> list[Tenant]:
    """EKS without a given vpcId: one network for the whole classroom, in the classroom session's own
    stack (`networkOnly`), instead of a VPC per cluster (AWS's default quota: five VPCs per region,
    docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html). Its clusters get it as their
    vpcId/subnetIds; `classroom down` and `session down` destroy it after them. Other targets: as is."""
    if settings.target != "eks" or settings.vpc_id:
        return tenants
    driver = core.make_driver(settings.session)
    outputs = driver.up(replace(settings, network_only=True, lab="", roster=""),
                        f"network shared by the classroom's {len(tenants)} clusters ({settings.stack_name})")
    vpc_id, subnet_ids = outputs["vpc_id"], ",".join(outputs["subnet_ids"])
    return [replace(tenant, settings=replace(tenant.settings, vpc_id=vpc_id, subnet_ids=subnet_ids))
            for tenant in tenants]


def remove_shared_network(session: str) -> None:
    """`classroom down`: the classroom's shared network, once its clusters are gone (a stack of the
    session that is not a network-only one is left alone: it is the instructor's own)."""
    driver = core.make_driver(session)
    stacks = driver.list_stacks()
    if stacks and all(driver.stack_settings(stack).network_only for stack in stacks):
        driver.destroy_session()


def cluster_down(record, parallel: int | None = None) -> list[str]:
    """Destroy every recorded tenant's cluster, failed ones included, and remove its session; returns
    the tenants removed. On a cloud, a cluster that came up at least once (its kubeconfig is there)
    first releases what bills outside Pulumi's state (load balancers, disks), as `session down` does;
    a release that fails is reported and the cluster is destroyed anyway (it stops billing), with the
    `session orphans` command that lists what may remain."""
    from infra.clusters import CLOUD_TARGETS, get_target
    from infra.driver import session_kubeconfig
    from infra.sessions import remove_files

    cloud = record.target in CLOUD_TARGETS

    def down(name: str, tenant: dict) -> str:
        session = tenant["session"]
        whole = tenant.get("status", "ready") == "ready"
        driver = make_tenant_driver(session)
        failures = []
        if cloud and session_kubeconfig(session).is_file():
            for stack in driver.list_stacks():
                failures += core.release_cloud_stack(driver, session, stack, record.target)
        for line in failures:
            core.console.print(f"[yellow]{name}: {line}; destroying its cluster anyway[/yellow]", soft_wrap=True)
        driver.destroy_session()
        get_target(record.target).cleanup(StackSettings(session=session, target=record.target))
        remove_files(session)
        if cloud and (failures or not whole):
            why = "its `up` had failed" if not whole else "its release failed"
            core.console.print(f"{name}: {why}: check that nothing of it still bills with "
                               f"`invoke session orphans --target={record.target} --session={session}`")
        return name

    workers = parallel or PARALLEL.get(record.target, DEFAULT_PARALLEL)
    removed, failures = [], {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(down, name, tenant): name for name, tenant in (record.tenants or {}).items()}
        for done in as_completed(futures):
            try:
                removed.append(done.result())
                core.console.print(f"{futures[done]}: cluster removed")
            except LabsError as exc:
                failures[futures[done]] = str(exc)
    if failures:
        name, message = sorted(failures.items())[0]
        raise LabsError(f"{len(failures)} clusters could not be removed (first: {name}: {message}); "
                        "run the same command again")
    return sorted(removed)


def remove_tenant_clusters(session: str) -> list[str]:
    """`session down`: the classroom's own clusters (cluster tenancy) go with the session."""
    from infra.classroom.record import previous_record

    record = previous_record(session)
    if record is None or record.tenancy != "cluster":
        return []
    return cluster_down(record)
