"""`invoke setup --from-source` against a fake `go` (offline, fast).

The fake behaves like go where the builder depends on it: `go mod download -json` answers from a small
fake module cache (or with go's JSON error), `go build -o` writes one executable per main package, and
an executable reports the version its -ldflags -X gave it (as a real build embeds it), or "(devel)".
Failures are go's: a non-zero exit and go's lines on stderr.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import source_build, toolchain
from infra.errors import LabsError
from infra.paths import PROJECT_ROOT

FAKE_GO = r'''#!{python}
import json, os, re, sys, time
from pathlib import Path

state = Path(os.environ["FAKE_GO_STATE"])
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as calls:
    keep = ("GOTOOLCHAIN", "CGO_ENABLED", "GOFLAGS", "GOMODCACHE", "GOCACHE", "GOWORK")
    calls.write(json.dumps({{"args": args, "cwd": os.getcwd(),
                            "env": {{k: os.environ.get(k) for k in keep}}}}) + "\n")
command = " ".join(args[:2])
failure = state / "fail.json"
if failure.exists():
    fail = json.loads(failure.read_text())
    if command == fail["command"]:
        sys.stderr.write(fail["stderr"])
        sys.exit(fail.get("code", 1))
if (state / "hang").exists() and args[:1] == ["build"]:
    time.sleep(60)
if args == ["env", "GOVERSION"]:
    print(os.environ.get("FAKE_GO_VERSION", "go1.26.8"))
elif args[:2] == ["mod", "init"]:
    Path("go.mod").write_text(f"module {{args[2]}}\n\ngo 1.26.8\n")
elif args[:2] == ["mod", "tidy"]:
    Path("go.sum").write_text("")
elif args[:2] == ["mod", "download"]:
    path, version = args[-1].split("@")
    served = state / "proxy" / (path.replace("/", "!") + "@" + version)
    if not served.exists():
        print(json.dumps({{"Path": path, "Version": version, "Error": f"{{path}}@{{version}}: reading "
                          f"https://proxy.golang.org/{{path}}/@v/{{version}}.info: 404 Not Found"}}))
        sys.exit(1)
    print(json.dumps({{"Path": path, "Version": version, "Dir": str(served / "src"),
                      "GoMod": str(served / "go.mod")}}))
elif args[:1] == ["get"]:
    pass
elif args[:1] == ["build"]:
    ldflags = args[args.index("-ldflags") + 1]
    out = args[args.index("-o") + 1]
    packages = args[args.index("-o") + 2:]
    found = re.search(r"-X \S+\.(?:gitVersion|[Vv]ersion)=(\S+)", ldflags)
    version = found.group(1) if found and not (state / "ignore-ldflags").exists() else "(devel)"
    for package in packages:
        name = package.rstrip("/").rsplit("/", 1)[-1]
        binary = Path(out) / name if out.endswith("/") else Path(out)
        binary.write_text(f"#!/bin/sh\necho '{{name}} version {{version}}'\n")
        binary.chmod(0o755)
else:
    sys.stderr.write(f"go {{command}}: unknown command\n")
    sys.exit(2)
'''

KWOK = toolchain.SOURCE_PINS["kwok"]
FORBIDDEN = (
    "go: finding module for package sigs.k8s.io/kwok/cmd/kwokctl\n"
    "go: downloading sigs.k8s.io/kwok v0.8.0\n"
    "go: sigs.k8s.io/kwok@v0.8.0: reading https://proxy.golang.org/sigs.k8s.io/kwok/@v/v0.8.0.zip: "
    "403 Forbidden\n"
)


class FakeGo:
    def __init__(self, root: Path):
        self.bin = root / "fake-bin"
        self.state = root / "fake-go"
        self.bin.mkdir()
        self.state.mkdir()
        go = self.bin / "go"
        go.write_text(FAKE_GO.format(python=sys.executable))
        go.chmod(0o755)
        self.path = str(go)

    def fail(self, command: str, stderr: str, code: int = 1) -> None:
        (self.state / "fail.json").write_text(json.dumps({"command": command, "stderr": stderr, "code": code}))

    def calls(self) -> list[dict]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def builds(self) -> list[list[str]]:
        return [call["args"] for call in self.calls() if call["args"][:1] == ["build"]]

    def serve(self, module: str, version: str, go_mod: str = "", files: dict[str, str] | None = None) -> Path:
        served = self.state / "proxy" / (module.replace("/", "!") + "@" + version)
        (served / "src").mkdir(parents=True)
        (served / "go.mod").write_text(go_mod or f"module {module}\n")
        for name, text in (files or {}).items():
            (served / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            (served / "src" / name).write_text(text)
        return served


@pytest.fixture
def fake_go(tmp_path, monkeypatch) -> FakeGo:
    fake = FakeGo(tmp_path)
    monkeypatch.setenv("FAKE_GO_STATE", str(fake.state))
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))
    return fake


@pytest.fixture
def tools(tmp_path) -> Path:
    return tmp_path / "tools"  # LABS_TOOLS_DIR, set by conftest


def test_a_failing_go_gives_one_line_naming_the_module_and_installs_nothing(fake_go, tools, tmp_path):
    fake_go.fail("mod tidy", FORBIDDEN)

    with pytest.raises(LabsError) as error:
        source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)

    message = str(error.value)
    log = tmp_path / "cache" / "go" / "logs" / "kwok-v0.8.0.log"
    assert message.startswith(
        "could not build kwokctl, kwok from sigs.k8s.io/kwok@v0.8.0: go: sigs.k8s.io/kwok@v0.8.0: reading "
        "https://proxy.golang.org/sigs.k8s.io/kwok/@v/v0.8.0.zip: 403 Forbidden; "
    )
    assert f"full go output in {log}" in message
    assert "\n" not in message
    assert "go: finding module for package" in log.read_text(), "the whole go output is kept in the log"
    assert not (tools / "bin").exists()
    assert not source_build.stamp_matches("kwok")


def test_the_cli_prints_the_one_line_and_no_traceback(fake_go, tmp_path):
    fake_go.fail("mod tidy", FORBIDDEN)
    env = {**os.environ, "PATH": f"{fake_go.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"}

    result = subprocess.run([sys.executable, "-m", "invoke", "setup", "--from-source"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "could not build kwokctl, kwok from sigs.k8s.io/kwok@v0.8.0: " in errors[0]
    assert errors[0].split("; ")[0].endswith("403 Forbidden")
    assert "Traceback" not in result.stderr


def test_a_module_the_proxy_does_not_serve_names_it(fake_go, tools):
    with pytest.raises(LabsError) as error:
        source_build.build_pin("kubernetes", fake_go.path, console_print=lambda line: None)

    assert str(error.value).startswith(
        "could not build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl from "
        "k8s.io/kubernetes@v1.36.1: k8s.io/kubernetes@v1.36.1: reading "
        "https://proxy.golang.org/k8s.io/kubernetes/@v/v1.36.1.info: 404 Not Found; "
    )


def test_build_installs_the_binaries_with_the_go_environment_and_a_stamp(fake_go, tools, tmp_path):
    printed = []

    line = source_build.build_pin("kwok", fake_go.path, console_print=printed.append)

    for binary in ("kwokctl", "kwok"):
        installed = tools / "bin" / binary
        assert os.access(installed, os.X_OK)
        version = subprocess.run([installed, "--version"], capture_output=True, text=True, check=True).stdout
        assert version.strip() == f"{binary} version v0.8.0", "the version comes in through -ldflags"
    assert printed[0].startswith("kwokctl, kwok v0.8.0: building from sigs.k8s.io/kwok@v0.8.0 (go output: ")
    assert line == printed[-1] and line.startswith("kwokctl, kwok v0.8.0: done in ")
    cache = tmp_path / "cache" / "go"
    for call in fake_go.calls()[1:]:
        assert call["env"] == {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod",
                               "GOMODCACHE": str(cache / "mod"), "GOCACHE": str(cache / "build"), "GOWORK": "off"}
    [build] = fake_go.builds()
    assert build[:2] == ["build", "-trimpath"]
    assert build[-2:] == ["sigs.k8s.io/kwok/cmd/kwokctl", "sigs.k8s.io/kwok/cmd/kwok"]
    wrapper = cache / "wrappers" / "kwok-v0.8.0"
    assert "\tsigs.k8s.io/kwok v0.8.0\n" in (wrapper / "go.mod").read_text()
    assert (wrapper / "tools.go").read_text().startswith("//go:build tools\n")
    assert source_build.stamp_matches("kwok")


def test_a_matching_stamp_makes_the_second_run_skip_the_build(fake_go, tools):
    source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)
    calls_after_first = len(fake_go.calls())
    printed = []

    line = source_build.build_pin("kwok", fake_go.path, console_print=printed.append)

    assert line == f"kwokctl, kwok v0.8.0: already built ({tools / 'bin'})"
    assert printed == [line]
    assert len(fake_go.calls()) == calls_after_first, "go was not run again"


def test_a_stamp_from_another_version_triggers_a_rebuild(fake_go, tools, monkeypatch):
    source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)
    monkeypatch.setitem(toolchain.SOURCE_PINS, "kwok", toolchain.SourcePin(KWOK.module, "v0.8.1", KWOK.binaries))

    assert not source_build.stamp_matches("kwok")
    line = source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)

    assert line.startswith("kwokctl, kwok v0.8.1: done in ")
    assert len(fake_go.builds()) == 2
    version = subprocess.run([tools / "bin" / "kwok", "--version"], capture_output=True, text=True).stdout
    assert version.strip() == "kwok version v0.8.1"


def test_a_binary_changed_since_the_build_is_rebuilt(fake_go, tools):
    source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)
    (tools / "bin" / "kwokctl").write_text("#!/bin/sh\necho something else\n")

    source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)

    assert len(fake_go.builds()) == 2


def test_a_binary_reporting_another_version_is_refused(fake_go, tools):
    (fake_go.state / "ignore-ldflags").touch()

    with pytest.raises(LabsError) as error:
        source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)

    assert "the built kwokctl reports 'kwokctl version (devel)', not v0.8.0" in str(error.value)
    assert not (tools / "bin" / "kwokctl").exists()


def test_a_build_that_hangs_is_stopped_at_the_timeout(fake_go, tools, monkeypatch):
    (fake_go.state / "hang").touch()
    monkeypatch.setattr(source_build, "BUILD_TIMEOUT_S", 1)

    with pytest.raises(LabsError, match=r"from sigs\.k8s\.io/kwok@v0\.8\.0: `go build .*` gave no result within 1 s"):
        source_build.build_pin("kwok", fake_go.path, console_print=lambda line: None)


KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
)

replace (
\tgithub.com/example/forked => github.com/example/forked v1.2.3
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
)
"""


def test_staging_replaces_point_at_the_published_modules():
    assert source_build.staging_replaces(KUBERNETES_GO_MOD, "v1.36.1") == [
        "\tk8s.io/api => k8s.io/api v0.36.1",
        "\tk8s.io/client-go => k8s.io/client-go v0.36.1",
        "\tk8s.io/component-base => k8s.io/component-base v0.36.1",
    ]


def test_kubernetes_is_built_in_a_wrapper_replacing_its_staging_modules(fake_go, tools, tmp_path):
    fake_go.serve("k8s.io/kubernetes", "v1.36.1", go_mod=KUBERNETES_GO_MOD)

    source_build.build_pin("kubernetes", fake_go.path, console_print=lambda line: None)

    go_mod = (tmp_path / "cache" / "go" / "wrappers" / "kubernetes-v1.36.1" / "go.mod").read_text()
    assert "\tk8s.io/kubernetes v1.36.1\n" in go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.1\n" in go_mod
    assert "forked" not in go_mod and "./staging" not in go_mod
    [build] = fake_go.builds()
    ldflags = build[build.index("-ldflags") + 1]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.36.1 -X {package}.gitMajor=1 -X {package}.gitMinor=36" in ldflags
    assert build[build.index("-o") + 1].endswith("/")
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        assert os.access(tools / "bin" / binary, os.X_OK)


def test_the_provider_is_built_from_an_edited_copy_and_installed_as_a_plugin(fake_go, tools, tmp_path):
    pin = toolchain.SOURCE_PINS["pulumi-kubernetes"]
    command = "cmd/pulumi-resource-kubernetes"
    fake_go.serve(pin.module, pin.version, files={
        "go.mod": f"module {pin.module}\n\ngo 1.26.0\n\nreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 => ../sdk\n",
        f"{command}/schema.json": json.dumps({"name": "kubernetes", "version": ""}),
        f"{command}/terraform-mapping.json": "{}",
    })
    # A Pulumi CLI double that records its arguments and puts the file where `plugin install` does.
    pulumi = toolchain.pulumi_root() / "bin" / "pulumi"
    pulumi.parent.mkdir(parents=True)
    pulumi.write_text(
        "#!/bin/sh\n"
        f'echo "$PULUMI_HOME $*" >> {tmp_path / "pulumi-calls"}\n'
        'dir="$PULUMI_HOME/plugins/$3-$4-v$5"; mkdir -p "$dir"\n'
        'cp "$7" "$dir/pulumi-$3-$4"\n'
    )
    pulumi.chmod(0o755)

    source_build.build_pin("pulumi-kubernetes", fake_go.path, console_print=lambda line: None)

    copy = tmp_path / "cache" / "go" / "wrappers" / "pulumi-kubernetes-4.25.0" / "src"
    assert "../sdk" not in (copy / "go.mod").read_text()
    assert json.loads((copy / command / "schema-embed.json").read_text())["version"] == "4.25.0"
    assert (copy / command / "terraform-mapping-embed.json").exists()
    gets = [call["args"] for call in fake_go.calls() if call["args"][:1] == ["get"]]
    assert gets == [["get", "github.com/pulumi/pulumi-kubernetes/sdk/v4@v4.25.0"]]
    [build] = fake_go.builds()
    assert f"-X {pin.module}/pkg/version.Version=4.25.0" in build[build.index("-ldflags") + 1]
    [install] = (tmp_path / "pulumi-calls").read_text().splitlines()
    assert install.startswith(f"{tools / 'pulumi-home'} plugin install resource kubernetes 4.25.0 --file ")
    assert os.access(toolchain.provider_plugin_path(), os.X_OK)
    assert source_build.stamp_matches("pulumi-kubernetes")


def test_no_go_says_install_it_or_use_plain_setup(fake_go, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(LabsError) as error:
        source_build.setup_from_source(console_print=lambda line: None)

    assert str(error.value) == (
        "go not found: `invoke setup --from-source` builds the tools with Go; install Go >= 1.26 "
        "(https://go.dev/dl/) or use plain `invoke setup` (downloads)"
    )


def test_an_old_go_is_refused_before_building(fake_go, monkeypatch):
    monkeypatch.setenv("FAKE_GO_VERSION", "go1.22.5")

    with pytest.raises(LabsError, match=r"is go1\.22\.5: `invoke setup --from-source` needs Go >= 1\.26"):
        source_build.setup_from_source(console_print=lambda line: None)

    assert fake_go.builds() == []


def test_setup_builds_every_pin_in_order_and_says_what_it_leaves_out(fake_go, monkeypatch):
    built = []
    monkeypatch.setattr(source_build, "build_pin", lambda name, go, console_print: built.append((name, go)) or name)

    summary = source_build.setup_from_source(console_print=lambda line: None)

    assert built == [(name, fake_go.path) for name in toolchain.SOURCE_PINS]
    assert built[-1][0] == "kubernetes", "the longest build last"
    assert summary[:len(built)] == list(toolchain.SOURCE_PINS)
    assert "kind (it needs Docker)" in summary[len(built)]


def test_cache_dir_follows_labs_cache_dir_then_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "labs-cache"))
    assert source_build.go_dir() == tmp_path / "labs-cache" / "go"
    monkeypatch.delenv("LABS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert source_build.go_dir() == tmp_path / "xdg" / "k8s-labs" / "go"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert source_build.go_dir() == Path.home() / ".cache" / "k8s-labs" / "go"


@pytest.mark.parametrize(("output", "line"), [
    ("go: downloading a v1\ngo: a@v1: 403 Forbidden\n", "go: a@v1: 403 Forbidden"),
    ("# k8s.io/x\nx.go:3:1: undefined: y\n\n", "x.go:3:1: undefined: y"),
    ("go: downloading a v1\n", "go: downloading a v1"),
    ("", "no output"),
])
def test_meaningful_line_skips_progress_chatter(output, line):
    assert source_build.meaningful_line(output) == line


def test_every_source_pin_has_a_recipe_and_a_distinct_fingerprint():
    prints = {name: source_build.fingerprint(name) for name in toolchain.SOURCE_PINS}
    assert len(set(prints.values())) == len(prints)
    for name, pin in toolchain.SOURCE_PINS.items():
        recipe = source_build.recipe_for(name)
        assert len(recipe.packages) == len(pin.binaries)


def test_helm_is_built_in_a_wrapper_with_its_version_stamped(fake_go, tools):
    """helm's source says only "v3.21": the version comes from -ldflags, as helm's Makefile sets it."""
    line = source_build.build_pin("helm", fake_go.path, console_print=lambda line: None)
    assert line.startswith("helm v3.21.4: done in ")
    [build] = fake_go.builds()
    assert build[-1] == "helm.sh/helm/v3/cmd/helm"
    assert "-X helm.sh/helm/v3/internal/version.version=v3.21.4" in build[build.index("-ldflags") + 1]
    version = subprocess.run([tools / "bin" / "helm", "version", "--short"], capture_output=True, text=True).stdout
    assert "v3.21.4" in version
    assert source_build.stamp_matches("helm")
