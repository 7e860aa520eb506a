"""The lab checks' vocabulary in lab.yaml, and its validation (plain Python: the catalog reads it,
and labs/lab.schema.json is generated from it).

Each check in lab.yaml has an `id`, a `kind` (below), its fields, and a `hint` in French and English.
`namespace` defaults to the lab's `namespace` and is overridden by `lab check --namespace` (classroom).

  exists      apiVersion, object (its kind), name[, namespace][, fields: {path: expected}]
              path: dotted keys; a key containing dots in brackets (metadata.labels[app.kubernetes.io/name]);
              a list element by one of its fields in brackets (status.conditions[type=Ready].status).
              expected: a value (equal), or one comparison: {">=": n}, {"<=": n}, {"in": [values]},
              {"matches": regex (whole value)}; `>=`/`<=` on a list compare its length.
  rollout     object (Deployment|StatefulSet|DaemonSet), name[, namespace]: rollout complete
  pods_ready  selector[, namespace][, count (minimum, default 1)]
  pvc         name[, namespace][, phase (default Bound)][, capacity (minimum, e.g. 2Gi)]
              [, storage_class (a class name, or `default`: the class the cluster marks default,
              whatever the target calls it: standard on kind, standard-rwo, gp3, managed-csi)]
  hpa         name[, namespace], min_replicas: current replicas >= min_replicas
  http        host[, path (default /)][, status (default 200)][, contains]: through the ingress
  promql      query[, min]: a Prometheus query returns a number > 0 (>= min); NaN never counts
  alert       alertname[, state (default firing)]: seen by Prometheus with a `namespace` label equal to
              the checked namespace (an alert without one is nobody's: keep `by (namespace)`)
  loki        query (LogQL)[, contains]: a log line found in Loki since the lab's start
  mtls        source, destination[, namespace]: ztunnel/sidecar report mutual TLS between two workloads
  endpoints   service[, namespace][, count (minimum, default 1)]: ready endpoints in the Service's
              EndpointSlices (its selector matches ready pods)
  helm_release release[, namespace][, status (default deployed)][, revisions (minimum)][, history
              (statuses some revision had, e.g. [failed])]: read from Helm's release Secrets
  lease       name[, namespace][, transitions (minimum)][, acquired_since_start: true]: a Lease changed
              holder (leaseTransitions, or acquired after the lab's start: see infra.checks.lab_start)
  event       reason[, namespace][, object (regarding kind)][, name (regex)]: an Event of that reason
  written_by  apiVersion, object, name[, namespace], manager (regex): the tool that last wrote the
              object's spec (metadata.managedFields, e.g. helm, kubectl-client-side-apply)
Any check may say `needs_containers: true` when its outcome depends on a process running in a pod
(a layer's controller): it is then skipped, like the data-path kinds, where no container runs.

The engine that runs these checks on a cluster is infra.checks.
"""
from __future__ import annotations

import re

from infra.errors import LabsError

LANGS = ("fr", "en")
# needs_containers: true marks a check of any kind whose outcome depends on a process running in a pod
# (a layer's controller, e.g. cluster-autoscaler adding the nodes a rollout waits for): skipped like
# the NEEDS_CONTAINERS kinds (infra.checks) where no container runs.
COMMON = {"id", "kind", "hint", "namespace", "needs_containers"}
KINDS: dict[str, tuple[set[str], set[str]]] = {  # kind -> (required fields, optional fields)
    "exists": ({"apiVersion", "kind_of", "name"}, {"fields"}),
    "rollout": ({"kind_of", "name"}, set()),
    "pods_ready": ({"selector"}, {"count"}),
    "pvc": ({"name"}, {"phase", "capacity", "storage_class"}),
    "hpa": ({"name", "min_replicas"}, set()),
    "http": ({"host"}, {"path", "status", "contains"}),
    "promql": ({"query"}, {"min"}),
    "alert": ({"alertname"}, {"state"}),
    "loki": ({"query"}, {"contains"}),
    "mtls": ({"source", "destination"}, set()),
    "endpoints": ({"service"}, {"count"}),
    "helm_release": ({"release"}, {"status", "revisions", "history"}),
    "lease": ({"name"}, {"transitions", "acquired_since_start"}),
    "event": ({"reason"}, {"kind_of", "name"}),
    "written_by": ({"apiVersion", "kind_of", "name", "manager"}, set()),
}
# Thresholds: a minimum of 0 always holds, so a check with one could never fail.
POSITIVE = ("count", "min_replicas", "min", "revisions", "transitions")
COMPARISONS = (">=", "<=", "in", "matches")
ROLLOUT_KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}
CHECK_ID = r"[a-z0-9][a-z0-9-]*"  # a check's id: a short lowercase name


def validate_spec(check: object, where: str) -> dict:
    """One check from lab.yaml, normalised (its object kind under `kind_of`); LabsError names the field."""
    if not isinstance(check, dict):
        raise LabsError(f"{where}: each check is a mapping with id, kind, hint and its fields")
    spec = dict(check)
    kind = spec.get("kind")
    if kind not in KINDS:
        raise LabsError(f"{where}: field 'kind': unknown check kind '{kind}' (known: {', '.join(KINDS)})")
    if kind in ("exists", "rollout", "written_by") or (kind == "event" and "object" in spec):
        spec["kind_of"] = spec.pop("object", None)
    if not isinstance(spec.get("needs_containers", False), bool):
        raise LabsError(f"{where}: field 'needs_containers': true or false")
    required, optional = KINDS[kind]
    missing = sorted(name for name in required if spec.get(name) in (None, ""))
    if missing:
        name = "object" if missing[0] == "kind_of" else missing[0]
        raise LabsError(f"{where}: field '{name}': missing for a '{kind}' check")
    unknown = sorted(set(spec) - required - optional - COMMON)
    if unknown:
        raise LabsError(f"{where}: field '{unknown[0]}': not a field of a '{kind}' check")
    if not isinstance(spec.get("id"), str) or not re.fullmatch(CHECK_ID, spec["id"]):
        raise LabsError(f"{where}: field 'id': a short lowercase name (letters, digits, '-')")
    hint = spec.get("hint")
    if not isinstance(hint, dict) or any(not isinstance(hint.get(lang), str) or not hint[lang].strip() for lang in LANGS):
        raise LabsError(f"{where}: field 'hint': needs a French and an English hint (hint: {{fr: ..., en: ...}})")
    if kind == "rollout" and spec["kind_of"] not in ROLLOUT_KINDS:
        raise LabsError(f"{where}: field 'object': a rollout check takes {', '.join(ROLLOUT_KINDS)}")
    for name in POSITIVE:
        value = spec.get(name)
        if name in spec and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise LabsError(f"{where}: field '{name}': a number above 0 (0 or less always holds)")
    if kind == "lease" and not (spec.get("transitions") or spec.get("acquired_since_start") is True):
        raise LabsError(f"{where}: field 'transitions': a lease check needs transitions or acquired_since_start: true")
    for name in ("manager", "name") if kind in ("written_by", "event") else ():
        _regex(spec.get(name), f"{where}: field '{name}'")
    if not isinstance(spec.get("history", []), list):
        raise LabsError(f"{where}: field 'history': a list of release statuses, e.g. [failed, superseded]")
    if not isinstance(spec.get("acquired_since_start", False), bool):
        raise LabsError(f"{where}: field 'acquired_since_start': true or false")
    if not isinstance(spec.get("fields") or {}, dict):
        raise LabsError(f"{where}: field 'fields': a mapping of path: expected value")
    for path, expected in (spec.get("fields") or {}).items():
        _comparison(expected, f"{where}: field 'fields.{path}'")
    return spec


def _regex(pattern, where: str) -> None:
    if pattern is None:
        return
    try:
        re.compile(str(pattern))
    except re.error as exc:
        raise LabsError(f"{where}: not a regular expression ({exc})") from None


def is_comparison(expected) -> bool:
    """A mapping of one key among COMPARISONS ({">=": 2}, {"in": [a, b]}, {"matches": "re"}); any other
    expected value, a mapping too (a whole nodeSelector), is compared for equality."""
    return isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in COMPARISONS


def _comparison(expected, where: str) -> None:
    if not is_comparison(expected):
        return
    (operator, operand), = expected.items()
    if operator in (">=", "<=") and (isinstance(operand, bool) or not isinstance(operand, (int, float))):
        raise LabsError(f"{where}: '{operator}' takes a number")
    if operator == "in" and not isinstance(operand, list):
        raise LabsError(f"{where}: 'in' takes a list of values")
    if operator == "matches":
        if not isinstance(operand, str):
            raise LabsError(f"{where}: 'matches' takes a regular expression (a string)")
        _regex(operand, where)
