"""Command line: `invoke lab up --lab=ingress`, `invoke lab list`, `invoke session down`, ...

Thin on purpose: each action below reads its options (described once, in infra.cli) and calls
infra.commands; infra.cli builds both `invoke lab up` and `invoke lab.up` from the same description,
and turns LabsError into one clear line and a non-zero exit.
"""
from __future__ import annotations

from invoke import Collection, Exit, task

from infra import commands, instructor
from infra.classroom.cli import classroom_collection
from infra.cli import COST, IMAGES, LAB, SESSION, action_task, group_collection, user_errors
from infra.errors import LabsError


def _settings(o, target=None, **overrides):
    """The session's settings: the options given here over those the session's cluster was made with."""
    given = {"workers": getattr(o, "workers", None), "httpPort": getattr(o, "http_port", None),
             "httpsPort": getattr(o, "https_port", None), "nodeSize": getattr(o, "node_size", None),
             "gcpProject": getattr(o, "gcp_project", None), "apiServerAddress": getattr(o, "api_server_address", None),
             "baseDomain": getattr(o, "base_domain", None), **overrides}
    return commands.stack_settings(target=target or getattr(o, "target", "kind"), session=o.session, **given)


def lab_list(o):
    commands.lab_list()


def lab_show(o):
    commands.lab_show(o.lab, o.lang)


def lab_up(o):
    commands.lab_up(o.lab, _settings(o), yes=o.yes, students=_whole(o.students or 0, "students"),
                    namespace=o.namespace, student=o.student)


def lab_down(o):
    commands.lab_down(_settings(o))


def lab_render(o):
    print(commands.lab_render(o.lab, _settings(o), o.format))


def lab_footprint(o):
    if not commands.lab_footprint(o.lab, _settings(o)):
        raise Exit("over the laptop budget, or a container without requests (see above)", code=1)


def lab_check(o):
    if not commands.lab_check(o.lab, _settings(o), o.namespace, o.kubeconfig, o.context, o.lang,
                              _seconds(o.timeout), student=o.student):
        raise Exit(code=1)


def lab_solve(o):
    commands.lab_solve(o.lab, _settings(o), o.kubeconfig, o.context, namespace=o.namespace, student=o.student)


def lab_reset(o):
    commands.lab_reset(o.lab, _settings(o), o.kubeconfig, o.context, namespace=o.namespace, student=o.student)


def lab_test(o):
    if not commands.lab_test(o.lab, _settings(o), _seconds(o.timeout)):
        raise Exit("some labs did not behave (see the report)", code=1)


def session_down(o):
    instructor.session_down(o.session)


def session_orphans(o):
    if commands.session_orphans(o.session, _settings(o)):
        raise Exit(f"error: resources of session '{o.session}' remain on {o.target} (listed above): they may still "
                   "bill", code=1)


def session_list(o):
    instructor.session_list()


def session_extend(o):
    instructor.session_extend(o.session, _whole(o.hours, "hours"))


def cost(o):
    commands.cost(_settings(o), _whole(o.students or 0, "students"), _hours(o.hours))


def _whole(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise LabsError(f"--{name} must be a whole number, got '{value}'") from None
    if number < 0:
        raise LabsError(f"--{name} must be 0 or more, got {number}")
    return number


def _seconds(value) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise LabsError(f"--timeout must be a number of seconds, got '{value}'") from None
    if not 0 <= seconds < float("inf"):
        raise LabsError(f"--timeout must be 0 or more seconds, got {value}")
    return seconds


def _hours(value) -> float:
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise LabsError(f"--hours must be a number of hours, got '{value}'") from None
    if not 0 < hours <= 24 * 31:
        raise LabsError(f"--hours must be more than 0 and at most {24 * 31}, got {value}")
    return hours


@task
@user_errors
def doctor(c):
    """Check the prerequisites (Docker and its daemon, kind, Pulumi CLI, kubectl, kwok tools) and their pins.

    Says how to install what is missing, and warns on a version that differs from its pin."""
    if not commands.doctor():
        raise Exit("some prerequisites are missing: see the fix column (or run `invoke setup`, or "
                   "`invoke setup --from-source` where no release can be downloaded)", code=1)


@task(help={"from_source": "build the tools from Go modules (needs Go >= 1.26 and the Go module proxy) "
                           "instead of downloading releases: kwok, kwokctl, etcd, the Kubernetes control "
                           "plane, kubectl, the Pulumi CLI and its kubernetes provider; cached, so a second "
                           "run takes seconds"})
@user_errors
def setup(c, from_source=False):
    """Install the Pulumi CLI, kind, kubectl, kwokctl and kwok (pinned, checksummed) for this user.

    Into a per-user tools folder; --from-source builds them from Go modules instead."""
    commands.setup(from_source=from_source)


@task(help={"bundle": "the bundle folder (default: LABS_BUNDLE, else ~/.local/share/k8s-labs/bundle)",
            "check": "download nothing: say what the bundle lacks, one line per item; exit 1 if anything is missing",
            "lab": "with --check: lab slug or number, or `all` (default) for every layer's charts and manifests"})
@user_errors
def bundle(c, bundle=None, check=False, lab="all"):
    """Download every pinned chart and remote manifest into the offline bundle, on a connected machine.

    `lab up`, `lab render` and `images list` then take them from there. --check: what it lacks."""
    from infra import bundle as offline

    if check:
        if offline.check(lab, bundle):
            raise Exit(code=1)
        return
    offline.download(bundle, say=lambda line: print(line, flush=True))


@task(help={"check": "write nothing: exit 1 when labs/lab.schema.json is not what the catalog's validator says"})
@user_errors
def lab_schema(c, check=False):
    """Write labs/lab.schema.json, the JSON Schema editors check lab.yaml with, from the catalog's validator.

    --check: only say whether the file is current."""
    from infra.lab_schema import regenerate

    print(regenerate(check=check))


def images_list(o):
    instructor.images_list(o.lab, _settings(o), o.sources)


def images_pull(o):
    if not instructor.images_pull(o.lab, _settings(o, target="kind")):
        raise Exit("some images could not be pulled (see above)", code=1)


def images_cache_up(o):
    instructor.images_cache_up(_settings(o, target="kind"))


def images_cache_down(o):
    instructor.images_cache_down(o.volumes)


ns = Collection(doctor, setup, bundle, lab_schema)
ns.add_task(action_task(None, COST, cost))
ns.add_collection(group_collection(LAB, {
    "list": lab_list, "show": lab_show, "up": lab_up, "down": lab_down, "render": lab_render,
    "footprint": lab_footprint, "check": lab_check, "solve": lab_solve, "reset": lab_reset, "test": lab_test}))
ns.add_collection(group_collection(SESSION, {
    "down": session_down, "orphans": session_orphans, "list": session_list, "extend": session_extend}))
ns.add_collection(classroom_collection())
ns.add_collection(group_collection(IMAGES, {
    "list": images_list, "pull": images_pull, "cache-up": images_cache_up, "cache-down": images_cache_down}))
