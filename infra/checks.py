"""Lab checks: a small declarative vocabulary in lab.yaml, and the engine that runs it on a cluster.

The vocabulary and its validation live in infra.check_spec (the catalog reads only that).

How each kind is tested offline (tests/test_checks*.py): the engine talks HTTP to a fake Kubernetes API
server seeded with the lab's objects and the statuses a cluster would report. `http`, `promql`,
`alert`, `loki` and `mtls` depend on live traffic, metrics and logs: offline they are tested against
responses in the real APIs' formats (Prometheus and Loki query results through the API server's
service proxy, an HTTP answer through the ingress), not against the lab's own workloads; `lab test`
runs them for real on a cluster.

A third outcome: skipped. On a target whose cluster runs no containers (`Capabilities.containers_run`
False: kwok's fake nodes mark pods Running and Ready, but no process runs), the kinds in
NEEDS_CONTAINERS cannot be decided: nothing answers through the ingress, no metric or log line is ever
produced, no sidecar or ztunnel reports a connection. `skips_for(capabilities)` names them, and
`run_checks(..., skip=...)` reports each such check as skipped with its reason without asking the
cluster anything for it: never passed, never failed. The decision is the target's capabilities', never
its name.

No Kubernetes client import at module level: `lab check` imports it when it talks to a cluster.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field

from infra.check_spec import ROLLOUT_KINDS, is_comparison
from infra.errors import LabsError
from infra.kinds import CLUSTER_SCOPED
from infra.quantities import memory_mebibytes

# Kinds that only a running container can make true: the ingress answering (http), samples scraped from
# running processes (promql; mtls, read from the mesh's telemetry), rules evaluated on those samples
# (alert), log lines a process wrote (loki). And hpa (decided here: skipped too). `evaluate` passes an hpa
# check when `status.currentReplicas` >= min_replicas, and the vocabulary uses it for a scale-out: lab 04
# wants 2 replicas of an HPA whose minReplicas is 1. The HPA controller (kube-controller-manager) grows the
# replicas from the metrics API only (metrics.k8s.io, served by metrics-server scraping the kubelets; or
# the custom/external metrics APIs); with no metrics it only holds the count within minReplicas..maxReplicas
# and reports ScalingActive=False. Without running containers there is no kubelet to scrape and no CPU
# used, so the count never leaves minReplicas: not evidence either way. (An hpa check asking for no more
# than minReplicas would be decidable, but the engine would have to read the HPA's spec to know; an
# `exists` check on the spec says the same and stays decidable.)
# pvc: a claim binds only when a provisioner (a container: local-path, a CSI driver) provisions it.
NEEDS_CONTAINERS = frozenset({"http", "promql", "alert", "loki", "mtls", "hpa", "pvc"})
NEEDS_CONTAINERS_REASON = "needs running containers"
PROMETHEUS = ("monitoring", "prometheus-operated", 9090)
LOKI = ("logging", "loki", 3100)


@dataclass
class CheckResult:
    """One check's outcome: passed, failed, or skipped (not decided: `passed` is False, `detail` says why,
    no hint)."""

    id: str
    passed: bool
    detail: str
    hint: str = ""
    skipped: bool = False


def skips_for(capabilities) -> dict[str, str]:
    """Check kind -> why it is skipped, for the kinds a target's cluster cannot decide (its
    `infra.clusters.Capabilities`): none where containers run, NEEDS_CONTAINERS where they do not."""
    if capabilities.containers_run:
        return {}
    return dict.fromkeys(sorted(NEEDS_CONTAINERS), f"skipped on {capabilities.provider}: {NEEDS_CONTAINERS_REASON}")


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def resource_path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{plural(kind)}" + (f"/{name}" if name else "")


_PATH_PART = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")


def path_keys(path: str) -> list[str]:
    """`spec.rules.0.host` -> keys; a key with dots goes in brackets: `metadata.labels[app.kubernetes.io/name]`;
    in a list, `[type=Ready]` is the element whose `type` is `Ready`."""
    return [bracketed or plain for bracketed, plain in _PATH_PART.findall(path)]


def _dig(obj, dotted: str):
    for key in path_keys(dotted):
        field_name, is_selector, wanted = key.partition("=")
        if isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        elif isinstance(obj, list) and is_selector:
            obj = next((item for item in obj if isinstance(item, dict) and str(item.get(field_name)) == wanted), None)
        elif isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            return None
    return obj


def matches(actual, expected) -> bool:
    """A field's value against what a check expects: a value (equal) or one comparison (infra.check_spec)."""
    if not is_comparison(expected):
        return actual == expected
    (operator, operand), = expected.items()
    if operator == "in":
        return actual in operand
    if operator == "matches":
        return actual is not None and not isinstance(actual, (dict, list)) and \
            re.fullmatch(str(operand), str(actual)) is not None
    number = len(actual) if isinstance(actual, list) else actual
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        return False  # absent, or not a number: no comparison holds
    return number >= operand if operator == ">=" else number <= operand


class ClusterUnreachable(LabsError):
    """No API server answered at all (refused, unknown name, TLS failure): waiting for checks cannot help,
    so `run_checks` stops at once; callers add the fix that fits them (which cluster, which command)."""


def _connection_failure(exc: Exception) -> str | None:
    """Why the connection to the API server failed, or None when it is not a connection failure.

    A connection that could not be made (refused, name not resolved, connect timeout) or secured (TLS)
    counts; an answer, even a slow one (read timeout, e.g. the service proxy waiting on Prometheus), does not."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, SSLError

    if isinstance(exc, ApiException) and exc.status == 0:  # the client's wrapping of a TLS failure
        text = str(exc.reason or "")
    else:
        reason = exc.reason if isinstance(exc, MaxRetryError) else exc
        if not isinstance(reason, (ConnectTimeoutError, SSLError)):  # NewConnectionError is a ConnectTimeoutError
            return None
        text = str(reason)
    # "HTTPSConnection(host='x', port=6443): Failed to ..." -> "Failed to ..."; the last line of several.
    lines = re.sub(r"\w+\(host=[^)]*\): ", "", text).strip().splitlines()
    return lines[-1] if lines else "no answer"


class ClusterReader:
    """Read-only access to a cluster through the official Kubernetes Python client."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, ingress_url: str = "http://127.0.0.1"):
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        except Exception as exc:  # ConfigException, a missing file, or a file that is not a kubeconfig
            raise LabsError(f"cannot load kubeconfig {kubeconfig or '~/.kube/config'} "
                            f"(context {context or 'current'}): {exc}; pass --kubeconfig=PATH") from None
        self.api = api_client
        self.client = client
        self.ingress_url = ingress_url.rstrip("/")

    def _get(self, path: str, query: dict | None = None):
        """GET an API path (JSON decoded when it is JSON); None for 404, an error for other failures."""
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, query_params=list((query or {}).items()), header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(method, url, header_params=headers, _request_timeout=15)
        except Exception as exc:
            reason = _connection_failure(exc)
            if reason is None:
                raise
            raise ClusterUnreachable(f"cannot reach the Kubernetes API server {self.api.configuration.host} "
                                     f"({reason})") from None
        if response.status == 404:
            return None
        text = response.read().decode(errors="replace")
        if response.status >= 400:
            raise RuntimeError(f"GET {path} answered {response.status}")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            # Not an answer of the API (a proxy's page, a login form): nothing is known, not "it exists".
            raise RuntimeError(f"GET {path} answered {response.status} with no JSON") from None

    def get(self, api_version: str, kind: str, name: str, namespace: str | None):
        found = self._get(resource_path(api_version, kind, namespace, name))
        if found is not None and not (isinstance(found, dict) and isinstance(found.get("metadata"), dict)):
            raise RuntimeError(f"GET {resource_path(api_version, kind, namespace, name)} answered no object")
        return found

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str = "") -> list[dict]:
        found = self._get(resource_path(api_version, kind, namespace), {"labelSelector": selector} if selector else None)
        return (found or {}).get("items", [])

    def service_get(self, service: tuple[str, str, int], path: str, query: dict):
        namespace, name, port = service
        found = self._get(f"/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy{path}", query)
        if found is None:  # the API server's 404: no such Service (not "no data")
            raise RuntimeError(f"service {namespace}/{name} answered 404 (not installed?)")
        return found

    def http_get(self, host: str, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"{self.ingress_url}{path}", headers={"Host": host})
        # Straight to the local ingress: an http_proxy of the environment must not carry this request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


def _condition(obj: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def _quantity(text) -> float:
    return memory_mebibytes(text) or 0.0


def _prom_values(result) -> list[float]:
    """The numbers in a Prometheus instant query's answer: one per series of a vector, the one value of a
    scalar (`scalar(...)`, `1 > bool 0`). A string, a matrix or a malformed answer has none: "no data"."""
    data = (result.get("data") if isinstance(result, dict) else None) or {}
    if data.get("resultType") == "scalar":
        samples = [data.get("result")]
    else:
        samples = [item.get("value") for item in data.get("result") or [] if isinstance(item, dict)]
    values = []
    for sample in samples:
        try:
            value = float(sample[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if not math.isnan(value):  # scalar() of an empty result: no data, not a number
            values.append(value)
    return values


def lab_start(reader: "ClusterReader", namespace: str) -> str | None:
    """When the lab started in this namespace: its creationTimestamp (RFC 3339). Every lab's starting point
    creates its namespace, and `lab reset` deletes and recreates it, so what happened before a reset is
    older; in a classroom the student's namespace is as old as the class. None: no such namespace."""
    found = reader.get("v1", "Namespace", namespace, None)
    return ((found or {}).get("metadata") or {}).get("creationTimestamp")


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _last_spec_writer(obj: dict) -> str | None:
    """The field manager that wrote the object last, status writes (subresource) left out."""
    entries = [entry for entry in (obj.get("metadata") or {}).get("managedFields") or []
               if isinstance(entry, dict) and not entry.get("subresource")]
    return max(entries, key=lambda entry: entry.get("time") or "")["manager"] if entries else None


def _default_storage_class(reader: ClusterReader) -> str | None:
    """The StorageClass the cluster marks default (the one the DefaultStorageClass admission fills in)."""
    for item in reader.list("storage.k8s.io/v1", "StorageClass", None):
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
            return item["metadata"]["name"]
    return None


def named_object(check: dict, reader: ClusterReader, ns: str) -> tuple[dict | None, str]:
    """The object a check names (in `ns` unless its kind is cluster-scoped), and the line saying it is missing."""
    scope = None if check["kind_of"] in CLUSTER_SCOPED else ns
    obj = reader.get(check["apiVersion"], check["kind_of"], check["name"], scope)
    return obj, f"{check['kind_of']} {check['name']} not found" + (f" in {scope}" if scope else "")


def evaluate(check: dict, reader: ClusterReader, namespace: str) -> tuple[bool, str]:
    """(passed, what was seen) for one normalised check."""
    ns = check.get("namespace") or namespace
    kind = check["kind"]
    if kind == "exists":
        obj, missing = named_object(check, reader, ns)
        if obj is None:
            return False, missing
        for path, expected in (check.get("fields") or {}).items():
            actual = _dig(obj, path)
            if not matches(actual, expected):
                return False, f"{check['kind_of']} {check['name']}: {path} is {actual!r}, expected {expected!r}"
        return True, f"{check['kind_of']} {check['name']} as expected"
    if kind == "rollout":
        obj = reader.get(ROLLOUT_KINDS[check["kind_of"]], check["kind_of"], check["name"], ns)
        if obj is None:
            return False, f"{check['kind_of']} {check['name']} not found in {ns}"
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        if check["kind_of"] == "DaemonSet":
            # Like `kubectl rollout status`: every scheduled pod updated and available (ready for minReadySeconds).
            want, available = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0)
            updated = status.get("updatedNumberScheduled", 0)
            done = updated >= want and available >= want
            seen = f"{available}/{want} available, {updated} updated"
        else:
            want = spec.get("replicas", 1)
            ready = status.get("readyReplicas", 0)
            updated = status.get("updatedReplicas", 0)
            # Like `kubectl rollout status`: no pod of an older revision left (status.replicas counts them).
            done = ready >= want and updated >= want and status.get("replicas", 0) <= updated
            seen = f"{ready}/{want} ready"
        generation_seen = status.get("observedGeneration", 0) >= (obj.get("metadata") or {}).get("generation", 0)
        return done and generation_seen, f"{check['kind_of']} {check['name']}: {seen}"
    if kind == "pods_ready":
        pods = reader.list("v1", "Pod", ns, check["selector"])
        ready = sum(1 for pod in pods if _condition(pod, "Ready"))
        want = check.get("count", 1)
        return ready >= want, f"{ready} ready pod(s) for '{check['selector']}' (want {want})"
    if kind == "pvc":
        obj = reader.get("v1", "PersistentVolumeClaim", check["name"], ns)
        if obj is None:
            return False, f"PersistentVolumeClaim {check['name']} not found in {ns}"
        status = obj.get("status") or {}
        phase, capacity = status.get("phase"), (status.get("capacity") or {}).get("storage")
        ok = phase == check.get("phase", "Bound")
        if ok and check.get("capacity"):
            ok = _quantity(capacity) >= _quantity(check["capacity"])
        seen = f"PVC {check['name']}: {phase or 'no phase'}, capacity {capacity or 'none'}"
        if ok and check.get("storage_class"):
            actual = (obj.get("spec") or {}).get("storageClassName")
            wanted = _default_storage_class(reader) if check["storage_class"] == "default" else check["storage_class"]
            if wanted is None:
                return False, f"PVC {check['name']}: no StorageClass is marked default on this cluster"
            if actual != wanted:
                return False, f"PVC {check['name']}: class {actual!r}, expected {wanted!r}"
            seen += f", class {actual}"
        return ok, seen
    if kind == "hpa":
        obj = reader.get("autoscaling/v2", "HorizontalPodAutoscaler", check["name"], ns)
        current = ((obj or {}).get("status") or {}).get("currentReplicas", 0)
        return current >= check["min_replicas"], f"HPA {check['name']}: {current} replica(s) (want >= {check['min_replicas']})"
    if kind == "http":
        status, body = reader.http_get(check["host"], check.get("path", "/"))
        ok = status == check.get("status", 200) and check.get("contains", "") in body
        return ok, f"GET http://{check['host']}{check.get('path', '/')} -> {status}"
    if kind == "promql":
        values = _prom_values(reader.service_get(PROMETHEUS, "/api/v1/query", {"query": check["query"]}))
        # Without `min`, a number above 0: `or vector(0)` and `count(...)` of nothing answer 0.
        ok = bool(values) and (max(values) >= check["min"] if "min" in check else max(values) > 0)
        return ok, f"{check['query']} -> {values[:3] if values else 'no data'}"
    if kind == "alert":
        alerts = ((reader.service_get(PROMETHEUS, "/api/v1/alerts", {}) or {}).get("data") or {}).get("alerts") or []
        state = check.get("state", "firing")
        # An alert counts for the namespace it is labelled with only: one without a namespace label could be
        # any student's rule in a classroom (written without `by (namespace)`), so it is nobody's.
        seen = [a for a in alerts if (a.get("labels") or {}).get("alertname") == check["alertname"]
                and (a.get("labels") or {}).get("namespace") == ns]
        return any(a.get("state") == state for a in seen), f"alert {check['alertname']}: " + (
            ", ".join(a.get("state", "?") for a in seen) or "not seen")
    if kind == "loki":
        start = lab_start(reader, namespace)
        if start is None:
            return False, f"namespace {namespace} not found: the lab has not started"
        # Lines since the lab's start only: those from before `lab reset` must not count.
        result = reader.service_get(LOKI, "/loki/api/v1/query_range", {
            "query": check["query"], "limit": "100", "start": str(int(_epoch(start) * 1e9))}) or {}
        lines = [entry[1] for stream in (result.get("data") or {}).get("result") or [] for entry in stream.get("values") or []]
        ok = any(check.get("contains", "") in line for line in lines)
        return ok, f"{len(lines)} log line(s) for {check['query']}"
    if kind == "mtls":
        query = ('sum(istio_tcp_connections_opened_total{connection_security_policy="mutual_tls",'
                 f'source_workload="{check["source"]}",destination_workload="{check["destination"]}",'
                 f'destination_workload_namespace="{ns}"}})')
        values = _prom_values(reader.service_get(PROMETHEUS, "/api/v1/query", {"query": query}))
        return bool(values) and max(values) > 0, f"mTLS connections {check['source']} -> {check['destination']}: " + (
            f"{max(values):g}" if values else "none")
    if kind == "endpoints":
        slices = reader.list("discovery.k8s.io/v1", "EndpointSlice", ns, f"kubernetes.io/service-name={check['service']}")
        ready = sum(1 for piece in slices for endpoint in piece.get("endpoints") or []
                    if (endpoint.get("conditions") or {}).get("ready") is True)
        want = check.get("count", 1)
        return ready >= want, f"Service {check['service']}: {ready} ready endpoint(s) (want {want})"
    if kind == "helm_release":
        secrets = [secret for secret in reader.list("v1", "Secret", ns, f"owner=helm,name={check['release']}")
                   if secret.get("type") == "helm.sh/release.v1"]
        revisions = sorted(((int(labels.get("version", 0)), labels.get("status"))
                            for labels in ((secret.get("metadata") or {}).get("labels") or {} for secret in secrets)
                            if str(labels.get("version", "")).isdigit()))
        if not revisions:
            return False, f"Helm release {check['release']} not found in {ns} (no release Secret: not installed by Helm)"
        latest, status = revisions[-1]
        statuses = {state for _, state in revisions}
        ok = status == check.get("status", "deployed") and latest >= check.get("revisions", 1) \
            and set(check.get("history") or []) <= statuses
        return ok, f"Helm release {check['release']}: revision {latest} {status}, history {', '.join(sorted(statuses))}"
    if kind == "lease":
        obj = reader.get("coordination.k8s.io/v1", "Lease", check["name"], ns)
        if obj is None:
            return False, f"Lease {check['name']} not found in {ns}"
        spec = obj.get("spec") or {}
        transitions, acquired = spec.get("leaseTransitions") or 0, spec.get("acquireTime")
        ok = transitions >= check.get("transitions", 0)
        if ok and check.get("acquired_since_start"):
            start = lab_start(reader, namespace)
            ok = bool(start and acquired) and _epoch(acquired) > _epoch(start)
        return ok, f"Lease {check['name']}: held by {spec.get('holderIdentity')}, {transitions} transition(s), " \
                   f"acquired {acquired or 'never'}"
    if kind == "event":
        # events.k8s.io/v1 names the object `regarding`; it is the same Event as core v1's `involvedObject`.
        events = reader.list("events.k8s.io/v1", "Event", ns)
        seen = [event for event in events if event.get("reason") == check["reason"]
                and (not check.get("kind_of") or (event.get("regarding") or {}).get("kind") == check["kind_of"])
                and (not check.get("name") or re.fullmatch(check["name"], (event.get("regarding") or {}).get("name", "")))]
        return bool(seen), f"{len(seen)} event(s) {check['reason']}" + (
            f" on {check.get('kind_of') or 'any'} {check['name']}" if check.get("name") else "")
    if kind == "written_by":
        obj, missing = named_object(check, reader, ns)
        if obj is None:
            return False, missing
        writer = _last_spec_writer(obj)
        ok = writer is not None and re.fullmatch(check["manager"], writer) is not None
        return ok, f"{check['kind_of']} {check['name']}: last written by {writer or 'unknown (no managedFields)'}"
    raise AssertionError(kind)  # validate_spec admits no other kind


@dataclass
class CheckRun:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def decided(self) -> list[CheckResult]:
        return [r for r in self.results if not r.skipped]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.skipped and not r.passed]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.skipped]

    @property
    def passed(self) -> bool:
        """Every check that could be decided passed, and there was at least one: a run whose checks were
        all skipped is not a pass (see `undecided`)."""
        return bool(self.decided) and not self.failed

    @property
    def undecided(self) -> bool:
        """Checks were run and every one was skipped: nothing is known."""
        return bool(self.results) and not self.decided


def run_checks(checks: list[dict], reader: ClusterReader, namespace: str, lang: str = "fr",
               timeout_s: float = 0, interval_s: float = 3, on_result=None,
               skip: dict[str, str] | None = None) -> CheckRun:
    """Run every check; a failing one is retried until `timeout_s` (eventually-consistent state). A LabsError
    (ClusterUnreachable: no API server answers) stops the run at once: retrying could not make it pass.

    `skip` (kind -> reason, from `skips_for`): checks of those kinds are not evaluated, nothing is asked of
    the cluster for them; each is a result with `skipped=True` and the reason as its detail."""
    run = CheckRun()
    skip = skip or {}
    for check in checks:
        reason = skip.get(check["kind"]) or (skip and check.get("needs_containers") and next(iter(skip.values())))
        if reason:
            result = CheckResult(check["id"], False, reason, skipped=True)
            run.results.append(result)
            if on_result:
                on_result(result)
            continue
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                passed, detail = evaluate(check, reader, namespace)
            except LabsError:
                raise
            except Exception as exc:  # the API or a service not answering yet: a failed attempt
                passed, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if passed or time.monotonic() >= deadline:
                break
            time.sleep(interval_s)
        # A check of the engine's own (lab test's starter rollouts) has no hint.
        result = CheckResult(check["id"], passed, detail, "" if passed else (check.get("hint") or {}).get(lang, ""))
        run.results.append(result)
        if on_result:
            on_result(result)
    return run
