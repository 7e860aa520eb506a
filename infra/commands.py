"""What each CLI task does. tasks.py only parses arguments and calls these.

No Pulumi import at module level: `lab list` and `invoke --list` stay instant. Every check that can
fail on bad input (lab, target, options, prerequisites) runs before anything is created.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from infra.catalog import Catalog
from infra.clusters import CLOUD_TARGETS, check_target, get_target
from infra.errors import LabsError, tool_error_line
from infra.paths import check_session_name
from infra.settings import StackSettings

console = Console(stderr=True)
out = Console()


def make_driver(session: str):
    """The Pulumi driver for a session (tests replace this function with a fake)."""
    from infra.driver import PulumiDriver

    return PulumiDriver(session, console)


def stack_settings(target: str = "kind", session: str = "default", lab: str = "", **overrides) -> StackSettings:
    """Settings from the target's committed defaults, then the options the session's cluster was made
    with (infra.sessions), then the options given on the command line."""
    check_session_name(session)
    check_target(target)  # unknown target: one clear line
    given = {key: value for key, value in overrides.items() if value is not None}
    from infra.sessions import expiry_warning, remembered_options

    # The session's own options first (an option given once stays), then what this command says.
    settings = StackSettings.for_target(target).with_config(remembered_options(session, target), f"session {session}")
    warning = expiry_warning(session)  # every session command warns while an expired session remains
    if warning:
        console.print(warning, style="yellow", markup=False, highlight=False, soft_wrap=True)
    return replace(settings.with_config(given, "command line"), session=session, lab=lab)


def require_target_sdk(settings: StackSettings) -> None:
    """A cloud target's SDK (an optional extra), checked before anything else reads the labs or
    starts Pulumi: one line naming the extra when it is absent."""
    from infra.clusters import CLOUD_TARGETS

    if settings.target in CLOUD_TARGETS:
        from infra.clusters.cloud import require_sdk

        require_sdk(settings.target)


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


def lab_up(ref: str, settings: StackSettings, yes: bool = False, students: int = 0, namespace: str | None = None,
           student: str | None = None) -> dict:
    lab = Catalog.load().resolve(ref)
    where = _where(lab, namespace, student)  # a bad name fails before anything is created
    settings = replace(settings, lab=lab.slug)
    get_target(settings.target).preflight(settings)
    settings = confirm_cloud_cost(settings, yes, students)
    from infra.sessions import recording

    driver = make_driver(settings.session)
    with recording(settings):  # target, creation time and expiry, once the session's cluster exists
        outputs = driver.up(settings, f"lab {lab.id} on {settings.stack_name}")
    # The starting point, so late joiners and fresh clusters have what the guide assumes.
    kube = _kube_target(settings, None, None)
    settings = publish_at_ingress_address(settings, lab, driver, kube)
    if where:
        apply_retargeted(lab, ("manifests",), *where, base_domain(settings), *kube)
    else:
        kubectl(["apply", "-R", "-f", str(lab.path / "manifests")], *kube)
    guide = lab.path / "README.fr.md"
    console.print(f"[bold]{lab.slide}[/bold] ready. Guide: {guide} (English: README.en.md)")
    return outputs


def lab_down(settings: StackSettings) -> None:
    """Remove the lab's layers, keep the cluster (the next lab starts fast).

    Everything but the lab comes from the stack itself: the committed defaults could differ from
    what `lab up` was given (--workers, --http-port, --gcp-project, a classroom's apiServerAddress),
    and any change there replaces the cluster."""
    require_target_sdk(settings)
    from infra.clusters.cloud import with_expiry

    driver = make_driver(settings.session)
    if settings.stack_name not in driver.list_stacks():
        # A wrong --session, or after `session down`: an `up` would build a whole cluster to take nothing down.
        console.print(f"nothing to take down: session '{settings.session}' has no {settings.target} cluster "
                      f"(`invoke session list` shows the sessions)", soft_wrap=True)
        return
    settings = replace(driver.stack_settings(settings.stack_name), session=settings.session, target=settings.target)
    driver.up(with_expiry(replace(settings, lab="")), f"removing lab layers from {settings.stack_name}")


# --- cost -------------------------------------------------------------------------------------------

def cost_estimate(settings: StackSettings, students: int, hours: float):
    from infra.clusters.cloud import node_counts
    from infra.pricing import estimate

    if settings.target not in CLOUD_TARGETS:
        raise LabsError(f"no cost estimate for '{settings.target}': it runs on your machine "
                        f"(cloud targets: {', '.join(CLOUD_TARGETS)})")
    nodes, _, high = node_counts(settings)
    return estimate(settings.target, students, hours, settings.node_size, nodes, high, settings.region)


def print_estimate(est, to: Console | None = None) -> None:
    """The estimate as a table, labelled indicative, dated, with the providers' pricing pages."""
    from infra.pricing import CURRENCY, PRICES_DATE, PRICING_PAGES

    to = to or out

    table = Table(title=f"INDICATIVE cost estimate, {est.target}: {est.students} students, {est.hours:g} h "
                        f"(list prices of {PRICES_DATE}, {est.region}, {CURRENCY}, on-demand, before tax)")
    for column in ("item", "quantity", "unit price", "cost"):
        table.add_column(column, justify="right" if column == "cost" else "left")
    for line in est.lines:
        table.add_row(line.item, line.quantity, line.unit_price, f"${line.cost:,.2f}")
    per_student = f" (${est.per_student:,.2f} per student)" if est.per_student is not None else ""
    table.add_row("[bold]total[/bold]", "", "", f"[bold]${est.total:,.2f}[/bold]", end_section=True)
    to.print(table)
    to.print(f"[bold]indicative total: ${est.total:,.2f}[/bold] for {est.hours:g} h{per_student}")
    to.print(f"An estimate from the price table in infra/pricing.py, dated {PRICES_DATE}: it excludes "
             "network egress, logging, snapshots, free tiers, discounts and taxes. Check current prices:")
    for url in PRICING_PAGES[est.target]:
        to.print(f"  {url}")
    for note in est.notes:
        to.print(f"[yellow]note:[/yellow] {note}")


def cost(settings: StackSettings, students: int, hours: float):
    est = cost_estimate(settings, students, hours)
    print_estimate(est)
    return est


def confirm_cloud_cost(settings: StackSettings, yes: bool, students: int = 0, clusters: int = 1) -> StackSettings:
    """On a cloud: show the estimate for the session's planned hours (`students` per cluster; with
    cluster tenancy, `clusters` of them: the total is said for all), ask before anything is billed
    (or `--yes`), and fix the session's expiry tag. No terminal (CI) counts as "no"."""
    import sys

    if settings.target not in CLOUD_TARGETS:
        return settings
    from infra.clusters.cloud import with_expiry
    from infra.pricing import fit_class

    settings = fit_class(settings, students)  # the pool holds the class: what is priced is what it grows to
    est = cost_estimate(settings, students, settings.expires_hours)
    print_estimate(est, console)
    if clusters > 1:
        console.print(f"[bold]cluster tenancy: {clusters} clusters × ${est.total:,.2f} = indicative total "
                      f"${clusters * est.total:,.2f}[/bold] for {est.hours:g} h")
    if not yes:
        if not sys.stdin.isatty():
            raise LabsError("no terminal to confirm the cost estimate above: nothing was created "
                            "(re-run with --yes to accept it)")
        try:
            answer = console.input(f"Create or update billable {settings.target} resources for session "
                                   f"'{settings.session}'? [y/N] ")
        except EOFError:  # Ctrl-D: no answer is "no"
            answer = ""
        if answer.strip().lower() not in ("y", "yes", "o", "oui"):
            raise LabsError("cancelled: nothing was created")
    return with_expiry(settings)


def lab_render(ref: str, settings: StackSettings, fmt: str = "json") -> str:
    from infra.render import check_format, render, serialize

    check_format(fmt)
    require_target_sdk(settings)
    return serialize(render(ref, settings), fmt)


def lab_footprint(ref: str, settings: StackSettings) -> bool:
    """Print requests per layer; False when over budget or a container lacks requests."""
    from infra.footprint import BUDGET_CPU_M, BUDGET_MEMORY_MI, footprint, totals

    require_target_sdk(settings)
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


# --- web UIs on a cloud: a domain that resolves to the ingress load balancer ----------------------

DNS_WAIT_S = 120  # a new AWS load balancer's name can take a minute or two to resolve


def ingress_address(kubeconfig: str | None, context: str | None) -> str:
    """The ingress load balancer's public IPv4 address ("" while it has none): its IP, or the IP its
    host name resolves to (AWS load balancers have a name; a network load balancer keeps its address)."""
    import json
    import socket
    import time

    from infra.layers.ingress import NAMESPACE, SERVICE

    done = kubectl(["-n", NAMESPACE, "get", "service", SERVICE, "-o", "json"], kubeconfig, context, check=False)
    try:
        points = ((json.loads(done.stdout or "{}").get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    except (AttributeError, ValueError):
        return ""
    first = points[0] if points else {}
    if first.get("ip"):
        return first["ip"]
    deadline = time.monotonic() + DNS_WAIT_S
    while first.get("hostname"):
        try:
            return socket.gethostbyname(first["hostname"])
        except OSError:
            if time.monotonic() >= deadline:
                return ""
            time.sleep(10)
    return ""


SSLIP_DOMAIN = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})\.sslip\.io$")


def publish_at_ingress_address(settings: StackSettings, lab, driver, kube: tuple[str | None, str | None]):
    """On a cloud with no baseDomain, web UIs and lab apps would sit under a name nobody resolves: once
    the ingress load balancer has its address, publish them at <address>.sslip.io (a public wildcard
    DNS name answering with that address). A second, quick `up` changes only host names; the session
    keeps the domain (infra.sessions). The address is checked again on every `up`: switching labs can
    recreate Traefik's load balancer with another address (the old one may go to someone else), and
    the web UIs follow it. A base domain of the instructor's own (not <IP>.sslip.io) is left alone."""
    from infra.clusters.cloud import DEFAULT_BASE_DOMAIN

    if settings.target not in CLOUD_TARGETS or lab is None or "ingress" not in lab.layer_closure():
        return settings
    published = SSLIP_DOMAIN.match(settings.base_domain or "")
    if settings.base_domain and not published:
        return settings
    address = ingress_address(*kube)
    if not address:
        console.print(f"[yellow]note: the ingress load balancer has no address yet: web UIs stay under "
                      f"{DEFAULT_BASE_DOMAIN} until you run this command again (or give --base-domain=<a wildcard "
                      "DNS name of yours pointing at it>)[/yellow]", soft_wrap=True)
        return settings
    if published and published.group(1) == address:
        return settings
    if published:
        console.print(f"[yellow]the ingress load balancer's address changed ({published.group(1)} -> {address}): "
                      f"web UIs and lab apps move to *.{address}.sslip.io[/yellow]", soft_wrap=True)
    from infra.sessions import record

    settings = replace(settings, base_domain=f"{address}.sslip.io")
    record(settings)
    driver.up(settings, f"web UIs and lab apps at *.{settings.base_domain}")
    return settings


def _kube_target(settings: StackSettings, kubeconfig: str | None, context: str | None,
                 lab=None) -> tuple[str | None, str | None]:
    """The kubeconfig and context to talk to: the given ones, else the session's own kubeconfig
    (written by `lab up`), else the session's kind context in ~/.kube/config."""
    if kubeconfig or context:
        return kubeconfig, context
    from infra.driver import session_kubeconfig

    if session_kubeconfig(settings.session).is_file():
        return str(session_kubeconfig(settings.session)), None
    if settings.target in CLOUD_TARGETS:
        up = up_command(lab, settings) if lab else f"invoke lab up --target={settings.target}"
        raise LabsError(f"no kubeconfig for session '{settings.session}' yet: run `{up}` first (or pass --kubeconfig)")
    from infra.clusters.kind import cluster_name

    return None, f"kind-{cluster_name(settings.session)}"


def lab_command(action: str, lab, settings: StackSettings, *options: str) -> str:
    """`invoke lab <action> ...` for this lab and this cluster, as the user would type it."""
    return " ".join([f"invoke lab {action}", f"--lab={lab.slug}", *options,
                     *([f"--target={settings.target}"] if settings.target != "kind" else []),
                     *([f"--session={settings.session}"] if settings.session != "default" else [])])


def up_command(lab, settings: StackSettings) -> str:
    """The `invoke lab up ...` that brings this lab's cluster up, as the user would type it."""
    return lab_command("up", lab, settings)


def kubeconfig_files(kubeconfig: str | None) -> tuple[list[Path], str]:
    """The files kubectl reads, and where that list comes from: --kubeconfig, else KUBECONFIG (a list),
    else ~/.kube/config."""
    import os

    if kubeconfig:
        return [Path(kubeconfig).expanduser()], "--kubeconfig"
    listed = [Path(item).expanduser() for item in os.environ.get("KUBECONFIG", "").split(os.pathsep) if item]
    if listed:
        return listed, "KUBECONFIG"
    return [Path.home() / ".kube" / "config"], ""


def lab_cluster(lab, settings: StackSettings, kubeconfig: str | None, context: str | None) -> tuple[str | None, str | None]:
    """The kubeconfig and context of the lab's cluster, checked before kubectl runs: a missing kubeconfig
    (named as KUBECONFIG gives it) or a context it lacks means no cluster yet, said in one line with the
    `lab up` to run, instead of kubectl's own words."""
    import yaml

    kubeconfig, context = _kube_target(settings, kubeconfig, context, lab)
    files, origin = kubeconfig_files(kubeconfig)
    up = f"run `{up_command(lab, settings)}` first"
    present = [file for file in files if file.is_file()]
    if not present:
        names = ", ".join(str(file) for file in files)
        raise LabsError(f"kubeconfig {names}{f' (from {origin})' if origin else ''} is missing: {up}"
                        + ("" if origin == "--kubeconfig" else ", or pass --kubeconfig=PATH"))
    if context:
        contexts = set()
        for file in present:
            try:
                data = yaml.safe_load(file.read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue  # kubectl says what is wrong with it
            contexts |= {entry.get("name") for entry in data.get("contexts") or [] if isinstance(entry, dict)}
        if context not in contexts:
            names = ", ".join(str(file) for file in present)
            raise LabsError(f"no cluster for session '{settings.session}': context {context} is not in {names}: {up}")
    return kubeconfig, context


# What kubectl says when its cluster does not answer (a stopped kind node, a deleted cloud cluster).
KUBECTL_UNREACHABLE = ("the connection to the server", "unable to connect to the server", "connection refused",
                       "no such host")


@contextmanager
def cluster_reached(lab, settings: StackSettings):
    """kubectl's "connection refused" as the problem it means: the lab's cluster is not up."""
    try:
        yield
    except LabsError as exc:
        if not any(marker in str(exc).lower() for marker in KUBECTL_UNREACHABLE):
            raise
        raise LabsError(f"{exc}: is the cluster up? run `{up_command(lab, settings)}` first") from None


# Longer than the longest --timeout given to kubectl itself (cloud teardown waits 600 s), so kubectl
# reports its own timeout instead of being killed.
KUBECTL_TIMEOUT_S = 900


def kubectl(args: list[str], kubeconfig: str | None, context: str | None, check: bool = True,
             stdin: str | None = None):
    """kubectl with the session's kubeconfig/context; `stdin` feeds `-f -` (retargeted objects)."""
    return cluster_tool("kubectl", args, kubeconfig, context, check, stdin)


def helm(args: list[str], kubeconfig: str | None, context: str | None, check: bool = True):
    """The helm CLI with the session's kubeconfig/context (a lab's solve steps)."""
    return cluster_tool("helm", args, kubeconfig, context, check)


CONTEXT_FLAG = {"kubectl": "--context", "helm": "--kube-context"}


def cluster_tool(tool: str, args: list[str], kubeconfig: str | None, context: str | None, check: bool = True,
                 stdin: str | None = None):
    """`tool` (kubectl, helm) run from the repository root against the given kubeconfig/context; with
    `check`, a failure is one LabsError saying its error lines (error_line)."""
    import subprocess

    from infra.paths import PROJECT_ROOT
    from infra.toolchain import require_tool

    argv = [require_tool(tool), *(["--kubeconfig", kubeconfig] if kubeconfig else []),
            *([CONTEXT_FLAG[tool], context] if context else []), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S, input=stdin,
                              cwd=PROJECT_ROOT)
    except subprocess.TimeoutExpired:
        if check:
            raise LabsError(f"`{tool} {' '.join(args)}` did not finish within {KUBECTL_TIMEOUT_S} s: "
                            "is the cluster reachable?") from None
        done = subprocess.CompletedProcess(argv, 124, "", f"timed out after {KUBECTL_TIMEOUT_S} s")
    if check and done.returncode != 0:
        raise LabsError(f"`{tool} {' '.join(args)}` failed: {error_line(done)}")
    return done


def error_line(done) -> str:
    """What went wrong, from a finished tool's output (infra.errors.tool_error_line)."""
    return tool_error_line(done.stderr or done.stdout)


# --- a lab's solve steps (infra.solve_spec) ------------------------------------------------------

SCHEDULER_LEASE = ("kube-system", "kube-scheduler")
# A restarted scheduler takes its Lease once the stopped one's expires (15 s by default) or was released.
LEASE_CHANGE_TIMEOUT_S = 120


def scheduler_lease(kubeconfig: str | None, context: str | None) -> tuple[str, str] | None:
    """(holderIdentity, acquireTime) of the scheduler's Lease; None while there is none."""
    import json

    namespace, name = SCHEDULER_LEASE
    done = kubectl(["get", "lease", name, "-n", namespace, "-o", "json"], kubeconfig, context, check=False)
    if done.returncode != 0:
        if "notfound" in error_line(done).lower().replace(" ", ""):
            return None
        raise LabsError(f"`kubectl get lease {name} -n {namespace}` failed: {error_line(done)}")
    spec = json.loads(done.stdout or "{}").get("spec") or {}
    return spec.get("holderIdentity") or "", spec.get("acquireTime") or ""


def restart_scheduler(lab, settings: StackSettings, kubeconfig: str | None, context: str | None,
                      sleep=None, clock=None) -> bool:
    """A `restart: scheduler` step: the target restarts kube-scheduler (infra.clusters), then the
    scheduler's Lease must show a new holder or acquire time, as the lab's check reads it. False (and
    one line) where the target cannot restart it."""
    import time

    from infra.clusters import NO_SCHEDULER_RESTART

    sleep, clock = sleep or time.sleep, clock or time.monotonic
    target = get_target(settings.target)
    if not hasattr(target, "restart_scheduler"):
        console.print(f"[yellow]{lab.id}: the scheduler cannot be restarted on {settings.target}: "
                      f"{NO_SCHEDULER_RESTART}[/yellow]", soft_wrap=True)
        return False
    before = scheduler_lease(kubeconfig, context)
    target.restart_scheduler(settings)
    deadline = clock() + LEASE_CHANGE_TIMEOUT_S
    while True:
        now = scheduler_lease(kubeconfig, context)
        if now and now[0] and now != before:
            console.print(f"{lab.id}: kube-scheduler restarted: Lease {SCHEDULER_LEASE[1]} held by {now[0]} "
                          f"since {now[1]}", soft_wrap=True, markup=False, highlight=False)
            return True
        if clock() >= deadline:
            raise LabsError(f"kube-scheduler was restarted, but its Lease {SCHEDULER_LEASE[1]} (kube-system) still "
                            f"shows {'no holder' if not now else f'{now[0]} since {now[1]}'} after "
                            f"{LEASE_CHANGE_TIMEOUT_S} s: is it running? (`kubectl get lease -n kube-system`)")
        sleep(2)


def run_solve_steps(lab, settings: StackSettings, kubeconfig: str | None, context: str | None,
                    where: tuple[str, str | None] | None) -> None:
    """The lab's `solve:` steps in order (retargeted with `where`); the first that does not go as the
    lab declares stops `lab solve` with one line."""
    from infra.checks import NEEDS_CONTAINERS_REASON
    from infra.clusters.capabilities import target_capabilities
    from infra.solve_spec import describe

    containers_run = target_capabilities(settings).containers_run
    steps = list(lab.solve)
    if where:
        from infra.manifests import retarget_steps

        steps = retarget_steps(steps, lab.namespace, *where, base_domain(settings))
    for number, step in enumerate(steps, 1):
        label = f"{lab.id}: step {number}/{len(steps)}" + (f" (guide step {step['guide']})"
                                                          if step.get("guide") is not None else "")
        shown = describe(step)
        console.print(f"{label}: {shown}", markup=False, highlight=False, soft_wrap=True)
        if step["needs_containers"] and not containers_run:
            console.print(f"[yellow]{label}: not run on {settings.target}: {NEEDS_CONTAINERS_REASON}[/yellow]",
                          soft_wrap=True)
            continue
        if step["action"] == "restart" and where:
            # The scheduler is the whole cluster's (a student cannot reach it): shown once, for everyone.
            console.print(f"[yellow]{label}: not run for {where[0]}: the scheduler is the whole cluster's; restart "
                          f"it once for everyone with `invoke lab solve --lab={lab.slug}` (no --student/--namespace)"
                          "[/yellow]", soft_wrap=True)
            continue
        if step["action"] == "restart":
            restart_scheduler(lab, settings, kubeconfig, context)
            continue
        if step["action"] == "kubectl":  # `stdin`: the step's files, retargeted (retarget_steps)
            done = kubectl(list(step["args"]), kubeconfig, context, check=not step["fails"], stdin=step.get("stdin"))
        else:
            done = helm(list(step["args"]), kubeconfig, context, check=not step["fails"])
        if not step["fails"]:
            continue
        if done.returncode == 0:
            raise LabsError(f"{label}: `{shown}` succeeded, but the guide has it fail: the lab's solve steps "
                            "no longer do what its guide does")
        console.print(f"{label}: failed, as the guide has it: {error_line(done)}",
                      markup=False, highlight=False, soft_wrap=True)


# --- a lab in another namespace (a classroom student's) ------------------------------------------

def _where(lab, namespace: str | None, student: str | None) -> tuple[str, str | None] | None:
    """(namespace, student) to retarget the lab's files to, or None: the lab's own namespace, files as
    they are. `--student` alone means the student's namespace (a classroom names it after the id)."""
    from infra.manifests import check_namespace

    if student:
        check_namespace(student, "--student")
    if namespace:
        check_namespace(namespace)
    if not student and namespace in (None, "", lab.namespace):
        return None
    return namespace or student, student or None


def base_domain(settings: StackSettings) -> str:
    """The domain the target publishes host names under (kind: localhost)."""
    from infra.clusters.capabilities import target_capabilities

    return target_capabilities(settings).base_domain


def apply_retargeted(lab, folders: tuple[str, ...], namespace: str, student: str | None, domain: str,
                     kubeconfig: str | None, context: str | None, delete: bool = False) -> int:
    """`kubectl apply -f -` (or delete) of the lab's folders retargeted to `namespace` (infra.manifests);
    returns how many objects went through."""
    from infra.manifests import lab_objects_for

    result = lab_objects_for(lab, folders, namespace, student, domain)
    if result.skipped:
        console.print(f"[yellow]{lab.id}: left out for {namespace} (they live in another namespace of the lab): "
                      f"{', '.join(result.skipped)}[/yellow]", soft_wrap=True)
    if not result.objects:
        return 0
    args = ["delete", "-f", "-", "--ignore-not-found", "--wait=true"] if delete else ["apply", "-f", "-"]
    kubectl(args, kubeconfig, context, stdin=result.yaml)
    return len(result.objects)


def ingress_url(target: str, http_port: int, kubeconfig: str | None, context: str | None) -> str:
    """Where `http` checks reach the ingress: on kind, the host port mapped to it; on a cloud, its load
    balancer. LabsError while that has no address (ClusterUnreachable when the cluster does not answer)."""
    if target not in CLOUD_TARGETS:
        return f"http://127.0.0.1:{http_port}"
    address = ingress_address(kubeconfig, context)
    if address:
        return f"http://{address}"
    from infra.checks import ClusterReader
    from infra.layers.ingress import NAMESPACE, SERVICE

    # kubectl found no address: when the cluster does not answer, that (ClusterUnreachable) is the line to show.
    ClusterReader(kubeconfig, context).get("v1", "Service", SERVICE, NAMESPACE)
    raise LabsError(f"the ingress load balancer has no address yet (a new one takes a minute or two): run this "
                    f"again shortly; `kubectl -n {NAMESPACE} get service {SERVICE}` shows it")


def lab_check(ref: str, settings: StackSettings, namespace: str | None = None, kubeconfig: str | None = None,
              context: str | None = None, lang: str = "fr", timeout: float = 30, student: str | None = None) -> bool:
    """Run the lab's checks; prints each as passed/failed/skipped with its hint or reason. True unless a
    check that could be decided failed.

    In another namespace (`--namespace`, `--student`) the checks look for the retargeted objects,
    and with a student, `http` checks ask for the student's host names. On a target whose containers do
    not run (kwok), the checks that need them are skipped (infra.checks.skips_for), never passed: when
    every check is skipped, it says that nothing was decided, and still returns True (exit 0): nothing
    failed, and an instructor running it on such a target learns what it can and cannot tell."""
    return not _lab_check_run(ref, settings, namespace, kubeconfig, context, lang, timeout, student).failed


def _lab_check_run(ref: str, settings: StackSettings, namespace: str | None = None, kubeconfig: str | None = None,
                   context: str | None = None, lang: str = "fr", timeout: float = 30, student: str | None = None):
    """`lab check`'s work (it prints as it goes); returns the CheckRun, for `lab check` and `lab test`."""
    from infra.checks import ClusterReader, ClusterUnreachable, run_checks, skips_for
    from infra.clusters.capabilities import target_capabilities

    lab = Catalog.load().resolve(ref)
    if lang not in ("fr", "en"):
        raise LabsError(f"unknown language '{lang}': use --lang=fr or --lang=en")
    where = _where(lab, namespace, student)
    checks = list(lab.checks)
    if where:
        from infra.manifests import retarget_checks

        checks = retarget_checks(checks, lab.namespace, *where, base_domain(settings))
    kubeconfig, context = lab_cluster(lab, settings, kubeconfig, context)
    # What this target's cluster cannot decide (no containers run on kwok): decided by its capabilities.
    skip = skips_for(target_capabilities(settings))

    def show(result):
        if result.skipped:
            out.print(f"[yellow]–[/yellow] {result.id}: [yellow]{result.detail}[/yellow]", soft_wrap=True)
            return
        mark = "[green]✓[/green]" if result.passed else "[red]✗[/red]"
        out.print(f"{mark} {result.id}: {result.detail}")
        if not result.passed:
            out.print(f"    [yellow]→ {result.hint}[/yellow]")

    try:
        # Only `http` checks that are run need the ingress; on a cloud, finding its address asks the cluster.
        url = ingress_url(settings.target, settings.http_port, kubeconfig, context) \
            if any(check["kind"] == "http" and check["kind"] not in skip for check in checks) else ""
        reader = ClusterReader(kubeconfig, context, ingress_url=url)
        run = run_checks(checks, reader, where[0] if where else lab.namespace, lang, timeout_s=timeout,
                         on_result=show, skip=skip)
    except ClusterUnreachable as exc:
        raise LabsError(f"{exc}: is the cluster up (`{up_command(lab, settings)}`)? Or pass the right "
                        "--kubeconfig/--context") from None
    passed, failed, skipped = len(run.decided) - len(run.failed), len(run.failed), len(run.skipped)
    # One reason today, e.g. "skipped on kwok: needs running containers"; several would each show above.
    reasons = sorted({r.detail for r in run.skipped})
    why = reasons[0] if len(reasons) == 1 else "skipped"
    if run.undecided:
        out.print(f"[yellow]{lab.id}: nothing decided: every check {why.partition(': ')[2] or 'was skipped'} "
                  f"({skipped} {why.partition(': ')[0]})[/yellow]", soft_wrap=True)
    else:
        out.print(f"{lab.id}: {passed}/{passed + failed} checks passed" + (f", {failed} failed" if failed else "")
                  + (f", [yellow]{skipped} {why}[/yellow]" if skipped else ""), soft_wrap=True)
    return run


def lab_solve(ref: str, settings: StackSettings, kubeconfig: str | None = None, context: str | None = None,
              namespace: str | None = None, student: str | None = None) -> None:
    """Apply the starting point, then the solution (late joiners catch up in one command), then run the
    lab's solve steps (what its guide does that is no file: infra.solve_spec); with
    `--namespace`/`--student`, all of it retargeted to that namespace (a classroom student's)."""
    lab = Catalog.load().resolve(ref)
    where = _where(lab, namespace, student)
    kubeconfig, context = lab_cluster(lab, settings, kubeconfig, context)
    with cluster_reached(lab, settings):
        for folder in ("manifests", "solution"):
            try:
                if where:
                    apply_retargeted(lab, (folder,), *where, base_domain(settings), kubeconfig, context)
                else:
                    kubectl(["apply", "-R", "-f", str(lab.path / folder)], kubeconfig, context)
            except LabsError as refused:
                if " is invalid: " not in str(refused):
                    raise
                # An object already there that no update can turn into the file's (lab 12's claim, grown
                # by a solve step: a request never shrinks): only starting over brings the file's back.
                reset = lab_command("reset", lab, settings, *([f"--namespace={namespace}"] if namespace else []),
                                    *([f"--student={student}"] if student else []))
                raise LabsError(f"{refused}; the cluster holds this lab's objects in a state its files cannot "
                                f"update (solved already?): start over with `{reset}`, then solve again") from None
        run_solve_steps(lab, settings, kubeconfig, context, where)
    console.print(f"{lab.id}: solution applied" + (f" in {where[0]}" if where else ""))


def lab_reset(ref: str, settings: StackSettings, kubeconfig: str | None = None, context: str | None = None,
              namespace: str | None = None, student: str | None = None) -> None:
    """Remove what the lab created (solution and starting point) and restore the starting point.

    In another namespace (`--namespace`, `--student`) the namespace itself stays: the lab's objects
    are deleted from it (objects made under other names stay), then the starting point is applied."""
    lab = Catalog.load().resolve(ref)
    where = _where(lab, namespace, student)
    kubeconfig, context = lab_cluster(lab, settings, kubeconfig, context)
    with cluster_reached(lab, settings):
        for folder in ("solution", "manifests"):
            if where:
                apply_retargeted(lab, (folder,), *where, base_domain(settings), kubeconfig, context, delete=True)
            else:
                kubectl(["delete", "-R", "-f", str(lab.path / folder), "--ignore-not-found", "--wait=true"],
                         kubeconfig, context)
        if where:
            apply_retargeted(lab, ("manifests",), *where, base_domain(settings), kubeconfig, context)
        else:
            kubectl(["apply", "-R", "-f", str(lab.path / "manifests")], kubeconfig, context)
    console.print(f"{lab.id}: reset to the starting point" + (f" in {where[0]}" if where else ""))


# How long `lab test` lets a starting point settle (its rollouts complete) before judging that its checks
# fail: right after `kubectl apply` no rollout is done yet, so any check would fail and prove nothing. A
# starter that never settles (a broken image on purpose) is judged when this runs out.
STARTER_SETTLE_S = 90


def starter_rollouts(lab) -> list[dict]:
    """A rollout check for each Deployment, StatefulSet and DaemonSet of the lab's starting point."""
    from infra.check_spec import ROLLOUT_KINDS
    from infra.manifests import load_lab_objects

    return [{"id": f"starter-{obj['metadata']['name']}", "kind": "rollout", "kind_of": obj["kind"],
             "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace") or lab.namespace}
            for obj in load_lab_objects(lab) if obj["kind"] in ROLLOUT_KINDS]


def _settle_starter(lab, settings: StackSettings) -> None:
    """Wait (at most STARTER_SETTLE_S) until the starting point's rollouts are done; says which did not."""
    from infra.checks import ClusterReader, run_checks

    rollouts = starter_rollouts(lab)
    if not rollouts:
        return
    kubeconfig, context = lab_cluster(lab, settings, None, None)
    # Rollouts are decided on every target (kwok marks pods ready): nothing to skip.
    run = run_checks(rollouts, ClusterReader(kubeconfig, context), lab.namespace, timeout_s=STARTER_SETTLE_S)
    for result in run.failed:
        out.print(f"[yellow]{lab.id}: starting point not settled after {STARTER_SETTLE_S} s "
                  f"({result.detail}): judged as it is[/yellow]", soft_wrap=True)


def _starter_fails(run) -> bool | None:
    """Whether the checks fail on a starting point: True when a decidable check fails; None (undecided)
    when every decidable check passes but some were skipped (the one that should fail may be among them);
    False when every check was decided and passed."""
    if run.failed:
        return True
    return None if run.skipped else False


def _solution_passes(run) -> bool | None:
    """Whether the checks pass on the solution: False when a decidable check fails; None (undecided) when
    every check was skipped; True when the decidable ones all pass (the skipped ones are not judged)."""
    if run.failed:
        return False
    return True if run.decided else None


# How long `lab test` lets the solution's checks converge, by default (`lab test --timeout`). The slowest is
# lab 17's alert after a reset: the PrometheusRule reaches Prometheus through a ConfigMap volume (the
# kubelet's sync, up to 60 s, plus its cache, 60 s), the new pods need two scrapes (2 x 30 s, the operator's
# default interval) before rate() has a value, then the rule's `for:` (1m) and one more evaluation (30 s):
# about 270 s. tests/test_lab_shortcuts.py keeps lab 17's rule within this budget.
LAB_TEST_TIMEOUT_S = 300


def lab_test(ref: str, settings: StackSettings, timeout: float = LAB_TEST_TIMEOUT_S) -> bool:
    """For instructors before class, on a real cluster: up, checks fail, solve, checks pass, reset,
    checks fail again. Prints a report; True when no lab misbehaved. "Checks fail" is judged once the
    starting point has settled (its rollouts done, at most STARTER_SETTLE_S).

    On a target where some checks cannot be decided (no containers run on kwok: infra.checks.skips_for),
    only the decidable checks are judged. "Starter fails" then means a decidable check fails; when the
    starter's decidable checks all pass and some were skipped, the check meant to fail may be a skipped
    one, so that step is undecided, neither ok nor wrong. "Solution passes" means every decidable check
    passes. A lab with an undecided step and no wrong one, a lab whose checks are all skipped among them,
    is reported "undecided on <target>": never passed, and it does not fail the run. The report counts
    the skipped checks per lab and in total, and the undecided labs."""
    target = settings.target
    report = Table(title=f"lab test on {target}")
    for column in ("lab", "up", "starter fails", "solution passes", "reset fails", "skipped", "result"):
        report.add_column(column)
    cell = {True: "[green]ok[/green]", False: "[red]no[/red]", None: "[yellow]undecided[/yellow]"}
    counts = {"passed": 0, "failed": 0, "undecided": 0}
    undecided: list[str] = []
    skipped_total = 0
    labs = Catalog.load().select(ref)
    # Docker down, a missing tool: the same for every lab, so said once, before any lab is tried.
    get_target(target).preflight(replace(settings, lab=labs[0].slug))
    for lab in labs:
        lab_settings = replace(settings, lab=lab.slug)
        steps: list[bool | None] = []
        skipped: set[str] = set()  # the ids of the lab's checks skipped (the same in every run)
        try:
            lab_up(lab.slug, lab_settings)
            steps.append(True)
            lab_reset(lab.slug, lab_settings)
            _settle_starter(lab, lab_settings)
            run = _lab_check_run(lab.slug, lab_settings, timeout=0)
            skipped |= {r.id for r in run.skipped}
            steps.append(_starter_fails(run))
            lab_solve(lab.slug, lab_settings)
            run = _lab_check_run(lab.slug, lab_settings, timeout=timeout)
            skipped |= {r.id for r in run.skipped}
            steps.append(_solution_passes(run))
            lab_reset(lab.slug, lab_settings)
            _settle_starter(lab, lab_settings)
            run = _lab_check_run(lab.slug, lab_settings, timeout=0)
            skipped |= {r.id for r in run.skipped}
            steps.append(_starter_fails(run))
        except LabsError as exc:
            console.print(f"[red]{lab.id}: {exc}[/red]")
        if len(steps) < 4 or False in steps:
            verdict, shown = "failed", "[red]failed[/red]"
        elif None in steps:
            verdict, shown = "undecided", f"[yellow]undecided on {target}[/yellow]"
            undecided.append(lab.id)
        else:
            verdict, shown = "passed", "[green]passed[/green]"
        counts[verdict] += 1
        skipped_total += len(skipped)
        cells = [cell[ok] for ok in steps] + ["-"] * (4 - len(steps))
        report.add_row(lab.id, *cells, f"[yellow]{len(skipped)}[/yellow]" if skipped else "0", shown)
    out.print(report)
    out.print(f"lab test on {target}: {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['undecided']} undecided", soft_wrap=True)
    if skipped_total:
        from infra.checks import NEEDS_CONTAINERS_REASON

        need = NEEDS_CONTAINERS_REASON.removeprefix("needs ")
        out.print(f"[yellow]{skipped_total} check{'s' if skipped_total != 1 else ''} skipped on {target}: "
                  f"need{'s' if skipped_total == 1 else ''} {need}[/yellow]", soft_wrap=True)
    if undecided:
        out.print(f"[yellow]undecided on {target} (not passed; test them on a target whose containers run, "
                  f"e.g. kind): {', '.join(undecided)}[/yellow]", soft_wrap=True)
    return counts["failed"] == 0


def release_cloud_stack(driver, session: str, stack: str, target: str) -> list[str]:
    """Before a cloud stack's destroy, release what bills outside Pulumi's state: the lab layers (an
    `up` without a lab: Traefik's load balancer goes with them), then every LoadBalancer Service and
    claim through the cluster's kubeconfig (infra.clusters.cloud.release_billable).

    Never raises: returns what failed, one line each, so the destroy runs anyway. The cluster is
    asked first: one that cannot be reached (never created, deleted, expired credentials) gets no
    `up`, which would create a deleted cluster again only to destroy it."""
    from infra.clusters.cloud import release_billable, with_expiry
    from infra.driver import session_kubeconfig

    try:
        settings = replace(driver.stack_settings(stack), session=session, target=target, lab="")
    except LabsError as exc:
        settings, failures = None, [f"{stack}: {exc}"]
    else:
        failures = []
        if settings.network_only:
            return []  # a classroom's shared network: no cluster, nothing billed outside the state
    kubeconfig = session_kubeconfig(session)
    on_cluster = lambda args, check=True: kubectl(args, str(kubeconfig), None, check=check)  # noqa: E731
    try:
        probe = on_cluster(["get", "--raw", "/readyz"], check=False) if kubeconfig.is_file() else None
    except LabsError as exc:  # no kubectl, or it did not answer in time
        return [*failures, f"{stack}: {exc}: its load balancers and disks were not released"]
    if probe is None or probe.returncode != 0:
        why = ((probe.stderr or probe.stdout or "").strip().splitlines() or ["no answer"])[-1] if probe \
            else "it has no kubeconfig (it never came up)"
        return [*failures, f"{stack}: cannot reach its cluster ({why}): its load balancers and disks were not released"]
    if settings is not None:
        try:
            require_target_sdk(settings)
            driver.up(with_expiry(settings), f"removing lab layers from {stack} before destroying it")
        except LabsError as exc:
            failures.append(f"{stack}: {exc}")
    try:
        released = release_billable(on_cluster, say=lambda line: console.print(f"{stack}: {line}"))
    except LabsError as exc:
        return [*failures, f"{stack}: {exc}: what it had not released yet may remain"]
    return [*failures, *(f"{stack}: {line}" for line in released["failures"])]


def session_orphans(session: str, settings: StackSettings) -> list[dict]:
    """Print what still carries the session's tags on a cloud (read-only); returns it."""
    from infra.clusters.cloud import list_orphans

    check_session_name(session)
    found = list_orphans(replace(settings, session=session))
    if not found:
        out.print(f"nothing on {settings.target} carries session '{session}''s tags")
        return found
    table = Table(title=f"Still tagged session={session} on {settings.target}")
    for column in ("kind", "id", "expires-at"):
        table.add_column(column, overflow="fold")
    for row in found:
        table.add_row(row["kind"], row["id"], row.get("expires-at", ""))
    out.print(table)
    return found


def doctor() -> bool:
    """The prerequisites table; True when labs can run on kind clusters or on kwok clusters."""
    from infra.doctor import ALL, KIND, KWOK, SOLVE_STEPS, ready_for, run_doctor

    table = Table(title="Prerequisites")
    for column in ("tool", "needed for", "status", "version / problem", "fix"):
        table.add_column(column, overflow="fold")
    results = run_doctor()
    needed_for = {ALL: "all labs", KIND: "kind clusters", KWOK: "kwok clusters",
                  SOLVE_STEPS: "lab solve of the helm lab"}
    for result in results:
        # Missing, but only for one kind of cluster: yellow; the other kind may be all there.
        missing = "[red]missing[/red]" if result.needed_for == ALL else "[yellow]missing[/yellow]"
        status = ("[yellow]warning[/yellow]" if result.warning else "[green]ok[/green]") if result.ok else missing
        detail = f"{result.version_or_problem}; [yellow]{result.warning}[/yellow]" if result.warning \
            else result.version_or_problem
        table.add_row(result.name, needed_for[result.needed_for], status, detail, result.fix or "")
    out.print(table)
    ready = ready_for(results)
    if ready:
        out.print(f"ready for {' and '.join(needed_for[target] for target in ready)}")
    return bool(ready)


def setup(from_source: bool = False) -> None:
    if from_source:
        from infra.source_build import setup_from_source

        setup_from_source(lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        return
    from infra.toolchain import setup as install_tools

    install_tools(console.print)
