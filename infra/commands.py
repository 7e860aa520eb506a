"""What each CLI task does. tasks.py only parses arguments and calls these.

No Pulumi import at module level: `lab list` and `invoke --list` stay instant. Every check that can
fail on bad input (lab, target, options, prerequisites) runs before anything is created.
"""
from __future__ import annotations

import json
from dataclasses import replace

import yaml
from rich.console import Console
from rich.table import Table

from infra.catalog import Catalog
from infra.clusters import get_target
from infra.errors import LabsError
from infra.paths import check_session_name
from infra.settings import StackSettings

console = Console(stderr=True)
out = Console()


def make_driver(session: str):
    """The Pulumi driver for a session (tests replace this function with a fake)."""
    from infra.driver import PulumiDriver

    return PulumiDriver(session, console)


def stack_settings(target: str = "kind", session: str = "default", lab: str = "", **overrides) -> StackSettings:
    """Settings from the target's committed defaults, then the options given on the command line."""
    check_session_name(session)
    get_target(target)  # unknown target: one clear line
    given = {key: value for key, value in overrides.items() if value is not None}
    settings = StackSettings.for_target(target)
    return replace(settings.with_config(given, "command line"), session=session, lab=lab)


def lab_list() -> None:
    table = Table(title="Labs (invoke lab up --lab=<slug|number>)")
    for column in ("#", "slide", "slug", "layers", "min"):
        table.add_column(column)
    for lab in Catalog.load().labs:
        table.add_row(f"{lab.number:02d}", lab.slide, lab.slug, ", ".join(lab.layers) or "-", str(lab.duration))
    out.print(table)


def lab_show(ref: str, lang: str = "fr") -> None:
    lab = Catalog.load().resolve(ref)
    if lang not in lab.objectives:
        raise LabsError(f"unknown language '{lang}': use --lang=fr or --lang=en")
    out.print(f"[bold]{lab.number:02d} · {lab.slide}[/bold]  ({lab.slug}, ~{lab.duration} min)")
    out.print(f"layers: {', '.join(lab.layer_closure()) or '-'}")
    for objective in lab.objectives[lang]:
        out.print(f"  • {objective}")
    out.print(f"guide: {lab.path / f'README.{lang}.md'}")


def lab_up(ref: str, settings: StackSettings) -> dict:
    lab = Catalog.load().resolve(ref)
    settings = replace(settings, lab=lab.slug)
    get_target(settings.target).preflight(settings)
    outputs = make_driver(settings.session).up(settings, f"lab {lab.id} on {settings.stack_name}")
    guide = lab.path / "README.fr.md"
    console.print(f"[bold]{lab.slide}[/bold] ready. Guide: {guide} (English: README.en.md)")
    return outputs


def lab_down(settings: StackSettings) -> None:
    """Remove the lab's layers, keep the cluster (the next lab starts fast)."""
    make_driver(settings.session).up(replace(settings, lab=""), f"removing lab layers from {settings.stack_name}")


def lab_render(ref: str, settings: StackSettings, fmt: str = "json") -> str:
    if fmt not in ("json", "yaml"):
        raise LabsError(f"unknown format '{fmt}': use --format=json or --format=yaml")
    from infra.render import render

    document = render(ref, settings)
    if fmt == "yaml":
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return json.dumps(document, indent=2, ensure_ascii=False)


def lab_footprint(ref: str, settings: StackSettings) -> bool:
    """Print requests per layer; False when over budget or a container lacks requests."""
    from infra.footprint import BUDGET_CPU_M, BUDGET_MEMORY_MI, footprint, totals

    per_layer = footprint(ref or "all", settings)
    table = Table(title=f"Requests per layer ({settings.target}, {ref or 'all'} labs)")
    for column in ("layer", "workload", "container", "×", "cpu", "memory", "mem limit"):
        table.add_column(column, overflow="fold")
    every_row = [row for rows in per_layer.values() for row in rows]
    for layer, rows in per_layer.items():
        for row in rows:
            flag = "[red]none[/red]"
            table.add_row(layer, row.owner, row.container, str(row.count),
                          f"{row.cpu_m:g}m" if row.cpu_m is not None else flag,
                          f"{row.memory_mi:g}Mi" if row.memory_mi is not None else flag,
                          f"{row.memory_limit_mi:g}Mi" if row.memory_limit_mi is not None else "-")
        cpu, memory = totals(rows)
        table.add_row(f"[bold]{layer}[/bold]", "", "total", "", f"{cpu:g}m", f"{memory:g}Mi", "", end_section=True)
    cpu, memory = totals(every_row)
    out.print(table)
    lacking = [f"{row.owner}/{row.container}" for row in every_row if row.lacks_requests]
    within = cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI
    out.print(f"all layers: {cpu:g}m CPU, {memory:g}Mi memory requested "
              f"(budget {BUDGET_CPU_M}m / {BUDGET_MEMORY_MI}Mi: {'within' if within else 'OVER'})")
    if lacking:
        out.print(f"[red]containers without requests:[/red] {', '.join(lacking)}")
    return within and not lacking


def session_down(session: str) -> None:
    """Destroy every stack of the session, delete its cluster, remove its state and stack files."""
    from infra.clusters import TARGETS
    from infra.driver import remove_session_files

    check_session_name(session)
    destroyed = make_driver(session).destroy_session()
    # A cluster whose state was lost would survive the destroy: delete it by name as well.
    get_target("kind").cleanup(StackSettings(session=session, target="kind"))
    remove_session_files(session)
    console.print(f"session '{session}' removed ({', '.join(destroyed) or 'no stacks'}; targets known: {', '.join(TARGETS)})")


def doctor() -> bool:
    from infra.doctor import run_doctor

    table = Table(title="Prerequisites")
    for column in ("tool", "status", "version / problem", "fix"):
        table.add_column(column, overflow="fold")
    results = run_doctor()
    for result in results:
        status = "[green]ok[/green]" if result.ok else "[red]missing[/red]"
        table.add_row(result.name, status, result.version_or_problem, result.fix or "")
    out.print(table)
    return all(result.ok for result in results)


def setup() -> None:
    from infra.toolchain import setup as install_tools

    install_tools(console.print)
