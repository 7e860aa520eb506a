"""The lab checks' vocabulary in lab.yaml, and its validation (plain Python: the catalog reads it).

Each check in lab.yaml has an `id`, a `kind` (below), its fields, and a `hint` in French and English.
`namespace` defaults to the lab's `namespace` and is overridden by `lab check --namespace` (classroom).

  exists      apiVersion, object (its kind), name[, namespace][, fields: {dotted.path: expected}]
              (a key containing dots goes in brackets: metadata.labels[app.kubernetes.io/name])
  rollout     object (Deployment|StatefulSet|DaemonSet), name[, namespace]: rollout complete
  pods_ready  selector[, namespace][, count (minimum, default 1)]
  pvc         name[, namespace][, phase (default Bound)][, capacity (minimum, e.g. 2Gi)]
              [, storage_class (a class name, or `default`: the class the cluster marks default,
              whatever the target calls it: standard on kind, standard-rwo, gp3, managed-csi)]
  hpa         name[, namespace], min_replicas: current replicas >= min_replicas
  http        host[, path (default /)][, status (default 200)][, contains]: through the ingress
  promql      query[, min]: a Prometheus query returns a value (>= min)
  alert       alertname[, state (default firing)]: seen by Prometheus (one with a `namespace` label: in
              the checked namespace)
  loki        query (LogQL)[, contains]: a log line found in Loki
  mtls        source, destination[, namespace]: ztunnel/sidecar report mutual TLS between two workloads
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
}
ROLLOUT_KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}


def validate_spec(check: object, where: str) -> dict:
    """One check from lab.yaml, normalised (its object kind under `kind_of`); LabsError names the field."""
    if not isinstance(check, dict):
        raise LabsError(f"{where}: each check is a mapping with id, kind, hint and its fields")
    spec = dict(check)
    kind = spec.get("kind")
    if kind not in KINDS:
        raise LabsError(f"{where}: field 'kind': unknown check kind '{kind}' (known: {', '.join(KINDS)})")
    if kind in ("exists", "rollout"):
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
    if not isinstance(spec.get("id"), str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", spec["id"]):
        raise LabsError(f"{where}: field 'id': a short lowercase name (letters, digits, '-')")
    hint = spec.get("hint")
    if not isinstance(hint, dict) or any(not isinstance(hint.get(lang), str) or not hint[lang].strip() for lang in LANGS):
        raise LabsError(f"{where}: field 'hint': needs a French and an English hint (hint: {{fr: ..., en: ...}})")
    if kind == "rollout" and spec["kind_of"] not in ROLLOUT_KINDS:
        raise LabsError(f"{where}: field 'object': a rollout check takes {', '.join(ROLLOUT_KINDS)}")
    return spec
