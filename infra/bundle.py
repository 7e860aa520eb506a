"""The offline bundle: every pinned chart and every remote manifest the layers apply, on disk.

An instructor at a venue without internet (or a machine that reaches no chart repository and no
release URL) runs `invoke bundle` once on a connected machine and carries the folder along
(`infra.paths.bundle_dir()`: ~/.local/share/k8s-labs/bundle, or LABS_BUNDLE, or `--bundle=DIR`):

  charts/<chart>-<version>.tgz   Helm's package format: a gzip tar whose root folder is the chart name
  manifests/index.json           {"<source URL>": "<file name>"}
  manifests/<file name>          what that URL serves (name: 12 hex of the URL's sha256 + its base name)

Who reads it:
  - `Layer.release` (infra.layers.base): a chart the bundle holds at the pinned version is installed
    from its .tgz (`chart=<path>`, no repository, no version); otherwise from the local chart cache
    (below); otherwise from the repository as before;
  - the gateway-api and storage layers: a remote manifest the index names is applied from its file;
  - `lab render`: a release or manifest taken from the bundle says so (`"from": "bundle:charts/..."`),
    relative to the bundle, so the render stays the same on every machine;
  - `images list`: a chart's default values from its bundled .tgz when ../shared has no reference data.
An entry is used only at the pinned version, read from Chart.yaml inside the archive (name and
version), never from the file name; a mismatch is ignored with one warning line.

The local chart cache (`infra.paths.cache_dir()`: ~/.cache/k8s-labs, or LABS_CACHE_DIR) has the
bundle's layout and checks: before each `up`, the driver brings in the lab's pinned charts that neither
the bundle nor the cache holds (`cache_charts`, digest checked), so a later `up` of a lab whose charts
are cached needs no chart repository (a Wi-Fi blip does not block switching labs). A chart that cannot
be downloaded then comes from its repository, as without a cache. One lookup: bundle, cache, network.

Which charts and manifests exist comes from the layer modules themselves (`layer_needs`): every
module-level ChartPin, and every module-level https URL of a YAML manifest (`*_URL`, `*_URLS`). A test
keeps that in line with what the program registers. No Pulumi import at module level here: the
program path imports Pulumi lazily, `invoke bundle --check` does not need it beyond the layer modules.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import yaml

from infra.errors import LabsError
from infra.paths import bundle_dir, cache_dir

PREFIX = "bundle:"  # how the render names a bundle file: bundle:charts/traefik-41.3.0.tgz
CACHE_PREFIX = "cache:"  # and a file of the local chart cache: cache:charts/traefik-41.3.0.tgz
CACHE_TIMEOUT = 20  # seconds per HTTP request when `up` fills the cache: a dead network must not stall it
CHARTS = "charts"
MANIFESTS = "manifests"
INDEX = "index.json"
TIMEOUT = 60  # seconds per HTTP request
NETWORK_FIX = "check this machine's internet access (or HTTPS_PROXY) and run `invoke bundle` again"

_warned: set[str] = set()
# Paths handed to the program this process, so the render names them by what they stand for:
# tgz path -> (chart, repo, version, label); manifest path -> (source URL, label).
_charts_used: dict[str, tuple[str, str, str, str]] = {}
_manifests_used: dict[str, tuple[str, str]] = {}
_meta_cache: dict[tuple, tuple[str, str] | str] = {}
_texts_cache: dict[tuple, dict[str, str] | None] = {}


def _warn(message: str) -> None:
    """One warning line on stderr, once per process (a render of all labs asks many times)."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _program_note(message: str) -> None:
    """An info line in the Pulumi engine's output (`lab up`: the run log); silent in a render."""
    try:
        import pulumi

        pulumi.log.info(message)
    except Exception:  # noqa: BLE001 - a note must never break the program
        pass


def manifest_file_name(url: str) -> str:
    """The file a manifest URL is kept in (the same naming as ../shared/tools/bundle_from_snapshots.py)."""
    base = PurePosixPath(urllib.parse.urlparse(url).path).name or "manifest.yaml"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{base}"


def chart_file_name(chart: str, version: str) -> str:
    return f"{chart}-{version}.tgz"


def read_chart_meta(archive, chart: str) -> tuple[str, str]:
    """(name, version) of `<chart>/Chart.yaml` inside a chart archive (a path or a file object).
    ValueError with the reason when it is not a chart package of that name."""
    try:
        with tarfile.open(**({"fileobj": archive} if hasattr(archive, "read") else {"name": str(archive)}),
                          mode="r:gz") as tf:
            for member in tf:
                if member.isfile() and member.name.removeprefix("./") == f"{chart}/Chart.yaml":
                    meta = yaml.safe_load(tf.extractfile(member).read()) or {}
                    return str(meta.get("name", "")), str(meta.get("version", ""))
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError) as exc:
        raise ValueError(f"not a readable chart archive ({exc})") from None
    raise ValueError(f"no {chart}/Chart.yaml inside (Helm's package format: the root folder is the chart name)")


@dataclass
class Bundle:
    """A bundle folder; every lookup checks what it finds and returns None for anything unusable."""

    root: Path
    prefix: str = PREFIX
    what: str = "the offline bundle"

    @classmethod
    def here(cls, root: Path | str | None = None) -> "Bundle":
        return cls(Path(root).expanduser() if root else bundle_dir())

    @classmethod
    def chart_cache(cls) -> "Bundle":
        """The local chart cache: a bundle of the charts `up` downloaded."""
        return cls(cache_dir(), CACHE_PREFIX, "the local chart cache")

    def label(self, path: Path) -> str:
        return self.prefix + path.relative_to(self.root).as_posix()

    # --- charts ------------------------------------------------------------------------------------

    def chart_path(self, chart: str, version: str) -> Path:
        return self.root / CHARTS / chart_file_name(chart, version)

    def chart_file(self, chart: str, version: str) -> Path | None:
        """The bundled .tgz of `chart` at exactly `version` (its Chart.yaml says so), or None."""
        path = self.chart_path(chart, version)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in _meta_cache:
            try:
                _meta_cache[key] = read_chart_meta(path, chart)
            except ValueError as exc:
                _meta_cache[key] = str(exc)
        meta = _meta_cache[key]
        if isinstance(meta, str):
            _warn(f"bundle {self.label(path)}: {meta}: ignored, chart {chart} {version} comes from its repository")
            return None
        if meta != (chart, version):
            _warn(f"bundle {self.label(path)} holds {meta[0] or '?'} {meta[1] or '?'}, not the pinned {chart} "
                  f"{version}: ignored, the chart comes from its repository (run `invoke bundle` to replace it)")
            return None
        return path

    # --- manifests ---------------------------------------------------------------------------------

    def index_path(self) -> Path:
        return self.root / MANIFESTS / INDEX

    def index(self) -> dict[str, str]:
        path = self.index_path()
        if not path.is_file():
            return {}
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _warn(f"bundle {self.label(path)} is not readable JSON ({exc}): its manifests are ignored")
            return {}
        if not isinstance(index, dict):
            _warn(f"bundle {self.label(path)} is not a map of URL to file name: its manifests are ignored")
            return {}
        return {str(k): str(v) for k, v in index.items()}

    def manifest_file(self, url: str, index: dict[str, str] | None = None) -> Path | None:
        """The bundled copy of the manifest at `url`, or None."""
        name = (self.index() if index is None else index).get(url)
        if not name:
            return None
        if "/" in name or "\\" in name or name in (".", "..") or name == INDEX:
            _warn(f"bundle {MANIFESTS}/{INDEX} names '{name}' for {url}: not a file name beside it, ignored")
            return None
        path = self.root / MANIFESTS / name
        if not path.is_file():
            _warn(f"bundle {MANIFESTS}/{INDEX} names {name} for {url}, but the file is missing: the URL is used")
            return None
        return path

    # --- chart files, for `images list` ------------------------------------------------------------

    def chart_texts(self, chart: str, version: str, names: Iterable[str] = ("Chart.yaml", "values.yaml")
                    ) -> dict[str, str] | None:
        """The named files of `chart` at `version` from the bundle: its own .tgz, or a parent chart's
        subchart folder (charts/<chart>/ inside another bundled .tgz). None when absent."""
        names = tuple(names)
        try:
            signature = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                                     for p in (self.root / CHARTS).glob("*.tgz")))
        except OSError:
            return None
        key = (str(self.root), chart, version, names, signature)
        if key not in _texts_cache:
            _texts_cache[key] = self._chart_texts(chart, version, names)
        return _texts_cache[key]

    def _chart_texts(self, chart: str, version: str, names: tuple[str, ...]) -> dict[str, str] | None:
        own = self.chart_file(chart, version)
        candidates = [own] if own else sorted((self.root / CHARTS).glob("*.tgz"))
        for archive in candidates:
            try:
                with tarfile.open(archive, "r:gz") as tf:
                    found = _texts_in(tf, chart, version, names, subcharts=archive != own)
            except (tarfile.TarError, OSError, EOFError, yaml.YAMLError, UnicodeDecodeError):
                continue
            if found is not None:
                return found
        return None


def _texts_in(tf: tarfile.TarFile, chart: str, version: str, names: tuple[str, ...], subcharts: bool
              ) -> dict[str, str] | None:
    """The named files of `chart` `version` in an open chart archive: at its root folder, or (subcharts)
    as a subchart folder `<parent>/charts/<chart>/` or a packaged subchart `<parent>/charts/*.tgz`."""
    members = {m.name.removeprefix("./"): m for m in tf.getmembers() if m.isfile()}
    if subcharts:
        prefixes = sorted(n[: -len("Chart.yaml")] for n in members
                          if n.endswith(f"/charts/{chart}/Chart.yaml") and n.count("/") == 3)
    else:
        prefixes = [f"{chart}/"]
    for prefix in prefixes:
        if prefix + "Chart.yaml" not in members:
            continue
        meta = yaml.safe_load(tf.extractfile(members[prefix + "Chart.yaml"]).read()) or {}
        if (str(meta.get("name")), str(meta.get("version"))) == (chart, version):
            return {name: tf.extractfile(members[prefix + name]).read().decode("utf-8")
                    for name in names if prefix + name in members}
    if subcharts:
        for name in sorted(n for n in members if n.endswith(".tgz") and n.count("/") == 2 and "/charts/" in n):
            try:
                with tarfile.open(fileobj=io.BytesIO(tf.extractfile(members[name]).read()), mode="r:gz") as inner:
                    found = _texts_in(inner, chart, version, names, subcharts=False)
            except (tarfile.TarError, OSError, EOFError):
                continue
            if found is not None:
                return found
    return None


# --- what the program asks for ---------------------------------------------------------------------

def chart_stores() -> list[Bundle]:
    """Where a chart is looked for before its repository, in order: the offline bundle, the local cache."""
    return [Bundle.here(), Bundle.chart_cache()]


def chart_source(pin) -> Path | None:
    """The local .tgz to install `pin` (a ChartPin) from (the bundle's, else the cache's), or None:
    the repository, as without either."""
    for store in chart_stores():
        path = store.chart_file(pin.chart, pin.version)
        if path is not None:
            label = store.label(path)
            _charts_used[str(path)] = (pin.chart, pin.repo, pin.version, label)
            _program_note(f"chart {pin.chart} {pin.version} from {store.what} ({label}), not {pin.repo}")
            return path
    return None


def cache_charts(pins: Iterable, say: Callable[[str], None]) -> None:
    """Download into the local cache each of `pins` that neither the bundle nor the cache holds. A
    chart that cannot be downloaded is said in one line and left to its repository (the release then
    fetches it, or says why it cannot)."""
    cache, indexes = Bundle.chart_cache(), {}
    for pin in sorted(pins, key=lambda pin: (pin.chart, pin.version, pin.repo)):
        if any(store.chart_file(pin.chart, pin.version) is not None for store in chart_stores()):
            continue
        try:
            download_chart(cache, pin, lambda line: say(f"chart cache: {line}"), indexes, CACHE_TIMEOUT)
        except LabsError as exc:
            say(f"note: chart {pin.chart} {pin.version} not cached ({exc}); Helm fetches it from {pin.repo}")


def lab_charts(lab: str) -> list:
    """The chart pins of a lab's layer closure (none without a lab)."""
    return needs_of(lab)[0].sorted_charts() if lab else []


def manifest_source(url: str) -> str:
    """What yaml.v2 ConfigFile/ConfigGroup should read for the manifest at `url`: its bundled copy, or the URL."""
    bundle = Bundle.here()
    path = bundle.manifest_file(url)
    if path is None:
        return url
    label = bundle.label(path)
    _manifests_used[str(path)] = (url, label)
    _program_note(f"manifest {url} from the offline bundle ({label})")
    return str(path)


def manifest_sources(urls: Iterable[str]) -> list[str]:
    return [manifest_source(url) for url in urls]


def bundled_chart(chart_input) -> tuple[str, str, str, str] | None:
    """(chart, repo, version, label) when a release's `chart` input is a bundled .tgz, else None."""
    if not isinstance(chart_input, str) or not chart_input.endswith(".tgz"):
        return None
    if chart_input in _charts_used:
        return _charts_used[chart_input]
    path = Path(chart_input)
    labels = []
    for store in chart_stores():
        try:
            labels.append(store.label(path))
        except ValueError:
            continue
    if not labels:
        return None
    label = labels[0]
    chart = path.name[: -len(".tgz")].rsplit("-", 1)[0]
    try:
        name, version = read_chart_meta(path, chart)
    except ValueError:
        return None
    return name, "", version, label


def bundled_manifest(file_input) -> tuple[str, str] | None:
    """(source URL, label) when a manifest input is a bundled file, else None."""
    if not isinstance(file_input, str):
        return None
    if file_input in _manifests_used:
        return _manifests_used[file_input]
    path, bundle = Path(file_input), Bundle.here()
    try:
        label = bundle.label(path)
    except ValueError:
        return None
    for url, name in bundle.index().items():
        if name == path.name and path.parent == bundle.root / MANIFESTS:
            return url, label
    return None


# --- what the layers need ----------------------------------------------------------------------------

@dataclass
class Needs:
    """Charts and manifests, each with the layers that need it."""

    charts: dict = field(default_factory=dict)  # ChartPin -> set of layer names
    manifests: dict[str, set[str]] = field(default_factory=dict)  # URL -> layer names

    def add(self, other: "Needs") -> None:
        for pin, layers in other.charts.items():
            self.charts.setdefault(pin, set()).update(layers)
        for url, layers in other.manifests.items():
            self.manifests.setdefault(url, set()).update(layers)

    def sorted_charts(self) -> list:
        return sorted(self.charts, key=lambda pin: (pin.chart, pin.version, pin.repo))

    def sorted_manifests(self) -> list[str]:
        return sorted(self.manifests)


def _remote_manifest_url(value) -> bool:
    if not isinstance(value, str) or not value.startswith("https://"):
        return False
    return urllib.parse.urlparse(value).path.endswith((".yaml", ".yml", ".json"))


def layer_needs(name: str) -> Needs:
    """The charts (module-level ChartPins) and remote manifests (module-level `*_URL`/`*_URLS` https
    URLs of YAML/JSON files) of one layer's module, for every target it supports."""
    from infra.layers import LAYERS, ChartPin

    module = importlib.import_module(LAYERS[name].component.partition(":")[0])
    needs = Needs()
    for attr, value in vars(module).items():
        if isinstance(value, ChartPin):
            needs.charts.setdefault(value, set()).add(name)
        elif attr.isupper() and attr.endswith(("_URL", "_URLS")):
            for url in value if isinstance(value, (list, tuple)) else [value]:
                if _remote_manifest_url(url):
                    needs.manifests.setdefault(url, set()).add(name)
    return needs


def needs_of(ref: str = "all", catalog=None) -> tuple[Needs, str]:
    """What one lab's layer closure needs (any target), or every layer for `all`; and a description."""
    from infra.layers import LAYERS

    needs = Needs()
    if (ref or "all").strip().lower() == "all":
        for name in LAYERS:
            needs.add(layer_needs(name))
        return needs, "all labs"
    from infra.catalog import Catalog

    (lab,) = (catalog or Catalog.load()).select(ref)
    for name in lab.layer_closure():
        needs.add(layer_needs(name))
    return needs, f"lab {lab.id}"


# --- invoke bundle --check -------------------------------------------------------------------------

def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _layers(names: set[str]) -> str:
    return ("layer " if len(names) == 1 else "layers ") + ", ".join(sorted(names))


def check(ref: str = "all", root: Path | str | None = None, say: Callable[[str], None] = print,
          catalog=None) -> list[str]:
    """Say what the bundle lacks for `ref` (a lab, or `all`): one line per missing item and a summary.
    Returns the missing items' lines (empty: nothing missing)."""
    bundle = Bundle.here(root)
    needs, what = needs_of(ref, catalog)
    index = bundle.index()
    missing: list[str] = []
    for pin in needs.sorted_charts():
        if bundle.chart_file(pin.chart, pin.version) is None:
            file = f"{CHARTS}/{chart_file_name(pin.chart, pin.version)}"
            missing.append(f"missing: chart {pin.chart} {pin.version} ({file}, from {pin.repo}) "
                           f"for {_layers(needs.charts[pin])}")
    for url in needs.sorted_manifests():
        if bundle.manifest_file(url, index) is None:
            missing.append(f"missing: manifest {url} for {_layers(needs.manifests[url])}")
    for line in missing:
        say(line)
    total = len(needs.charts) + len(needs.manifests)
    if missing:
        say(f"bundle {bundle.root}: {len(missing)} of {total} items for {what} missing: run `invoke bundle` "
            "on a connected machine (then copy the folder here, or point LABS_BUNDLE at it)")
    else:
        say(f"bundle {bundle.root}: complete for {what}: {_count(len(needs.charts), 'chart')} and "
            f"{_count(len(needs.manifests), 'manifest')} at their pinned versions")
    return missing


def source_summary(layers: Iterable[str], root: Path | str | None = None) -> str:
    """One line for `lab up` to print: how many of the layers' charts and manifests the bundle serves."""
    bundle = Bundle.here(root)
    needs = Needs()
    for name in layers:
        needs.add(layer_needs(name))
    index = bundle.index()
    charts = sum(bundle.chart_file(pin.chart, pin.version) is not None for pin in needs.charts)
    manifests = sum(bundle.manifest_file(url, index) is not None for url in needs.manifests)
    if not charts and not manifests:
        return ""
    return (f"note: {charts} of {len(needs.charts)} charts and {manifests} of {len(needs.manifests)} remote manifests "
            f"from the offline bundle {bundle.root}; the rest from the network")


# --- invoke bundle (download) ----------------------------------------------------------------------

def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "k8s-labs-bundle"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        fix = ("the server does not have it: check the pin in infra/layers/ and that the release still exists"
               if exc.code == 404 else NETWORK_FIX)
        raise LabsError(f"cannot download {url}: HTTP {exc.code} {exc.reason}: nothing written for it; {fix}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise LabsError(f"cannot download {url}: {reason}: nothing written for it; {NETWORK_FIX}") from None


def _write_atomic(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` through a temporary file beside it: `dest` is whole or absent, never half."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp makes it 0600; a bundle is copied and shared
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _index_entry(index_url: str, data: bytes, chart: str, version: str) -> dict:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        index = yaml.load(data, Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise LabsError(f"{index_url} is not a Helm repository index ({str(exc).splitlines()[0]}): nothing written; "
                        "check the repository URL of the pin in infra/layers/") from None
    entries = (index.get("entries") or {}).get(chart) if isinstance(index, dict) else None
    for entry in entries or []:
        if str(entry.get("version")) == version:
            if not entry.get("urls"):
                break
            return entry
    raise LabsError(f"{index_url} has no chart {chart} at version {version}: nothing written; check the pin in "
                    "infra/layers/ (the repository may have dropped that version)")


def download_chart(bundle: Bundle, pin, say: Callable[[str], None], indexes: dict[str, dict],
                   timeout: float = TIMEOUT) -> bool:
    """Bring `pin` into the bundle from its repository. True when downloaded, False when already there."""
    if bundle.chart_file(pin.chart, pin.version) is not None:
        file = f"{CHARTS}/{chart_file_name(pin.chart, pin.version)}"
        say(f"chart {pin.chart} {pin.version}: already in the bundle ({file})")
        return False
    repo = pin.repo.rstrip("/") + "/"
    index_url = repo + "index.yaml"
    if index_url not in indexes:
        indexes[index_url] = {"data": _fetch(index_url, timeout)}
    entry = _index_entry(index_url, indexes[index_url]["data"], pin.chart, pin.version)
    url = urllib.parse.urljoin(repo, str(entry["urls"][0]))
    data = _fetch(url, timeout)
    digest = str(entry.get("digest") or "").lower().removeprefix("sha256:")
    got = hashlib.sha256(data).hexdigest()
    if digest and got != digest:
        raise LabsError(f"{url}: sha256 {got[:16]}... differs from the digest {digest[:16]}... in {index_url}: "
                        "nothing written; run `invoke bundle` again (a proxy or mirror may have altered the download)")
    try:
        meta = read_chart_meta(io.BytesIO(data), pin.chart)
    except ValueError as exc:
        raise LabsError(f"{url}: {exc}: nothing written; check the pin in infra/layers/") from None
    if meta != (pin.chart, pin.version):
        raise LabsError(f"{url} holds {meta[0]} {meta[1]}, not {pin.chart} {pin.version}: nothing written; check the "
                        "pin in infra/layers/")
    dest = bundle.chart_path(pin.chart, pin.version)
    _write_atomic(dest, data)
    checked = "sha256 checked" if digest else "no digest in the index"
    say(f"chart {pin.chart} {pin.version}: {url} -> {CHARTS}/{dest.name} ({len(data) // 1024} KiB, {checked})")
    return True


def download_manifest(bundle: Bundle, url: str, say: Callable[[str], None], timeout: float = TIMEOUT) -> bool:
    """Bring the manifest at `url` into the bundle and its index. True when downloaded."""
    index = bundle.index()
    if bundle.manifest_file(url, index) is not None:
        say(f"manifest {url}: already in the bundle ({MANIFESTS}/{index[url]})")
        return False
    data = _fetch(url, timeout)
    try:
        list(yaml.load_all(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise LabsError(f"{url} is not YAML ({str(exc).splitlines()[0]}): nothing written; check the URL in "
                        "infra/layers/") from None
    name = manifest_file_name(url)
    _write_atomic(bundle.root / MANIFESTS / name, data)
    index[url] = name
    _write_atomic(bundle.index_path(), (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
    say(f"manifest {url} -> {MANIFESTS}/{name} ({len(data) // 1024} KiB)")
    return True


def download(root: Path | str | None = None, needs: Needs | None = None, say: Callable[[str], None] = print,
             timeout: float = TIMEOUT) -> Bundle:
    """`invoke bundle`: every chart the layers pin and every remote manifest they apply, into the bundle.
    Items already there at the pinned version are kept; a failure raises LabsError (one line) after
    the items before it are whole in the bundle and nothing of the failing one is."""
    bundle = Bundle.here(root)
    if needs is None:
        needs, _ = needs_of("all")
    indexes: dict[str, dict] = {}
    fetched = kept = 0
    for pin in needs.sorted_charts():
        if download_chart(bundle, pin, say, indexes, timeout):
            fetched += 1
        else:
            kept += 1
    for url in needs.sorted_manifests():
        if download_manifest(bundle, url, say, timeout):
            fetched += 1
        else:
            kept += 1
    say(f"bundle {bundle.root}: {_count(len(needs.charts), 'chart')} and {_count(len(needs.manifests), 'manifest')} "
        f"({fetched} downloaded, {kept} already there)")
    return bundle
