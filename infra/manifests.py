"""A lab's objects, retargeted to another namespace: a student's, in a classroom.

Every lab's `manifests/` (starting point) and `solution/` are written for the lab's own namespace
(`lab-ingress`...): they carry a Namespace object and `namespace: lab-ingress` lines, and host names
under `.localhost`. In a namespace-tenancy classroom a student works in their own namespace, cannot
create namespaces, and may only route host names under `*.<student>.<base domain>`. `retarget` turns
the lab's objects into what works there:

  - Namespace objects are dropped (the classroom made the student's); so are objects that live in
    another namespace the lab itself declares (lab 21's `lab-service-mesh-sidecar`): they would
    collide with the main namespace's objects of the same name (see `Retargeted.skipped`);
  - namespaced objects get `metadata.namespace` = the target; cluster-scoped kinds (CLUSTER_SCOPED)
    are left as they are;
  - every other mention of the lab namespace as a whole name is rewritten: RoleBinding subjects,
    route backendRefs, `web.lab-x.svc.cluster.local`, `namespace="lab-x"` in PromQL or LogQL, Helm's
    release-namespace annotation, namespace selectors... and the Traefik middleware references
    `lab-x-<name>@kubernetescrd` (the annotation `traefik.ingress.kubernetes.io/router.middlewares`);
  - with a student, the routes' host names `<name>.localhost` become `<name>.<student>.<domain>`
    (Ingress rules and TLS hosts, Gateway API routes' hostnames, Traefik IngressRoute `Host(...)`);
  - a Grafana dashboard kept as code (a ConfigMap labelled `grafana_dashboard`) gets a uid and a
    title of its own: Grafana is shared, and one uid per class would keep only one dashboard.

`retarget_checks` applies the same rewrite to a lab's checks (names, expected values, queries, http
hosts), so `lab check` and `classroom status` look for what `retarget` produced.

Plain Python and PyYAML: no Kubernetes client, no Pulumi.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.errors import LabsError
from infra.kinds import CLUSTER_SCOPED
from infra.paths import PROJECT_ROOT

SOURCE_DOMAIN = "localhost"  # the labs' files are written for kind: <app>.localhost
MIDDLEWARES_ANNOTATION = "traefik.ingress.kubernetes.io/router.middlewares"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute")
HOST_KINDS = ("Ingress", "IngressRoute", *ROUTE_KINDS)  # objects whose host names the classroom polices
DASHBOARD_LABEL = "grafana_dashboard"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_RULE = re.compile(r"(Host(?:SNI)?)\(([^)]*)\)")
_QUOTED = re.compile(r"`([^`]*)`")


def check_namespace(name: str, option: str = "--namespace") -> str:
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        raise LabsError(f"{option} must be a namespace name (lowercase letters, digits and '-', at most 63), "
                        f"got '{name}'")
    return name


def load_folder(folder: Path) -> list[dict]:
    """Every object of every YAML file under `folder` (recursive, file order, multi-document); `folder`
    may also be one YAML file."""
    objects = []
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(
        p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for file in files:
        try:
            documents = list(yaml.load_all(file.read_text(encoding="utf-8"), Loader=_LOADER))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise LabsError(f"{file}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from None
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict) or not document.get("kind") or not document.get("apiVersion"):
                raise LabsError(f"{file}: every document is a Kubernetes object (apiVersion, kind, metadata)")
            objects.append(document)
    return objects


def load_lab_objects(lab, folders: tuple[str, ...] = ("manifests",)) -> list[dict]:
    """A lab's objects from its `manifests/` and/or `solution/` folders, in that order."""
    return [obj for folder in folders for obj in load_folder(lab.path / folder)]


# --- the rewrite ----------------------------------------------------------------------------------

class Rewriter:
    """The string rewrites from the lab's namespace (and `.localhost` hosts) to the target's."""

    def __init__(self, lab_namespace: str, namespace: str, student: str | None = None,
                 domain: str = SOURCE_DOMAIN):
        self.lab_namespace, self.namespace, self.student, self.domain = lab_namespace, namespace, student, domain
        # The namespace as a whole name: not inside a longer one (lab-x-sidecar, my-lab-x), but
        # between dots, quotes, slashes or spaces (web.lab-x.svc, namespace="lab-x", -n lab-x).
        self._name = re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(lab_namespace)}(?![A-Za-z0-9_-])")

    @property
    def moves(self) -> bool:
        return self.namespace != self.lab_namespace

    def text(self, value: str) -> str:
        return self._name.sub(self.namespace, value) if self.moves else value

    def host(self, host: str) -> str:
        """<name>.localhost -> <name>.<student>.<domain> (idempotent; other names unchanged)."""
        if not self.student or not isinstance(host, str):
            return host
        own = f".{self.student}.{self.domain}"
        suffix = f".{SOURCE_DOMAIN}"
        if host.endswith(own) or not host.endswith(suffix):
            return host
        return host[: -len(suffix)] + own

    def middlewares(self, value: str) -> str:
        """`lab-x-strip@kubernetescrd, other@file` -> `<ns>-strip@kubernetescrd, other@file`."""
        if not self.moves:
            return value
        prefix = f"{self.lab_namespace}-"
        parts = []
        for part in value.split(","):
            stripped = part.strip()
            if stripped.startswith(prefix) and stripped.endswith("@kubernetescrd"):
                part = part.replace(prefix, f"{self.namespace}-", 1)
            parts.append(part)
        return ",".join(parts)

    def deep(self, value):
        """Every string in a nested structure (mapping keys are kept) through `text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.deep(item) for item in value]
        if isinstance(value, dict):
            return {key: self.deep(item) for key, item in value.items()}
        return value


def _route_hosts(obj: dict, rewriter: Rewriter) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    kind = obj.get("kind")
    if kind == "Ingress":
        for rule in spec.get("rules") or []:
            if isinstance(rule, dict) and "host" in rule:
                rule["host"] = rewriter.host(rule["host"])
        for tls in spec.get("tls") or []:
            if isinstance(tls, dict) and tls.get("hosts"):
                tls["hosts"] = [rewriter.host(h) for h in tls["hosts"]]
    elif kind in ROUTE_KINDS and spec.get("hostnames"):
        spec["hostnames"] = [rewriter.host(h) for h in spec["hostnames"]]
    elif kind == "IngressRoute":
        def hosts_of(rule: re.Match) -> str:  # Host(`a.localhost`, `b.localhost`): each quoted name
            names = _QUOTED.sub(lambda quoted: f"`{rewriter.host(quoted.group(1))}`", rule.group(2))
            return f"{rule.group(1)}({names})"

        for route in spec.get("routes") or []:
            if isinstance(route, dict) and isinstance(route.get("match"), str):
                route["match"] = _HOST_RULE.sub(hosts_of, route["match"])


class _HostCollector:
    """Stands in for a Rewriter in `_route_hosts`: records each host name, changes nothing."""

    def __init__(self):
        self.seen: set[str] = set()

    def host(self, host: str) -> str:
        self.seen.add(host)
        return host


def lab_hosts(lab) -> list[str]:
    """The host names the lab's apps answer on, as its files write them (`<app>.localhost`): the routes
    of its starting point and solution, and the hosts its `http` checks ask for."""
    collector = _HostCollector()
    for obj in load_lab_objects(lab, ("manifests", "solution")):
        _route_hosts(obj, collector)
    collector.seen.update(check["host"] for check in lab.checks if check["kind"] == "http")
    return sorted(h for h in collector.seen if isinstance(h, str) and h.endswith(f".{SOURCE_DOMAIN}"))


def student_hosts(lab, student: str, domain: str, hosts: list[str] | None = None) -> list[str]:
    """`lab_hosts` (or `hosts`, read once for a whole class) as a classroom student reaches them:
    `<app>.<student>.<domain>`."""
    rewriter = Rewriter(lab.namespace, student, student, domain)
    return [rewriter.host(host) for host in (lab_hosts(lab) if hosts is None else hosts)]


def _dashboard(obj: dict, namespace: str) -> None:
    """A dashboard-as-code ConfigMap: a uid and a title of the namespace's own (Grafana is shared)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if obj.get("kind") != "ConfigMap" or DASHBOARD_LABEL not in labels:
        return
    for key, text in (obj.get("data") or {}).items():
        if not key.endswith(".json") or not isinstance(text, str):
            continue
        try:
            board = json.loads(text)
        except ValueError:
            continue
        if not isinstance(board, dict):
            continue
        if board.get("uid"):
            board["uid"] = f"{board['uid']}-{namespace}"[:40]  # Grafana's uid limit
        if board.get("title"):
            board["title"] = f"{board['title']} ({namespace})"
        obj["data"][key] = json.dumps(board, indent=2, ensure_ascii=False) + "\n"


@dataclass
class Retargeted:
    objects: list[dict]
    skipped: list[str] = field(default_factory=list)  # "Kind/name (namespace)" left out

    @property
    def yaml(self) -> str:
        return to_yaml(self.objects)


def retarget(objects: list[dict], lab_namespace: str, namespace: str, student: str | None = None,
             domain: str = SOURCE_DOMAIN) -> Retargeted:
    """The lab's objects for `namespace` (and the student's host names); the input is not changed."""
    rewriter = Rewriter(lab_namespace, namespace, student, domain)
    declared = {(obj.get("metadata") or {}).get("name") for obj in objects if obj.get("kind") == "Namespace"}
    others = declared - {lab_namespace, None}
    result = Retargeted([])
    for original in objects:
        kind = original.get("kind")
        meta = original.get("metadata") or {}
        if kind == "Namespace":
            continue
        if kind not in CLUSTER_SCOPED and meta.get("namespace") in others:
            result.skipped.append(f"{kind}/{meta.get('name')} (namespace {meta['namespace']})")
            continue
        obj = rewriter.deep(copy.deepcopy(original))
        metadata = obj.setdefault("metadata", {})
        if kind not in CLUSTER_SCOPED:
            metadata["namespace"] = namespace
        annotations = metadata.get("annotations") or {}
        if isinstance(annotations.get(MIDDLEWARES_ANNOTATION), str):
            annotations[MIDDLEWARES_ANNOTATION] = rewriter.middlewares(annotations[MIDDLEWARES_ANNOTATION])
        if kind in HOST_KINDS:
            _route_hosts(obj, rewriter)
        if rewriter.moves:
            _dashboard(obj, namespace)
        result.objects.append(obj)
    return result


def retarget_checks(checks, lab_namespace: str, namespace: str, student: str | None = None,
                    domain: str = SOURCE_DOMAIN) -> list[dict]:
    """A lab's (normalised) checks for `namespace`: the same rewrite as `retarget`, so that each
    check looks for what the retargeted objects hold; `http` hosts follow the student's names."""
    rewriter = Rewriter(lab_namespace, namespace, student, domain)
    out = []
    moved: dict[str, str] = {}  # the lab's own host names and the student's
    for check in checks:
        fixed = {key: (value if key in ("id", "kind", "kind_of", "apiVersion") else rewriter.deep(value))
                 for key, value in check.items()}
        if check["kind"] == "http":
            fixed["host"] = rewriter.host(fixed["host"])
            moved[check["host"]] = fixed["host"]
        elif check["kind"] == "exists" and check.get("kind_of") in HOST_KINDS and fixed.get("fields"):
            fixed["fields"] = {path: _hosts_in(value, rewriter, moved) for path, value in fixed["fields"].items()}
        out.append(fixed)
    moved = {old: new for old, new in moved.items() if old != new}
    if moved:  # the hints name the same hosts (not the shared UIs': prometheus.localhost stays)
        names = re.compile(r"(?<![A-Za-z0-9.-])(" + "|".join(map(re.escape, sorted(moved, key=len, reverse=True)))
                           + r")(?![A-Za-z0-9-])")
        for fixed in out:
            fixed["hint"] = {lang: names.sub(lambda m: moved[m.group(1)], text) for lang, text in fixed["hint"].items()}
    return out


FILE_FLAGS = ("-f", "--filename")


def retarget_steps(steps, lab_namespace: str, namespace: str, student: str | None = None,
                   domain: str = SOURCE_DOMAIN, root: Path | None = None) -> list[dict]:
    """A lab's (normalised) solve steps for `namespace`: each argument through the same rewrite as the
    files (`-n lab-x` -> `-n <namespace>`, `web.lab-x.svc`...), and a whole `<app>.localhost` host name
    to the student's. A `restart` step acts on the cluster, not a namespace: it is kept as it is.

    A kubectl step's files (`-f <path>`, `--filename=<path>`; a path from `root`, the repository root
    where steps run) hold `namespace: lab-x` lines the arguments do not reach: their objects go through
    `retarget` and into the step's `stdin`, and the files become one `-f -`."""
    rewriter = Rewriter(lab_namespace, namespace, student, domain)
    out = []
    for step in steps:
        if "args" not in step:
            out.append(dict(step))
            continue
        args, paths = kubectl_files(step["args"]) if step["action"] == "kubectl" else (list(step["args"]), [])
        moved = {**step, "args": tuple(rewriter.host(rewriter.text(arg)) for arg in args)}
        if paths:
            objects = []
            for path in paths:
                found = (root or PROJECT_ROOT) / path
                if not found.exists():
                    raise LabsError(f"solve step `kubectl {' '.join(step['args'])}`: no file {path} "
                                    "(paths are from the repository root)")
                objects += load_folder(found)
            moved["stdin"] = retarget(objects, lab_namespace, namespace, student, domain).yaml
        out.append(moved)
    return out


def kubectl_files(args) -> tuple[list[str], list[str]]:
    """kubectl arguments with their local files (`-f path`, `--filename=path`) replaced by one `-f -`,
    and those files; stdin (`-`) and URLs are left as they are."""
    kept, paths = [], []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        flag, has_value, value = arg.partition("=")
        if flag in FILE_FLAGS and (has_value or i + 1 < len(items)):
            if not has_value:
                i += 1
                value = items[i]
            if value == "-" or "://" in value:
                kept += [flag, value]
            else:
                if not paths:
                    kept += ["-f", "-"]
                paths.append(value)
        else:
            kept.append(arg)
        i += 1
    return kept, paths


def _hosts_in(value, rewriter: Rewriter, moved: dict[str, str]):
    if isinstance(value, str):
        moved[value] = rewriter.host(value)
        return moved[value]
    if isinstance(value, list):
        return [_hosts_in(item, rewriter, moved) for item in value]
    return value


def to_yaml(objects: list[dict]) -> str:
    """A multi-document YAML stream for `kubectl apply -f -` (empty string for no object)."""
    return yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True, width=4096) if objects else ""


def lab_objects_for(lab, folders: tuple[str, ...], namespace: str, student: str | None = None,
                    domain: str = SOURCE_DOMAIN) -> Retargeted:
    """`retarget` of a lab's folders, for `namespace`."""
    return retarget(load_lab_objects(lab, folders), lab.namespace, namespace, student, domain)
