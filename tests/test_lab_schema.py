"""labs/lab.schema.json: generated from the catalog's validator, current, and of the same mind as it."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from infra.catalog import load_lab
from infra.errors import LabsError
from infra.lab_schema import SCHEMA_FILE, lab_schema, regenerate, schema_text
from infra.paths import LABS_DIR
from tests.conftest import write_lab

VALIDATOR = jsonschema.Draft202012Validator(lab_schema())
REAL_LABS = sorted(LABS_DIR.glob("*/lab.yaml"))


def test_the_committed_schema_is_what_the_validator_says_today():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run `invoke lab-schema`"
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("file", REAL_LABS, ids=lambda file: file.parent.name)
def test_every_lab_yaml_of_the_course_validates_and_names_the_schema_for_editors(file):
    text = file.read_text(encoding="utf-8")
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text))) == []
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../lab.schema.json"


def _ingress() -> dict:
    return yaml.safe_load((LABS_DIR / "07-ingress" / "lab.yaml").read_text(encoding="utf-8"))


def _set(data: dict, path: str, value) -> dict:
    """`data` with the value at a dotted path (list indexes as numbers) replaced; `...` deletes it."""
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return changed


HINTED = {"id": "c", "hint": {"fr": "indice", "en": "hint"}}
MISTAKES = [
    ("owner", "me"),  # an unknown field
    ("duration", 0),
    ("duration", "45"),
    ("duration", True),
    ("slide", "   "),
    ("slug", "Ingress"),
    ("layers", ["ingress", "telepathy"]),
    ("objectives.en", ...),
    ("objectives.en", []),
    ("objectives.de", ["Verstehen"]),
    ("checks", []),
    ("namespace", ...),
    ("checks.0.kind", "telepathy"),
    ("checks.0.name", ...),
    ("checks.0.name", ""),
    ("checks.0.object", "Pod"),  # a rollout check on a kind that does not roll out
    ("checks.0.id", "Apps_Running"),
    ("checks.0.hint.en", ...),
    ("checks.0.hint.fr", " "),
    ("checks.0.needs_containers", "yes"),
    ("checks.0.selector", "app=web"),  # a field of another kind of check
    ("checks.1.apiVersion", ...),  # an exists check without its apiVersion
    ("checks.1.fields", {"spec.rules": {">=": "2"}}),  # a comparison of numbers with a string
    ("checks.1.fields", {"spec.rules.0.host": {"in": "blue.localhost"}}),
    ("checks.1.fields", {"spec.rules.0.host": {"matches": 5}}),
    ("checks.0", {**HINTED, "kind": "pods_ready", "selector": "app=web", "count": 0}),  # always holds
    ("checks.0", {**HINTED, "kind": "lease", "name": "kube-scheduler"}),  # nothing asked of the Lease
    ("checks.0", {**HINTED, "kind": "lease", "name": "kube-scheduler", "acquired_since_start": False}),
    ("checks.0", {**HINTED, "kind": "helm_release", "release": "web", "history": "failed"}),
    ("solve", {"kubectl": ["get", "pods"]}),  # a mapping, not a list of steps
    ("solve", [{"kubectl": []}]),
    ("solve", [{"kubectl": ["get"], "helm": ["list"]}]),  # two actions in one step
    ("solve", [{"shell": "kubectl get pods"}]),
    ("solve", [{"kubectl": ["debug", "-it", "solo"]}]),  # a terminal nobody has
    ("solve", [{"helm": ["list", "--kube-context=prod"]}]),  # the runner names the cluster
    ("solve", [{"kubectl": ["get", "pods", "--kubeconfig", "x"]}]),
    ("solve", [{"restart": "apiserver"}]),
    ("solve", [{"restart": "scheduler", "fails": True}]),
    ("solve", [{"helm": ["list"], "guide": -1}]),
]


@pytest.mark.parametrize("path, value", MISTAKES, ids=[f"{p}={v!r}" for p, v in MISTAKES])
def test_a_mistake_the_catalog_refuses_the_schema_refuses_too(tmp_path, path, value):
    data = _set(_ingress(), path, value)
    folder = write_lab(tmp_path, "07-ingress", yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(LabsError):
        load_lab(folder)
    assert list(VALIDATOR.iter_errors(data)), f"the schema accepts {path}={value!r}"


@pytest.mark.parametrize("path, value", [
    ("checks.0.namespace", "elsewhere"),
    ("checks.0.needs_containers", True),
    ("layers", []),
    ("layers", ["monitoring", "ingress"]),
    ("checks.1.fields", {"spec.rules": {">=": 2}, "spec.rules.0.host": {"matches": "blue\\..*"}}),
    ("checks.1.fields", {"metadata.labels": {"app": "web", "tier": "front"}}),  # a mapping compared whole
    ("checks.0", {**HINTED, "kind": "lease", "name": "kube-scheduler", "acquired_since_start": True}),
    ("checks.0", {**HINTED, "kind": "helm_release", "release": "web", "revisions": 2, "history": ["failed"]}),
    ("solve", []),
    ("solve", [{"kubectl": ["debug", "solo", "--target=whoami"], "guide": 2}, {"restart": "scheduler"},
               {"helm": ["upgrade", "web", "chart", "--wait"], "fails": True}]),
])
def test_what_the_catalog_accepts_the_schema_accepts(tmp_path, path, value):
    data = _set(_ingress(), path, value)
    load_lab(write_lab(tmp_path, "07-ingress", yaml.safe_dump(data, allow_unicode=True)))
    assert list(VALIDATOR.iter_errors(data)) == []


def test_lab_schema_check_names_a_stale_file_and_the_fix(tmp_path):
    file = tmp_path / "lab.schema.json"
    assert regenerate(file=file) == f"wrote {file}"
    assert regenerate(check=True, file=file) == f"{file} is current"
    file.write_text(file.read_text().replace('"minimum": 1', '"minimum": 0'))
    with pytest.raises(LabsError, match=r"lab.schema.json is out of date: run `invoke lab-schema`$"):
        regenerate(check=True, file=file)
