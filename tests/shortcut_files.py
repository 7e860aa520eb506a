"""Shortcuts an impatient student might take (tests/shortcuts/<lab id>/<name>.yaml), read the same way
by the offline harness (tests/test_lab_shortcuts.py, a fake API server) and the real one
(tests/test_controlplane_labs.py, kwok).

A shortcut's first document says which check it must fail:
`shortcut: {fails: <check id>[, without: [Kind/name]][, steps: [n, ...]]}`. The other documents are
what the student applied in place of the solution's objects of the same kind and name, or what their
tools wrote (Helm's release Secrets); `without`: solution objects the student never applied; `steps`:
the lab's solve steps (numbered as `lab solve` shows them) the student did run, which on a real
cluster write what those Secrets stand for.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from infra.kinds import CLUSTER_SCOPED
from tests.fake_cluster import load_objects

SHORTCUTS = Path(__file__).parent / "shortcuts"
HELM_RECORD = "helm.sh/release.v1"  # the type of the Secrets Helm writes, one per release revision


def shortcut_files(lab_id: str = "*") -> list[Path]:
    return sorted(SHORTCUTS.glob(f"{lab_id}/*.yaml"))


def key(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def load_shortcut(file: Path, namespace: str) -> tuple[dict, list[dict]]:
    header, *objects = [doc for doc in yaml.safe_load_all(file.read_text()) if doc]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {}).setdefault("namespace", namespace)
    return header["shortcut"], objects


def taken_instead(lab, shortcut: dict, applied: list[dict]) -> list[dict]:
    """The solution's objects the student kept (neither replaced nor left out), then theirs."""
    solution = load_objects(lab.path / "solution", namespace=lab.namespace)
    without = set(shortcut.get("without") or [])
    assert without <= {key(obj) for obj in solution}, f"{lab.id}: `without` names objects the solution lacks"
    replaced = without | {key(obj) for obj in applied}
    return [obj for obj in solution if key(obj) not in replaced] + applied


def is_tool_record(obj: dict) -> bool:
    return obj["kind"] == "Secret" and obj.get("type") == HELM_RECORD
