"""The invoke CLI, in process, with the Pulumi driver replaced by a fake.

`invoke lab up --lab=ingress` exactly as typed must ask the driver to bring up the right stack with
the right config; bad input must give one line, a non-zero exit and no driver call.
"""
from __future__ import annotations

import json

import pytest
import yaml
from invoke import Program

import tasks
from infra import commands
from infra.errors import LabsError
from tests.conftest import write_pulumi_state


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
        write_pulumi_state(self.session, settings.stack_name)
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


def kind_kubeconfig(folder, session: str = "default") -> str:
    """The kubeconfig kind writes for the session's cluster: its context, as kubectl reads it."""
    file = folder / "kind-kubeconfig"
    file.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [
        {"name": f"kind-labs-{session}", "context": {"cluster": f"kind-labs-{session}", "user": f"kind-labs-{session}"}}]}))
    return str(file)


@pytest.fixture
def driver(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", kind_kubeconfig(tmp_path))  # the session's kind cluster exists
    FakeDriver.instances = []
    FakeDriver.config = {}
    KUBECTL_CALLS.clear()
    KUBECTL_STDIN.clear()
    monkeypatch.setattr(commands, "make_driver", FakeDriver)
    monkeypatch.setattr(commands, "kubectl", fake_kubectl)
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


def test_lab_down_without_a_stack_creates_nothing_and_says_so(driver, monkeypatch, capsys):
    """A wrong --session, or `lab down` after `session down`: an up would build a whole cluster."""
    monkeypatch.setattr(FakeDriver, "list_stacks", lambda self: [])
    invoke("lab", "down", "--session=typo")
    (instance,) = driver.instances
    assert instance.calls == []
    assert capsys.readouterr().err.strip() == ("nothing to take down: session 'typo' has no kind cluster "
                                               "(`invoke session list` shows the sessions)")


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

    write_pulumi_state("monday", "monday-kind")
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
            commands.kubectl(args, "/tmp/kubeconfig", None)
    else:  # the cloud teardown goes on to the destroy
        assert commands.kubectl(args, "/tmp/kubeconfig", None, check=False).returncode != 0


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
    write_pulumi_state("monday", "monday-kind")
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


# --- lab check / lab test where checks cannot be decided (no containers run: kwok) -------------------

def _check_lab(slug: str, number: int, checks: str) -> str:
    return (f"slide: {slug}\nslug: {slug}\nlayers: []\nduration: 10\nnamespace: lab-{slug}\n"
            "objectives: {fr: [Faire], en: [Do]}\n" f"checks:\n{checks}")


ROLLOUT = "  - {id: web-rolled-out, kind: rollout, object: Deployment, name: web, hint: {fr: Déploie, en: Deploy}}\n"
CONFIG = ("  - {id: config, kind: exists, apiVersion: v1, object: ConfigMap, name: settings,"
          " hint: {fr: Crée settings, en: Create settings}}\n")
HTTP = "  - {id: reachable, kind: http, host: web.localhost, contains: hello, hint: {fr: Publie, en: Publish}}\n"
PROMQL = "  - {id: scraped, kind: promql, query: 'up{job=\"web\"}', hint: {fr: Scrape, en: Scrape}}\n"


def _web(namespace: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}}


@pytest.fixture
def data_path_labs(tmp_path, monkeypatch):
    """A catalog of four labs, each with a starting point and a solution as objects of a fake cluster
    (lab up/solve/reset stand-ins put them there), the fake as the session's cluster and its ingress:
      web      rollout + http: the starter fails on the rollout
      data     http + promql only: nothing to decide without running containers
      halfway  exists (given by the starting point) + http: without the http check, the starter passes
      broken   rollout whose solution forgets the Deployment: fails everywhere."""
    from pathlib import Path

    from infra.catalog import Catalog
    from infra.checks import ClusterReader
    from infra.driver import session_kubeconfig
    from infra.paths import write_private
    from tests.conftest import write_lab
    from tests.fake_cluster import FakeCluster

    root = tmp_path / "labs"
    write_lab(root, "91-web", _check_lab("web", 91, ROLLOUT + HTTP))
    write_lab(root, "92-data", _check_lab("data", 92, HTTP + PROMQL))
    write_lab(root, "93-halfway", _check_lab("halfway", 93, CONFIG + HTTP))
    write_lab(root, "94-broken", _check_lab("broken", 94, ROLLOUT))
    catalog = Catalog.load(root)
    monkeypatch.setattr(commands.out, "_width", 200)  # the lab test report's rows on one line each
    monkeypatch.setattr(commands, "Catalog", type("FixedCatalog", (), {"load": staticmethod(lambda *a: catalog)}))
    starting = {"halfway": [{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "settings", "namespace": "lab-halfway"}}]}
    solution = {"web": [_web("lab-web")], "data": [], "halfway": [], "broken": []}
    with FakeCluster() as cluster:
        baseline = dict(cluster.objects)

        def reset(ref, settings, *args, **kwargs):
            cluster.objects = dict(baseline)
            cluster.http_answers.clear()
            cluster.promql.clear()
            cluster.services.clear()
            cluster.add(*starting.get(ref, []))

        def solve(ref, settings, *args, **kwargs):
            cluster.add(*solution[ref])
            if ref in ("web", "data", "halfway"):  # the data path works once solved (where containers run)
                cluster.http_answers[("web.localhost", "/")] = (200, "hello\n")
                cluster.answer_promql('up{job="web"}', 1)

        monkeypatch.setattr(commands, "lab_up", lambda ref, settings, *a, **k: reset(ref, settings))
        for target in ("kind.KindTarget", "kwok.KwokTarget"):  # Docker and the tools are there
            monkeypatch.setattr(f"infra.clusters.{target}.preflight", lambda self, settings: None)
        monkeypatch.setattr(commands, "lab_reset", reset)
        monkeypatch.setattr(commands, "lab_solve", solve)
        monkeypatch.setattr(commands, "ingress_url", lambda target, port, kubeconfig, context: cluster.url)
        # The session's kubeconfig (as `lab up` writes it): lab check finds the fake through it.
        write_private(session_kubeconfig("default"), Path(cluster.kubeconfig(tmp_path)).read_text())
        cluster.http_asked = []
        real_http_get = ClusterReader.http_get

        def http_get(self, host, path):
            cluster.http_asked.append(host)
            return real_http_get(self, host, path)

        monkeypatch.setattr("infra.checks.ClusterReader.http_get", http_get)
        yield cluster


def test_lab_check_on_kwok_shows_a_data_path_check_as_skipped_and_never_asks_the_ingress(data_path_labs, capsys):
    commands.lab_reset("web", None)
    commands.lab_solve("web", None)
    invoke("lab", "check", "--lab=web", "--target=kwok", "--timeout=0")  # no SystemExit: nothing failed
    out = capsys.readouterr().out
    assert "✓ web-rolled-out" in out
    assert "– reachable: skipped on kwok: needs running containers" in out
    assert "✗ reachable" not in out and "✓ reachable" not in out
    assert "91-web: 1/1 checks passed, 1 skipped on kwok: needs running containers" in out
    assert data_path_labs.http_asked == []


def test_lab_check_on_kind_evaluates_the_same_check(data_path_labs, capsys):
    commands.lab_reset("web", None)
    commands.lab_solve("web", None)
    invoke("lab", "check", "--lab=web", "--timeout=0")
    out = capsys.readouterr().out
    assert "✓ reachable" in out and "91-web: 2/2 checks passed" in out and "skipped" not in out
    assert data_path_labs.http_asked == ["web.localhost"]


def test_lab_check_on_kwok_fails_only_on_a_decidable_check(data_path_labs, capsys):
    commands.lab_reset("web", None)  # no Deployment
    with pytest.raises(SystemExit) as exit_:
        invoke("lab", "check", "--lab=web", "--target=kwok", "--timeout=0", "--lang=en")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "✗ web-rolled-out" in out and "→ Deploy" in out
    assert "91-web: 0/1 checks passed, 1 failed, 1 skipped on kwok: needs running containers" in out


def test_lab_check_where_every_check_is_skipped_says_nothing_was_decided(data_path_labs, capsys):
    commands.lab_reset("data", None)
    commands.lab_solve("data", None)
    invoke("lab", "check", "--lab=data", "--target=kwok", "--timeout=0")  # exit 0: nothing failed
    out = capsys.readouterr().out
    assert "92-data: nothing decided: every check needs running containers (2 skipped on kwok)" in out
    assert "checks passed" not in out and "✓" not in out
    assert data_path_labs.http_asked == [] and 'up{job="web"}' in data_path_labs.promql


def _report_row(out: str, lab_id: str) -> str:
    return next(line for line in out.splitlines() if lab_id in line and "│" in line)


def test_lab_test_on_kwok_judges_decidable_checks_counts_skips_and_calls_all_skipped_labs_undecided(
        data_path_labs, capsys):
    with pytest.raises(SystemExit) as exit_:  # the broken lab fails the run, the undecided ones do not
        invoke("lab", "test", "--lab=all", "--target=kwok", "--timeout=0")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    web, data, halfway, broken = (_report_row(out, lab) for lab in ("91-web", "92-data", "93-halfway", "94-broken"))
    assert web.count("ok") == 4 and "│ 1 " in web and "passed" in web
    # All skipped: every step undecided, the lab never passed.
    assert data.count("undecided") == 4 and "│ 2 " in data and "undecided on kwok" in data and "passed" not in data
    # The starter passes what can be decided: the failing check may be the skipped one.
    assert "undecided on kwok" in halfway and "│ 1 " in halfway and halfway.count("undecided") == 3
    assert "failed" in broken and " no " in broken
    assert "lab test on kwok: 1 passed, 1 failed, 2 undecided" in out
    assert "4 checks skipped on kwok: need running containers" in out
    assert "92-data, 93-halfway" in out.replace("\n", " ")
    assert data_path_labs.http_asked == []


def test_lab_test_on_kind_decides_the_same_labs(data_path_labs, capsys):
    """Where containers run, every check is decided: the labs undecided on kwok pass (halfway's starter
    fails on the very check kwok skipped), the broken one still fails."""
    assert not commands.lab_test("all", commands.stack_settings("kind"), timeout=0)
    out = capsys.readouterr().out
    assert "lab test on kind: 3 passed, 1 failed, 0 undecided" in out
    assert "skipped on" not in out and "undecided on" not in out
    for lab in ("91-web", "92-data", "93-halfway"):
        assert _report_row(out, lab).count("ok") == 4
    assert "web.localhost" in data_path_labs.http_asked


def test_lab_test_judges_the_starter_once_its_rollouts_are_done(tmp_path, monkeypatch, capsys):
    """A lab whose starting point already satisfies its only check (the rollout of a Deployment the
    starter itself applies) must not pass "starter fails": right after `kubectl apply` the rollout is not
    done, and judging then would call the starter failing. `lab test` waits for the starter to settle."""
    from pathlib import Path

    from infra.catalog import Catalog
    from infra.driver import session_kubeconfig
    from infra.paths import write_private
    from tests.conftest import write_lab
    from tests.fake_cluster import FakeCluster

    root = tmp_path / "labs"
    folder = write_lab(root, "95-settles", _check_lab("settles", 95, ROLLOUT))
    (folder / "manifests" / "web.yaml").write_text(__import__("yaml").safe_dump(_web("lab-settles")))
    catalog = Catalog.load(root)
    monkeypatch.setattr(commands.out, "_width", 200)
    monkeypatch.setattr(commands, "Catalog", type("FixedCatalog", (), {"load": staticmethod(lambda *a: catalog)}))
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    monkeypatch.setattr("infra.checks.time.sleep", lambda seconds: None)  # retries without waiting
    monkeypatch.setattr(commands, "STARTER_SETTLE_S", 2)  # ample for 3 reads without sleeping; bounded if it never settles
    path = "/apis/apps/v1/namespaces/lab-settles/deployments/web"
    with FakeCluster() as cluster:
        def reset(ref, settings, *args, **kwargs):  # kubectl apply of the starter: rolling out for 3 reads
            cluster.add(_web("lab-settles"))
            cluster.roll_out_slowly(path, reads=3)

        monkeypatch.setattr(commands, "lab_up", reset)
        monkeypatch.setattr(commands, "lab_reset", reset)
        monkeypatch.setattr(commands, "lab_solve", lambda *a, **k: None)
        write_private(session_kubeconfig("default"), Path(cluster.kubeconfig(tmp_path)).read_text())
        assert not commands.lab_test("all", commands.stack_settings("kind"), timeout=0)
        assert cluster.rolling[path] == 0  # the rollout was waited for, not judged mid-way
    out = capsys.readouterr().out
    cells = [cell.strip() for cell in _report_row(out, "95-settles").split("│")]
    assert cells[2:4] == ["ok", "no"] and cells[-2] == "failed"  # up ok, starter fails: no
    header = next(line for line in out.splitlines() if "starter fails" in line)
    assert [cell.strip() for cell in header.split("┃")][1:-1] == [
        "lab", "up", "starter fails", "solution passes", "reset fails", "skipped", "result"]
    assert "lab test on kind" in out.split(header)[0]  # the table's title


def test_lab_test_judges_a_starter_that_never_settles_as_it_is_and_says_so(tmp_path, monkeypatch, capsys):
    """A starting point whose rollout never completes (a broken image on purpose) is judged when the
    settling time runs out; the report says which workload did not settle."""
    from pathlib import Path

    from infra.catalog import Catalog
    from infra.driver import session_kubeconfig
    from infra.paths import write_private
    from tests.conftest import write_lab
    from tests.fake_cluster import FakeCluster

    root = tmp_path / "labs"
    folder = write_lab(root, "96-stuck", _check_lab("stuck", 96, ROLLOUT))
    (folder / "manifests" / "web.yaml").write_text(__import__("yaml").safe_dump(_web("lab-stuck")))
    catalog = Catalog.load(root)
    monkeypatch.setattr(commands.out, "_width", 200)
    monkeypatch.setattr(commands, "Catalog", type("FixedCatalog", (), {"load": staticmethod(lambda *a: catalog)}))
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)
    monkeypatch.setattr(commands, "STARTER_SETTLE_S", 0)  # no waiting: one look
    path = "/apis/apps/v1/namespaces/lab-stuck/deployments/web"
    with FakeCluster() as cluster:
        def reset(ref, settings, *args, **kwargs):
            cluster.add(_web("lab-stuck"))
            cluster.roll_out_slowly(path, reads=1000)

        monkeypatch.setattr(commands, "lab_up", reset)
        monkeypatch.setattr(commands, "lab_reset", reset)
        monkeypatch.setattr(commands, "lab_solve", lambda *a, **k: None)
        write_private(session_kubeconfig("default"), Path(cluster.kubeconfig(tmp_path)).read_text())
        assert not commands.lab_test("all", commands.stack_settings("kind"), timeout=0)
    out = capsys.readouterr().out
    assert "96-stuck: starting point not settled after 0 s (Deployment web: 0/1 ready): judged as it is" in out
    cells = [cell.strip() for cell in _report_row(out, "96-stuck").split("│")]
    assert cells[2:6] == ["ok", "ok", "no", "ok"]  # starter fails (not rolled out), the solution does not pass
