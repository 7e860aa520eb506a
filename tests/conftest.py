"""Shared fixtures: isolated per-user folders, the real catalog, a small fake catalog, ../shared."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.catalog import Catalog
from infra.paths import LABS_DIR, PROJECT_ROOT

# The reference data; LABS_SHARED_DIR points elsewhere (an empty folder: run the suite as without it;
# pair it with LABS_CHARTS_DIR, which infra.images.charts_dir reads).
SHARED = Path(os.environ.get("LABS_SHARED_DIR") or PROJECT_ROOT.parent / "shared")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    """No test touches the real ~/.local state or tools folders."""
    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LABS_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("LABS_BUNDLE", str(tmp_path / "bundle"))  # the machine's own bundle changes renders
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))  # charts (lab up, images list), Go builds
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    return tmp_path


@contextmanager
def user_dirs_in(root: Path):
    """isolated_user_dirs for module-scoped fixtures, which the per-test one does not cover."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABS_STATE_DIR", str(root / "state"))
        patch.setenv("LABS_TOOLS_DIR", str(root / "tools"))
        patch.setenv("LABS_BUNDLE", str(root / "bundle"))
        patch.setenv("LABS_CACHE_DIR", str(root / "chart-cache"))
        patch.delenv("PULUMI_BACKEND_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load(LABS_DIR)


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "tools" / "check_k8s.py").is_file():
        pytest.skip("../shared reference data is absent")
    return SHARED


def write_lab(root: Path, folder: str, lab_yaml: str) -> Path:
    """A minimal valid lab folder with the given lab.yaml text."""
    lab = root / folder
    (lab / "manifests").mkdir(parents=True)
    (lab / "solution").mkdir()
    (lab / "README.fr.md").write_text("# guide\n")
    (lab / "README.en.md").write_text("# guide\n")
    (lab / "lab.yaml").write_text(lab_yaml)
    return lab


def lab_yaml(slug: str, layers: str = "[ingress]", slide: str = "Ingress") -> str:
    return (
        f"slide: {slide}\nslug: {slug}\nlayers: {layers}\nduration: 30\nnamespace: lab-{slug}\n"
        "objectives:\n  fr: [Comprendre]\n  en: [Understand]\n"
        "checks:\n  - {id: app, kind: rollout, object: Deployment, name: app, hint: {fr: Déploie, en: Deploy}}\n"
    )


@pytest.fixture
def copy_of_real_lab(tmp_path) -> Path:
    """A copy of labs/07-ingress in a temporary labs folder, for breaking it on purpose."""
    root = tmp_path / "labs"
    shutil.copytree(LABS_DIR / "07-ingress", root / "07-ingress")
    return root


def probe_catalog(root: Path, layers: list[str]) -> Catalog:
    """A catalog in `root` whose one lab, `probe`, needs exactly `layers` (plus their dependencies)."""
    write_lab(root, "99-probe", lab_yaml("probe", layers="[" + ", ".join(layers) + "]", slide="Probe"))
    return Catalog.load(root)


def render_with_layers(root: Path, layers: list[str], settings=None) -> dict:
    """Render a throw-away lab that needs exactly `layers` (plus their dependencies)."""
    from infra.render import render
    from infra.settings import StackSettings

    return render("probe", settings or StackSettings(), probe_catalog(root, layers))


def record_probe(root: Path, layers: list[str], settings=None) -> tuple[list, dict]:
    """(registrations, component outputs) of the program for a throw-away lab that needs exactly `layers`."""
    from dataclasses import replace

    from infra.render import record_program
    from infra.settings import StackSettings

    return record_program(replace(settings or StackSettings(), lab="probe"), probe_catalog(root, layers))


def probe_registrations(root: Path, layers: list[str], settings=None) -> list:
    """The registrations of record_probe, without the outputs."""
    return record_probe(root, layers, settings)[0]


def check_k8s_render(shared: Path, document: dict, tmp_path: Path) -> str:
    """Run ../shared/tools/check_k8s.py on a render document; returns its output, asserts 0 errors."""
    import json
    import subprocess
    import sys

    file = tmp_path / "render.json"
    file.write_text(json.dumps(document))
    done = subprocess.run([sys.executable, str(shared / "tools" / "check_k8s.py"), "render", str(file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def write_pulumi_state(session: str, stack: str, custom: tuple[str, ...] = ("pulumi-python:dynamic:Resource",),
                       pending: tuple[str, ...] = ()) -> Path:
    """What Pulumi's local backend keeps for `stack` in the session's folder, in its format
    (`.pulumi/stacks/k8s-labs/<stack>.json`, version 3): the root stack, its default provider, one custom
    resource of each type in `custom` and a pending create of each type in `pending`. Fake drivers leave
    it where the real one does."""
    import json

    from infra import paths

    def urn(type_: str, name: str) -> str:
        return f"urn:pulumi:{stack}::k8s-labs::{type_}::{name}"

    resources = [{"urn": urn("pulumi:pulumi:Stack", f"k8s-labs-{stack}"), "custom": False, "type": "pulumi:pulumi:Stack"},
                 {"urn": urn("pulumi:providers:pulumi-python", "default"), "custom": True,
                  "type": "pulumi:providers:pulumi-python", "id": "0"}]
    resources += [{"urn": urn(type_, f"r{i}"), "custom": True, "type": type_, "id": f"r{i}"} for i, type_ in enumerate(custom)]
    latest = {"manifest": {"time": "2026-09-01T08:00:00Z", "magic": "", "version": "v3.272.0"}, "resources": resources}
    if pending:
        latest["pending_operations"] = [{"resource": {"urn": urn(type_, f"p{i}"), "custom": True, "type": type_},
                                         "type": "creating"} for i, type_ in enumerate(pending)]
    file = paths.session_dir(session) / "pulumi" / ".pulumi" / "stacks" / "k8s-labs" / f"{stack}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"version": 3, "checkpoint": {"stack": f"organization/k8s-labs/{stack}", "latest": latest}}))
    return file
