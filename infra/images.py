"""`invoke images list`: the container images a lab needs, offline, from the render and the repo.

Three sources, all read without a cluster, Docker or network:
  - the Helm releases of the render: for each pinned chart, the images its templates would run,
    composed here from the pinned chart's own default values deep-merged with the values our layers
    set (the autoscaler's pinned image, Istio's `docker.io/istio` hub and tag, ...). The chart comes
    from the first of: the reference data (`../shared/charts/<chart>/<version>/`), the offline bundle
    (infra.bundle), the chart cache (`<cache>/charts/<chart>-<version>.tgz`), else its repository:
    downloaded once into that cache, checked against the digest of the repository's index (a
    subchart is read from its parent's archive). A tag the chart leaves empty defaults to the chart's
    appVersion (with a `v` prefix where the chart's templates add one). A chart none of these can give
    (no network) leaves only the images our values name and each chart's main images at its appVersion
    (table below): those are flagged as derived from appVersion, and the report says why;
  - the objects the layers create directly (the render's objects: containers' images);
  - the lab's own `manifests/` and `solution/` (containers' images).

References are normalised as containerd pulls them (`traefik:v3` -> `docker.io/library/traefik:v3`),
sorted, de-duplicated and grouped by registry. A chart without a rule here is named in the report,
never silently skipped (a test keeps every chart the layers pin covered).

How each chart composes its images (from its templates; `tag|app` = the tag, else appVersion):
  traefik             {registry|docker.io}/{repository|traefik}:{tag|app}[@digest]
  metallb             controller/speaker {repository}:{tag|app}; frr only when speaker.frr.enabled
  metrics-server      {repository}:{tag|v+app}; addon-resizer when enabled
  kube-prometheus-stack  operator and config-reloader {tag|app}; prometheus, alertmanager (and
                      thanos-ruler when enabled) from their Spec.image; the admission webhook's
                      certgen Jobs when admissionWebhooks.patch is on; subcharts kube-state-metrics
                      ({tag|v+app}), prometheus-node-exporter ({tag|v+app}[-distroless]), grafana
                      ({tag|app}, k8s-sidecar when a sidecar is enabled) under their conditions
  loki                loki {tag|app} (every deployment mode); gateway, canary, memcached caches and
                      the rules sidecar when enabled; helm-test images never (not pulled by an install)
  alloy               {global.image.registry|registry}/{repository}:{tag|app}; config-reloader when enabled
  istio base/istiod/cni/ztunnel  {hub}/{image}:{tag}[-{variant}], global.* as fallbacks, the
                      `profile` merged under our values (ambient: variant distroless); istiod also
                      brings proxyv2 (sidecars and waypoints it creates at run time)
  kiali-server        {deployment.image_name}:{deployment.image_version|app}
  cluster-autoscaler  {repository}:{tag|v+app};  kwok {repository}:{tag|app}
  stage-fast, base, prometheus-operator-crds  no images
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.errors import LabsError
from infra.paths import PROJECT_ROOT

# The registries the pull-through cache mirrors (infra.imagecache).
UPSTREAM_REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "registry.k8s.io")

# appVersion of every chart the layers pin (from its Chart.yaml; Istio's published charts carry
# the release as appVersion, their git Chart.yaml says 1.0.0). Used when ../shared is absent.
APP_VERSIONS: dict[tuple[str, str], str] = {
    ("traefik", "41.3.0"): "v3.7.11",
    ("metallb", "0.16.1"): "v0.16.1",
    ("metrics-server", "3.13.1"): "0.8.1",
    ("kube-prometheus-stack", "88.5.3"): "v0.93.1",
    ("kube-state-metrics", "8.4.0"): "2.20.0",
    ("prometheus-node-exporter", "4.56.1"): "1.12.1",
    ("grafana", "12.11.1"): "13.2.0",
    ("prometheus-windows-exporter", "0.12.8"): "0.31.8",
    ("loki", "18.11.0"): "3.7.6",
    ("alloy", "1.11.1"): "v1.18.1",
    ("kiali-server", "2.29.0"): "v2.29.0",
    ("cluster-autoscaler", "9.59.0"): "1.35.0",
    ("kwok", "0.3.0"): "v0.8.0",
    ("stage-fast", "0.3.0"): "v0.8.0",
}
ISTIO_CHARTS = ("base", "istiod", "cni", "ztunnel", "gateway")
# Values an Istio `profile` merges under the user's values (manifests/helm-profiles/<profile>.yaml).
ISTIO_PROFILES = {"ambient": {"global": {"variant": "distroless"}}}
# kube-prometheus-stack's subcharts: (chart, version, key of its values in the parent, condition, default).
KPS_SUBCHARTS = (
    ("kube-state-metrics", "8.4.0", "kube-state-metrics", "kubeStateMetrics.enabled", True),
    ("prometheus-node-exporter", "4.56.1", "prometheus-node-exporter", "nodeExporter.enabled", True),
    ("grafana", "12.11.1", "grafana", "grafana.enabled", True),
    ("prometheus-windows-exporter", "0.12.8", "prometheus-windows-exporter", "windowsMonitoring.enabled", False),
)
_CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")


def charts_dir() -> Path:
    """The offline chart reference data (`LABS_CHARTS_DIR` overrides it; tests point it elsewhere)."""
    override = os.environ.get("LABS_CHARTS_DIR")
    return Path(override) if override else PROJECT_ROOT.parent / "shared" / "charts"


def normalize(ref: str) -> str:
    """A reference as containerd resolves it: registry host, `library/` for Docker Hub's official
    images, `:latest` when neither tag nor digest is given."""
    ref = ref.strip()
    name, at, digest = ref.partition("@")
    slash = name.find("/")
    first = name[:slash] if slash > 0 else ""
    if not first or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}"
    if name.startswith("index.docker.io/"):
        name = "docker.io/" + name[len("index.docker.io/"):]
    host, _, path = name.partition("/")
    if host == "docker.io" and "/" not in path.split(":")[0]:
        name = f"docker.io/library/{path}"
    if ":" not in name.rsplit("/", 1)[-1] and not at:
        name += ":latest"
    return name + (f"@{digest}" if at else "")


def registry_of(ref: str) -> str:
    return normalize(ref).split("/", 1)[0]


@dataclass
class Image:
    ref: str  # normalised
    sources: set[str] = field(default_factory=set)  # "release traefik (traefik 41.3.0)", "labs/07-ingress/manifests/..."
    from_app_version: bool = False  # tag taken from an appVersion the reference data did not confirm

    @property
    def registry(self) -> str:
        return self.ref.split("/", 1)[0]


@dataclass
class ImageReport:
    labs: list[str]
    images: dict[str, Image] = field(default_factory=dict)
    reference_data: bool = True  # every chart's own values were read (reference data, bundle, cache or download)
    uncovered: set[str] = field(default_factory=set)  # "chart version" without an image rule
    unavailable: dict[str, str] = field(default_factory=dict)  # "chart version" -> why its values could not be had

    def add(self, ref: str, source: str, from_app_version: bool = False) -> None:
        ref = normalize(ref)
        image = self.images.setdefault(ref, Image(ref))
        image.sources.add(source)
        image.from_app_version = image.from_app_version or from_app_version

    def by_registry(self) -> dict[str, list[Image]]:
        groups: dict[str, list[Image]] = {}
        for ref in sorted(self.images):
            groups.setdefault(self.images[ref].registry, []).append(self.images[ref])
        return dict(sorted(groups.items()))

    @property
    def refs(self) -> list[str]:
        return sorted(self.images)


# --- chart reference data -------------------------------------------------------------------------

def deep_merge(base: dict, override: dict) -> dict:
    """Helm's coalescing of values: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def chart_texts(chart: str, version: str, root: Path | None = None, repo: str = "") -> dict[str, str]:
    """Chart.yaml and values.yaml of `chart` at `version`: from the reference data, the offline bundle,
    the chart cache, else (with the pin's `repo`) downloaded into the cache. LabsError (one line) when
    none of them has it and the download fails."""
    from infra.bundle import Bundle, chart_stores, download_chart
    from infra.layers import ChartPin

    folder = (root or charts_dir()) / chart / version
    if (folder / "values.yaml").is_file():
        return {name: (folder / name).read_text(encoding="utf-8")
                for name in ("values.yaml", "Chart.yaml") if (folder / name).is_file()}
    for source in chart_stores():
        texts = source.chart_texts(chart, version)
        if texts and "values.yaml" in texts:
            return texts
    if not repo:
        raise LabsError(f"chart {chart} {version} is neither in {folder.parent.parent}, the offline bundle nor the "
                        "chart cache, and has no repository to download it from")
    if repo in _UNREACHABLE:  # one failed download per repository and run: no wait per chart
        raise LabsError(_UNREACHABLE[repo])
    try:
        download_chart(Bundle.chart_cache(), ChartPin(chart, repo, version), say=lambda line: None, indexes=_INDEXES)
    except LabsError as exc:
        _UNREACHABLE[repo] = str(exc)
        raise
    texts = Bundle.chart_cache().chart_texts(chart, version) or {}
    if "values.yaml" not in texts:
        raise LabsError(f"chart {chart} {version} from {repo} has no values.yaml")
    return texts


_INDEXES: dict[str, dict] = {}  # repository index.yaml files already fetched by this process
_UNREACHABLE: dict[str, str] = {}  # repository -> why its download failed in this process


def chart_defaults(chart: str, version: str, root: Path | None = None, repo: str = ""
                   ) -> tuple[dict | None, str | None, str]:
    """(default values, appVersion, "") of a chart (`chart_texts`), or (None, the table's appVersion,
    why the chart could not be had)."""
    table = APP_VERSIONS.get((chart, version)) or (version if chart in ISTIO_CHARTS else None)
    try:
        texts = chart_texts(chart, version, root, repo)
    except LabsError as exc:
        return None, table, str(exc)
    values = yaml.safe_load(texts["values.yaml"]) or {}
    if isinstance(values.get("_internal_defaults_do_not_set"), dict):  # Istio charts wrap their defaults
        values = values["_internal_defaults_do_not_set"]
    app = None
    if "Chart.yaml" in texts:
        app = str((yaml.safe_load(texts["Chart.yaml"]) or {}).get("appVersion") or "")
    if chart in ISTIO_CHARTS:
        app = version  # git placeholder 1.0.0; published charts carry the release
    return values, app or table, ""


def _get(values: dict, dotted: str, default=None):
    node = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or node.get(key) is None:
            return default
        node = node[key]
    return node


class _Chart:
    """What a chart rule sees: the merged values, the appVersion, and where to add images."""

    def __init__(self, report: ImageReport, source: str, values: dict, app: str | None, confirmed: bool,
                 root: Path | None):
        self.report, self.source, self.values, self.app, self.confirmed, self.root = (
            report, source, values, app, confirmed, root)

    def on(self, dotted: str, default: bool) -> bool:
        return bool(_get(self.values, dotted, default))

    def image(self, spec: dict | None, *, registry: str = "", repository: str = "", app_prefix: str | None = None,
              suffix: str = "") -> None:
        """Add `{registry}/{repository}:{tag}{suffix}[@digest]` from an image map of the values.

        `registry`/`repository` are the chart's defaults when the values leave them empty;
        `app_prefix` ("" or "v") says the tag defaults to that prefix + appVersion (None: no default,
        the image is skipped when the values have no tag: only the reference data knows it).
        """
        spec = spec if isinstance(spec, dict) else {}
        repository = spec.get("repository") or repository
        registry = spec.get("registry") or registry
        tag, from_app = spec.get("tag"), False
        if not repository:
            return
        if not tag:
            if app_prefix is None or not self.app:
                return
            tag, from_app = f"{app_prefix}{self.app}", True
        ref = f"{registry}/{repository}" if registry else repository
        ref = f"{ref}:{tag}{suffix}"
        digest = spec.get("digest") or (f"sha256:{spec['sha']}" if spec.get("sha") else "")
        if digest and "@" not in ref:
            ref += f"@{digest}"
        self.report.add(ref, self.source, from_app and not self.confirmed)

    def istio(self, hub: str | None, image: str, tag: str | None, variant: str | None) -> None:
        """`{hub}/{image}:{tag}[-{variant}]` as Istio's templates compose it (a full reference as is)."""
        if "/" in image:
            self.report.add(image, self.source)
            return
        from_app = not tag
        tag = tag or self.app
        if not hub or not tag:
            return
        self.report.add(f"{hub}/{image}:{tag}" + (f"-{variant}" if variant else ""), self.source,
                        from_app and not self.confirmed)

    def subchart(self, chart: str, version: str, key: str) -> None:
        chart_images(self.report, chart, version, self.values.get(key) or {}, self.source, self.root)


def _traefik(c: _Chart) -> None:
    c.image(c.values.get("image"), registry="docker.io", repository="traefik", app_prefix="")


def _metallb(c: _Chart) -> None:
    for part in ("controller", "speaker"):
        if c.on(f"{part}.enabled", True):
            c.image(_get(c.values, f"{part}.image"), repository=f"quay.io/metallb/{part}", app_prefix="")
    if c.on("speaker.enabled", True) and c.on("speaker.frr.enabled", False):
        c.image(_get(c.values, "speaker.frr.image"))


def _metrics_server(c: _Chart) -> None:
    c.image(c.values.get("image"), repository="registry.k8s.io/metrics-server/metrics-server", app_prefix="v")
    if c.on("addonResizer.enabled", False):
        c.image(_get(c.values, "addonResizer.image"))


def _kube_prometheus_stack(c: _Chart) -> None:
    if c.on("prometheusOperator.enabled", True):
        c.image(_get(c.values, "prometheusOperator.image"), registry="quay.io",
                repository="prometheus-operator/prometheus-operator", app_prefix="")
        c.image(_get(c.values, "prometheusOperator.prometheusConfigReloader.image"), registry="quay.io",
                repository="prometheus-operator/prometheus-config-reloader", app_prefix="")
        hooks = "prometheusOperator.admissionWebhooks"
        if c.on(f"{hooks}.enabled", True):
            if c.on(f"{hooks}.patch.enabled", True) and not c.on(f"{hooks}.certManager.enabled", False):
                c.image(_get(c.values, f"{hooks}.patch.image"))
            if c.on(f"{hooks}.deployment.enabled", False):
                c.image(_get(c.values, f"{hooks}.deployment.image"), registry="quay.io",
                        repository="prometheus-operator/admission-webhook", app_prefix="")
    if c.on("prometheus.enabled", True):
        c.image(_get(c.values, "prometheus.prometheusSpec.image"))
    if c.on("alertmanager.enabled", True):
        c.image(_get(c.values, "alertmanager.alertmanagerSpec.image"))
    if c.on("thanosRuler.enabled", False):
        c.image(_get(c.values, "thanosRuler.thanosRulerSpec.image"))
    for chart, version, key, condition, default in KPS_SUBCHARTS:
        if c.on(condition, default):
            c.subchart(chart, version, key)


def _kube_state_metrics(c: _Chart) -> None:
    c.image(c.values.get("image"), registry="registry.k8s.io", repository="kube-state-metrics/kube-state-metrics",
            app_prefix="v")
    if c.on("kubeRBACProxy.enabled", False):
        c.image(_get(c.values, "kubeRBACProxy.image"))


def _node_exporter(c: _Chart) -> None:
    suffix = "-distroless" if c.on("image.distroless", False) else ""
    c.image(c.values.get("image"), registry="quay.io", repository="prometheus/node-exporter", app_prefix="v",
            suffix=suffix)
    if c.on("kubeRBACProxy.enabled", False):
        c.image(_get(c.values, "kubeRBACProxy.image"))


def _windows_exporter(c: _Chart) -> None:
    c.image(c.values.get("image"), registry="ghcr.io", repository="prometheus-community/windows-exporter",
            app_prefix="")


def _grafana(c: _Chart) -> None:
    c.image(c.values.get("image"), registry="docker.io", repository="grafana/grafana", app_prefix="")
    if any(c.on(f"sidecar.{kind}.enabled", False) for kind in ("dashboards", "datasources", "alerts", "plugins",
                                                                  "notifiers")):
        c.image(_get(c.values, "sidecar.image"))
    if c.on("persistence.enabled", False) and c.on("initChownData.enabled", True):
        c.image(_get(c.values, "initChownData.image"))
    if c.on("imageRenderer.enabled", False):
        c.image(_get(c.values, "imageRenderer.image"))
    if c.values.get("dashboards"):
        c.image(c.values.get("downloadDashboardsImage"))


def _loki(c: _Chart) -> None:
    registry = _get(c.values, "global.image.registry") or _get(c.values, "global.imageRegistry") or ""
    c.image(_get(c.values, "loki.image"), registry=registry or "docker.io", repository="grafana/loki", app_prefix="")
    if c.on("gateway.enabled", True):
        c.image(_get(c.values, "gateway.image"))
    if c.on("lokiCanary.enabled", True):
        c.image(_get(c.values, "lokiCanary.image"), registry="docker.io", repository="grafana/loki-canary",
                app_prefix="")
    if c.on("chunksCache.enabled", True) or c.on("resultsCache.enabled", True):
        c.image(_get(c.values, "memcached.image"))
        if c.on("memcachedExporter.enabled", True):
            c.image(_get(c.values, "memcachedExporter.image"))
    if c.on("sidecar.rules.enabled", True):
        c.image(_get(c.values, "sidecar.image"))
    for key in ("minio", "rollout_operator"):
        if c.on(f"{key}.enabled", False):
            c.report.uncovered.add(f"loki subchart {key}")


def _alloy(c: _Chart) -> None:
    registry = _get(c.values, "global.image.registry") or ""
    spec = dict(c.values.get("image") or {})
    if registry:
        spec["registry"] = registry
    c.image(spec, registry="docker.io", repository="grafana/alloy", app_prefix="")
    if c.on("configReloader.enabled", True):
        c.image(_get(c.values, "configReloader.image"))


def _istiod(c: _Chart) -> None:
    g = c.values.get("global") or {}
    variant = c.values.get("variant") or g.get("variant")
    c.istio(c.values.get("hub") or g.get("hub"), c.values.get("image") or "pilot", c.values.get("tag") or g.get("tag"),
            variant)
    # Sidecars and waypoints istiod injects or deploys at run time.
    c.istio(g.get("hub"), _get(g, "proxy.image") or "proxyv2", g.get("tag"), g.get("variant"))


def _istio_cni(c: _Chart) -> None:
    g = c.values.get("global") or {}
    c.istio(c.values.get("hub") or g.get("hub"), c.values.get("image") or "install-cni",
            c.values.get("tag") or g.get("tag"), c.values.get("variant") or g.get("variant"))


def _ztunnel(c: _Chart) -> None:
    g = c.values.get("global") or {}  # the chart's profile flattens global.* to the top level
    c.istio(c.values.get("hub") or g.get("hub"), c.values.get("image") or "ztunnel",
            c.values.get("tag") or g.get("tag"), c.values.get("variant") or g.get("variant"))


def _kiali(c: _Chart) -> None:
    deployment = c.values.get("deployment") or {}
    name = deployment.get("image_name") or "quay.io/kiali/kiali"
    version = deployment.get("image_version")
    if not version or "$" in str(version):  # git placeholder ${HELM_IMAGE_TAG}
        version = c.app
    if not version:
        return
    if deployment.get("image_digest"):  # "sha256": image_version is then the hash
        c.report.add(f"{name}@{deployment['image_digest']}:{version}", c.source)
    else:
        c.report.add(f"{name}:{version}", c.source, version == c.app and not c.confirmed)


def _cluster_autoscaler(c: _Chart) -> None:
    c.image(c.values.get("image"), repository="registry.k8s.io/autoscaling/cluster-autoscaler", app_prefix="v")


def _kwok(c: _Chart) -> None:
    c.image(c.values.get("image"), repository="registry.k8s.io/kwok/kwok", app_prefix="")


def _none(c: _Chart) -> None:
    """Charts that run no container (CRDs, Stage objects, cluster-wide roles)."""


CHART_RULES = {
    "traefik": _traefik,
    "metallb": _metallb,
    "metrics-server": _metrics_server,
    "kube-prometheus-stack": _kube_prometheus_stack,
    "kube-state-metrics": _kube_state_metrics,
    "prometheus-node-exporter": _node_exporter,
    "prometheus-windows-exporter": _windows_exporter,
    "grafana": _grafana,
    "loki": _loki,
    "alloy": _alloy,
    "base": _none,
    "istiod": _istiod,
    "cni": _istio_cni,
    "ztunnel": _ztunnel,
    "kiali-server": _kiali,
    "cluster-autoscaler": _cluster_autoscaler,
    "kwok": _kwok,
    "stage-fast": _none,
    "prometheus-operator-crds": _none,
}


def chart_images(report: ImageReport, chart: str, version: str, values: dict, source: str,
                 root: Path | None = None, repo: str = "") -> None:
    """Add the images `chart` at `version` (from `repo` when it must be downloaded; a subchart: from
    its parent's archive) runs with `values` (our layer's values) to the report."""
    rule = CHART_RULES.get(chart)
    if rule is None:
        report.uncovered.add(f"{chart} {version}")
        return
    defaults, app, problem = chart_defaults(chart, version, root, repo)
    if defaults is None:
        report.reference_data = False
        report.unavailable[f"{chart} {version}"] = problem
    merged = deep_merge(defaults or {}, {})
    profile = (values or {}).get("profile")
    if chart in ISTIO_CHARTS and profile in ISTIO_PROFILES:
        merged = deep_merge(merged, ISTIO_PROFILES[profile])
    merged = deep_merge(merged, values or {})
    rule(_Chart(report, source, merged, app, defaults is not None, root))


# --- manifests and rendered objects ----------------------------------------------------------------

def container_images(document) -> list[str]:
    """Every containers'/initContainers' image in a manifest (any kind: Pod, Deployment, CronJob, ...)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _CONTAINER_KEYS and isinstance(value, list):
                    found.extend(item["image"] for item in value
                                 if isinstance(item, dict) and isinstance(item.get("image"), str) and item["image"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return found


def folder_images(folder: Path) -> dict[str, list[str]]:
    """Images per YAML file under `folder` (relative paths from the project root when inside it)."""
    found: dict[str, list[str]] = {}
    if not folder.is_dir():
        return found
    for file in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        try:
            documents = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            raise LabsError(f"{file}: not valid YAML: fix the syntax (`invoke lab render` checks the labs)") from None
        images = [image for document in documents for image in container_images(document)]
        if images:
            try:
                name = str(file.relative_to(PROJECT_ROOT))
            except ValueError:
                name = str(file)
            found[name] = images
    return found


def lab_images(ref: str, settings, catalog=None, root: Path | None = None) -> ImageReport:
    """The images of one lab, or of every lab for `all`, from the render and the lab folders."""
    from dataclasses import replace

    from infra.catalog import Catalog
    from infra.render import render_lab

    catalog = catalog or Catalog.load()
    labs = catalog.select(ref)
    report = ImageReport(labs=[lab.id for lab in labs])
    for lab in labs:
        document = render_lab(lab, replace(settings, lab=lab.slug), catalog)
        for release in document["releases"]:
            origin = f", {release['from']}" if release.get("from") else ""  # taken from the offline bundle
            source = f"release {release['name']} ({release['chart']} {release['version']}{origin})"
            chart_images(report, release["chart"], release["version"], release["values"], source, root,
                         release["repo"])
        for obj in document["objects"]:
            meta = obj.get("metadata") or {}
            for image in container_images(obj):
                report.add(image, f"{obj.get('kind')}/{meta.get('name', '')}")
        for folder in ("manifests", "solution"):
            for file, images in folder_images(lab.path / folder).items():
                for image in images:
                    report.add(image, file)
    return report
