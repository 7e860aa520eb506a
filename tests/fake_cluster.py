"""A recorded fake of the Kubernetes API (and of what sits behind it) for testing the check engine.

A real HTTP server on 127.0.0.1 that the official Kubernetes client talks to through a kubeconfig. It
serves the objects it was given, with the statuses a healthy cluster would report once they have
converged (`simulate`), lists with label selectors, the API server's service proxy to Prometheus and
Loki, and also stands in for the ingress (answers by Host header).

Prometheus and Loki answer per query, as the real ones do: a query they were given data for gets its
series or streams (Loki only the lines in the asked time range, by default the last hour as Loki's own
default), any other query a 400 (what both answer to a query they cannot parse; a test that sends a
query nobody expected fails). A service the cluster does not have gets the API server's 404.
"""
from __future__ import annotations

import copy
import datetime
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from infra.checks import resource_path
from infra.kinds import CLUSTER_SCOPED

NODES = 3
PROMETHEUS = "/api/v1/namespaces/monitoring/services/prometheus-operated:9090"
LOKI = "/api/v1/namespaces/logging/services/loki:3100"


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Server(ThreadingHTTPServer):
    """A listen backlog like a real API server's: a class's worth of parallel requests (16 TokenRequests
    at once) must queue, not be reset as the default backlog of 5 would."""

    request_queue_size = 128


def simulate(obj: dict) -> list[dict]:
    """The object as a converged cluster would report it, plus the Pods its controller runs."""
    obj = copy.deepcopy(obj)
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("generation", 1)
    pods: list[dict] = []
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = spec.get("replicas", 1)
        obj["status"] = {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                         "updatedReplicas": replicas, "availableReplicas": replicas}
        pods = [_pod(obj, i) for i in range(replicas)]
    elif kind == "DaemonSet":
        obj["status"] = {"observedGeneration": 1, "desiredNumberScheduled": NODES, "numberReady": NODES,
                         "updatedNumberScheduled": NODES, "numberAvailable": NODES}
        pods = [_pod(obj, i) for i in range(NODES)]
    elif kind == "PersistentVolumeClaim":
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        obj["status"] = {"phase": "Bound", "capacity": {"storage": size}, "accessModes": spec.get("accessModes", [])}
    elif kind == "VolumeSnapshot":  # the snapshot controller's and the CSI snapshotter's work
        obj["status"] = {"readyToUse": True, "boundVolumeSnapshotContentName": f"snapcontent-{metadata.get('name')}"}
    elif kind == "HorizontalPodAutoscaler":
        obj["status"] = {"currentReplicas": spec.get("maxReplicas", 1), "desiredReplicas": spec.get("maxReplicas", 1)}
    elif kind == "Pod":
        obj["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    elif kind == "Service" and spec.get("type") == "LoadBalancer" and "status" not in obj:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200", "ipMode": "VIP"}]}}  # MetalLB's pool
    return [obj, *pods]


def _pod(owner: dict, index: int) -> dict:
    template = (owner.get("spec") or {}).get("template") or {}
    name = owner["metadata"]["name"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{name}-{index}", "namespace": owner["metadata"].get("namespace"),
                     "labels": (template.get("metadata") or {}).get("labels") or {}},
        "spec": template.get("spec") or {},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def load_objects(*folders: Path, namespace: str) -> list[dict]:
    objects = []
    for folder in folders:
        for file in [folder] if folder.is_file() else sorted(folder.rglob("*.y*ml")):
            for doc in yaml.safe_load_all(file.read_text()):
                if doc:
                    if doc["kind"] not in CLUSTER_SCOPED:
                        doc.setdefault("metadata", {}).setdefault("namespace", namespace)
                    objects.append(doc)
    return objects


def _is_list(path: str) -> bool:
    """/api/v1[/namespaces/<ns>]/<plural> or /apis/<group>/<version>[/namespaces/<ns>]/<plural>."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    return len(rest) == (3 if rest[:1] == ["namespaces"] else 1)


def _without_namespace(path: str, listed: str) -> str:
    """An object's path as a cluster-wide list of its kind sees it (`/namespaces/<ns>` left out), when
    `listed` is such a list; the path itself otherwise."""
    if "/namespaces/" in listed or "/namespaces/" not in path:
        return path
    head, _, rest = path.partition("/namespaces/")
    namespace, slash, inside = rest.partition("/")
    return head + "/" + inside if slash else path  # a Namespace object itself stays as it is


def _selected(obj: dict, selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


class FakeCluster:
    """`default_storage_class`: the class marked default (kind's `standard`); like the API server's
    DefaultStorageClass admission, a claim created without `storageClassName` gets it."""

    def __init__(self, default_storage_class: str = "standard"):
        self.objects: dict[str, dict] = {}
        self.default_storage_class = default_storage_class
        self.promql: dict[str, dict] = {}  # PromQL query -> its answer's `data` (resultType, result)
        self.alerts: list[dict] = []  # what Prometheus's /api/v1/alerts lists
        self.logs: dict[str, list[tuple[float, str]]] = {}  # LogQL query -> (epoch seconds, line) entries
        self.services: set[str] = set()  # the proxied services that exist: PROMETHEUS, LOKI
        self.http_answers: dict[tuple[str, str], tuple[int, str]] = {}  # (host, path) -> (status, body)
        self.token_requests: list[tuple[str, str, dict]] = []  # (namespace, service account, spec) per TokenRequest
        self.requests: list[str] = []  # the path of every GET, in order
        self.rolling: dict[str, int] = {}  # object path -> reads left before its rollout is done
        self.server = Server(("127.0.0.1", 0), self._handler())
        # A short poll: shutdown() waits for it, at every test's end.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.add({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "rancher.io/local-path",
                  "metadata": {"name": default_storage_class,
                               "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer_promql(self, query: str, *values: float | str, result_type: str = "vector") -> None:
        """Prometheus answers `query` with one series per value (a scalar: the one value)."""
        self.services.add(PROMETHEUS)
        if result_type == "scalar":
            self.promql[query] = {"resultType": "scalar", "result": [0, str(values[0])]}
        else:
            self.promql[query] = {"resultType": result_type,
                                  "result": [{"metric": {}, "value": [0, str(v)]} for v in values]}

    def fire_alert(self, name: str, state: str = "firing", **labels: str) -> None:
        self.services.add(PROMETHEUS)
        self.alerts.append({"labels": {"alertname": name, **labels}, "state": state})

    def log(self, query: str, line: str, at: float | None = None) -> None:
        """Loki has `line` for `query`, written at `at` (epoch seconds, default now)."""
        self.services.add(LOKI)
        self.logs.setdefault(query, []).append((time.time() if at is None else at, line))

    def roll_out_slowly(self, path: str, reads: int) -> None:
        """The workload at `path` reports a rollout in progress (no pod ready or updated) for its next
        `reads` reads, then its converged status: what `kubectl apply` leaves behind for a while."""
        self.rolling[path] = reads

    def _read(self, path: str) -> dict:
        obj = self.objects[path]
        if self.rolling.get(path, 0) > 0:
            self.rolling[path] -= 1
            return {**obj, "status": {**obj.get("status", {}), "readyReplicas": 0, "updatedReplicas": 0,
                                      "availableReplicas": 0, "numberAvailable": 0, "updatedNumberScheduled": 0}}
        return obj

    def _proxy(self, service: str, api: str, query: dict) -> tuple[int, object]:
        if service not in self.services:
            name = service.rsplit("/", 1)[-1].split(":")[0]
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'services "{name}" not found'}
        if service == PROMETHEUS and api == "/api/v1/alerts":
            return 200, {"status": "success", "data": {"alerts": self.alerts}}
        if service == PROMETHEUS and api == "/api/v1/query" and query.get("query") in self.promql:
            return 200, {"status": "success", "data": self.promql[query["query"]]}
        if service == LOKI and api == "/loki/api/v1/query_range" and query.get("query") in self.logs:
            start = int(query["start"]) / 1e9 if "start" in query else time.time() - 3600  # Loki: 1 h ago
            values = [[str(int(at * 1e9)), line] for at, line in self.logs[query["query"]] if at >= start]
            return 200, {"status": "success", "data": {"resultType": "streams",
                                                        "result": [{"stream": {}, "values": values}] if values else []}}
        return 400, {"status": "error", "errorType": "bad_data", "error": f"unexpected query {query.get('query')!r}"}

    def add(self, *objects: dict) -> None:
        for obj in objects:
            if obj.get("kind") == "PersistentVolumeClaim" and "storageClassName" not in (obj.get("spec") or {}):
                obj = {**obj, "spec": {**obj.get("spec", {}), "storageClassName": self.default_storage_class}}
            for item in simulate(obj):
                meta = item["metadata"]
                meta.setdefault("creationTimestamp", rfc3339(time.time()))  # as the API server stamps it
                namespace = None if item["kind"] in CLUSTER_SCOPED else meta.get("namespace")
                self.objects[resource_path(item["apiVersion"], item["kind"], namespace, meta["name"])] = item
        self._slice_endpoints()
        self._accept_routes()

    def _accept_routes(self) -> None:
        """HTTPRoute status as a Gateway controller writes it: Accepted by each parent, ResolvedRefs when
        every backendRef names a Service of the route's namespace (BackendNotFound otherwise)."""
        for route in [obj for obj in self.objects.values() if obj["kind"] == "HTTPRoute"]:
            namespace = route["metadata"].get("namespace")
            refs = [ref for rule in (route.get("spec") or {}).get("rules") or [] for ref in rule.get("backendRefs") or []]
            resolved = all(resource_path("v1", "Service", ref.get("namespace", namespace), ref["name"]) in self.objects
                           for ref in refs)
            conditions = [{"type": "Accepted", "status": "True", "reason": "Accepted"},
                          {"type": "ResolvedRefs", "status": "True" if resolved else "False",
                           "reason": "ResolvedRefs" if resolved else "BackendNotFound"}]
            route["status"] = {"parents": [{"parentRef": ref, "controllerName": "traefik.io/gateway-controller",
                                            "conditions": conditions}
                                           for ref in (route.get("spec") or {}).get("parentRefs") or []]}

    def _slice_endpoints(self) -> None:
        """An EndpointSlice per Service with a selector, as the EndpointSlice controller keeps them: one
        endpoint per pod of the Service's namespace whose labels match the selector, ready when the pod is."""
        objects = list(self.objects.values())
        for service in (obj for obj in objects if obj["kind"] == "Service" and (obj.get("spec") or {}).get("selector")):
            meta = service["metadata"]
            selector = ",".join(f"{key}={value}" for key, value in service["spec"]["selector"].items())
            pods = [obj for obj in objects if obj["kind"] == "Pod" and obj["metadata"].get("namespace") == meta.get("namespace")
                    and _selected(obj, selector)]
            piece = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                     "metadata": {"name": f"{meta['name']}-fake", "namespace": meta.get("namespace"),
                                  "labels": {"kubernetes.io/service-name": meta["name"]}},
                     "endpoints": [{"addresses": [f"10.244.0.{index + 10}"], "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"]},
                                    "conditions": {"ready": any(c.get("type") == "Ready" and c.get("status") == "True"
                                                                for c in (pod.get("status") or {}).get("conditions") or [])}}
                                   for index, pod in enumerate(pods)]}
            self.objects[resource_path("discovery.k8s.io/v1", "EndpointSlice", meta.get("namespace"), piece["metadata"]["name"])] = piece

    def kubeconfig(self, folder: Path) -> str:
        file = folder / "kubeconfig"
        file.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        }))
        return str(file)

    def __enter__(self) -> "FakeCluster":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload, content_type="application/json"):
                body = payload if isinstance(payload, str) else json.dumps(payload)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                self.wfile.write(body.encode())

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                host = (self.headers.get("Host") or "").split(":")[0]
                if (host, url.path) in cluster.http_answers:
                    status, body = cluster.http_answers[(host, url.path)]
                    return self._send(status, body, "text/plain")
                if "/proxy/" in url.path:
                    service, _, api = url.path.partition("/proxy")
                    return self._send(*cluster._proxy(service, api, query))
                cluster.requests.append(url.path)
                if _is_list(url.path):
                    prefix = url.path.rstrip("/") + "/"
                    items = [obj for path, obj in cluster.objects.items()
                             if (listed := _without_namespace(path, url.path)).startswith(prefix)
                             and "/" not in listed[len(prefix):]
                             and _selected(obj, query.get("labelSelector", ""))]
                    return self._send(200, {"kind": "List", "items": items})
                if url.path in cluster.objects:
                    return self._send(200, cluster._read(url.path))
                return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

            def do_POST(self):
                """TokenRequest (POST .../serviceaccounts/<sa>/token) for a ServiceAccount the cluster has:
                a token naming the account, valid for the requested expirationSeconds."""
                path = urllib.parse.urlsplit(self.path).path
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                account, _, sub = path.rpartition("/")
                if sub != "token" or account not in cluster.objects:
                    return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                namespace, name = account.split("/")[-3], account.split("/")[-1]
                spec = body.get("spec") or {}
                cluster.token_requests.append((namespace, name, spec))
                expiry = time.gmtime(time.time() + int(spec.get("expirationSeconds", 3600)))
                return self._send(201, {**body, "status": {"token": f"token-of-{namespace}-{name}",
                                                           "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", expiry)}})

        return Handler
