"""Command line: `invoke lab up --lab=ingress`, `invoke lab list`, `invoke session down`, ...

Thin on purpose: parse arguments, call infra.commands, turn LabsError into one clear line and a
non-zero exit. `invoke lab up` (two words) works because the `lab` collection's default task takes
the action as a positional argument; `invoke lab.up` works too.
"""
from __future__ import annotations

import functools
import inspect

from invoke import Collection, Exit, task

from infra import commands, instructor
from infra.classroom.cli import classroom_collection
from infra.errors import LabsError

LAB_HELP = {
    "lab": "lab slug or number (e.g. ingress or 7); `all` for render",
    "target": "where the cluster runs: kind (default), kwok (a real API server with fake nodes, no Docker: "
              "wiring only), gke, eks or aks (cloud SDK extras: pip install -e '.[cloud]')",
    "session": "teaching session name; keys the stacks and the kind cluster (default: default)",
    "workers": "kind worker nodes; on a cloud, nodes at creation (default from stacks/Pulumi.<target>.yaml)",
    "http_port": "host port for HTTP into the ingress controller (default 80)",
    "https_port": "host port for HTTPS into the ingress controller (default 443)",
    "format": "render output: json or yaml",
    "lang": "language of guides and hints: fr or en",
    "namespace": "namespace to work in (default: the lab's own, files as they are); another one gets the lab's objects "
                 "retargeted to it (no Namespace object, references rewritten)",
    "student": "a classroom student's id: their namespace (unless --namespace) and their host names "
               "<app>.<id>.<domain> instead of <app>.<domain>",
    "kubeconfig": "kubeconfig file (default: ~/.kube/config with the session's kind context)",
    "context": "kubeconfig context (default: kind-labs-<session> on kind)",
    "timeout": "seconds to keep retrying a failing check (state that converges)",
    "yes": "cloud targets: accept the cost estimate without asking (needed without a terminal, e.g. in CI)",
    "students": "number of students, for the cost estimate (default 0: the cluster alone)",
    "api_server_address": "kind: this machine's LAN address for the API server to listen on (others reach the "
                          "cluster; changing it recreates the cluster). Kept by the session's next commands",
    "base_domain": "domain of the web UIs and lab apps (default: localhost on kind, <LAN address>.sslip.io with "
                   "--api-server-address). Kept by the session's next commands",
    "node_size": "cloud node size S, M or L (default from stacks/Pulumi.<target>.yaml)",
    "gcp_project": "gke: the Google Cloud project (default: gcpProject in stacks/Pulumi.gke.yaml)",
}


def helps(*names: str) -> dict:
    return {name: LAB_HELP[name] for name in names}


def user_errors(fn):
    """LabsError -> `error: <one line>` on stderr and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LabsError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: run the same command again to resume (Pulumi picks up where it stopped)",
                       code=130) from None

    return wrapper


def _settings(target, session, workers=None, http_port=None, https_port=None, node_size=None, gcp_project=None,
              api_server_address=None, base_domain=None):
    """The session's settings: the options given here over those the session's cluster was made with."""
    return commands.stack_settings(target=target, session=session, workers=workers,
                                   httpPort=http_port, httpsPort=https_port, nodeSize=node_size,
                                   gcpProject=gcp_project, apiServerAddress=api_server_address, baseDomain=base_domain)


@task
@user_errors
def lab_list(c):
    """List the labs: number, slide title, slug, layers."""
    commands.lab_list()


@task(help=helps("lab", "lang"))
@user_errors
def lab_show(c, lab, lang="fr"):
    """Show one lab: slide, layers, objectives, guide."""
    commands.lab_show(lab, lang)


@task(help=helps("lab", "target", "session", "workers", "http_port", "https_port", "node_size", "gcp_project", "yes",
                 "students", "namespace", "student", "api_server_address", "base_domain"))
@user_errors
def lab_up(c, lab, target="kind", session="default", workers=None, http_port=None, https_port=None, node_size=None,
           gcp_project=None, yes=False, students=None, namespace=None, student=None, api_server_address=None,
           base_domain=None):
    """Create the cluster if needed and converge it to exactly what the lab needs (clouds: cost estimate first)."""
    settings = _settings(target, session, workers, http_port, https_port, node_size, gcp_project, api_server_address,
                         base_domain)
    commands.lab_up(lab, settings, yes=yes, students=_whole(students or 0, "students"), namespace=namespace,
                    student=student)


@task(help=helps("target", "session"))
@user_errors
def lab_down(c, target="kind", session="default"):
    """Remove the lab's layers; the cluster stays for the next lab."""
    commands.lab_down(_settings(target, session))


@task(help=helps("lab", "target", "session", "format"))
@user_errors
def lab_render(c, lab, target="kind", session="default", format="json"):
    """Print what `lab up` would register (JSON or YAML), offline: no cluster, Docker or Pulumi CLI."""
    print(commands.lab_render(lab, _settings(target, session), format))


@task(help=helps("lab", "target", "session"))
@user_errors
def lab_footprint(c, lab="all", target="kind", session="default"):
    """CPU and memory requests per layer, from the values the program installs; checks the budget."""
    if not commands.lab_footprint(lab, _settings(target, session)):
        raise Exit("over the laptop budget, or a container without requests (see above)", code=1)


@task(help=helps("lab", "target", "session", "namespace", "student", "kubeconfig", "context", "lang", "timeout"))
@user_errors
def lab_check(c, lab, target="kind", session="default", namespace=None, student=None, kubeconfig=None, context=None,
              lang="fr", timeout=30):
    """Check a lab's result: each check passed/failed with its hint; exit 0 only when all pass."""
    if not commands.lab_check(lab, _settings(target, session), namespace, kubeconfig, context, lang, _seconds(timeout),
                              student=student):
        raise Exit(code=1)


@task(help=helps("lab", "target", "session", "namespace", "student", "kubeconfig", "context"))
@user_errors
def lab_solve(c, lab, target="kind", session="default", namespace=None, student=None, kubeconfig=None, context=None):
    """Apply the lab's starting point and solution (in a student's namespace with --student)."""
    commands.lab_solve(lab, _settings(target, session), kubeconfig, context, namespace=namespace, student=student)


@task(help=helps("lab", "target", "session", "namespace", "student", "kubeconfig", "context"))
@user_errors
def lab_reset(c, lab, target="kind", session="default", namespace=None, student=None, kubeconfig=None, context=None):
    """Remove what the lab created and restore its starting point (in a student's namespace with --student)."""
    commands.lab_reset(lab, _settings(target, session), kubeconfig, context, namespace=namespace, student=student)


@task(help=helps("lab", "target", "session", "timeout"))
@user_errors
def lab_test(c, lab, target="kind", session="default", timeout=180):
    """Before class, on a real cluster: up, checks fail, solve, checks pass, reset, checks fail again."""
    if not commands.lab_test(lab, _settings(target, session), _seconds(timeout)):
        raise Exit("some labs did not behave (see the report)", code=1)


LAB_ACTIONS = {"list": lab_list, "show": lab_show, "up": lab_up, "down": lab_down, "render": lab_render,
               "footprint": lab_footprint, "check": lab_check, "solve": lab_solve, "reset": lab_reset,
               "test": lab_test}


@task(positional=["action"], help={"action": " | ".join(LAB_ACTIONS), **LAB_HELP})
def lab_action(c, action, lab=None, target="kind", session="default", workers=None, http_port=None,
               https_port=None, format="json", lang="fr", namespace=None, kubeconfig=None, context=None,
               timeout=None, node_size=None, gcp_project=None, yes=False, students=None, student=None,
               api_server_address=None, base_domain=None):
    """`invoke lab <action> ...`: the same as `invoke lab.<action> ...`."""
    if action not in LAB_ACTIONS:
        raise Exit(f"error: unknown action '{action}': use one of {', '.join(LAB_ACTIONS)}", code=1)
    given = {"lab": lab, "target": target, "session": session, "workers": workers, "http_port": http_port,
             "https_port": https_port, "format": format, "lang": lang, "namespace": namespace,
             "kubeconfig": kubeconfig, "context": context, "timeout": timeout, "node_size": node_size,
             "gcp_project": gcp_project, "yes": yes, "students": students, "student": student,
             "api_server_address": api_server_address, "base_domain": base_domain}
    task_body = LAB_ACTIONS[action]
    accepted = inspect.signature(task_body.body).parameters
    if "lab" in accepted and lab is None and action not in ("list", "down", "footprint"):
        raise Exit(f"error: `lab {action}` needs --lab=<slug|number> (see `invoke lab list`)", code=1)
    task_body(c, **{name: value for name, value in given.items() if name in accepted and value is not None})


@task(help=helps("session"))
@user_errors
def session_down(c, session="default"):
    """Tear the session down: on clouds, lab layers, load balancers and disks first; then destroy its
    stacks (cluster, then network), delete a kind cluster, remove its state."""
    instructor.session_down(session)


@task(help=helps("target", "session"))
@user_errors
def session_orphans(c, target, session="default"):
    """List what still carries the session's tags on a cloud (read-only, with gcloud/aws/az); exit 1 if any."""
    if commands.session_orphans(session, _settings(target, session)):
        raise Exit(f"error: resources of session '{session}' remain on {target} (listed above): they may still bill",
                   code=1)


@task
@user_errors
def session_list(c):
    """List this machine's sessions: target, age, expiry, stacks, estimated cost so far (clouds)."""
    instructor.session_list()


@task(help={**helps("session"), "hours": "the session now expires this many hours from now (1-168)"})
@user_errors
def session_extend(c, session="default", hours=8):
    """Move the session's expiry (the warning every command prints once it has passed)."""
    instructor.session_extend(session, _whole(hours, "hours"))


SESSION_ACTIONS = {"down": session_down, "orphans": session_orphans, "list": session_list, "extend": session_extend}


@task(positional=["action"], help={"action": " | ".join(SESSION_ACTIONS), **helps("session", "target"),
                                   "hours": "extend: hours from now"})
def session_action(c, action, session="default", target=None, hours=None):
    """`invoke session down|list|extend|orphans`: the same as `invoke session.<action>`."""
    if action not in SESSION_ACTIONS:
        raise Exit(f"error: unknown action '{action}': use one of {', '.join(SESSION_ACTIONS)}", code=1)
    if action == "list":
        session_list(c)
    elif action == "extend":
        session_extend(c, session=session, **({"hours": hours} if hours is not None else {}))
    elif action == "orphans":
        if not target:
            raise Exit("error: `session orphans` needs --target=<gke|eks|aks>", code=1)
        session_orphans(c, target=target, session=session)
    else:
        session_down(c, session=session)


@task(help={**helps("target", "session", "students", "node_size", "workers"),
            "hours": "hours the cluster runs (default 8)"})
@user_errors
def cost(c, target, students=None, hours=None, session="default", node_size=None, workers=None):
    """Print an indicative cost estimate for a class on a cloud target (dated list prices, see infra/pricing.py)."""
    commands.cost(_settings(target, session, workers, node_size=node_size), _whole(students or 0, "students"),
                  _hours(8 if hours is None else hours))


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
    """Check Docker (and its daemon), kind, the Pulumi CLI, kubectl and the kwok cluster's tools; say how to
    install what is missing."""
    if not commands.doctor():
        raise Exit("some prerequisites are missing: see the fix column (or run `invoke setup`, or "
                   "`invoke setup --from-source` where no release can be downloaded)", code=1)


@task(help={"from_source": "build the tools from Go modules (needs Go >= 1.26 and the Go module proxy) "
                           "instead of downloading releases: kwok, kwokctl, etcd, the Kubernetes control "
                           "plane, kubectl, the Pulumi CLI and its kubernetes provider; cached, so a second "
                           "run takes seconds"})
@user_errors
def setup(c, from_source=False):
    """Install the Pulumi CLI, kind, kubectl, kwokctl and kwok (pinned, checksummed) into a per-user tools
    folder; --from-source builds them from Go modules instead."""
    commands.setup(from_source=from_source)


@task(help={"bundle": "the bundle folder (default: LABS_BUNDLE, else ~/.local/share/k8s-labs/bundle)",
            "check": "download nothing: say what the bundle lacks, one line per item; exit 1 if anything is missing",
            "lab": "with --check: lab slug or number, or `all` (default) for every layer's charts and manifests"})
@user_errors
def bundle(c, bundle=None, check=False, lab="all"):
    """Download every pinned chart and remote manifest into the offline bundle (on a connected machine).

    `lab up`, `lab render` and `images list` then take them from there. --check: what it lacks."""
    from infra import bundle as offline

    if check:
        if offline.check(lab, bundle):
            raise Exit(code=1)
        return
    offline.download(bundle, say=lambda line: print(line, flush=True))


IMAGES_HELP = {
    "lab": "lab slug or number, or `all`",
    "sources": "also show where each image comes from (chart release, layer object, lab file)",
    "volumes": "cache-down: also remove the cache volumes (the cached layers)",
}


@task(help={**helps("target", "session"), "lab": IMAGES_HELP["lab"], "sources": IMAGES_HELP["sources"]})
@user_errors
def images_list(c, lab, target="kind", session="default", sources=False):
    """List the images a lab needs (pinned charts, layers' objects, lab manifests), by registry; offline."""
    instructor.images_list(lab, _settings(target, session), sources)


@task(help={**helps("session"), "lab": IMAGES_HELP["lab"]})
@user_errors
def images_pull(c, lab, session="default"):
    """Warm the image cache: pull every image the lab needs on one node of the session, through the cache."""
    if not instructor.images_pull(lab, _settings("kind", session)):
        raise Exit("some images could not be pulled (see above)", code=1)


@task(help=helps("session"))
@user_errors
def images_cache_up(c, session="default"):
    """Run the pull-through caches (docker.io, ghcr.io, quay.io, registry.k8s.io) and wire the session's kind nodes."""
    instructor.images_cache_up(_settings("kind", session))


@task(help={"volumes": IMAGES_HELP["volumes"]})
@user_errors
def images_cache_down(c, volumes=False):
    """Remove the cache containers (their volumes with --volumes) and every session's containerd wiring."""
    instructor.images_cache_down(volumes)


IMAGES_ACTIONS = {"list": images_list, "pull": images_pull, "cache-up": images_cache_up,
                  "cache-down": images_cache_down}


@task(positional=["action"], help={"action": " | ".join(IMAGES_ACTIONS), **helps("target", "session"), **IMAGES_HELP})
def images_action(c, action, lab=None, target=None, session=None, sources=False, volumes=False):
    """`invoke images list|pull|cache-up|cache-down`: the same as `invoke images.<action>`."""
    if action == "cache":
        raise Exit("error: say `invoke images cache-up` or `invoke images cache-down` (one word: invoke reads "
                   "a single action after `images`)", code=1)
    if action not in IMAGES_ACTIONS:
        raise Exit(f"error: unknown action '{action}': use one of {', '.join(IMAGES_ACTIONS)}", code=1)
    task_body = IMAGES_ACTIONS[action]
    accepted = inspect.signature(task_body.body).parameters
    if "lab" in accepted and lab is None:
        raise Exit(f"error: `images {action}` needs --lab=<slug|number|all> (see `invoke lab list`)", code=1)
    given = {"lab": lab, "target": target, "session": session, "sources": sources, "volumes": volumes}
    task_body(c, **{name: value for name, value in given.items() if name in accepted and value is not None})


lab_collection = Collection("lab")
lab_collection.add_task(lab_action, name="action", default=True)
for name, body in LAB_ACTIONS.items():
    lab_collection.add_task(body, name=name)

session_collection = Collection("session")
session_collection.add_task(session_action, name="action", default=True)
session_collection.add_task(session_down, name="down")
session_collection.add_task(session_orphans, name="orphans")
session_collection.add_task(session_list, name="list")
session_collection.add_task(session_extend, name="extend")

ns = Collection(doctor, setup, cost, bundle)
ns.add_collection(lab_collection)
ns.add_collection(session_collection)
ns.add_collection(classroom_collection(user_errors))  # invoke classroom up|render|down|cards|serve|status

images_collection = Collection("images")
images_collection.add_task(images_action, name="action", default=True)
for name, body in IMAGES_ACTIONS.items():
    images_collection.add_task(body, name=name)
ns.add_collection(images_collection)
