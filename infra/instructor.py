"""What the instructor's machine runs beside the labs: `images list|pull|cache-up|cache-down` and
`session list|extend`. tasks.py parses arguments and calls these, like infra.commands.

No Pulumi import at module level (the render, which needs it, is imported by `images list|pull` only).
"""
from __future__ import annotations

from datetime import datetime

from rich.markup import escape
from rich.table import Table

from infra.commands import console, out
from infra.settings import StackSettings


def _say(line: str) -> None:
    console.print(escape(line), highlight=False, soft_wrap=True)


def images_list(ref: str, settings: StackSettings, sources: bool = False) -> list[str]:
    """Print the images the lab(s) need, grouped by registry; returns the references."""
    from infra.images import UPSTREAM_REGISTRIES, charts_dir, lab_images

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
        _say(f"note: chart reference data absent ({charts_dir()}): the {derived} images marked *appVersion take "
             "their tag from the chart's appVersion, unconfirmed by its values.yaml; images that only the "
             "chart's values name (sidecars, hooks) are not listed")
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
    from infra.sessions import _now, duration, list_sessions

    now = now or _now()
    sessions = list_sessions(now)
    if not sessions:
        out.print("no sessions on this machine (a session starts with `invoke lab up`)")
        return
    table = Table(title="Sessions (invoke session down --session=<name> removes one)")
    for column in ("session", "target", "age", "expires", "stacks", "cost so far"):
        table.add_column(column, overflow="fold")
    for info in sessions:
        record = info.record
        if record is None:
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


def session_extend(session: str, hours: int) -> None:
    from infra.sessions import extend

    record = extend(session, hours)
    _say(f"session '{session}' now expires at {record.expires_at}")
