"""Command line: `invoke lab up --lab=ingress`, `invoke lab list`, `invoke session down`, ...

Thin on purpose: parse arguments, call infra.commands, turn LabsError into one clear line and a
non-zero exit. `invoke lab up` (two words) works because the `lab` collection's default task takes
the action as a positional argument; `invoke lab.up` works too.
"""
from __future__ import annotations

import functools
import inspect

from invoke import Collection, Exit, task

from infra import commands
from infra.errors import LabsError

LAB_HELP = {
    "lab": "lab slug or number (e.g. ingress or 7); `all` for render",
    "target": "where the cluster runs: kind (default)",
    "session": "teaching session name; keys the stacks and the kind cluster (default: default)",
    "workers": "kind worker nodes (default from stacks/Pulumi.<target>.yaml)",
    "http_port": "host port for HTTP into the ingress controller (default 80)",
    "https_port": "host port for HTTPS into the ingress controller (default 443)",
    "format": "render output: json or yaml",
    "lang": "language of guides and hints: fr or en",
    "namespace": "namespace to check (default: the lab's; a student's namespace in a classroom)",
    "kubeconfig": "kubeconfig file (default: ~/.kube/config with the session's kind context)",
    "context": "kubeconfig context (default: kind-labs-<session> on kind)",
    "timeout": "seconds to keep retrying a failing check (state that converges)",
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


def _settings(target, session, workers=None, http_port=None, https_port=None):
    return commands.stack_settings(target=target, session=session, workers=workers,
                                   httpPort=http_port, httpsPort=https_port)


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


@task(help=helps("lab", "target", "session", "workers", "http_port", "https_port"))
@user_errors
def lab_up(c, lab, target="kind", session="default", workers=None, http_port=None, https_port=None):
    """Create the cluster if needed and converge it to exactly what the lab needs."""
    commands.lab_up(lab, _settings(target, session, workers, http_port, https_port))


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


@task(help=helps("lab", "target", "session", "namespace", "kubeconfig", "context", "lang", "timeout"))
@user_errors
def lab_check(c, lab, target="kind", session="default", namespace=None, kubeconfig=None, context=None, lang="fr",
              timeout=30):
    """Check a lab's result: each check passed/failed with its hint; exit 0 only when all pass."""
    if not commands.lab_check(lab, _settings(target, session), namespace, kubeconfig, context, lang, float(timeout)):
        raise Exit(code=1)


@task(help=helps("lab", "target", "session", "kubeconfig", "context"))
@user_errors
def lab_solve(c, lab, target="kind", session="default", kubeconfig=None, context=None):
    """Apply the lab's starting point and solution."""
    commands.lab_solve(lab, _settings(target, session), kubeconfig, context)


@task(help=helps("lab", "target", "session", "kubeconfig", "context"))
@user_errors
def lab_reset(c, lab, target="kind", session="default", kubeconfig=None, context=None):
    """Remove what the lab created and restore its starting point."""
    commands.lab_reset(lab, _settings(target, session), kubeconfig, context)


@task(help=helps("lab", "target", "session", "timeout"))
@user_errors
def lab_test(c, lab, target="kind", session="default", timeout=180):
    """Before class, on a real cluster: up, checks fail, solve, checks pass, reset, checks fail again."""
    if not commands.lab_test(lab, _settings(target, session), float(timeout)):
        raise Exit("some labs did not behave (see the report)", code=1)


LAB_ACTIONS = {"list": lab_list, "show": lab_show, "up": lab_up, "down": lab_down, "render": lab_render,
               "footprint": lab_footprint, "check": lab_check, "solve": lab_solve, "reset": lab_reset,
               "test": lab_test}


@task(positional=["action"], help={"action": " | ".join(LAB_ACTIONS), **LAB_HELP})
def lab_action(c, action, lab=None, target="kind", session="default", workers=None, http_port=None,
               https_port=None, format="json", lang="fr", namespace=None, kubeconfig=None, context=None,
               timeout=None):
    """`invoke lab <action> ...`: the same as `invoke lab.<action> ...`."""
    if action not in LAB_ACTIONS:
        raise Exit(f"error: unknown action '{action}': use one of {', '.join(LAB_ACTIONS)}", code=1)
    given = {"lab": lab, "target": target, "session": session, "workers": workers, "http_port": http_port,
             "https_port": https_port, "format": format, "lang": lang, "namespace": namespace,
             "kubeconfig": kubeconfig, "context": context, "timeout": timeout}
    task_body = LAB_ACTIONS[action]
    accepted = inspect.signature(task_body.body).parameters
    if "lab" in accepted and lab is None and action not in ("list", "down", "footprint"):
        raise Exit(f"error: `lab {action}` needs --lab=<slug|number> (see `invoke lab list`)", code=1)
    task_body(c, **{name: value for name, value in given.items() if name in accepted and value is not None})


@task(help=helps("session"))
@user_errors
def session_down(c, session="default"):
    """Tear the session down: destroy its stacks, delete its cluster, remove its state."""
    commands.session_down(session)


@task(positional=["action"], help={"action": "down", **helps("session")})
def session_action(c, action, session="default"):
    """`invoke session down`: the same as `invoke session.down`."""
    if action != "down":
        raise Exit(f"error: unknown action '{action}': use `invoke session down`", code=1)
    session_down(c, session=session)


@task
@user_errors
def doctor(c):
    """Check Docker (and its daemon), kind, the Pulumi CLI and kubectl; say how to install what is missing."""
    if not commands.doctor():
        raise Exit("some prerequisites are missing: see the fix column (or run `invoke setup`)", code=1)


@task
@user_errors
def setup(c):
    """Install the Pulumi CLI, kind and kubectl (pinned, checksummed) into a per-user tools folder."""
    commands.setup()


lab_collection = Collection("lab")
lab_collection.add_task(lab_action, name="action", default=True)
for name, body in LAB_ACTIONS.items():
    lab_collection.add_task(body, name=name)

session_collection = Collection("session")
session_collection.add_task(session_action, name="action", default=True)
session_collection.add_task(session_down, name="down")

ns = Collection(doctor, setup)
ns.add_collection(lab_collection)
ns.add_collection(session_collection)
