"""`invoke images list`: the images a lab needs, from the render, the chart reference data and the repo.

Offline: the render runs under Pulumi's mock runtime; ../shared/charts gives the charts' default
values (tests that need it skip without it), and LABS_CHARTS_DIR pointed at an empty folder plays
a machine without it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import lab_yaml, write_lab
from infra.catalog import Catalog
from infra.images import (APP_VERSIONS, CHART_RULES, ISTIO_CHARTS, KPS_SUBCHARTS, ImageReport, chart_images,
                          container_images, lab_images, normalize)
from infra.layers import LAYERS
from infra.settings import StackSettings
from tests.test_bundle import server  # noqa: F401 - a chart repository on 127.0.0.1

TRAEFIK = "docker.io/library/traefik:v3.7.11"
WHOAMI = "docker.io/traefik/whoami:v1.11.0"
EVERY_LAYER = sorted(LAYERS)


@pytest.fixture
def no_reference_data(tmp_path, monkeypatch):
    """No reference data, an empty bundle and chart cache, and no network: every download is refused."""
    empty = tmp_path / "no-charts"
    empty.mkdir()
    monkeypatch.setenv("LABS_CHARTS_DIR", str(empty))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there: connection refused
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    return empty


@pytest.fixture
def ingress_catalog(copy_of_real_lab) -> Catalog:
    return Catalog.load(copy_of_real_lab)


@pytest.fixture(scope="module")
def every_layer_report(tmp_path_factory):
    """Two throw-away labs that together need every layer, listed as `all`."""
    from infra.images import charts_dir

    if not (charts_dir() / "traefik").is_dir():
        pytest.skip("../shared reference data is absent")
    root = tmp_path_factory.mktemp("labs")
    write_lab(root, "97-web", lab_yaml("web", layers="[ingress, loadbalancer, metrics, storage, autoscaler]"))
    write_lab(root, "98-observe", lab_yaml("observe", layers="[monitoring, alerting, logging, mesh]", slide="Observe"))
    return lab_images("all", StackSettings(), Catalog.load(root))


@pytest.mark.parametrize("ref, normalized", [
    ("traefik:v3.7.11", TRAEFIK),
    ("busybox", "docker.io/library/busybox:latest"),
    ("traefik/whoami:v1.11.0", WHOAMI),
    ("docker.io/istio/pilot:1.30.3", "docker.io/istio/pilot:1.30.3"),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
    ("quay.io/kiali/kiali:v2.29.0", "quay.io/kiali/kiali:v2.29.0"),
    ("localhost:5000/app:1", "localhost:5000/app:1"),
    ("registry.k8s.io/pause@sha256:abc", "registry.k8s.io/pause@sha256:abc"),
    ("quay.io/x/y:v1@sha256:abc", "quay.io/x/y:v1@sha256:abc"),
])
def test_references_are_normalised_as_containerd_pulls_them(ref, normalized):
    assert normalize(ref) == normalized


def test_the_ingress_lab_lists_traefiks_image_and_its_manifests_images(ingress_catalog, shared):
    report = lab_images("ingress", StackSettings(), ingress_catalog)
    assert report.refs == [TRAEFIK, WHOAMI]  # sorted, one entry per image
    assert report.images[TRAEFIK].sources == {"release traefik (traefik 41.3.0)"}
    assert not report.images[TRAEFIK].from_app_version and report.reference_data and not report.uncovered
    # whoami is in both blue and green: one entry, both files as sources.
    assert {source.rsplit("/", 1)[-1] for source in report.images[WHOAMI].sources} >= {"10-blue.yaml", "20-green.yaml"}


def test_without_reference_data_the_chart_image_comes_from_appversion_and_says_so(ingress_catalog, no_reference_data):
    report = lab_images("ingress", StackSettings(), ingress_catalog)
    assert TRAEFIK in report.refs and report.images[TRAEFIK].from_app_version
    assert not report.images[WHOAMI].from_app_version  # a manifest names its tag itself
    assert report.reference_data is False


def test_manifest_and_solution_images_appear_deduplicated_with_every_container_kind(tmp_path):
    lab = write_lab(tmp_path / "labs", "98-jobs", lab_yaml("jobs", layers="[]", slide="Jobs"))
    (lab / "manifests" / "10-app.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
         "spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": "busybox:1.36"}],
                                        "containers": [{"name": "app", "image": "nginxinc/nginx-unprivileged:1.28-alpine"}]}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-an-image"}, "data": {"image": "x:1"}},
    ]))
    (lab / "solution" / "sub").mkdir()
    (lab / "solution" / "sub" / "20-cron.yml").write_text(yaml.safe_dump(
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
         "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "containers": [{"name": "tick", "image": "busybox:1.36"}], "restartPolicy": "Never"}}}}}}))
    report = lab_images("jobs", StackSettings(), Catalog.load(tmp_path / "labs"))
    assert report.refs == ["docker.io/library/busybox:1.36", "docker.io/nginxinc/nginx-unprivileged:1.28-alpine"]
    assert len(report.images["docker.io/library/busybox:1.36"].sources) == 2
    assert list(report.by_registry()) == ["docker.io"]


def test_a_broken_manifest_is_one_line_naming_the_file(tmp_path):
    from infra.errors import LabsError

    lab = write_lab(tmp_path / "labs", "98-bad", lab_yaml("bad", layers="[]", slide="Bad"))
    (lab / "manifests" / "10-bad.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(LabsError, match="10-bad.yaml: not valid YAML"):
        lab_images("bad", StackSettings(), Catalog.load(tmp_path / "labs"))


def test_container_images_reads_pods_templates_and_ignores_other_image_fields():
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}],
                                   "ephemeralContainers": [{"name": "d", "image": "d:1"}]}}
    assert container_images(pod) == ["a:1", "d:1"]
    assert container_images({"kind": "ConfigMap", "data": {"image": "x:1"}}) == []


def test_all_labs_list_istio_and_kube_prometheus_stack_images_grouped_by_registry(every_layer_report):
    refs = set(every_layer_report.refs)
    assert {
        TRAEFIK,
        "docker.io/istio/pilot:1.30.3-distroless",  # ambient profile: distroless variant
        "docker.io/istio/proxyv2:1.30.3-distroless",  # sidecars and waypoints istiod creates
        "docker.io/istio/install-cni:1.30.3-distroless",
        "docker.io/istio/ztunnel:1.30.3-distroless",
        "quay.io/kiali/kiali:v2.29.0",
        "quay.io/prometheus-operator/prometheus-operator:v0.93.1",
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
        "quay.io/prometheus/prometheus:v3.14.0-distroless",
        "quay.io/prometheus/alertmanager:v0.34.0",
        "docker.io/grafana/grafana:13.2.0",
        "quay.io/kiwigrid/k8s-sidecar:2.10.1",  # the stack turns grafana's dashboard sidecar on
        "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0",
        "quay.io/prometheus/node-exporter:v1.12.1-distroless",
        "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7",
        "docker.io/grafana/loki:3.7.6",
        "docker.io/grafana/alloy:v1.18.1",
        "quay.io/metallb/controller:v0.16.1",
        "quay.io/metallb/speaker:v0.16.1",
        "registry.k8s.io/metrics-server/metrics-server:v0.8.1",
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1",  # the layer's pin, not the chart's v1.35.0
        "registry.k8s.io/kwok/kwok:v0.8.0",
        "docker.io/axllent/mailpit:v1.31.2",  # an object the alerting layer creates itself
        "registry.k8s.io/sig-storage/csi-provisioner:v6.3.0",
    } <= refs
    assert not any("registry.istio.io/testing" in ref or ref.endswith(":latest") for ref in refs)
    assert list(every_layer_report.by_registry()) == ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"]
    assert not every_layer_report.uncovered


def test_what_our_values_turn_off_is_not_listed(every_layer_report):
    refs = " ".join(every_layer_report.refs)
    for absent in ("memcached", "loki-canary", "nginx-unprivileged", "windows-exporter", "thanos", "frr",
                   "addon-resizer", "kube-rbac-proxy", "loki-helm-test", "registry.k8s.io/kubectl"):
        assert absent not in refs, absent


def test_chart_defaults_drive_the_conditions(shared):
    """Loki with no values of ours runs its caches, canary and gateway; with the layer's values, none."""
    from infra.layers.base import LayerContext
    from infra.layers.logging import loki_values

    ctx = LayerContext(settings=StackSettings(), capabilities=_kind_caps(), layers=("monitoring", "logging"))
    defaults, ours = ImageReport(labs=[]), ImageReport(labs=[])
    chart_images(defaults, "loki", "18.11.0", {}, "test")
    chart_images(ours, "loki", "18.11.0", loki_values(ctx), "test")
    assert {"docker.io/library/memcached:1.6.45-alpine", "docker.io/grafana/loki-canary:3.7.6",
            "docker.io/nginxinc/nginx-unprivileged:1.31-alpine"} <= set(defaults.refs)
    assert ours.refs == ["docker.io/grafana/loki:3.7.6"]


def test_istio_without_a_profile_has_no_variant(shared):
    report = ImageReport(labs=[])
    chart_images(report, "ztunnel", "1.30.3", {"hub": "docker.io/istio", "tag": "1.30.3"}, "test")
    assert report.refs == ["docker.io/istio/ztunnel:1.30.3"]


def test_an_unknown_chart_is_reported_not_skipped():
    report = ImageReport(labs=[])
    chart_images(report, "mystery", "1.0.0", {}, "test")
    assert report.uncovered == {"mystery 1.0.0"} and not report.images


def test_the_appversion_table_matches_the_charts_reference_data(shared):
    for (chart, version), app in APP_VERSIONS.items():
        data = yaml.safe_load((shared / "charts" / chart / version / "Chart.yaml").read_text())
        assert str(data["appVersion"]) == app, chart
    for chart in ISTIO_CHARTS:
        assert (shared / "charts" / chart / "1.30.3" / "values.yaml").is_file()


def test_the_stack_subcharts_match_its_chart_yaml(shared):
    data = yaml.safe_load((shared / "charts" / "kube-prometheus-stack" / "88.5.3" / "Chart.yaml").read_text())
    dependencies = {dep["name"]: dep for dep in data["dependencies"]}
    for chart, version, key, condition, _ in KPS_SUBCHARTS:
        assert dependencies[chart]["condition"] == condition
        assert dependencies[chart]["version"] in (version, "0.12.*"), chart
        assert key == dependencies[chart].get("alias", chart)


def test_every_chart_the_layers_pin_has_an_image_rule_and_an_appversion():
    import importlib

    from infra.layers import ChartPin

    pins = set()
    for info in LAYERS.values():
        module = importlib.import_module(info.component.partition(":")[0])
        pins |= {(v.chart, v.version) for v in vars(module).values() if isinstance(v, ChartPin)}
    assert pins, "no ChartPin found in the layer modules"
    for chart, version in pins:
        assert chart in CHART_RULES, chart
        assert (chart, version) in APP_VERSIONS or chart in ISTIO_CHARTS, (chart, version)


def _kind_caps():
    from infra.clusters.capabilities import kind_capabilities

    return kind_capabilities(StackSettings())


# --- the CLI ---------------------------------------------------------------------------------------------

def _invoke(*argv):
    from invoke import Program

    import tasks

    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


def test_images_list_prints_images_grouped_by_registry(monkeypatch, capsys, ingress_catalog, shared):
    monkeypatch.setattr("infra.catalog.Catalog.load", classmethod(lambda cls, labs_dir=None: ingress_catalog))
    _invoke("images", "list", "--lab=ingress", "--sources")
    out = capsys.readouterr().out
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[0] == "docker.io (2)"
    assert lines[1].startswith(f"  {TRAEFIK}  <- release traefik (traefik 41.3.0)")
    assert lines[2].startswith(f"  {WHOAMI}  <- ")
    assert "2 images from 1 registries (07-ingress, target kind)" in out


def test_images_list_without_reference_data_marks_derived_tags(monkeypatch, capsys, ingress_catalog, no_reference_data):
    monkeypatch.setattr("infra.catalog.Catalog.load", classmethod(lambda cls, labs_dir=None: ingress_catalog))
    _invoke("images.list", "--lab=ingress")
    captured = capsys.readouterr()
    assert f"{TRAEFIK}  *appVersion" in captured.out
    err = " ".join(captured.err.split())
    assert "note: 1 chart(s) could not be read, e.g. traefik 41.3.0: cannot download https://traefik.github.io/charts/" in err
    assert "1 images marked *appVersion" in err


@pytest.mark.parametrize("argv, message", [
    (("images", "list"), "`images list` needs --lab=<slug|number|all>"),
    (("images", "cache"), "say `invoke images cache-up` or `invoke images cache-down`"),
    (("images", "fly"), "unknown action 'fly'"),
    (("images", "list", "--lab=ingres"), "unknown lab 'ingres'"),
])
def test_images_bad_input_is_one_line(capsys, argv, message, monkeypatch, ingress_catalog):
    monkeypatch.setattr("infra.catalog.Catalog.load", classmethod(lambda cls, labs_dir=None: ingress_catalog))
    with pytest.raises(SystemExit) as exit_:
        _invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


# --- a chart nowhere on this machine: downloaded once from its repository, cached by version ----------

def _package(shared: Path, chart: str, version: str, subcharts=()) -> bytes:
    """The chart as its repository serves it (`helm package` layout), from the reference data's own
    Chart.yaml and values.yaml; subcharts under <chart>/charts/<name>/. A chart whose git Chart.yaml
    carries a placeholder version (Istio's 1.0.0) says its release, as the published package does."""
    import io
    import tarfile

    def chart_yaml(name: str, at: str) -> bytes:
        meta = yaml.safe_load((shared / name / at / "Chart.yaml").read_text())
        return yaml.safe_dump({**meta, "version": at}).encode()

    files = {f"{chart}/Chart.yaml": chart_yaml(chart, version),
             f"{chart}/values.yaml": (shared / chart / version / "values.yaml").read_bytes()}
    for sub, sub_version in subcharts:
        files[f"{chart}/charts/{sub}/Chart.yaml"] = chart_yaml(sub, sub_version)
        files[f"{chart}/charts/{sub}/values.yaml"] = (shared / sub / sub_version / "values.yaml").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_chart_nowhere_here_is_downloaded_once_and_lists_what_the_reference_data_lists(shared, server, tmp_path,
                                                                                           monkeypatch):
    """kube-prometheus-stack with the monitoring layer's values, its subcharts inside its archive: the
    images of the downloaded chart are those of the reference data (Prometheus, Alertmanager, the config
    reloader, node-exporter's distroless tag), none derived from appVersion; a second run reads the cache."""
    from infra.layers.monitoring import PIN, kube_prometheus_stack_values
    from infra.paths import cache_dir
    from tests.layer_helpers import kind_capabilities
    from tests.test_bundle import serve_repo

    charts = shared / "charts"
    served, base = server
    subcharts = [(chart, version) for chart, version, *_ in KPS_SUBCHARTS if (charts / chart / version).is_dir()]
    serve_repo(served, PIN.chart, PIN.version, data=_package(charts, PIN.chart, PIN.version, subcharts))
    empty = tmp_path / "no-charts"
    empty.mkdir()
    values = kube_prometheus_stack_values(kind_capabilities())

    def listed(root, repo="") -> ImageReport:
        report = ImageReport(labs=["monitoring"])
        chart_images(report, PIN.chart, PIN.version, values, "release", root, repo)
        return report

    reference = listed(charts)
    downloaded = listed(empty, f"{base}/charts")
    assert downloaded.refs == reference.refs and downloaded.reference_data and not downloaded.unavailable
    assert not any(image.from_app_version for image in downloaded.images.values())
    for wanted in ("quay.io/prometheus/prometheus:", "quay.io/prometheus/alertmanager:",
                   "quay.io/prometheus-operator/prometheus-config-reloader:", "quay.io/prometheus/node-exporter:"):
        assert any(ref.startswith(wanted) for ref in downloaded.refs), wanted
    assert any(ref.endswith("-distroless") and "node-exporter" in ref for ref in downloaded.refs)
    assert (cache_dir() / "charts" / f"{PIN.chart}-{PIN.version}.tgz").is_file()
    (served / "charts" / "index.yaml").unlink()  # the repository is gone: the cache answers
    assert listed(empty, f"{base}/charts").refs == reference.refs


def test_every_pinned_chart_downloaded_lists_what_the_reference_data_lists(shared, server, tmp_path):
    """Every release of every layer, its chart served by a repository on 127.0.0.1 (one index for all),
    with the values the layers pass: the images from the downloaded charts are the reference data's."""
    import hashlib
    from dataclasses import replace

    from infra.render import render_lab

    charts = shared / "charts"
    served, base = server
    root = tmp_path / "labs"
    write_lab(root, "97-web", lab_yaml("web", layers="[ingress, loadbalancer, metrics, storage, autoscaler]"))
    write_lab(root, "98-observe", lab_yaml("observe", layers="[monitoring, alerting, logging, mesh]", slide="Observe"))
    catalog = Catalog.load(root)
    releases = [release for lab in catalog.labs
                for release in render_lab(lab, replace(StackSettings(), lab=lab.slug), catalog)["releases"]]
    entries: dict[str, list] = {}
    (served / "repo").mkdir()
    for chart, version in sorted({(release["chart"], release["version"]) for release in releases}):
        subcharts = [(sub, at) for sub, at, *_ in KPS_SUBCHARTS] if chart == "kube-prometheus-stack" else []
        data = _package(charts, chart, version, subcharts)
        (served / "repo" / f"{chart}-{version}.tgz").write_bytes(data)
        entries.setdefault(chart, []).append({"name": chart, "version": version, "urls": [f"{chart}-{version}.tgz"],
                                              "digest": hashlib.sha256(data).hexdigest()})
    (served / "repo" / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries}))
    empty = tmp_path / "no-charts"
    empty.mkdir()
    assert len(releases) >= 12
    seen: set[str] = set()
    for release in releases:
        reference, downloaded = ImageReport(labs=[]), ImageReport(labs=[])
        chart_images(reference, release["chart"], release["version"], release["values"], "release", charts)
        chart_images(downloaded, release["chart"], release["version"], release["values"], "release", empty,
                     f"{base}/repo")
        assert downloaded.refs == reference.refs, release["name"]
        assert downloaded.reference_data and not downloaded.unavailable, release["name"]
        assert not any(image.from_app_version for image in downloaded.images.values()), release["name"]
        seen |= set(downloaded.refs)
    assert {TRAEFIK, "docker.io/istio/pilot:1.30.3-distroless", "quay.io/kiali/kiali:v2.29.0"} <= seen
    assert len(seen) >= 20  # every chart image; the layers' own objects and the labs' files add the rest


def test_without_network_a_missing_chart_is_named_with_the_reason(no_reference_data):
    report = ImageReport(labs=["ingress"])
    chart_images(report, "traefik", "41.3.0", {}, "release", None, "https://traefik.github.io/charts")
    assert not report.reference_data
    assert report.unavailable["traefik 41.3.0"].startswith("cannot download https://traefik.github.io/charts/index.yaml")
    assert report.images[TRAEFIK].from_app_version
