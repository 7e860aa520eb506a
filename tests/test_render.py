"""The offline render: its contract, its validity against real schemas, and secret masking."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pulumi
import pytest
import yaml

from infra.paths import LABS_DIR
from infra.render import SECRET, render
from infra.settings import StackSettings

K8S_MINOR = "1.36.0"  # kindest/node v1.36.1


@pytest.fixture(scope="module")
def ingress_render():
    from infra.catalog import Catalog

    return render("ingress", StackSettings(), Catalog.load(LABS_DIR))


def test_render_follows_the_contract(ingress_render):
    doc = ingress_render
    assert {k: doc[k] for k in ("lab", "slide", "target")} == {"lab": "07-ingress", "slide": "Ingress", "target": "kind"}
    assert doc["cluster"]["provider"] == "kind" and doc["cluster"]["kubernetes_version"] == "v1.36.1"
    assert doc["cluster"]["nodes"] == 3 == len(doc["cluster"]["config"]["nodes"])
    assert doc["layers"] == ["gateway-api", "ingress"]
    (release,) = doc["releases"]
    assert {k: release[k] for k in ("name", "namespace", "chart", "repo", "version")} == {
        "name": "traefik", "namespace": "traefik", "chart": "traefik",
        "repo": "https://traefik.github.io/charts", "version": "41.3.0",
    }
    assert release["depends_on"] == ["Namespace/traefik", "manifest/gateway-api-crds", "traefik-crds"]
    assert [obj["kind"] for obj in doc["objects"]] == ["Namespace"]


def test_render_maps_host_ports_80_and_443(ingress_render):
    mappings = ingress_render["cluster"]["config"]["nodes"][0]["extraPortMappings"]
    assert {(m["containerPort"], m["hostPort"]) for m in mappings} == {(80, 80), (443, 443)}
    assert all(isinstance(m["hostPort"], int) for m in mappings)


def test_every_rendered_object_is_valid_for_kubernetes_1_36(ingress_render):
    for obj in ingress_render["objects"]:
        kubernetes_validate.validate(obj, K8S_MINOR, strict=True)


def test_render_all_is_a_list_of_every_lab(catalog):
    documents = render("all", StackSettings(), catalog)
    assert [doc["lab"] for doc in documents] == [lab.id for lab in catalog.labs]


def test_secrets_are_masked_in_the_render(catalog, monkeypatch):
    import infra.layers.ingress as ingress

    real_values = ingress.traefik_values
    monkeypatch.setattr(ingress, "traefik_values",
                        lambda caps: {**real_values(caps), "env": [{"name": "TOKEN", "value": pulumi.Output.secret("hunter2")}]})
    document = render("ingress", StackSettings(), catalog)
    assert "hunter2" not in json.dumps(document)
    # A secret anywhere in an input makes that whole input secret: the render masks every leaf of it
    # and keeps its shape (key names are not secret).
    values = document["releases"][0]["values"]
    assert values["env"] == [{"name": SECRET, "value": SECRET}]
    assert values["ingressClass"]["name"] == SECRET


def _lab_manifests():
    return sorted(p for sub in ("manifests", "solution") for p in LABS_DIR.glob(f"*/{sub}/**/*.y*ml"))


def _crd_schema(shared: Path, obj: dict) -> Path | None:
    group, _, version = obj["apiVersion"].rpartition("/")
    return shared / "schemas" / "crds" / group / f"{obj['kind'].lower()}_{version}.json" if group else None


@pytest.mark.parametrize("path", _lab_manifests(), ids=lambda p: str(p.relative_to(LABS_DIR)))
def test_every_lab_manifest_is_valid(path, request):
    """Kubernetes objects against the 1.36 schema (strict); custom resources against ../shared CRD schemas."""
    import jsonschema

    for obj in (doc for doc in yaml.safe_load_all(path.read_text()) if doc):
        try:
            kubernetes_validate.validate(obj, K8S_MINOR, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            shared = request.getfixturevalue("shared")
            schema = _crd_schema(shared, obj)
            assert schema and schema.is_file(), f"{path}: no schema for {obj['apiVersion']} {obj['kind']}"
            # Draft 7, without checking the schema itself: CRD schemas carry Go regexes like (?i).
            errors = [e.message for e in jsonschema.Draft7Validator(json.loads(schema.read_text())).iter_errors(obj)]
            assert errors == [], f"{path}: {errors[:3]}"


def test_check_k8s_accepts_the_render_of_every_lab(shared, tmp_path):
    out = tmp_path / "render.json"
    done = subprocess.run([sys.executable, "-m", "invoke", "lab", "render", "--lab=all", "--format=json"],
                          capture_output=True, text=True, cwd=LABS_DIR.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    out.write_text(done.stdout)
    check = subprocess.run([sys.executable, str(shared / "tools" / "check_k8s.py"), "render", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert " 0 errors" in check.stdout


def test_yaml_format_is_the_same_document(catalog):
    from infra.commands import lab_render

    settings = StackSettings()
    assert yaml.safe_load(lab_render("ingress", settings, "yaml")) == json.loads(lab_render("ingress", settings, "json"))


def test_render_leaves_no_event_loop_traceback_at_exit():
    """The mock runtime's per-thread event loops are closed at exit, not left to the final GC
    (which printed "Exception ignored ... Invalid file descriptor" now and then)."""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-m", "invoke", "lab", "render", "--lab=all"], capture_output=True,
                              text=True, cwd=LABS_DIR.parent, timeout=120)
        assert done.returncode == 0 and "Exception ignored" not in done.stderr, done.stderr[-500:]


@pytest.fixture
def home_state(tmp_path, monkeypatch):
    """A process environment whose state lives under its own home folder, as on a normal install."""
    import os

    env = {key: value for key, value in os.environ.items() if key not in ("LABS_STATE_DIR", "XDG_STATE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.mark.parametrize("command", [("lab", "render", "--lab=service-mesh"),
                                     ("classroom", "render", "--students=3", "--lab=monitoring")],
                         ids=["lab", "classroom"])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_two_renders_in_two_processes_are_the_same_bytes(home_state, command, fmt):
    """Different hash seeds reorder sets and dicts built from them: the render must not show it."""
    outputs = []
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "invoke", *command, f"--format={fmt}"], capture_output=True,
                              text=True, cwd=LABS_DIR.parent, env={**home_state, "PYTHONHASHSEED": seed}, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    text = outputs[0]
    assert home_state["HOME"] not in text and "~/.local/state/k8s-labs/sessions/default/" in text
    document = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    if fmt == "yaml":  # multi-line strings (kubeadm patches, alert rules) are block scalars, not "...\n..."
        assert "\\n" not in text and "kubeadmConfigPatches:\n      - |\n" in text
    for obj in document["objects"]:
        keys = list(obj)
        assert keys[:3] == ["apiVersion", "kind", "metadata"] and keys[3:] == sorted(keys[3:])
    releases = [(release["namespace"], release["name"]) for release in document["releases"]]
    assert len(releases) > 1 and releases == sorted(releases)
