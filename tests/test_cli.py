"""The invoke CLI, in process, with the Pulumi driver replaced by a fake.

`invoke lab up --lab=ingress` exactly as typed must ask the driver to bring up the right stack with
the right config; bad input must give one line, a non-zero exit and no driver call.
"""
from __future__ import annotations

import json

import pytest
from invoke import Program

import tasks
from infra import commands
from infra.errors import LabsError


class FakeDriver:
    instances: list["FakeDriver"] = []
    config: dict = {}  # stack name -> the settings of its last up (what the real stack's config keeps)

    def __init__(self, session):
        self.session = session
        self.calls: list[tuple] = []
        FakeDriver.instances.append(self)

    def up(self, settings, title):
        self.calls.append(("up", settings))
        FakeDriver.config[settings.stack_name] = settings
        return {"lab": settings.lab}

    def stack_settings(self, stack_name):
        from infra.settings import StackSettings

        return FakeDriver.config.get(stack_name) or StackSettings(session=self.session)

    def list_stacks(self):
        return [f"{self.session}-kind"]

    def destroy_session(self):
        self.calls.append(("destroy",))
        return [f"{self.session}-kind"]


KUBECTL_CALLS: list[list[str]] = []
KUBECTL_STDIN: list[str | None] = []  # what each call read on stdin (`-f -`), beside KUBECTL_CALLS


def fake_kubectl(args, kubeconfig, context, check=True, stdin=None):
    KUBECTL_CALLS.append([*args, f"context={context}"])
    KUBECTL_STDIN.append(stdin)


@pytest.fixture
def driver(monkeypatch):
    FakeDriver.instances = []
    FakeDriver.config = {}
    KUBECTL_CALLS.clear()
    KUBECTL_STDIN.clear()
    monkeypatch.setattr(commands, "make_driver", FakeDriver)
    monkeypatch.setattr(commands, "_kubectl", fake_kubectl)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    return FakeDriver


def invoke(*argv: str) -> None:
    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


def only_call(driver):
    (instance,) = driver.instances
    (call,) = instance.calls
    return instance, call


@pytest.mark.parametrize("argv", [("lab", "up", "--lab=ingress"), ("lab.up", "--lab=ingress"), ("lab", "up", "--lab=7")])
def test_lab_up_asks_the_driver_for_the_sessions_stack(driver, argv):
    invoke(*argv)
    instance, (op, settings) = only_call(driver)
    assert op == "up" and instance.session == "default"
    assert (settings.lab, settings.target, settings.stack_name) == ("ingress", "kind", "default-kind")
    assert settings.as_config()["k8s-labs:lab"] == "ingress"
    assert (settings.workers, settings.http_port, settings.https_port) == (2, 80, 443)
    (apply,) = KUBECTL_CALLS
    assert apply[:3] == ["apply", "-R", "-f"] and apply[3].endswith("labs/07-ingress/manifests")
    assert apply[4] == "context=kind-labs-default"


def test_lab_up_options_reach_the_stack_config(driver):
    invoke("lab", "up", "--lab=ingress", "--session=monday", "--workers=1", "--http-port=8080", "--https-port=8443")
    instance, (_, settings) = only_call(driver)
    assert instance.session == "monday" and settings.stack_name == "monday-kind"
    assert settings.as_config() == {
        "k8s-labs:session": "monday", "k8s-labs:target": "kind", "k8s-labs:lab": "ingress",
        "k8s-labs:workers": "1", "k8s-labs:httpPort": "8080", "k8s-labs:httpsPort": "8443",
        "k8s-labs:lbAddressRange": "", "k8s-labs:baseDomain": "", "k8s-labs:apiServerAddress": "",
    }


def test_lab_down_keeps_the_cluster_and_drops_the_layers(driver):
    invoke("lab", "down", "--session=monday")
    _, (op, settings) = only_call(driver)
    assert op == "up" and settings.lab == "" and settings.stack_name == "monday-kind"


def test_lab_down_keeps_the_options_the_cluster_was_made_with(driver):
    """The stack's own settings, not the committed defaults: a port or node count change would
    replace the kind cluster `lab down` is meant to keep."""
    invoke("lab", "up", "--lab=ingress", "--session=monday", "--workers=1", "--http-port=8080", "--https-port=8443")
    invoke("lab", "down", "--session=monday")
    _, (op, settings) = driver.instances[-1], driver.instances[-1].calls[-1]
    assert op == "up" and settings.lab == "" and settings.stack_name == "monday-kind"
    assert (settings.workers, settings.http_port, settings.https_port) == (1, 8080, 8443)


def test_session_down_without_the_kind_cli_still_removes_the_session(driver, monkeypatch):
    """A cloud-only machine has no kind: the destroy is done, the session's files must go too."""
    from infra import paths

    paths.session_dir("monday").mkdir(parents=True)
    monkeypatch.setenv("PATH", "/nonexistent")
    invoke("session", "down", "--session=monday")
    _, call = only_call(driver)
    assert call == ("destroy",) and not paths.session_dir("monday").exists()


@pytest.mark.parametrize("check", [True, False])
def test_a_kubectl_that_never_returns_is_one_line_not_a_traceback(monkeypatch, check):
    import subprocess

    def hangs(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr("infra.toolchain.require_tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "run", hangs)
    args = ["delete", "service", "traefik", "-n", "traefik", "--wait=true", "--timeout=600s"]
    if check:
        with pytest.raises(LabsError, match="did not finish within"):
            commands._kubectl(args, "/tmp/kubeconfig", None)
    else:  # the cloud teardown goes on to the destroy
        assert commands._kubectl(args, "/tmp/kubeconfig", None, check=False).returncode != 0


def test_kubectl_outlives_its_own_longest_timeout():
    from infra.clusters.cloud import RELEASE_TIMEOUT_S

    assert commands.KUBECTL_TIMEOUT_S > RELEASE_TIMEOUT_S


@pytest.mark.parametrize(
    "argv, message",
    [
        (("lab", "up", "--lab=ingres"), "error: unknown lab 'ingres'. Did you mean 'ingress'?"),
        (("lab", "up", "--lab=ingress", "--target=minikube"), "error: unknown target 'minikube'"),
        (("lab", "up", "--lab=ingress", "--workers=many"), "workers must be a whole number"),
        (("lab", "up", "--lab=ingress", "--http-port=70000"), "httpPort must be between 1 and 65535"),
        (("lab", "up", "--lab=ingress", "--session=Mon Day"), "invalid session name"),
        (("lab", "up"), "`lab up` needs --lab=<slug|number>"),
        (("lab", "fly", "--lab=ingress"), "unknown action 'fly'"),
        (("lab", "render", "--lab=ingress", "--format=xml"), "unknown format 'xml'"),
        (("lab", "check", "--lab=ingress", "--timeout=soon"), "--timeout must be a number of seconds, got 'soon'"),
        (("lab", "test", "--lab=ingress", "--timeout=-5"), "--timeout must be 0 or more seconds"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit_with_nothing_created(driver, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert all(not instance.calls for instance in driver.instances)


def test_a_failing_preflight_stops_before_the_driver(driver, monkeypatch, capsys):
    def daemon_down(self, settings):
        raise LabsError("docker daemon not answering: start Docker Desktop")

    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", daemon_down)
    with pytest.raises(SystemExit):
        invoke("lab", "up", "--lab=ingress")
    assert "docker daemon not answering" in capsys.readouterr().err
    assert driver.instances == []


def test_session_down_destroys_the_stacks_deletes_the_cluster_and_the_state(driver, monkeypatch, tmp_path):
    from infra import paths

    deleted = []
    monkeypatch.setattr("infra.clusters.kind.KindTarget.cleanup", lambda self, settings: deleted.append(settings.session))
    monkeypatch.setattr("infra.toolchain.find_tool", lambda name: f"/usr/local/bin/{name}")  # kind is installed
    state = paths.session_dir("monday")
    state.mkdir(parents=True)
    (state / "kind-config.yaml").write_text("kind: Cluster\n")
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path)
    stack_file = tmp_path / "Pulumi.monday-kind.yaml"
    stack_file.write_text("config: {}\n")
    other = tmp_path / "Pulumi.monday-2-kind.yaml"
    other.write_text("config: {}\n")
    invoke("session", "down", "--session=monday")
    _, call = only_call(driver)
    assert call == ("destroy",) and deleted == ["monday"]
    assert not state.exists() and not stack_file.exists() and other.exists()


def test_lab_list_shows_slide_number_title_slug_and_layers(capsys):
    invoke("lab", "list")
    out = capsys.readouterr().out
    assert "07" in out and "Ingress" in out and "ingress" in out


def test_lab_render_prints_json_for_the_lab(capsys):
    import json

    invoke("lab", "render", "--lab=ingress")
    document = json.loads(capsys.readouterr().out)
    assert document["lab"] == "07-ingress" and document["releases"][0]["version"] == "41.3.0"


def test_listing_labs_imports_no_pulumi():
    """`invoke lab list` and `invoke --list` must stay instant: no Pulumi or provider SDK on that path."""
    import subprocess
    import sys

    code = (
        "import sys; from invoke import Program; import tasks; "
        "Program(namespace=tasks.ns).run(['invoke', 'lab', 'list']); "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_kubernetes', 'grpc')); "
        "print('LOADED', loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tasks.__file__.rsplit("/", 1)[0])
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout


def test_options_given_once_stay_for_the_sessions_next_commands(driver, capsys):
    """A kind cluster whose ports or nodes change is recreated: the session keeps what it was made with."""
    invoke("lab", "up", "--lab=ingress", "--session=monday", "--http-port=8080", "--workers=1",
           "--api-server-address=127.0.0.1")
    invoke("lab", "up", "--lab=hpa", "--session=monday")
    settings = driver.instances[-1].calls[-1][1]
    assert (settings.lab, settings.http_port, settings.workers, settings.api_server_address) == (
        "hpa", 8080, 1, "127.0.0.1")
    invoke("lab", "up", "--lab=hpa", "--session=monday", "--workers=2")  # a new value replaces the old one
    settings = driver.instances[-1].calls[-1][1]
    assert (settings.http_port, settings.workers) == (8080, 2)
    capsys.readouterr()
    invoke("lab", "render", "--lab=ingress", "--session=monday")
    (control_plane, *_) = json.loads(capsys.readouterr().out)["cluster"]["config"]["nodes"]
    assert control_plane["extraPortMappings"][0]["hostPort"] == 8080  # the render shows the session's cluster
    invoke("lab", "up", "--lab=ingress", "--session=tuesday")  # another session starts from the defaults
    settings = driver.instances[-1].calls[-1][1]
    assert (settings.http_port, settings.workers, settings.api_server_address) == (80, 2, "")
