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
    # The starting point, so late joiners and fresh clusters have what the guide assumes.
    _kubectl(["apply", "-R", "-f", str(lab.path / "manifests")], *_kube_target(settings, None, None))
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


def _kube_target(settings: StackSettings, kubeconfig: str | None, context: str | None) -> tuple[str | None, str | None]:
    """The kubeconfig and context to talk to: the given ones, else the session's own kubeconfig
    (written by `lab up`), else the session's kind context in ~/.kube/config."""
    if kubeconfig or context:
        return kubeconfig, context
    from infra.driver import session_kubeconfig

    if session_kubeconfig(settings.session).is_file():
        return str(session_kubeconfig(settings.session)), None
    from infra.clusters.kind import cluster_name

    return None, f"kind-{cluster_name(settings.session)}"


def _kubectl(args: list[str], kubeconfig: str | None, context: str | None, check: bool = True):
    import subprocess

    from infra.toolchain import require_tool

    argv = [require_tool("kubectl"), *(["--kubeconfig", kubeconfig] if kubeconfig else []),
            *(["--context", context] if context else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise LabsError(f"`kubectl {' '.join(args)}` failed: {last[-1] if last else 'no output'}")
    return done


def lab_check(ref: str, settings: StackSettings, namespace: str | None = None, kubeconfig: str | None = None,
              context: str | None = None, lang: str = "fr", timeout: float = 30) -> bool:
    """Run the lab's checks; prints each as passed/failed with its hint. True when all pass."""
    from infra.checks import ClusterReader, run_checks

    lab = Catalog.load().resolve(ref)
    if lang not in ("fr", "en"):
        raise LabsError(f"unknown language '{lang}': use --lang=fr or --lang=en")
    kubeconfig, context = _kube_target(settings, kubeconfig, context)
    reader = ClusterReader(kubeconfig, context, ingress_url=f"http://127.0.0.1:{settings.http_port}")

    def show(result):
        mark = "[green]✓[/green]" if result.passed else "[red]✗[/red]"
        out.print(f"{mark} {result.id}: {result.detail}")
        if not result.passed:
            out.print(f"    [yellow]→ {result.hint}[/yellow]")

    run = run_checks(list(lab.checks), reader, namespace or lab.namespace, lang, timeout_s=timeout, on_result=show)
    passed = sum(r.passed for r in run.results)
    out.print(f"{lab.id}: {passed}/{len(run.results)} checks passed")
    return run.passed


def lab_solve(ref: str, settings: StackSettings, kubeconfig: str | None = None, context: str | None = None) -> None:
    """Apply the starting point, then the solution (late joiners catch up in one command)."""
    lab = Catalog.load().resolve(ref)
    kubeconfig, context = _kube_target(settings, kubeconfig, context)
    for folder in ("manifests", "solution"):
        _kubectl(["apply", "-R", "-f", str(lab.path / folder)], kubeconfig, context)
    console.print(f"{lab.id}: solution applied")


def lab_reset(ref: str, settings: StackSettings, kubeconfig: str | None = None, context: str | None = None) -> None:
    """Remove what the lab created (solution and starting point) and restore the starting point."""
    lab = Catalog.load().resolve(ref)
    kubeconfig, context = _kube_target(settings, kubeconfig, context)
    for folder in ("solution", "manifests"):
        _kubectl(["delete", "-R", "-f", str(lab.path / folder), "--ignore-not-found", "--wait=true"], kubeconfig, context)
    _kubectl(["apply", "-R", "-f", str(lab.path / "manifests")], kubeconfig, context)
    console.print(f"{lab.id}: reset to the starting point")


def lab_test(ref: str, settings: StackSettings, timeout: float = 180) -> bool:
    """For instructors before class, on a real cluster: up, checks fail, solve, checks pass, reset,
    checks fail again. Prints a report; True when every lab behaved."""
    report = Table(title="lab test")
    for column in ("lab", "up", "starter fails", "solution passes", "reset fails"):
        report.add_column(column)
    all_good = True
    for lab in Catalog.load().select(ref):
        lab_settings = replace(settings, lab=lab.slug)
        steps: list[bool] = []
        try:
            lab_up(lab.slug, lab_settings)
            steps.append(True)
            lab_reset(lab.slug, lab_settings)
            steps.append(not lab_check(lab.slug, lab_settings, timeout=0))
            lab_solve(lab.slug, lab_settings)
            steps.append(lab_check(lab.slug, lab_settings, timeout=timeout))
            lab_reset(lab.slug, lab_settings)
            steps.append(not lab_check(lab.slug, lab_settings, timeout=0))
        except LabsError as exc:
            console.print(f"[red]{lab.id}: {exc}[/red]")
        cells = ["[green]ok[/green]" if ok else "[red]no[/red]" for ok in steps] + ["-"] * (4 - len(steps))
        all_good &= len(steps) == 4 and all(steps)
        report.add_row(lab.id, *cells)
    out.print(report)
    return all_good


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
