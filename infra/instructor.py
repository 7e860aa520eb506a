"""What the instructor's machine runs beside the labs: `images list|pull|cache-up|cache-down` and
`session list|extend|down`. tasks.py parses arguments and calls these, like infra.commands.

No Pulumi import at module level (the render, which needs it, is imported by `images list|pull` only).
"""
from __future__ import annotations

from datetime import datetime

from rich.markup import escape
from rich.table import Table

from infra import commands
from infra.commands import console, out
from infra.settings import StackSettings


def _say(line: str) -> None:
    console.print(escape(line), highlight=False, soft_wrap=True)


def images_list(ref: str, settings: StackSettings, sources: bool = False) -> list[str]:
    """Print the images the lab(s) need, grouped by registry; returns the references."""
    from infra.images import UPSTREAM_REGISTRIES, lab_images

    report = lab_images(ref, settings)
    for registry, images in report.by_registry().items():
        cached = "" if registry in UPSTREAM_REGISTRIES else "  (no cache for this registry: pulled directly)"
        out.print(f"[bold]{escape(registry)}[/bold] ({len(images)}){cached}", highlight=False, soft_wrap=True)
        for image in images:
            flag = "  *appVersion" if image.from_app_version else ""
            why = f"  <- {', '.join(sorted(image.sources))}" if sources else ""
            out.print(f"  {escape(image.ref)}{flag}{escape(why)}", highlight=False, soft_wrap=True)
    labs = ", ".join(report.labs) if len(report.labs) <= 3 else f"{len(report.labs)} labs"
    out.print(f"{len(report.images)} images from {len(report.by_registry())} registries ({labs}, target {settings.target})",
              highlight=False)
    if not report.reference_data:
        derived = sum(image.from_app_version for image in report.images.values())
        chart, why = sorted(report.unavailable.items())[0]
        _say(f"note: {len(report.unavailable)} chart(s) could not be read, e.g. {chart}: {why}. The {derived} images "
             "marked *appVersion take their tag from the chart's appVersion, unconfirmed by its values.yaml; images "
             "that only the chart's values name (sidecars, hooks) are not listed")
    for chart in sorted(report.uncovered):
        _say(f"warning: no image rule for chart {chart}: its images are not listed (add one in infra/images.py)")
    return report.refs


def images_pull(ref: str, settings: StackSettings) -> bool:
    """Warm the cache with every image the lab(s) need; True when all were pulled."""
    from infra.imagecache import pull
    from infra.images import lab_images

    images = lab_images(ref, settings).refs
    _say(f"pulling {len(images)} images through the cache of session '{settings.session}'")
    results = pull(images, settings.session, say=_say)
    return all(result.ok for result in results)


def images_cache_up(settings: StackSettings) -> None:
    from infra.imagecache import cache_up

    if settings.target != "kind":
        from infra.errors import LabsError

        raise LabsError(f"the image cache wires kind nodes only (target '{settings.target}'): use --target=kind")
    cache_up(settings.session, say=_say)


def images_cache_down(volumes: bool = False) -> None:
    from infra.imagecache import cache_down

    cache_down(remove_volumes=volumes, say=_say)


def session_list(now: datetime | None = None) -> None:
    from infra.sessions import duration, list_sessions, utc_now

    now = now or utc_now()
    sessions = list_sessions(now)
    if not sessions:
        out.print("no sessions on this machine (a session starts with `invoke lab up`)")
        return
    table = Table(title="Sessions (invoke session down --session=<name> removes one)")
    for column in ("session", "target", "age", "expires", "stacks", "cost so far"):
        table.add_column(column, overflow="fold")
    for info in sessions:
        record = info.record
        if info.problem:
            target, age, expires = "?", "?", "[red]unreadable record (below)[/red]"
        elif record is None:
            age = expires = "?"
            target = "?"
        else:
            target = ", ".join(record.targets) or "?"
            age = duration(now - record.created) if record.created else "?"
            if record.expires is None:
                expires = "?"
            elif record.expired(now):
                expires = f"[red]expired {duration(now - record.expires)} ago[/red]"
            else:
                expires = f"in {duration(record.expires - now)}"
        table.add_row(escape(info.session), escape(target), age, expires, escape(", ".join(info.stacks) or "-"),
                      escape(info.cost))
    out.print(table)
    for info in sessions:
        if info.problem:
            console.print(f"[red]error:[/red] {escape(info.problem)}", highlight=False, soft_wrap=True)


def session_extend(session: str, hours: int) -> None:
    from infra.sessions import extend

    record = extend(session, hours)
    _say(f"session '{session}' now expires at {record.expires_at}")


def session_down(session: str) -> None:
    """Destroy every stack of the session, delete its cluster, remove its state and stack files.

    A kind stack is not destroyed release by release: its cluster is deleted, then its state removed
    (`PulumiDriver.destroy_session`).

    Cloud stacks first release what bills outside Pulumi's state (`commands.release_cloud_stack`). A
    step that fails (the cluster failed to create, was deleted, cannot be reached, its credentials
    expired) is reported and the teardown goes on: the destroy always runs, so the cluster stops
    billing. When anything failed, the command ends with one line naming every failure and exits
    non-zero; when the destroy itself fails, the session's state is kept so the same command can run
    again.

    A session whose state holds nothing (a first `up` that failed before creating anything) needs no
    destroy: its files go without the Pulumi CLI.
    """
    from infra.classroom.fanout import remove_tenant_clusters
    from infra.clusters import CLOUD_TARGETS, LOCAL_TARGET_TOOLS, TARGETS, get_target
    from infra.errors import LabsError
    from infra.paths import check_session_name
    from infra.sessions import created_resources, remove_files

    check_session_name(session)
    failures: list[str] = []
    try:
        remove_tenant_clusters(session)  # a classroom's cluster per student, each a session of its own
    except LabsError as exc:
        failures.append(str(exc))
    destroyed: list[str] = []
    clouds: list[str] = []
    if created_resources(session) != []:
        driver = commands.make_driver(session)
        for stack in driver.list_stacks():
            target = stack[len(session) + 1:] if stack.startswith(f"{session}-") else stack.rsplit("-", 1)[-1]
            if target in CLOUD_TARGETS:
                clouds.append(target)
                failures += commands.release_cloud_stack(driver, session, stack, target)
        try:
            destroyed = driver.destroy_session()
        except LabsError as exc:
            raise LabsError(_failed_steps([*failures, str(exc)]) + "; the session's state is kept: run "
                            f"`invoke session down --session={session}` again") from None
    orphans = [f"invoke session orphans --target={target} --session={session}" for target in sorted(set(clouds))]
    # A local cluster whose state was lost would survive the destroy: delete it by name as well (no
    # kind or kwokctl CLI, as on a cloud-only machine, means no cluster of ours to delete).
    from infra import toolchain

    for target, tool in LOCAL_TARGET_TOOLS.items():
        if toolchain.find_tool(tool):
            try:
                get_target(target).cleanup(StackSettings(session=session, target=target))
            except LabsError as exc:
                failures.append(str(exc))
    from infra.imagecache import unwire

    unwire(session)  # its containerd mirrors (hosts.toml); the cache itself serves the other sessions
    remove_files(session)
    console.print(f"session '{session}' removed ({', '.join(destroyed) or 'no stacks'}; targets known: {', '.join(TARGETS)})")
    for command in orphans:
        console.print(f"check that nothing of it still bills: {command}")
    if failures:
        raise LabsError(_failed_steps(failures) + (f"; check what may remain: {'; '.join(orphans)}" if orphans else ""))


def _failed_steps(failures: list[str]) -> str:
    return f"{len(failures)} step(s) of the teardown failed: " + " | ".join(failures)
