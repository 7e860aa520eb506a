"""The offline bundle (infra.bundle): charts and remote manifests taken from disk, `invoke bundle`
downloading them (real HTTP on 127.0.0.1), `invoke bundle --check` saying what is missing.

Every test points LABS_BUNDLE at its own temporary folder: the real bundle of this machine is never read.
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from invoke import Context, Exit

from infra import bundle as offline
from infra.errors import LabsError
from infra.layers import ChartPin
from infra.layers.gateway_api import STANDARD_INSTALL_URL
from infra.layers.ingress import PIN as TRAEFIK
from infra.layers.storage import SNAPSHOT_CRD_URLS
from infra.paths import PROJECT_ROOT
from infra.render import record_program, render
from infra.settings import StackSettings
from tests.conftest import render_with_layers

KIND = StackSettings(session="monday")


@pytest.fixture(autouse=True)
def bundle_root(tmp_path, monkeypatch) -> Path:
    """An empty bundle of this test's own; warnings said by an earlier test are said again."""
    root = tmp_path / "bundle"
    monkeypatch.setenv("LABS_BUNDLE", str(root))
    monkeypatch.setattr(offline, "_warned", set())
    return root


def chart_tgz(chart: str, version: str, root_folder: str | None = None, values: dict | None = None,
              name: str | None = None, subcharts: dict[str, str] | None = None) -> bytes:
    """A chart package as `helm package` makes it: <root_folder>/Chart.yaml, values.yaml, templates/."""
    folder = root_folder or chart
    files = {
        f"{folder}/Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name or chart, "version": version,
                                                "appVersion": "1.0.0"}),
        f"{folder}/values.yaml": yaml.safe_dump(values or {"replicas": 1}),
        f"{folder}/templates/NOTES.txt": "installed\n",
    }
    for sub, sub_version in (subcharts or {}).items():
        files[f"{folder}/charts/{sub}/Chart.yaml"] = yaml.safe_dump({"apiVersion": "v2", "name": sub,
                                                                     "version": sub_version, "appVersion": "2.0.0"})
        files[f"{folder}/charts/{sub}/values.yaml"] = yaml.safe_dump({"image": {"tag": f"{sub}-from-bundle"}})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put_chart(root: Path, pin: ChartPin, **kwargs) -> Path:
    """charts/<chart>-<pin version>.tgz in the bundle; kwargs change what is inside (version=...)."""
    version = kwargs.pop("version", pin.version)
    path = root / "charts" / f"{pin.chart}-{pin.version}.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(chart_tgz(pin.chart, version, **kwargs))
    return path


def put_manifests(root: Path, urls: list[str]) -> dict[str, Path]:
    """Each URL's manifest beside manifests/index.json; returns URL -> file."""
    folder = root / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    index_file = folder / "index.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    files = {}
    for url in urls:
        name = offline.manifest_file_name(url)
        (folder / name).write_text(f"# from {url}\napiVersion: v1\nkind: List\nitems: []\n")
        index[url] = name
        files[url] = folder / name
    index_file.write_text(json.dumps(index, indent=1, sort_keys=True))
    return files


def releases_of(registrations):
    return {reg.inputs["name"]: reg for reg in registrations if reg.type == "kubernetes:helm.sh/v3:Release"}


def ingress_registrations(catalog):
    registrations, _ = record_program(replace(KIND, lab="ingress"), catalog)
    return registrations


# --- charts: only at the pinned version --------------------------------------------------------------

def test_a_chart_at_the_pinned_version_is_installed_from_the_bundle(catalog, bundle_root):
    tgz = put_chart(bundle_root, TRAEFIK)
    release = releases_of(ingress_registrations(catalog))["traefik"]
    # A local chart: the path and no repository (the provider only looks on disk without one); the
    # version stays as pinned (the provider does not use it for a local chart, `lab footprint` reads it).
    assert release.inputs["chart"] == str(tgz)
    assert release.inputs["version"] == "41.3.0" and "repositoryOpts" not in release.inputs


def test_the_render_names_the_bundle_file_relative_to_the_bundle(catalog, bundle_root):
    put_chart(bundle_root, TRAEFIK)
    document = render("ingress", KIND, catalog)
    (release,) = document["releases"]
    assert {k: release[k] for k in ("chart", "repo", "version", "from")} == {
        "chart": "traefik", "repo": "https://traefik.github.io/charts", "version": "41.3.0",
        "from": "bundle:charts/traefik-41.3.0.tgz"}
    assert str(bundle_root) not in json.dumps(document) and str(Path.home()) not in json.dumps(document)


@pytest.mark.parametrize("inside, said", [
    ({"version": "41.2.0"}, "holds traefik 41.2.0, not the pinned traefik 41.3.0"),
    ({"name": "traefik-crds"}, "holds traefik-crds 41.3.0, not the pinned traefik 41.3.0"),
    ({"root_folder": "chart"}, "no traefik/Chart.yaml inside"),
])
def test_a_bundle_file_whose_chart_yaml_differs_from_the_pin_is_ignored_with_a_warning(
        catalog, bundle_root, capsys, inside, said):
    put_chart(bundle_root, TRAEFIK, **inside)  # the file name says 41.3.0, the archive does not
    release = releases_of(ingress_registrations(catalog))["traefik"]
    assert (release.inputs["chart"], release.inputs["version"]) == ("traefik", "41.3.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://traefik.github.io/charts"
    err = capsys.readouterr().err
    assert "warning: bundle bundle:charts/traefik-41.3.0.tgz" in err and said in err
    assert "from" not in render("ingress", KIND, catalog)["releases"][0]


def test_a_corrupt_archive_is_ignored_with_a_warning(catalog, bundle_root, capsys):
    path = bundle_root / "charts" / "traefik-41.3.0.tgz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a gzip")
    assert releases_of(ingress_registrations(catalog))["traefik"].inputs["chart"] == "traefik"
    assert "not a readable chart archive" in capsys.readouterr().err


def test_without_a_bundle_the_release_and_render_are_as_before(catalog):
    release = releases_of(ingress_registrations(catalog))["traefik"]
    assert (release.inputs["chart"], release.inputs["version"]) == ("traefik", "41.3.0")
    (rendered,) = render("ingress", KIND, catalog)["releases"]
    assert "from" not in rendered and rendered["repo"] == "https://traefik.github.io/charts"


# --- manifests: through index.json -----------------------------------------------------------------

def test_the_gateway_api_manifest_comes_from_the_index(catalog, bundle_root):
    files = put_manifests(bundle_root, [STANDARD_INSTALL_URL])
    (config_file,) = [r for r in ingress_registrations(catalog) if r.type == "kubernetes:yaml/v2:ConfigFile"]
    assert config_file.inputs["file"] == str(files[STANDARD_INSTALL_URL])
    (manifest,) = render("ingress", KIND, catalog)["manifests"]
    assert manifest == {"name": "gateway-api-crds", "source": STANDARD_INSTALL_URL,
                        "from": f"bundle:manifests/{files[STANDARD_INSTALL_URL].name}"}


def test_snapshot_crds_bundled_in_part_say_which_come_from_the_network(tmp_path, bundle_root):
    files = put_manifests(bundle_root, SNAPSHOT_CRD_URLS[:2])
    document = render_with_layers(tmp_path / "labs", ["storage"])
    (crds,) = [m for m in document["manifests"] if m["name"] == "snapshot-crds"]
    assert crds["source"] == SNAPSHOT_CRD_URLS
    assert crds["from"] == [f"bundle:manifests/{files[url].name}" for url in SNAPSHOT_CRD_URLS[:2]] + ["network"]


def test_an_index_naming_a_missing_file_leaves_the_url_with_a_warning(catalog, bundle_root, capsys):
    put_manifests(bundle_root, [STANDARD_INSTALL_URL])[STANDARD_INSTALL_URL].unlink()
    (manifest,) = render("ingress", KIND, catalog)["manifests"]
    assert manifest == {"name": "gateway-api-crds", "source": STANDARD_INSTALL_URL}
    assert "but the file is missing: the URL is used" in capsys.readouterr().err


def test_an_index_entry_outside_the_manifests_folder_is_refused(bundle_root, capsys):
    (bundle_root / "manifests").mkdir(parents=True)
    (bundle_root / "secret.yaml").write_text("x: 1\n")
    (bundle_root / "manifests" / "index.json").write_text(json.dumps({STANDARD_INSTALL_URL: "../secret.yaml"}))
    assert offline.manifest_source(STANDARD_INSTALL_URL) == STANDARD_INSTALL_URL
    assert "not a file name beside it" in capsys.readouterr().err


# --- what the layers need, and --check -------------------------------------------------------------

def full_bundle(root: Path) -> offline.Needs:
    needs, _ = offline.needs_of("all")
    for pin in needs.charts:
        put_chart(root, pin)
    put_manifests(root, needs.sorted_manifests())
    return needs


def test_the_layers_needs_cover_every_release_and_manifest_the_program_registers(catalog, bundle_root):
    """needs_of (module-level pins and manifest URLs) against a render of every lab on kind, the target
    that uses them all; with a complete bundle, every release and manifest of the render says so."""
    needs = full_bundle(bundle_root)
    pins = {(pin.chart, pin.repo, pin.version) for pin in needs.charts}
    for document in render("all", KIND, catalog):
        lab_needs, _ = offline.needs_of(document["lab"], catalog)
        lab_pins = {(pin.chart, pin.repo, pin.version) for pin in lab_needs.charts}
        for release in document["releases"]:
            key = (release["chart"], release["repo"], release["version"])
            assert key in pins and key in lab_pins, (document["lab"], key)
            assert release["from"] == f"bundle:charts/{release['chart']}-{release['version']}.tgz"
        for manifest in document["manifests"]:
            if manifest["source"] is None:  # a ConfigGroup of objects the layer writes itself
                continue
            urls = manifest["source"] if isinstance(manifest["source"], list) else [manifest["source"]]
            assert set(urls) <= set(needs.manifests) and set(urls) <= set(lab_needs.manifests), manifest
            assert "network" not in json.dumps(manifest["from"])
    assert {"traefik", "kube-prometheus-stack", "kwok", "stage-fast", "cluster-autoscaler", "istiod"} <= {
        pin.chart for pin in needs.charts}


def test_check_names_each_missing_item_and_exits_1(bundle_root):
    put_chart(bundle_root, TRAEFIK, version="41.2.0")  # a wrong version counts as missing
    lines: list[str] = []
    missing = offline.check("ingress", say=lines.append)
    assert missing == lines[:-1] and len(missing) == 2
    assert missing[0] == ("missing: chart traefik 41.3.0 (charts/traefik-41.3.0.tgz, from "
                          "https://traefik.github.io/charts) for layer ingress")
    assert missing[1] == f"missing: manifest {STANDARD_INSTALL_URL} for layer gateway-api"
    assert lines[-1].startswith(f"bundle {bundle_root}: 2 of 2 items for lab 07-ingress missing")


def test_check_of_a_complete_bundle_says_so_in_one_line(bundle_root):
    full_bundle(bundle_root)
    lines: list[str] = []
    assert offline.check("all", say=lines.append) == []
    (line,) = lines
    assert line.startswith(f"bundle {bundle_root}: complete for all labs: ") and "charts and 4 manifests" in line


def test_invoke_bundle_check_on_the_command_line(bundle_root):
    put_manifests(bundle_root, [STANDARD_INSTALL_URL])
    done = subprocess.run([sys.executable, "-m", "invoke", "bundle", "--check", "--lab=ingress"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == ("missing: chart traefik 41.3.0 (charts/traefik-41.3.0.tgz, from "
                                           "https://traefik.github.io/charts) for layer ingress")
    assert len(done.stdout.splitlines()) == 2
    put_chart(bundle_root, TRAEFIK)
    done = subprocess.run([sys.executable, "-m", "invoke", "bundle", "--check", "--lab=7"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "complete for lab 07-ingress: 1 chart and 1 manifest" in done.stdout


# --- invoke bundle: downloads over real HTTP ---------------------------------------------------------

class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A chart repository and a release page on 127.0.0.1 (files under the returned folder)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def serve_repo(served: Path, chart: str, version: str, url: str | None = None, digest: str | None = None,
               data: bytes | None = None) -> bytes:
    """charts/index.yaml naming `chart` `version` (url relative unless given) and the .tgz it points at."""
    data = data or chart_tgz(chart, version)
    (served / "charts" / "pkg").mkdir(parents=True, exist_ok=True)
    (served / "charts" / "pkg" / f"{chart}-{version}.tgz").write_bytes(data)
    entry = {"name": chart, "version": version, "urls": [url or f"pkg/{chart}-{version}.tgz"],
             "digest": hashlib.sha256(data).hexdigest() if digest is None else digest}
    other = {"name": chart, "version": "0.0.1", "urls": ["pkg/old.tgz"]}
    index = {"apiVersion": "v1", "entries": {chart: [other, entry]}}
    (served / "charts" / "index.yaml").write_text(yaml.safe_dump(index))
    return data


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".part")


def test_download_writes_charts_and_manifests_in_the_bundle_layout(server, bundle_root):
    served, base = server
    data = serve_repo(served, "demo", "1.2.3")
    (served / "releases").mkdir()
    (served / "releases" / "install.yaml").write_text("apiVersion: v1\nkind: List\nitems: []\n")
    pin = ChartPin("demo", f"{base}/charts", "1.2.3")
    url = f"{base}/releases/install.yaml"
    needs = offline.Needs(charts={pin: {"demo"}}, manifests={url: {"demo"}})
    lines: list[str] = []
    offline.download(None, needs, say=lines.append)
    assert (bundle_root / "charts" / "demo-1.2.3.tgz").read_bytes() == data
    assert (bundle_root / "charts" / "demo-1.2.3.tgz").stat().st_mode & 0o777 == 0o644
    index = json.loads((bundle_root / "manifests" / "index.json").read_text())
    assert index == {url: offline.manifest_file_name(url)}
    assert (bundle_root / "manifests" / index[url]).read_text().startswith("apiVersion: v1")
    assert lines[0] == (f"chart demo 1.2.3: {base}/charts/pkg/demo-1.2.3.tgz -> charts/demo-1.2.3.tgz "
                        f"({len(data) // 1024} KiB, sha256 checked)")
    assert lines[1].startswith(f"manifest {url} -> manifests/{index[url]}")
    assert lines[2] == f"bundle {bundle_root}: 1 chart and 1 manifest (2 downloaded, 0 already there)"
    assert leftovers(bundle_root) == []
    # What was downloaded is what the program then uses.
    assert offline.chart_source(pin) == bundle_root / "charts" / "demo-1.2.3.tgz"
    assert offline.manifest_source(url) == str(bundle_root / "manifests" / index[url])
    # A second run downloads nothing (the repository may be gone by then).
    (served / "charts" / "index.yaml").unlink()
    lines.clear()
    offline.download(None, needs, say=lines.append)
    assert lines[:2] == ["chart demo 1.2.3: already in the bundle (charts/demo-1.2.3.tgz)",
                         f"manifest {url}: already in the bundle (manifests/{index[url]})"]


def test_download_follows_an_absolute_chart_url_and_a_repo_url_with_a_slash(server, bundle_root):
    served, base = server
    serve_repo(served, "demo", "1.2.3", url=f"{base}/charts/pkg/demo-1.2.3.tgz")
    offline.download(bundle_root, offline.Needs(charts={ChartPin("demo", f"{base}/charts/", "1.2.3"): {"x"}}),
                     say=lambda line: None)
    assert offline.Bundle(bundle_root).chart_file("demo", "1.2.3")


def test_a_digest_mismatch_is_one_line_and_writes_nothing(server, bundle_root):
    served, base = server
    serve_repo(served, "demo", "1.2.3", digest="0" * 64)
    with pytest.raises(LabsError) as raised:
        offline.download(None, offline.Needs(charts={ChartPin("demo", f"{base}/charts", "1.2.3"): {"x"}}),
                         say=lambda line: None)
    message = str(raised.value)
    assert "\n" not in message and f"{base}/charts/pkg/demo-1.2.3.tgz" in message and "digest" in message
    assert not (bundle_root / "charts" / "demo-1.2.3.tgz").exists() and leftovers(bundle_root) == []


def test_a_404_is_one_line_naming_the_url_and_leaves_nothing_behind(server, bundle_root):
    served, base = server
    serve_repo(served, "demo", "1.2.3")
    (served / "charts" / "pkg" / "demo-1.2.3.tgz").unlink()
    missing_manifest = f"{base}/releases/gone.yaml"
    with pytest.raises(LabsError) as raised:
        offline.download(None, offline.Needs(charts={ChartPin("demo", f"{base}/charts", "1.2.3"): {"x"}}),
                         say=lambda line: None)
    assert str(raised.value).startswith(f"cannot download {base}/charts/pkg/demo-1.2.3.tgz: HTTP 404")
    assert "\n" not in str(raised.value) and "check the pin" in str(raised.value)
    with pytest.raises(LabsError, match=f"cannot download {missing_manifest}: HTTP 404"):
        offline.download(None, offline.Needs(manifests={missing_manifest: {"x"}}), say=lambda line: None)
    assert sorted(p.name for p in bundle_root.rglob("*") if p.is_file()) == []


def test_a_version_the_index_lacks_is_named(server, bundle_root):
    served, base = server
    serve_repo(served, "demo", "1.2.3")
    with pytest.raises(LabsError, match=r"index.yaml has no chart demo at version 9.9.9: nothing written"):
        offline.download(None, offline.Needs(charts={ChartPin("demo", f"{base}/charts", "9.9.9"): {"x"}}),
                         say=lambda line: None)


def test_an_archive_whose_chart_yaml_is_another_version_is_refused(server, bundle_root):
    served, base = server
    serve_repo(served, "demo", "1.2.3", data=chart_tgz("demo", "1.2.4"))
    with pytest.raises(LabsError, match="holds demo 1.2.4, not demo 1.2.3: nothing written"):
        offline.download(None, offline.Needs(charts={ChartPin("demo", f"{base}/charts", "1.2.3"): {"x"}}),
                         say=lambda line: None)
    assert not (bundle_root / "charts").exists() or leftovers(bundle_root) == []


def test_an_unreachable_server_is_one_line_with_the_fix(server, bundle_root):
    _, base = server
    closed = "http://127.0.0.1:9/charts"  # discard port: nothing listens there
    with pytest.raises(LabsError) as raised:
        offline.download(None, offline.Needs(charts={ChartPin("demo", closed, "1.0.0"): {"x"}}),
                         say=lambda line: None)
    message = str(raised.value)
    assert message.startswith(f"cannot download {closed}/index.yaml: ") and "\n" not in message
    assert "check this machine's internet access" in message


def test_the_invoke_task_downloads_and_turns_a_failure_into_one_error_line(server, bundle_root, monkeypatch, capsys):
    import tasks

    served, base = server
    serve_repo(served, "demo", "1.2.3")
    other = bundle_root.parent / "elsewhere"
    needs = offline.Needs(charts={ChartPin("demo", f"{base}/charts", "1.2.3"): {"x"}})
    monkeypatch.setattr(offline, "needs_of", lambda ref="all", catalog=None: (needs, "all labs"))
    tasks.bundle.body(Context(), bundle=str(other))  # --bundle=DIR wins over LABS_BUNDLE
    assert (other / "charts" / "demo-1.2.3.tgz").is_file() and not bundle_root.exists()
    assert capsys.readouterr().out.splitlines()[0].startswith("chart demo 1.2.3: ")
    needs.charts = {ChartPin("demo", f"{base}/charts", "2.0.0"): {"x"}}
    with pytest.raises(Exit) as raised:
        tasks.bundle.body(Context(), bundle=str(other))
    message = str(raised.value.message)
    assert raised.value.code == 1 and message.startswith("error: ") and "\n" not in message


# --- images list -----------------------------------------------------------------------------------

def test_images_list_reads_a_bundled_chart_without_reference_data(catalog, bundle_root, tmp_path, monkeypatch):
    from infra.images import lab_images

    empty = tmp_path / "no-charts"
    empty.mkdir()
    monkeypatch.setenv("LABS_CHARTS_DIR", str(empty))
    put_chart(bundle_root, TRAEFIK, values={"image": {"registry": "docker.io", "repository": "traefik",
                                                      "tag": "v3.7.11-bundled"}})
    report = lab_images("ingress", KIND, catalog)
    image = report.images["docker.io/library/traefik:v3.7.11-bundled"]
    assert report.reference_data and not image.from_app_version
    assert image.sources == {"release traefik (traefik 41.3.0, bundle:charts/traefik-41.3.0.tgz)"}


def test_a_subchart_is_read_from_its_parent_in_the_bundle(bundle_root):
    """As a folder (charts built from git) or as a packaged .tgz (charts downloaded from a repository)."""
    parent = ChartPin("kube-prometheus-stack", "https://example.invalid", "88.5.3")
    put_chart(bundle_root, parent, subcharts={"grafana": "12.11.1"})
    texts = offline.Bundle(bundle_root).chart_texts("grafana", "12.11.1")
    assert yaml.safe_load(texts["values.yaml"]) == {"image": {"tag": "grafana-from-bundle"}}
    assert offline.Bundle(bundle_root).chart_texts("grafana", "12.0.0") is None
    packaged = chart_tgz("kube-state-metrics", "8.4.0", values={"image": {"tag": "ksm-packaged"}})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for path, data in {"loki/Chart.yaml": b"name: loki\nversion: 18.11.0\n",
                           "loki/charts/kube-state-metrics-8.4.0.tgz": packaged}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    (bundle_root / "charts" / "loki-18.11.0.tgz").write_bytes(buffer.getvalue())
    texts = offline.Bundle(bundle_root).chart_texts("kube-state-metrics", "8.4.0")
    assert yaml.safe_load(texts["values.yaml"]) == {"image": {"tag": "ksm-packaged"}}


def test_source_summary_counts_what_the_bundle_serves(bundle_root):
    assert offline.source_summary(["gateway-api", "ingress"]) == ""
    put_chart(bundle_root, TRAEFIK)
    assert offline.source_summary(["gateway-api", "ingress"]) == (
        f"note: 1 of 1 charts and 0 of 1 remote manifests from the offline bundle {bundle_root}; "
        "the rest from the network")


# --- the local chart cache (issue 16): bundle, then cache, then the network that fills the cache --------

@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "chart-cache"
    monkeypatch.setenv("LABS_CACHE_DIR", str(root))
    return root


def test_a_cached_chart_is_installed_when_no_bundle_holds_it_and_the_bundle_wins(catalog, bundle_root, cache_root):
    cached = put_chart(cache_root, TRAEFIK)
    release = releases_of(ingress_registrations(catalog))["traefik"]
    assert release.inputs["chart"] == str(cached) and "repositoryOpts" not in release.inputs
    (released,) = render("ingress", KIND, catalog)["releases"]
    assert (released["chart"], released["version"], released["from"]) == ("traefik", "41.3.0",
                                                                           "cache:charts/traefik-41.3.0.tgz")
    bundled = put_chart(bundle_root, TRAEFIK)
    assert offline.chart_source(TRAEFIK) == bundled


def test_up_fills_the_cache_once_and_then_needs_no_network(server, bundle_root, cache_root):
    served, base = server
    data = serve_repo(served, "demo", "1.2.3")
    pin = ChartPin("demo", f"{base}/charts", "1.2.3")
    assert offline.chart_source(pin) is None  # nothing local yet: the repository
    lines: list[str] = []
    offline.cache_charts([pin], lines.append)
    assert (cache_root / "charts" / "demo-1.2.3.tgz").read_bytes() == data
    assert lines == [f"chart cache: chart demo 1.2.3: {base}/charts/pkg/demo-1.2.3.tgz -> charts/demo-1.2.3.tgz "
                     f"({len(data) // 1024} KiB, sha256 checked)"]
    assert offline.chart_source(pin) == cache_root / "charts" / "demo-1.2.3.tgz"
    # The repository gone (a Wi-Fi blip): the next up asks nothing of it and installs from the cache.
    (served / "charts" / "index.yaml").unlink()
    lines.clear()
    offline.cache_charts([pin], lines.append)
    assert lines == [] and offline.chart_source(pin) == cache_root / "charts" / "demo-1.2.3.tgz"
    assert leftovers(cache_root) == []


def test_a_chart_the_bundle_holds_is_not_downloaded_into_the_cache(server, bundle_root, cache_root):
    _, base = server  # serves nothing: a download would fail
    pin = ChartPin("demo", f"{base}/charts", "1.2.3")
    put_chart(bundle_root, pin)
    lines: list[str] = []
    offline.cache_charts([pin], lines.append)
    assert lines == [] and not cache_root.exists()


def test_a_chart_that_cannot_be_cached_is_left_to_its_repository_in_one_line(server, cache_root):
    closed = "http://127.0.0.1:9/charts"  # discard port: nothing listens there
    pin = ChartPin("demo", closed, "1.0.0")
    lines: list[str] = []
    offline.cache_charts([pin], lines.append)
    (line,) = lines
    assert line.startswith(f"note: chart demo 1.0.0 not cached (cannot download {closed}/index.yaml: ")
    assert line.endswith(f"Helm fetches it from {closed}") and "\n" not in line
    assert offline.chart_source(pin) is None and leftovers(cache_root) == []


def test_the_cache_holds_the_charts_of_the_labs_layers(catalog):
    pins = offline.lab_charts("ingress")
    assert TRAEFIK in pins and offline.lab_charts("") == []
