"""The external CLIs the labs drive: where to find them and how `invoke setup` installs them.

kind, kubectl, kwokctl and kwok are downloaded into paths.tools_dir()/bin and only kept if their SHA-256
matches the pin below, so a tampered or truncated download never becomes executable. The Pulumi CLI is
installed by the Pulumi SDK's own installer. Docker stays the user's to install. Nothing needs root.
`invoke setup --from-source` builds the tools of SOURCE_PINS from Go modules instead (infra.source_build),
for machines that reach the Go module proxy but no release download site.
Every version is pinned here and only here. Pulumi is imported only inside install_pulumi(), so
importing this module stays instant.
"""
from __future__ import annotations

import hashlib
import os
import platform as host
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable

from infra.errors import LabsError
from infra.paths import pulumi_home, tools_dir

# The CLI must be at least the `pulumi` SDK pinned in pyproject.toml (3.272.0, the newest on PyPI): the
# Automation API refuses older CLIs. 3.274.0 is the nearest release the Go module proxy serves (3.272.0
# is not), so both `invoke setup` paths install it: newer CLI, older SDK is the pairing Pulumi supports.
PULUMI_VERSION = "3.274.0"

DOWNLOAD_TIMEOUT_S = 60
SUPPORTED_PLATFORMS = ("linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64")

KUBERNETES_VERSION = "v1.36.1"  # kubectl, and the control plane built from source (kindest/node:v1.36.1 too)
KWOK_VERSION = "v0.8.0"
# The kubernetes provider plugin; pyproject.toml pins the pulumi-kubernetes SDK to the same version.
KUBERNETES_PROVIDER_VERSION = "4.25.0"
# The helm CLI a lab's solve steps run (lab 20: install, upgrade, a failed upgrade, rollback). Helm 3, the
# line the lab's guide shows; students may bring Helm 4, whose commands the guide uses the same way.
HELM_VERSION = "v3.21.4"

MANUAL_INSTALL = {
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "kwokctl": "https://kwok.sigs.k8s.io/docs/user/installation/",
    "kwok": "https://kwok.sigs.k8s.io/docs/user/installation/",
    "pulumi": "https://www.pulumi.com/docs/install/",
    "docker": "https://docs.docker.com/get-docker/",
    "helm": "https://helm.sh/docs/intro/install/",
}


@dataclass(frozen=True)
class Pin:
    """One downloadable tool: its version, where each platform's binary lives, and its SHA-256."""

    version: str
    url_template: str  # fields: {version}, {os}, {arch}
    sha256: dict[str, str]  # platform key ("linux-amd64") -> hex digest; missing = not pinned yet

    def url(self, platform: str) -> str:
        os_name, arch = platform.split("-")
        return self.url_template.format(version=self.version, os=os_name, arch=arch)


# Digests are the ones the projects publish next to each file (kind-<os>-<arch>.sha256sum,
# kubectl.sha256). To bump a version, copy the new published values for all four platforms.
PINS: dict[str, Pin] = {
    "kind": Pin(
        version="v0.32.0",
        url_template="https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{os}-{arch}",
        sha256={
            "linux-amd64": "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54",
            "linux-arm64": "b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d",
            "darwin-amd64": "295ac6d0d634c9819c9907df45e3017d1f13166bd13c3404c45e79f7faa47498",
            "darwin-arm64": "dca67911095a110c2b5c36e26df6cac860c602033e456c0db47be498cdef1ebb",
        },
    ),
    # Matches the kindest/node:v1.36.1 image the kind clusters run (kubectl supports +/-1 minor).
    "kubectl": Pin(
        version=KUBERNETES_VERSION,
        url_template="https://dl.k8s.io/release/{version}/bin/{os}/{arch}/kubectl",
        sha256={
            "linux-amd64": "629d3f410e09bf49b64ae7079f7f0bda1191efed311f7d37fdbab0ad5b0ec2b7",
            "linux-arm64": "59f7ee8e477fae658447607dc3c8790ac17a1b016c01c622c12070e969e2d4e7",
            "darwin-amd64": "b4973e90ebb00537d735b63d6f8293c1959156e6ff435f6a43c08aeaa1a2e7d7",
            "darwin-arm64": "9092778abaef3079449da4cd70ded0e4be112480c93efcdeace3155968d1d133",
        },
    ),
    # No digest published by the kwok project for v0.8.0 could be found, nor computed here (no release
    # download site reachable): until someone copies the published values in, `invoke setup` says "no
    # checksum pinned yet" for these two and goes on; `invoke setup --from-source` builds them instead.
    "kwokctl": Pin(
        version=KWOK_VERSION,
        url_template="https://github.com/kubernetes-sigs/kwok/releases/download/{version}/kwokctl-{os}-{arch}",
        sha256={},
    ),
    "kwok": Pin(
        version=KWOK_VERSION,
        url_template="https://github.com/kubernetes-sigs/kwok/releases/download/{version}/kwok-{os}-{arch}",
        sha256={},
    ),
}


@dataclass(frozen=True)
class SourcePin:
    """Commands `invoke setup --from-source` builds from one Go module at one version (the recipes, with
    their build flags, are in infra.source_build)."""

    module: str  # the Go module that holds the commands
    version: str  # its version as the Go module proxy serves it
    binaries: tuple[str, ...]  # what the build installs
    release: str = ""  # the upstream release, when the proxy only serves it under a pseudo-version

    @property
    def shown_version(self) -> str:
        return self.release or self.version


# What the Go module proxy serves is all this machine can reach, hence these choices:
# - The Pulumi CLI: PULUMI_VERSION above (3.272.0 is not on the proxy). Its Python language host
#   (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is NOT served (403), so it
#   is not built: the labs run their Pulumi program inline through the Automation API, which needs no
#   language host. The sdk module's two launcher scripts (dynamic providers) are installed beside the CLI.
# - The kubernetes provider: the proxy serves no v4.25.0 tag of provider/v4, only the pseudo-version of
#   the v4.25.0 release commit (f47bc2d6f199).
# - kind is not built: it needs Docker, which such machines lack; kwokctl runs the control plane below.
SOURCE_PINS: dict[str, SourcePin] = {
    "kwok": SourcePin("sigs.k8s.io/kwok", KWOK_VERSION, ("kwokctl", "kwok")),
    "etcd": SourcePin("go.etcd.io/etcd/server/v3", "v3.7.3", ("etcd",)),
    "pulumi": SourcePin("github.com/pulumi/pulumi/pkg/v3", f"v{PULUMI_VERSION}", ("pulumi",)),
    "pulumi-kubernetes": SourcePin(
        "github.com/pulumi/pulumi-kubernetes/provider/v4", "v4.0.0-20260115033456-f47bc2d6f199",
        ("pulumi-resource-kubernetes",), release=KUBERNETES_PROVIDER_VERSION,
    ),
    "helm": SourcePin("helm.sh/helm/v3", HELM_VERSION, ("helm",)),
    # Last: the biggest build.
    "kubernetes": SourcePin(
        "k8s.io/kubernetes", KUBERNETES_VERSION,
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    ),
}

Downloader = Callable[[str, Path], None]


def bin_dir() -> Path:
    return tools_dir() / "bin"


def pulumi_root() -> Path:
    """The SDK installs the CLI as <root>/bin/pulumi."""
    return tools_dir() / "pulumi"


def provider_plugin_path() -> Path:
    """Where Pulumi (PULUMI_HOME=paths.pulumi_home()) finds the kubernetes provider plugin of the pinned
    version: `pulumi plugin install` puts it there, and so does Pulumi's own download."""
    version = KUBERNETES_PROVIDER_VERSION
    return pulumi_home() / "plugins" / f"resource-kubernetes-v{version}" / "pulumi-resource-kubernetes"


def _installed_candidates(name: str) -> list[Path]:
    candidates = [bin_dir() / name]
    if name == "pulumi":
        candidates.append(pulumi_root() / "bin" / "pulumi")
    return candidates


def find_tool(name: str) -> str | None:
    """Path of `name`: our own install wins over PATH, so labs run the pinned versions."""
    for candidate in _installed_candidates(name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def source_pin_of(name: str) -> SourcePin | None:
    """The SOURCE_PINS entry that builds the command `name`, if any."""
    return next((pin for pin in SOURCE_PINS.values() if name in pin.binaries), None)


def install_hint(name: str) -> str:
    """How to get `name`: the fix half of every 'not found' message."""
    if name == "docker":
        return f"Docker is yours to install (`invoke setup` does not): see {MANUAL_INSTALL['docker']}"
    source = source_pin_of(name)
    if name != "pulumi" and name not in PINS:
        if source is None:
            return f"install {name} and put it on PATH"
        manual = f", or see {MANUAL_INSTALL[name]}" if name in MANUAL_INSTALL else ""
        return (f"run `invoke setup --from-source` (builds {name} {source.shown_version} from "
                f"{source.module} into {tools_dir()}; needs Go >= 1.26){manual}")
    version = PULUMI_VERSION if name == "pulumi" else PINS[name].version
    also = " or `invoke setup --from-source` (builds it with Go)" if source else ""
    return f"run `invoke setup` (installs {name} {version} into {tools_dir()}){also} or see {MANUAL_INSTALL[name]}"


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise LabsError(f"{name} not found: {install_hint(name)}")
    return path


_RELEASE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "arm64": "arm64", "aarch64": "arm64"}


def platform_key(system: str, machine: str) -> str:
    """'Linux', 'aarch64' -> 'linux-arm64': the naming both kind and Kubernetes use for downloads."""
    os_name = system.lower()
    arch = _RELEASE_ARCH.get(machine.lower(), machine)
    key = f"{os_name}-{arch}"
    if key not in SUPPORTED_PLATFORMS:
        raise LabsError(
            f"unsupported platform {key}: `invoke setup` supports {', '.join(SUPPORTED_PLATFORMS)}; "
            f"install kind and kubectl by hand ({MANUAL_INSTALL['kind']}, {MANUAL_INSTALL['kubectl']})"
        )
    return key


def current_platform() -> str:
    return platform_key(host.system(), host.machine())


def download_file(url: str, dest: Path) -> None:
    """Default downloader: plain urllib (honours HTTPS_PROXY), with a timeout, errors as LabsError."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out)
    except (OSError, HTTPException) as exc:  # URLError and socket timeouts are OSErrors
        # HTTPError's own text carries the status code; other URLErrors wrap the socket error.
        reason = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        raise LabsError(
            f"could not download {url}: {reason}; check your network (or HTTPS_PROXY) and disk space, "
            "then rerun `invoke setup`"
        ) from exc


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_tool(name: str, *, download: Downloader = download_file, platform: str | None = None) -> Path:
    """Install the pinned `name` into tools_dir()/bin, verified against its SHA-256.

    A file already there with the pinned digest is kept as is, so rerunning setup is cheap.
    """
    pin = PINS[name]
    platform = platform or current_platform()
    expected = pin.sha256.get(platform, "")
    if not expected:
        raise LabsError(
            f"no checksum pinned yet for {name} {pin.version} {platform}, so `invoke setup` will not "
            f"install it unverified: install {name} by hand ({MANUAL_INSTALL[name]}) and put it on PATH"
        )
    target = bin_dir() / name
    if target.is_file() and sha256_of(target) == expected:
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    # Outside bin/ (a killed download never looks installed) but on the same filesystem (atomic move).
    fd, partial_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".part", dir=tools_dir())
    os.close(fd)
    partial = Path(partial_name)
    try:
        download(pin.url(platform), partial)
        actual = sha256_of(partial)
        if actual != expected:
            raise LabsError(
                f"checksum mismatch for {name} {pin.version} {platform}: expected {expected}, got {actual}; "
                "the download was discarded (rerun `invoke setup`; if it happens again, do not install "
                "this file and report it)"
            )
        partial.chmod(0o755)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def install_pulumi() -> Path:
    """Install the Pulumi CLI the way the SDK expects it, under tools_dir()/pulumi."""
    from pulumi.automation import InvalidVersionError, PulumiCommand
    from semver import VersionInfo

    root = pulumi_root()
    try:
        PulumiCommand.install(root=str(root), version=VersionInfo.parse(PULUMI_VERSION))
    except (OSError, subprocess.CalledProcessError, InvalidVersionError) as exc:
        raise LabsError(
            f"could not install the Pulumi CLI {PULUMI_VERSION} into {root}: {_last_line(exc)}; "
            f"check your network and rerun `invoke setup`, or install it by hand: {MANUAL_INSTALL['pulumi']}"
        ) from exc
    return root / "bin" / "pulumi"


def _last_line(exc: Exception) -> str:
    """The install script's last output line says what went wrong; keep the message to one line."""
    output = getattr(exc, "output", None)
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(exc)
    lines = text.strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


# Downloads `invoke setup` may leave out while their checksums are not pinned for the platform: the kind
# path does not need them, and `invoke setup --from-source` builds them.
OPTIONAL_DOWNLOADS = ("kwokctl", "kwok")


def setup(console_print: Callable[[str], None] = print) -> list[str]:
    """`invoke setup`: install the Pulumi CLI, kind, kubectl, kwokctl and kwok, reporting each step; return
    the summary. kwokctl and kwok are skipped, with one line saying why, where no checksum is pinned."""
    steps = [
        ("pulumi", PULUMI_VERSION, install_pulumi),
        *((name, PINS[name].version, lambda name=name: install_tool(name))
          for name in ("kind", "kubectl", *OPTIONAL_DOWNLOADS)),
    ]
    summary = []
    for name, version, install in steps:
        if name in OPTIONAL_DOWNLOADS and not PINS[name].sha256.get(current_platform()):
            line = (f"{name} {version}: not installed: no checksum pinned yet for {current_platform()} in "
                    f"infra/toolchain.py; `invoke setup --from-source` builds it, or install it by hand "
                    f"({MANUAL_INSTALL[name]})")
            console_print(line)
            summary.append(line)
            continue
        console_print(f"{name} {version}: installing into {tools_dir()} ...")
        line = f"{name} {version}: ready at {install()}"
        console_print(line)
        summary.append(line)
    closing = [
        f"docker: not installed by setup: {install_hint('docker')}",
        "the labs find these tools by themselves; to use them in your shell too: "
        f'export PATH="{bin_dir()}:{pulumi_root() / "bin"}:$PATH"',
    ]
    for line in closing:
        console_print(line)
    return summary + closing
