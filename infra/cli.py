"""The command line's one description of each action, and the invoke tasks built from it.

Each `Action` names its options (with defaults), a one-sentence summary and one example. From it come
the dotted task (`invoke lab.up ...`), the two-word form (`invoke lab up ...`, a group's dispatcher),
every help screen, and the refusal of an option the action does not take. tasks.py and
infra.classroom.cli only say what each action runs.

Why a dispatcher and its own `--help`/`-h` flag: invoke reads `invoke lab up` as the `lab` task with
the positional argument `up`, and would give `--help` after it the dispatcher's own help (or eat it as
the action). The dispatcher therefore takes `--help`/`-h` itself, and a help flag given before any
action stands in for the action, so that `invoke lab --help` needs none.
"""
from __future__ import annotations

import functools
import inspect
import textwrap
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from invoke import Collection, Exit, Task
from invoke.parser import Argument

from infra.errors import LabsError

HELP_WIDTH = 100


@dataclass(frozen=True)
class Action:
    """One action of a group: `invoke <group> <name>` and `invoke <group>.<name>`."""

    name: str
    summary: str  # one sentence on one line: `invoke --list` and `invoke <group> --help` show its first line
    example: str  # the arguments after `invoke <group> <name>`
    options: dict[str, Any]  # option -> default (False: a flag; None: unset unless given)
    required: dict[str, str] = field(default_factory=dict)  # option -> how to give it, e.g. "--lab=<slug|number>"
    help: dict[str, str] = field(default_factory=dict)  # this action's own wording of an option
    details: str = ""  # more lines for its help

    def option_help(self, group: "Group | None", name: str) -> str:
        return self.help.get(name) or (group.help[name] if group else "")

    def command(self, group: "Group | None") -> str:
        return f"invoke {group.name} {self.name}" if group else f"invoke {self.name}"


@dataclass(frozen=True)
class Group:
    """A family of actions sharing option descriptions: lab, session, images, classroom."""

    name: str
    summary: str
    help: dict[str, str]
    actions: tuple[Action, ...]
    hints: dict[str, str] = field(default_factory=dict)  # a word that is not an action -> what to say instead

    def action(self, name: str) -> Action:
        for action in self.actions:
            if action.name == name:
                return action
        hint = self.hints.get(name)
        raise LabsError(hint or f"unknown action '{name}': use one of {', '.join(self.action_names)} "
                                f"(`invoke {self.name} --help` lists them)")

    @property
    def action_names(self) -> list[str]:
        return [action.name for action in self.actions]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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


# --- help text ----------------------------------------------------------------------------------------

def docstring(group: Group | None, action: Action) -> str:
    """The task's docstring: the summary alone on its first line (what `invoke --list` shows), then the
    details and the example."""
    parts = [action.summary]
    if action.details:
        parts.append(action.details)
    parts.append(f"Example: {action.command(group)} {action.example}".rstrip())
    return "\n\n".join(parts)


def action_help(group: Group | None, action: Action) -> str:
    """What `invoke lab up --help` prints: usage, docstring, that action's options and nothing else."""
    lines = [f"Usage: {action.command(group)}" + (" [--options]" if action.options else ""), ""]
    lines.append("\n\n".join(textwrap.fill(paragraph, HELP_WIDTH)
                              for paragraph in docstring(group, action).split("\n\n")))
    if action.options:
        lines += ["", "Options:"]
        width = max(len(_flag_usage(name, default)) for name, default in action.options.items()) + 2
        for name, default in action.options.items():
            text = option_text(group, action, name)
            wrapped = textwrap.wrap(text, HELP_WIDTH - width - 2) or [""]
            lines.append(f"  {_flag_usage(name, default).ljust(width)}{wrapped[0]}")
            lines += [" " * (width + 2) + more for more in wrapped[1:]]
    return "\n".join(lines)


def option_text(group: Group | None, action: Action, name: str) -> str:
    """An option's help line, the same in every help form."""
    return ("(required) " if name in action.required else "") + action.option_help(group, name)


def action_list(group: Group) -> str:
    """Each action of the group on one line, then how to see one's options."""
    width = max(len(name) for name in group.action_names) + 2
    lines = ["Actions:", *(f"  {action.name.ljust(width)}{action.summary}" for action in group.actions), "",
             f"`invoke {group.name} <action> --help` shows an action's options and an example."]
    return "\n".join(lines)


def group_help(group: Group) -> str:
    """What `invoke lab --help` prints."""
    return (f"Usage: invoke {group.name} <action> [--options]   (or: invoke {group.name}.<action> ...)\n\n"
            f"{group.summary}\n\n{action_list(group)}")


def _flag_usage(name: str, default) -> str:
    return flag(name) if default is False else f"{flag(name)}=STRING"


# --- tasks --------------------------------------------------------------------------------------------

def _signature(names_defaults: dict[str, Any], leading: tuple[str, ...] = ()) -> inspect.Signature:
    """A task signature invoke reads: the context, `leading` positionals, then each option (flags default
    to False, the others to None so that "given" is told apart from the default)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("c", kind)] + [inspect.Parameter(name, kind) for name in leading]
    params += [inspect.Parameter(name, kind, default=False if default is False else None)
               for name, default in names_defaults.items()]
    return inspect.Signature(params)


def _with_defaults(action: Action, given: dict[str, Any]) -> SimpleNamespace:
    """The action's options: those given, the defaults for the others."""
    values = {name: default if given.get(name) in (None, False) else given[name]
              for name, default in action.options.items()}
    return SimpleNamespace(**values)


def action_task(group: Group | None, action: Action, run: Callable[[SimpleNamespace], None]) -> Task:
    """`invoke lab.up ...`: the action's options only, long flags only (so `-h` is always help)."""

    @user_errors
    def body(c, **given):
        for name, how in action.required.items():
            if given.get(name) in (None, False):
                raise LabsError(f"`{action.command(group).removeprefix('invoke ')}` needs {how}")
        return run(_with_defaults(action, given))

    body.__signature__ = _signature(action.options)
    body.__doc__ = docstring(group, action)
    body.__name__ = action.name
    helps = {name: option_text(group, action, name) for name in action.options}
    return Task(body, name=action.name, positional=[], auto_shortflags=False, help=helps)


class _HelpFlag(Argument):
    """The dispatcher's `--help`/`-h`: given before any action, it stands in for one (empty), so invoke
    does not ask for the positional action."""

    def __init__(self, action: Argument, **kwargs):
        super().__init__(**kwargs)
        self.action = action

    def set_value(self, value, cast=True):
        super().set_value(value, cast)
        if value and self.action.value is None:
            self.action.set_value("")


class _DispatcherTask(Task):
    def get_arguments(self, ignore_unknown_help=None):
        arguments = super().get_arguments(ignore_unknown_help)
        action = next(argument for argument in arguments if argument.name == "action")
        return [_HelpFlag(action, names=("help", "h"), kind=bool, default=False,
                          help="this help; after an action, that action's help")
                if argument.name == "help" else argument for argument in arguments]


def dispatcher_task(group: Group, tasks: dict[str, Task]) -> Task:
    """`invoke lab <action> ...`: the same task as `invoke lab.<action> ...`; an option that action does
    not take is refused with the ones it does take."""
    union: dict[str, Any] = {}
    for action in group.actions:
        for name, default in action.options.items():
            union.setdefault(name, default)

    @user_errors
    def body(c, action, help=False, **given):
        if not action:
            print(group_help(group))
            return None
        chosen = group.action(action)
        if help:
            print(action_help(group, chosen))
            return None
        given = {name: value for name, value in given.items() if value not in (None, False)}
        not_taken = [name for name in given if name not in chosen.options]
        if not_taken:
            takes = f"it takes {', '.join(map(flag, chosen.options))}" if chosen.options else "it takes no options"
            raise LabsError(f"`{group.name} {action}` takes no {', '.join(map(flag, not_taken))} ({takes}; "
                            f"see `invoke {group.name} {action} --help`)")
        return tasks[action](c, **given)

    body.__signature__ = _signature({"help": False, **union}, leading=("action",))
    body.__doc__ = f"{group.summary}\n\n{action_list(group)}"
    body.__name__ = "action"
    helps = {"action": " | ".join(group.action_names)}
    helps |= {name: group.help.get(name, "") + " (" + ", ".join(
        a.name for a in group.actions if name in a.options) + ")" for name in union}
    return _DispatcherTask(body, name="action", positional=["action"], auto_shortflags=False, help=helps)


def group_collection(group: Group, runs: dict[str, Callable[[SimpleNamespace], None]]) -> Collection:
    """The group's collection: the dispatcher as its default task, and each action as `<group>.<action>`."""
    if set(runs) != set(group.action_names):
        raise ValueError(f"{group.name}: actions {sorted(group.action_names)} but runs for {sorted(runs)}")
    tasks = {action.name: action_task(group, action, runs[action.name]) for action in group.actions}
    collection = Collection(group.name)
    collection.add_task(dispatcher_task(group, tasks), name="action", default=True)
    for name, task_ in tasks.items():
        collection.add_task(task_, name=name)
    return collection


# --- the actions of lab, session, images and cost -----------------------------------------------------

LAB_REQUIRED = {"lab": "--lab=<slug|number> (see `invoke lab list`)"}
LAB_OR_ALL = "lab slug or number (e.g. ingress or 7), or `all` for every lab"

LAB = Group("lab", "Labs: list them, bring one up on a cluster, render it offline, check, solve, reset and test it.", {
    "lab": "lab slug or number (e.g. ingress or 7)",
    "target": "where the cluster runs: kind (default), kwok (a real API server with fake nodes, no Docker: "
              "wiring only), gke, eks or aks (cloud SDK extras: pip install -e '.[cloud]')",
    "session": "teaching session name; keys the stacks and the kind cluster (default: default)",
    "workers": "kind worker nodes; on a cloud, nodes at creation (default from stacks/Pulumi.<target>.yaml)",
    "http_port": "host port for HTTP into the ingress controller (default 80)",
    "https_port": "host port for HTTPS into the ingress controller (default 443)",
    "format": "render output: json (default) or yaml",
    "lang": "language of guides and hints: fr (default) or en",
    "namespace": "namespace to work in (default: the lab's own, files as they are); another one gets the lab's objects "
                 "retargeted to it (no Namespace object, references rewritten)",
    "student": "a classroom student's id: their namespace (unless --namespace) and their host names "
               "<app>.<id>.<domain> instead of <app>.<domain>",
    "kubeconfig": "kubeconfig file (default: the session's own, else ~/.kube/config with the session's kind context)",
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
}, (
    Action("list", "List the labs: number, slide title, slug, layers.", "", {}),
    Action("show", "Show one lab: slide, layers, objectives, guide.", "--lab=ingress --lang=en",
           {"lab": None, "lang": "fr"}, LAB_REQUIRED),
    Action("up", "Create the cluster if needed and converge it to exactly what the lab needs.", "--lab=ingress",
           {"lab": None, "target": "kind", "session": "default", "workers": None, "http_port": None,
            "https_port": None, "node_size": None, "gcp_project": None, "yes": False, "students": None,
            "namespace": None, "student": None, "api_server_address": None, "base_domain": None}, LAB_REQUIRED,
           details="On a cloud target it shows a cost estimate first and asks (or --yes). The lab's starting "
                   "point is applied once its layers are in."),
    Action("down", "Remove the lab's layers; the cluster stays for the next lab.", "--session=monday",
           {"target": "kind", "session": "default"}),
    Action("render", "Print what `lab up` would register (JSON or YAML), offline: no cluster, Docker or Pulumi CLI.",
           "--lab=ingress --format=yaml", {"lab": None, "target": "kind", "session": "default", "format": "json"},
           LAB_REQUIRED, help={"lab": LAB_OR_ALL}),
    Action("footprint", "Show CPU and memory requests per layer, from the values installed, against the budget.",
           "--lab=monitoring", {"lab": "all", "target": "kind", "session": "default"},
           help={"lab": LAB_OR_ALL + " (default)"}),
    Action("check", "Check a lab's result: each check passed, failed or skipped, with its hint.",
           "--lab=ingress --lang=en", {"lab": None, "target": "kind", "session": "default", "namespace": None,
                                       "student": None, "kubeconfig": None, "context": None, "lang": "fr",
                                       "timeout": 30}, LAB_REQUIRED,
           help={"timeout": "seconds to keep retrying a failing check (state that converges; default 30)"},
           details="Exit code 0 only when every check passes."),
    Action("solve", "Apply the lab's starting point and solution (in a student's namespace with --student).",
           "--lab=ingress --student=student-03",
           {"lab": None, "target": "kind", "session": "default", "namespace": None, "student": None,
            "kubeconfig": None, "context": None}, LAB_REQUIRED),
    Action("reset", "Remove what the lab created and restore its starting point (in a student's namespace with "
                    "--student).", "--lab=ingress",
           {"lab": None, "target": "kind", "session": "default", "namespace": None, "student": None,
            "kubeconfig": None, "context": None}, LAB_REQUIRED),
    Action("test", "Before class, on a real cluster: up, checks fail, solve, checks pass, reset, checks fail again.",
           "--lab=all --target=kwok", {"lab": None, "target": "kind", "session": "default", "timeout": 300},
           LAB_REQUIRED, help={"lab": LAB_OR_ALL,
                               "timeout": "seconds to wait for the solution's checks to pass (default 300)"}),
))

SESSION = Group("session", "Sessions: list them, extend one, tear one down, look for what it left on a cloud.", {
    "session": LAB.help["session"],
    "target": "the cloud the session ran on: gke, eks or aks",
    "hours": "the session now expires this many hours from now (1-168; default 8)",
}, (
    Action("down", "Tear the session down: lab layers, load balancers and disks, stacks, cluster, its state.",
           "--session=monday", {"session": "default"},
           details="On clouds the lab layers, load balancers and disks go first; then the stacks are destroyed "
                   "(cluster, then network), a kind cluster is deleted and the session's state removed."),
    Action("orphans", "List what still carries the session's tags on a cloud (read-only); exit 1 if any.",
           "--target=gke --session=monday", {"target": None, "session": "default"},
           {"target": "--target=<gke|eks|aks>"}, details="Uses the cloud's own CLI: gcloud, aws or az."),
    Action("list", "List this machine's sessions: target, age, expiry, stacks, estimated cost so far (clouds).",
           "", {}),
    Action("extend", "Move the session's expiry (the warning every command prints once it has passed).",
           "--hours=3", {"session": "default", "hours": 8}),
))

IMAGES = Group("images", "Images: list what a lab pulls, and run pull-through caches to pull it once.", {
    "lab": "lab slug or number, or `all`",
    "target": LAB.help["target"],
    "session": LAB.help["session"],
    "sources": "also show where each image comes from (chart release, layer object, lab file)",
    "volumes": "also remove the cache volumes (the cached layers)",
}, (
    Action("list", "List the images a lab needs (pinned charts, layers' objects, lab manifests), by registry; "
                   "offline.", "--lab=all --sources",
           {"lab": None, "target": "kind", "session": "default", "sources": False},
           {"lab": "--lab=<slug|number|all> (see `invoke lab list`)"}),
    Action("pull", "Warm the image cache: pull every image the lab needs on one node of the session.",
           "--lab=all", {"lab": None, "session": "default"},
           {"lab": "--lab=<slug|number|all> (see `invoke lab list`)"}),
    Action("cache-up", "Run the pull-through caches (docker.io, ghcr.io, quay.io, registry.k8s.io) and wire the "
                       "session's kind nodes.", "", {"session": "default"}),
    Action("cache-down", "Remove the cache containers (their volumes with --volumes) and every session's "
                         "containerd wiring.", "--volumes", {"volumes": False}),
), hints={"cache": "say `invoke images cache-up` or `invoke images cache-down` (one word: invoke reads a single "
                   "action after `images`)"})

COST = Action("cost", "Print an indicative cost estimate for a class on a cloud target (dated list prices).",
              "--target=gke --students=20 --hours=8",
              {"target": "kind", "students": None, "hours": 8, "session": "default", "node_size": None,
               "workers": None},
              help={"target": "gke, eks or aks (default kind, like every command: it has no cost estimate)",
                    "students": "number of students (default 0: the cluster alone)",
                    "hours": "hours the cluster runs (default 8)", "session": LAB.help["session"],
                    "node_size": LAB.help["node_size"], "workers": LAB.help["workers"]},
              details="Prices come from the dated table in infra/pricing.py, with the providers' pricing pages.")
