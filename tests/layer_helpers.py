"""Helpers shared by the tests/test_layer_*.py files: kind capabilities, values paths, render documents,
registrations and the requests every workload must carry."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from infra.clusters import Capabilities, capabilities
from infra.quantities import cpu_millicores, memory_mebibytes
from infra.settings import StackSettings
from tests.conftest import probe_registrations, render_with_layers

KIND = StackSettings(session="monday")
NODES = 3  # the kind cluster's nodes: a per-node (DaemonSet) workload runs this many pods


# --- the kind target -------------------------------------------------------------------------------

def kind_capabilities(**changes) -> Capabilities:
    """The kind target's capabilities under KIND, with `changes` applied."""
    return replace(capabilities.kind_capabilities(KIND), **changes)


def patch_kind_capabilities(monkeypatch, **changes) -> None:
    """For the rest of the test, the kind target declares `changes` (e.g. load_balancer=True, as clouds do)."""
    original = capabilities.BY_TARGET["kind"]
    monkeypatch.setitem(capabilities.BY_TARGET, "kind", lambda settings: replace(original(settings), **changes))


# --- values ----------------------------------------------------------------------------------------

def value_at(values: dict, dotted: str):
    """The value at a dotted path such as `controller.resources`; fails the test when a key is missing."""
    node = values
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"{dotted}: no '{key}'"
        node = node[key]
    return node


def chart_defaults(shared: Path, chart: str, version: str) -> dict:
    """The chart's own values.yaml, from ../shared/charts."""
    return yaml.safe_load((shared / "charts" / chart / version / "values.yaml").read_text())


def assert_requests_and_memory_limit(resources, what) -> None:
    """A `resources` map requests CPU and memory and limits memory at no less than its request."""
    assert isinstance(resources, dict), what
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    assert requests.get("cpu") and requests.get("memory"), what
    assert limits.get("memory"), what
    assert memory_mebibytes(limits["memory"]) >= memory_mebibytes(requests["memory"]), what


def checked_requests(values_by_release: dict[str, dict], workloads_by_release: dict) -> tuple[float, float]:
    """Check every workload's resources (see assert_requests_and_memory_limit) at its values path;
    returns the (CPU millicores, memory MiB) they request, replicas and per-node pods counted."""
    cpu = memory = 0.0
    for release, workloads in workloads_by_release.items():
        for workload in workloads:
            resources = value_at(values_by_release[release], workload.resources_path)
            assert_requests_and_memory_limit(resources, (release, workload))
            count = NODES if workload.per_node else workload.replicas
            cpu += cpu_millicores(resources["requests"]["cpu"]) * count
            memory += memory_mebibytes(resources["requests"]["memory"]) * count
    return cpu, memory


# --- render documents ------------------------------------------------------------------------------

def release_named(document: dict, name: str) -> dict:
    """The one release of the render called `name`."""
    (release,) = [r for r in document["releases"] if r["name"] == name]
    return release


def releases_by_name(document: dict) -> dict[str, dict]:
    return {r["name"]: r for r in document["releases"]}


def objects_of_kind(document: dict, kind: str) -> dict[str, dict]:
    """The render's objects of one kind, by name."""
    return {o["metadata"]["name"]: o for o in document["objects"] if o["kind"] == kind}


def namespace_part(document: dict, namespace: str) -> dict:
    """The render reduced to one namespace: its releases, the Namespace object and the objects in it."""
    def inside(obj):
        meta = obj.get("metadata") or {}
        return meta.get("namespace") == namespace or (obj["kind"] == "Namespace" and meta.get("name") == namespace)

    return {**document, "releases": [r for r in document["releases"] if r["namespace"] == namespace],
            "objects": [o for o in document["objects"] if inside(o)]}


# --- registrations ---------------------------------------------------------------------------------

def one(registrations, type_: str, name: str | None = None):
    """The one registration of this Pulumi type (and resource name, when given); fails on none or several."""
    found = [r for r in registrations if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, (type_, name, [r.name for r in found])
    return found[0]


def by_object_name(registrations, type_: str) -> dict:
    """Registrations of one type, by the Kubernetes name they create (a release's name, else metadata.name)."""
    return {(r.inputs.get("name") or (r.inputs.get("metadata") or {}).get("name")): r
            for r in registrations if r.type == type_}


def assert_layer_adds_nothing(root: Path, layer: str, layer_type: str) -> None:
    """The layer's component registers no child and the render has no release or object (the target
    already provides what the layer would install)."""
    registrations = probe_registrations(root / "labs", [layer], KIND)
    component = one(registrations, layer_type)
    assert [r for r in registrations if r.parent == component.urn] == []
    document = render_with_layers(root / "render", [layer])
    assert document["releases"] == [] and document["objects"] == []
