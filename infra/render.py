"""Offline render: what `lab up` would register, as data, with no cluster, Docker, CLI or network.

It runs the very program `up` runs (`infra.program.build`) under the Pulumi SDK's mock runtime and
records every registration: a MockMonitor subclass sees each resource's type, name, inputs and
dependencies, and the outputs components register (the cluster's summary). Secret values arrive
still wrapped as secrets and are written as "[secret]". A chart or manifest the offline bundle serves
(infra.bundle) keeps its pinned name, version and source URL, plus `"from": "bundle:<path in the bundle>"`.

The document is the same bytes on every run, so two renders diff cleanly: keys in a stable order
(`apiVersion`, `kind`, `metadata` first, the others sorted), releases, manifests and objects sorted,
paths under the home folder written `~/...`, and in YAML every multi-line string a block scalar.
"""
from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from infra.bundle import bundled_chart, bundled_manifest
from infra.catalog import Catalog, Lab
from infra.errors import LabsError
from infra.settings import PROJECT, StackSettings

if TYPE_CHECKING:  # the recording imports Pulumi: only where a render runs
    from infra.recording import Registration

SECRET = "[secret]"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
MANIFEST_TYPES = ("kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup")
TENANCY_TYPE = "labs:classroom:Tenancy"
FIRST_KEYS = ("apiVersion", "kind", "metadata")
FORMATS = ("json", "yaml")


def _masked(value):
    """A secret value with every leaf replaced by "[secret]": keys and shape stay (a Secret's
    stringData keeps its key names, so the object is still a valid manifest)."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return SECRET


def _plain(value):
    """Registered values as a manifest would hold them: secrets masked, whole numbers as ints
    (the engine's protobuf carries every number as a double), keys in a stable order, home paths `~/`."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _masked(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        keys = [k for k in FIRST_KEYS if k in value] + sorted((k for k in value if k not in FIRST_KEYS), key=str)
        return {k: _plain(value[k]) for k in keys}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return home_relative(value)
    return value


def home_relative(text: str) -> str:
    """A path under the home folder as `~/...`: the same file, and the same text for every user."""
    home = str(Path.home()).rstrip("/")
    if home and (text == home or text.startswith(home + "/")):
        return "~" + text[len(home):]
    return text


def object_order(obj: dict) -> tuple:
    """Objects grouped by namespace (a Namespace with its contents), cluster-scoped ones first; then by
    kind and name, and the whole object last so that the order never depends on registration order."""
    meta = obj.get("metadata") or {}
    group = meta.get("name", "") if obj.get("kind") == "Namespace" else meta.get("namespace", "")
    return (group, obj.get("kind") != "Namespace", obj.get("kind", ""), meta.get("name", ""),
            obj.get("apiVersion", ""), json.dumps(obj, sort_keys=True))


def record_program(settings: StackSettings, catalog: Catalog) -> tuple[list[Registration], dict[str, dict]]:
    """Run the program under the mock runtime; returns its registrations and the components' outputs."""
    import pulumi

    from infra.program import build
    from infra.recording import RecordingMonitor

    monitor = RecordingMonitor()

    def run() -> None:
        pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=settings.stack_name, preview=False,
                                 monitor=monitor)
        pulumi.runtime.test(lambda: build(settings, catalog) and None)()

    contextvars.Context().run(run)  # a fresh root stack per render
    return monitor.registrations, monitor.component_outputs


def _label(reg: Registration) -> str:
    if reg.type == RELEASE_TYPE:
        return f"release/{reg.inputs.get('name', reg.name)}"
    if reg.type.startswith("labs:layer:"):
        return f"layer/{reg.name}"
    if reg.type in MANIFEST_TYPES:
        return f"manifest/{reg.name}"
    if reg.custom and "kind" in reg.inputs:
        return f"{reg.inputs['kind']}/{(reg.inputs.get('metadata') or {}).get('name', reg.name)}"
    return reg.name


def _manifest(name: str, source) -> dict:
    """A ConfigFile/ConfigGroup entry: its source URL(s), and `from` when the offline bundle serves any
    (`bundle:manifests/<file>` per bundled file, `network` for the others; relative to the bundle)."""
    items = source if isinstance(source, list) else [source]
    found = [bundled_manifest(item) for item in items]
    if not any(found):
        return {"name": name, "source": source}
    urls = [hit[0] if hit else item for item, hit in zip(items, found)]
    origins = [hit[1] if hit else "network" for hit in found]
    if isinstance(source, list):
        return {"name": name, "source": urls, "from": origins}
    return {"name": name, "source": urls[0], "from": origins[0]}


def render_lab(lab: Lab | None, settings: StackSettings, catalog: Catalog) -> dict:
    """The render document of `settings` (lab None: the cluster alone, e.g. a classroom without a lab).
    A classroom's tenancy adds a `students` list (infra.classroom) beside `objects`."""
    from infra.clusters.capabilities import target_capabilities
    from infra.program import stack_layers

    registrations, outputs = record_program(settings, catalog)
    labels = {reg.urn: _label(reg) for reg in registrations}
    cluster: dict = {}
    students = None
    releases, manifests, objects = [], [], []
    for reg in registrations:
        if reg.type.startswith("labs:cluster:"):
            cluster = _plain(outputs.get(reg.urn, {}).get("summary", {}))
        elif reg.type == TENANCY_TYPE:
            students = _plain(outputs.get(reg.urn, {}).get("students", []))
        elif reg.type == RELEASE_TYPE:
            inputs = reg.inputs
            release = {
                "name": inputs["name"],
                "namespace": inputs["namespace"],
                "chart": inputs["chart"],
                "repo": (inputs.get("repositoryOpts") or {}).get("repo", ""),
                "version": inputs.get("version", ""),
            }
            bundled = bundled_chart(inputs["chart"])
            if bundled:  # installed from the offline bundle's .tgz: named as pinned, and where it comes from
                release.update(zip(("chart", "repo", "version", "from"), bundled))
            release["values"] = _plain(inputs.get("values") or {})
            release["depends_on"] = sorted(labels[d] for d in reg.dependencies if d in labels)
            releases.append(release)
        elif reg.type in MANIFEST_TYPES:
            manifests.append(_manifest(reg.name, reg.inputs.get("file") or reg.inputs.get("files")))
        elif reg.custom and reg.type.startswith("kubernetes:") and "kind" in reg.inputs:
            objects.append(_plain(reg.inputs))
    releases.sort(key=lambda release: (release["namespace"], release["name"]))
    manifests.sort(key=lambda manifest: (manifest["name"], json.dumps(manifest, sort_keys=True)))
    objects.sort(key=object_order)
    document = {
        "lab": lab.id if lab else "",
        "slide": lab.slide if lab else "",
        "target": settings.target,
        "cluster": cluster,
        "layers": stack_layers(lab, target_capabilities(settings)),
        "releases": releases,
        "manifests": manifests,
        "objects": objects,
    }
    if students is not None:
        document["students"] = students
    return document


def render(ref: str, settings: StackSettings, catalog: Catalog | None = None) -> dict | list[dict]:
    """One lab's render document, or a list of them for `all`."""
    from dataclasses import replace

    catalog = catalog or Catalog.load()
    labs = catalog.select(ref)
    documents = [render_lab(lab, replace(settings, lab=lab.slug), catalog) for lab in labs]
    return documents if (ref or "").strip().lower() == "all" else documents[0]


class _BlockDumper(yaml.SafeDumper):
    """YAML with multi-line strings (kubeadm patches, alert rules, embedded configs) as block scalars."""


def _string(dumper: yaml.SafeDumper, text: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_BlockDumper.add_representer(str, _string)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise LabsError(f"unknown format '{fmt}': use --format=json or --format=yaml")


def serialize(document, fmt: str) -> str:
    """The render document as JSON or YAML text, the same bytes for the same document."""
    check_format(fmt)
    if fmt == "yaml":
        return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)
    return json.dumps(document, indent=2, ensure_ascii=False)
