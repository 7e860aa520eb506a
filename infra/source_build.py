"""`invoke setup --from-source`: build the tools of infra.toolchain.SOURCE_PINS from Go modules.

For machines that reach the Go module proxy but no release download site. Each pin is built in a
throw-away module of its own under the cache (cache_dir()/go/wrappers/<name>-<version>), so the
dependency versions of one tool never constrain another's; the Go module and build caches are shared
(cache_dir()/go/mod and /build), so a rebuild after a change takes minutes, not the 30+ of a cold one.
The binaries land where `invoke setup` puts its downloads (toolchain.bin_dir(); the Pulumi CLI at
toolchain.pulumi_root()/bin; the provider plugin under paths.pulumi_home()), each pin with a stamp
(the recipe it was built with, the digest of every file it installed): a pin whose stamp matches is
not built again, so a second run only reads the stamps and hashes the files.

Every go command runs with GOTOOLCHAIN=local (never a toolchain download), CGO_ENABLED=0, GOFLAGS=-mod=mod,
a timeout, and its output in a log file under the cache; a failure becomes one LabsError line naming
the module, go's last meaningful line and the log.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from infra import toolchain
from infra.errors import LabsError
from infra.paths import cache_dir, pulumi_home, tools_dir

GO_MINIMUM = (1, 26)
GO_DOWNLOAD = "https://go.dev/dl/"
BUILD_TIMEOUT_S = 45 * 60  # per go command: a cold k8s.io/kubernetes build takes 30+ min on 2 cores
CHECK_TIMEOUT_S = 60  # a built binary printing its version; `pulumi plugin install`
# Bump when a recipe changes in a way its fields below do not show: every pin is then rebuilt once.
RECIPE_REVISION = 1
# The date the Kubernetes binaries report as their build date: fixed, so the same inputs give the
# same binaries (and the build cache stays valid).
KUBERNETES_BUILD_DATE = "2026-01-01T00:00:00Z"

Printer = Callable[[str], None]


# -- where things go -----------------------------------------------------------------------------------

def go_dir() -> Path:
    return cache_dir() / "go"


def stamp_dir() -> Path:
    """Beside what was installed (not in the cache): wiping the cache must not make a build look missing."""
    return tools_dir() / "source-builds"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOFLAGS="-mod=mod",
        GOWORK="off",  # a go.work of the user's must not reach into our wrappers
        GOMODCACHE=str(go_dir() / "mod"),
        GOCACHE=str(go_dir() / "build"),
    )
    return env


# -- recipes -------------------------------------------------------------------------------------------

def _version_ldflags(package: str, values: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"-X {package}.{key}={value}" for key, value in values.items())


def _kubernetes_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
              "gitCommit": version, "buildDate": KUBERNETES_BUILD_DATE}
    return (_version_ldflags("k8s.io/component-base/version", values)
            + _version_ldflags("k8s.io/client-go/pkg/version", values))


@dataclass(frozen=True)
class Recipe:
    """How to build one SourcePin; its fields (with the pin's) are what a stamp records."""

    kind: str  # "wrapper": a module requiring the pin's; "module-copy": the pin's own module, edited
    packages: tuple[str, ...]  # main packages, in the order of pin.binaries
    ldflags: tuple[str, ...] = ()  # after "-s -w"
    tags: str = ""
    version_args: dict[str, tuple[str, ...]] | None = None  # binary -> arguments printing its version
    extra: tuple[str, ...] = ()  # recipe-specific steps, named (see _build_*)


def recipe_for(name: str) -> Recipe:
    """The build recipe of SOURCE_PINS[name], from the pinned versions (nothing version-specific here)."""
    pin = toolchain.SOURCE_PINS[name]
    if name == "kubernetes":
        return Recipe(
            kind="wrapper",
            packages=tuple(f"k8s.io/kubernetes/cmd/{binary}" for binary in pin.binaries),
            ldflags=_kubernetes_ldflags(pin.version),
            version_args={binary: ("version", "--client") if binary == "kubectl" else ("--version",)
                          for binary in pin.binaries},
            extra=("replace staging modules by their published versions",),
        )
    if name == "kwok":
        # kwokctl records its version in each cluster it creates and compares it on later commands:
        # the value of kwok's own release builds (hack/releases.sh: the git tag).
        return Recipe(
            kind="wrapper",
            packages=tuple(f"sigs.k8s.io/kwok/cmd/{binary}" for binary in pin.binaries),
            ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={pin.version}",),
            version_args={binary: ("--version",) for binary in pin.binaries},
        )
    if name == "helm":
        # What helm's Makefile stamps (internal/version.version; the source says only "v3.21").
        return Recipe(
            kind="wrapper",
            packages=(f"{pin.module}/cmd/helm",),
            ldflags=(f"-X {pin.module}/internal/version.version={pin.version}",),
            version_args={"helm": ("version", "--short")},
        )
    if name == "etcd":
        # go.etcd.io/etcd/api/v3/version.Version is hard-coded per release; GitSHA has no value to give
        # (the proxy does not say which commit a tag is), so it keeps etcd's "Not provided".
        return Recipe(kind="wrapper", packages=(pin.module,), version_args={"etcd": ("--version",)})
    if name == "pulumi":
        return Recipe(
            kind="wrapper",
            packages=(f"{pin.module}/cmd/pulumi",),
            ldflags=(f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={pin.version}",),
            tags="osusergo,grpcnotrace",  # pure-Go os/user lookups, no gRPC tracing
            version_args={"pulumi": ("version",)},
            extra=("require github.com/pulumi/pulumi/sdk/v3 at the same version",
                   "install the sdk's python launchers pulumi-resource-pulumi-python and "
                   "pulumi-language-python-exec beside the CLI"),
        )
    if name == "pulumi-kubernetes":
        return Recipe(
            kind="module-copy",
            packages=("./cmd/pulumi-resource-kubernetes",),
            ldflags=(f"-X {pin.module}/pkg/version.Version={pin.shown_version}",),
            extra=(f"drop replace of the sdk by ../sdk; go get github.com/pulumi/pulumi-kubernetes/sdk/v4@v"
                   f"{pin.shown_version}; embed schema.json (version {pin.shown_version}) and "
                   "terraform-mapping.json; pulumi plugin install",),
        )
    raise LabsError(f"no build recipe for {name} in infra/source_build.py")


def fingerprint(name: str) -> str:
    """Changes whenever the pin or its recipe does: a stamp with another fingerprint means rebuild."""
    pin = toolchain.SOURCE_PINS[name]
    described = {"pin": asdict(pin), "recipe": asdict(recipe_for(name)), "revision": RECIPE_REVISION}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def destinations(name: str) -> dict[str, Path]:
    """Installed file name -> where it goes, for everything SOURCE_PINS[name] installs."""
    pin = toolchain.SOURCE_PINS[name]
    if name == "pulumi":
        where = toolchain.pulumi_root() / "bin"
        return {file: where / file for file in ("pulumi", *PULUMI_LAUNCHERS)}
    if name == "pulumi-kubernetes":
        return {"pulumi-resource-kubernetes": toolchain.provider_plugin_path()}
    return {binary: toolchain.bin_dir() / binary for binary in pin.binaries}


# The sdk module's launcher scripts Pulumi looks for beside the CLI (dynamic providers in Python).
PULUMI_LAUNCHERS = {
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
}


# -- stamps --------------------------------------------------------------------------------------------

def _stamp_path(name: str) -> Path:
    return stamp_dir() / f"{name}.json"


def stamp_matches(name: str) -> bool:
    """Built with this very recipe, and every installed file is still the one built."""
    try:
        stamp = json.loads(_stamp_path(name).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fingerprint(name):
        return False
    files = stamp.get("files") or {}
    wanted = {str(path) for path in destinations(name).values()}
    if set(files) != wanted:
        return False
    for path, digest in files.items():
        if not os.access(path, os.X_OK) or toolchain.sha256_of(Path(path)) != digest:
            return False
    return True


def _write_stamp(name: str, installed: Iterable[Path]) -> None:
    pin = toolchain.SOURCE_PINS[name]
    stamp = {
        "module": pin.module, "version": pin.version, "release": pin.shown_version,
        "recipe": asdict(recipe_for(name)), "fingerprint": fingerprint(name),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {str(path): toolchain.sha256_of(path) for path in installed},
    }
    stamp_dir().mkdir(parents=True, exist_ok=True)
    partial = _stamp_path(name).with_suffix(".part")
    partial.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    os.replace(partial, _stamp_path(name))


# -- running go ----------------------------------------------------------------------------------------

class StepFailed(Exception):
    """One build step failed; the message is one line (go's last meaningful one)."""


_CHATTER = re.compile(r"^go: (downloading|finding|found|extracting|added|upgraded|creating|to add) ")


def meaningful_line(text: str) -> str:
    """The line that says why: the last one that is not progress chatter (go: downloading ...)."""
    lines = [line.strip() for line in text.splitlines()]
    useful = [line for line in lines if line and not _CHATTER.match(line) and not line.startswith("$ ")]
    line = (useful or [line for line in lines if line] or ["no output"])[-1]
    return line if len(line) <= 400 else line[:397] + "..."


class Runner:
    """Runs the commands of one pin's build, all output appended to its log file."""

    def __init__(self, go: str, log: Path):
        self.go = go
        self.log = log
        self.env = go_env()

    def go_cmd(self, *args: str, cwd: Path, stdout_wanted: bool = False) -> str:
        return self.run([self.go, *args], cwd=cwd, stdout_wanted=stdout_wanted, timeout=BUILD_TIMEOUT_S)

    def run(self, argv: list[str], *, cwd: Path, stdout_wanted: bool = False, timeout: int,
            env: dict[str, str] | None = None) -> str:
        shown = " ".join(Path(argv[0]).name if i == 0 else arg for i, arg in enumerate(argv))
        with open(self.log, "a") as log:
            log.write(f"$ (cd {cwd} && {shown})\n")
            log.flush()
            start = log.tell()
            try:
                # A session of its own: on a timeout the whole tree (go and its compilers) is stopped.
                process = subprocess.Popen(
                    argv, cwd=cwd, env=env or self.env, stdin=subprocess.DEVNULL, text=True,
                    stdout=subprocess.PIPE if stdout_wanted else log, stderr=log, start_new_session=True,
                )
            except OSError as exc:
                raise StepFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
            try:
                stdout, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop(process)
                raise StepFailed(f"`{shown[:80]}` gave no result within {_duration(timeout)}") from None
            except BaseException:  # Ctrl-C: do not leave a compiler tree running
                _stop(process)
                raise
        if process.returncode != 0:
            with open(self.log) as log:
                log.seek(start)
                output = log.read()
            if stdout_wanted and stdout:
                output += "\n" + _json_error(stdout)
            raise StepFailed(meaningful_line(output))
        return stdout or ""

    def download(self, module_at_version: str, cwd: Path) -> dict:
        """`go mod download -json module@version`: its GoMod and Dir in the module cache."""
        out = self.go_cmd("mod", "download", "-json", module_at_version, cwd=cwd, stdout_wanted=True)
        try:
            info = json.loads(out)
        except ValueError:
            raise StepFailed(f"`go mod download -json {module_at_version}` printed no JSON") from None
        if info.get("Error"):
            raise StepFailed(str(info["Error"]).strip().splitlines()[-1])
        return info


def _json_error(stdout: str) -> str:
    try:
        return str(json.loads(stdout).get("Error") or "")
    except (ValueError, AttributeError):
        return ""


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


# -- builds --------------------------------------------------------------------------------------------

def _fresh_dir(path: Path) -> Path:
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _make_writable(root: Path) -> None:
    """The module cache is read-only; a copy of it must be writable to be edited and removed."""
    for dirpath, _dirs, files in os.walk(root):
        for entry in (dirpath, *(os.path.join(dirpath, f) for f in files)):
            if not os.path.islink(entry):
                os.chmod(entry, os.stat(entry).st_mode | stat.S_IWUSR)


def _go_build_args(recipe: Recipe, out: str) -> list[str]:
    args = ["build", "-trimpath"]
    if recipe.tags:
        args += ["-tags", recipe.tags]
    args += ["-ldflags", " ".join(("-s -w", *recipe.ldflags)), "-o", out, *recipe.packages]
    return args


_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/src/k8s\.io/[A-Za-z0-9._-]+\s*$")


def staging_replaces(kubernetes_go_mod: str, kubernetes_version: str) -> list[str]:
    """k8s.io/kubernetes replaces its staging modules by folders of its own repository, which a module
    that requires it cannot see: replace each by its published version instead (v1.36.1 -> v0.36.1)."""
    staging_version = "v0." + kubernetes_version.lstrip("v").split(".", 1)[1]
    return [f"\t{match.group(1)} => {match.group(1)} {staging_version}"
            for match in map(_STAGING_REPLACE.match, kubernetes_go_mod.splitlines()) if match]


def _build_wrapper(name: str, runner: Runner, work: Path, out: Path) -> None:
    pin = toolchain.SOURCE_PINS[name]
    recipe = recipe_for(name)
    runner.go_cmd("mod", "init", "wrapper", cwd=work)
    requires = [f"{pin.module} {pin.version}"]
    if name == "pulumi":
        requires.append(f"github.com/pulumi/pulumi/sdk/v3 {pin.version}")
    text = "\nrequire (\n" + "".join(f"\t{line}\n" for line in requires) + ")\n"
    if name == "kubernetes":
        info = runner.download(f"{pin.module}@{pin.version}", work)
        replaces = staging_replaces(Path(info["GoMod"]).read_text(), pin.version)
        if not replaces:
            raise StepFailed(f"no ./staging/src replace lines in {info['GoMod']}: the recipe needs updating")
        text += "\nreplace (\n" + "".join(line + "\n" for line in replaces) + ")\n"
    with open(work / "go.mod", "a") as go_mod:
        go_mod.write(text)
    imports = "".join(f'\t_ "{package}"\n' for package in recipe.packages)
    (work / "tools.go").write_text(
        "//go:build tools\n\n// The commands this module exists to build.\npackage tools\n\nimport (\n" + imports + ")\n"
    )
    runner.go_cmd("mod", "tidy", cwd=work)
    single = len(recipe.packages) == 1
    runner.go_cmd(*_go_build_args(recipe, str(out / pin.binaries[0]) if single else f"{out}/"), cwd=work)
    if name == "pulumi":
        sdk = runner.download(f"github.com/pulumi/pulumi/sdk/v3@{pin.version}", work)
        for launcher, inside in PULUMI_LAUNCHERS.items():
            source = Path(sdk["Dir"]) / inside
            if not source.is_file():
                raise StepFailed(f"{inside} is missing from github.com/pulumi/pulumi/sdk/v3@{pin.version}")
            shutil.copyfile(source, out / launcher)


def _build_module_copy(name: str, runner: Runner, work: Path, out: Path) -> None:
    """pulumi-kubernetes: its provider module, built in a writable copy (what its Makefile does)."""
    pin = toolchain.SOURCE_PINS[name]
    recipe = recipe_for(name)
    info = runner.download(f"{pin.module}@{pin.version}", work)
    source = work / "src"
    shutil.copytree(info["Dir"], source, symlinks=True)
    _make_writable(source)
    go_mod = source / "go.mod"
    # The sdk module beside it in the repository is not in the module copy: use the published one.
    kept = [line for line in go_mod.read_text().splitlines(keepends=True)
            if not re.match(r"^\s*replace\s+github\.com/pulumi/pulumi-kubernetes/sdk/v4\s+=>\s+\.\./sdk\s*$", line)]
    go_mod.write_text("".join(kept))
    command = source / "cmd" / "pulumi-resource-kubernetes"
    try:
        schema = json.loads((command / "schema.json").read_text())
        schema["version"] = pin.shown_version
        (command / "schema-embed.json").write_text(json.dumps(schema))
        shutil.copyfile(command / "terraform-mapping.json", command / "terraform-mapping-embed.json")
    except (OSError, ValueError) as exc:
        raise StepFailed(f"cannot prepare the provider's embedded schema: {exc}") from None
    runner.go_cmd("mod", "tidy", cwd=source)
    runner.go_cmd("get", f"github.com/pulumi/pulumi-kubernetes/sdk/v4@v{pin.shown_version}", cwd=source)
    runner.go_cmd(*_go_build_args(recipe, str(out / pin.binaries[0])), cwd=source)


def _check_versions(name: str, runner: Runner, out: Path) -> None:
    """Each built binary runs and reports the pinned version (ldflags that missed show here)."""
    pin = toolchain.SOURCE_PINS[name]
    expected = pin.shown_version.lstrip("v")
    env = {**runner.env, "PULUMI_HOME": str(pulumi_home()), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    for binary, args in (recipe_for(name).version_args or {}).items():
        output = runner.run([str(out / binary), *args], cwd=out, stdout_wanted=True, timeout=CHECK_TIMEOUT_S,
                            env=env)
        first = next((line.strip() for line in output.splitlines() if line.strip()), "")
        if not re.search(rf"(^|[^0-9.]){re.escape(expected)}($|[^0-9.])", first):
            raise StepFailed(f"the built {binary} reports {first or 'no version'!r}, not {pin.shown_version}")


def _install(name: str, runner: Runner, out: Path) -> list[Path]:
    targets = destinations(name)
    if name == "pulumi-kubernetes":
        pulumi = toolchain.find_tool("pulumi")
        if pulumi is None:
            raise StepFailed("no Pulumi CLI to install the plugin with (build pulumi first)")
        env = {**os.environ, "PULUMI_HOME": str(pulumi_home()), "PULUMI_SKIP_UPDATE_CHECK": "true"}
        version = toolchain.SOURCE_PINS[name].shown_version
        runner.run([pulumi, "plugin", "install", "resource", "kubernetes", version,
                    "--file", str(out / "pulumi-resource-kubernetes"), "--reinstall"],
                   cwd=out, timeout=CHECK_TIMEOUT_S * 5, env=env)
        target = targets["pulumi-resource-kubernetes"]
        if not os.access(target, os.X_OK):
            raise StepFailed(f"`pulumi plugin install` did not put the plugin at {target}")
        return [target]
    installed = []
    for file, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Next to the target (same filesystem), then renamed over it: never a half-copied binary.
        fd, partial_name = tempfile.mkstemp(prefix=f".{file}-", suffix=".part", dir=target.parent)
        os.close(fd)
        partial = Path(partial_name)
        try:
            shutil.copyfile(out / file, partial)
            partial.chmod(0o755)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        installed.append(target)
    return installed


def build_pin(name: str, go: str, console_print: Printer = print) -> str:
    """Build and install SOURCE_PINS[name] unless its stamp matches; one summary line."""
    pin = toolchain.SOURCE_PINS[name]
    label = f"{', '.join(pin.binaries)} {pin.shown_version}"
    if stamp_matches(name):
        line = f"{label}: already built ({_where(name)})"
        console_print(line)
        return line
    work_name = f"{name}-{pin.shown_version}"
    log = go_dir() / "logs" / f"{work_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {pin.module}@{pin.version}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    console_print(f"{label}: building from {pin.module}@{pin.version} (go output: {log}) ...")
    started = time.monotonic()
    runner = Runner(go, log)
    try:
        work = _fresh_dir(go_dir() / "wrappers" / work_name)
        out = _fresh_dir(work / "out")
        if recipe_for(name).kind == "wrapper":
            _build_wrapper(name, runner, work, out)
        else:
            _build_module_copy(name, runner, work, out)
        missing = [file for file in destinations(name) if not (out / file).is_file()]
        if missing:
            raise StepFailed(f"go build produced no {', '.join(missing)}")
        _check_versions(name, runner, out)
        installed = _install(name, runner, out)
        shutil.rmtree(out)  # installed copies are what count; the wrapper's go.mod stays for inspection
    except StepFailed as exc:
        raise LabsError(
            f"could not build {', '.join(pin.binaries)} from {pin.module}@{pin.version}: {exc}; "
            f"full go output in {log}; fix that (network to the Go module proxy? disk space?) and rerun "
            "`invoke setup --from-source`"
        ) from None
    except OSError as exc:
        raise LabsError(
            f"could not build {', '.join(pin.binaries)} from {pin.module}@{pin.version}: {exc}; "
            f"check the disk space and permissions of {go_dir()} and {tools_dir()}, then rerun "
            "`invoke setup --from-source`"
        ) from None
    _write_stamp(name, installed)
    line = f"{label}: done in {_duration(time.monotonic() - started)} ({_where(name)})"
    console_print(line)
    return line


def _where(name: str) -> str:
    folders = sorted({str(path.parent) for path in destinations(name).values()})
    return ", ".join(folders)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


# -- the command ---------------------------------------------------------------------------------------

def find_go() -> str:
    """The go command, at least GO_MINIMUM, or one line saying what to do instead."""
    go = shutil.which("go")
    minimum = ".".join(map(str, GO_MINIMUM))
    if go is None:
        raise LabsError(
            f"go not found: `invoke setup --from-source` builds the tools with Go; install Go >= {minimum} "
            f"({GO_DOWNLOAD}) or use plain `invoke setup` (downloads)"
        )
    try:
        completed = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
                                   env={**os.environ, "GOTOOLCHAIN": "local"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabsError(f"{go} does not run ({exc}): reinstall Go >= {minimum} ({GO_DOWNLOAD}) or use plain "
                        "`invoke setup`") from None
    reported = completed.stdout.strip()
    match = re.match(r"^go(\d+)\.(\d+)", reported)
    if completed.returncode != 0 or (match and tuple(map(int, match.groups())) < GO_MINIMUM):
        found = reported or meaningful_line(completed.stderr)
        raise LabsError(
            f"{go} is {found}: `invoke setup --from-source` needs Go >= {minimum} ({GO_DOWNLOAD}), or use "
            "plain `invoke setup` (downloads)"
        )
    return go


def setup_from_source(console_print: Printer = print) -> list[str]:
    """`invoke setup --from-source`: build every SOURCE_PINS entry not already built; the summary."""
    go = find_go()
    console_print(f"building from Go modules with {go}; cache {go_dir()} (a first, cold build takes tens of "
                  "minutes; later runs: seconds)")
    summary = [build_pin(name, go, console_print) for name in toolchain.SOURCE_PINS]
    closing = [
        "not built from source: kind (it needs Docker) and docker itself; the labs run on kwok clusters here",
        "the labs find these tools by themselves; to use them in your shell too: "
        f'export PATH="{toolchain.bin_dir()}:{toolchain.pulumi_root() / "bin"}:$PATH"',
    ]
    for line in closing:
        console_print(line)
    return summary + closing
