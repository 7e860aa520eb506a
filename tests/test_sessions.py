"""Sessions: the record `lab up` writes (target, creation, expiry), `session list`, the expiry warning
every command prints, `session extend`. Offline, with the Pulumi driver and kubectl faked."""
from __future__ import annotations

import json
import sys
import types
from datetime import datetime, timedelta, timezone

import pytest

from infra import commands, paths, sessions
from infra.errors import LabsError
from infra.settings import StackSettings
from tests.conftest import write_pulumi_state

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)


class FakeDriver:
    def __init__(self, session):
        self.session = session

    def up(self, settings, title):
        return {"lab": settings.lab}

    def list_stacks(self):
        return []

    def destroy_session(self):
        return []


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(commands, "make_driver", FakeDriver)
    monkeypatch.setattr(commands, "kubectl", lambda *args, **kwargs: None)
    monkeypatch.setattr("infra.clusters.kind.KindTarget.preflight", lambda self, settings: None)


def _invoke(*argv):
    from invoke import Program

    import tasks

    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


def test_the_first_record_keeps_target_creation_and_an_8_hour_expiry():
    written = sessions.record(StackSettings(session="monday"), now=T0)
    assert json.loads(sessions.record_file("monday").read_text()) == {
        "session": "monday", "targets": ["kind"], "created_at": "2026-09-01T08:00:00+00:00",
        "expires_at": "2026-09-01T16:00:00+00:00",
        "options": {"kind": {"k8s-labs:workers": "2", "k8s-labs:httpPort": "80", "k8s-labs:httpsPort": "443",
                             "k8s-labs:lbAddressRange": "", "k8s-labs:baseDomain": "",
                             "k8s-labs:apiServerAddress": ""}}}
    assert written.expires == T0 + timedelta(hours=8)


def test_a_later_record_keeps_the_times_and_adds_a_new_target():
    sessions.record(StackSettings(session="monday"), now=T0)
    again = sessions.record(StackSettings(session="monday", target="gke"), now=T0 + timedelta(hours=3))
    assert again.created == T0 and again.expires == T0 + timedelta(hours=8)
    assert sessions.load("monday").targets == ["kind", "gke"]


def test_the_expiry_is_configurable(monkeypatch):
    monkeypatch.setenv("LABS_SESSION_HOURS", "3")
    assert sessions.record(StackSettings(session="short"), now=T0).expires == T0 + timedelta(hours=3)
    monkeypatch.delenv("LABS_SESSION_HOURS")
    settings = StackSettings(session="cloudy", target="gke", expires_hours=12)
    assert sessions.record(settings, now=T0).expires == T0 + timedelta(hours=12)


@pytest.mark.parametrize("raw, message", [("soon", "whole number"), ("0", "between 1 and 168"), ("500", "between")])
def test_a_bad_expiry_setting_is_one_line(monkeypatch, raw, message):
    monkeypatch.setenv("LABS_SESSION_HOURS", raw)
    with pytest.raises(LabsError, match=message):
        sessions.record(StackSettings(session="monday"), now=T0)
    assert not sessions.record_file("monday").exists()


def test_a_cloud_session_takes_the_expiry_its_resources_are_tagged_with():
    folder = paths.session_dir("cloudy")
    folder.mkdir(parents=True)
    (folder / "expires-at").write_text("2026-09-01t18-30z\n")  # infra.clusters.cloud's tag format
    written = sessions.record(StackSettings(session="cloudy", target="gke"), now=T0)
    assert written.expires == datetime(2026, 9, 1, 18, 30, tzinfo=timezone.utc)


def test_lab_up_records_the_session_once(offline, monkeypatch, copy_of_real_lab):
    from infra.catalog import Catalog

    catalog = Catalog.load(copy_of_real_lab)
    monkeypatch.setattr(Catalog, "load", classmethod(lambda cls, labs_dir=None: catalog))
    commands.lab_up("ingress", StackSettings(session="monday"))
    first = sessions.load("monday")
    assert first is not None and first.targets == ["kind"]
    commands.lab_up("ingress", StackSettings(session="monday"))
    assert sessions.load("monday") == first


def test_an_expired_session_warns_in_one_yellow_line_on_stderr(offline, capsys):
    sessions.record(StackSettings(session="monday"), now=datetime.now(timezone.utc) - timedelta(hours=9, minutes=5))
    commands.stack_settings(session="monday")
    err = capsys.readouterr().err.strip()
    assert err.startswith("warning: session 'monday' expired 1h0") and len(err.splitlines()) == 1
    assert "invoke session down --session=monday" in err
    commands.stack_settings(session="tuesday")  # no record: no warning
    sessions.record(StackSettings(session="wednesday"))  # fresh: no warning
    commands.stack_settings(session="wednesday")
    assert capsys.readouterr().err == ""


def test_the_warning_is_yellow():
    from rich.console import Console

    console = Console(force_terminal=True, color_system="standard", width=300)
    sessions.record(StackSettings(session="monday"), now=T0)
    with console.capture() as captured:
        console.print(sessions.expiry_warning("monday", now=T0 + timedelta(hours=9)), style="yellow", markup=False)
    assert "\x1b[33m" in captured.get()


def test_extend_moves_the_expiry_and_silences_the_warning():
    sessions.record(StackSettings(session="monday"), now=T0)
    assert sessions.expiry_warning("monday", now=T0 + timedelta(hours=9))
    sessions.extend("monday", 4, now=T0 + timedelta(hours=9))
    assert sessions.expiry_warning("monday", now=T0 + timedelta(hours=9)) is None
    assert sessions.load("monday").expires == T0 + timedelta(hours=13)
    with pytest.raises(LabsError, match="has no record"):
        sessions.extend("nobody", 4)


def test_stacks_come_from_the_local_backend_and_the_stack_files(monkeypatch, tmp_path):
    backend = paths.session_dir("monday") / "pulumi" / ".pulumi" / "stacks" / "k8s-labs"
    backend.mkdir(parents=True)
    (backend / "monday-kind.json").write_text("{}")
    (backend / "monday-kind.json.bak").write_text("{}")
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path)
    (tmp_path / "Pulumi.monday-gke.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.monday-2-kind.yaml").write_text("config: {}\n")  # session monday-2's
    assert sessions.stacks_of("monday") == ["monday-gke", "monday-kind"]


def test_cost_so_far_is_a_dash_off_the_clouds_and_na_without_a_cost_module(monkeypatch):
    kind = sessions.record(StackSettings(session="monday"), now=T0)
    gke = sessions.record(StackSettings(session="cloudy", target="gke"), now=T0)
    assert sessions.cost_so_far(kind, now=T0 + timedelta(hours=2)) == "-"
    monkeypatch.setattr(sessions, "COST_MODULES", ("infra.no_such_cost_module",))
    assert sessions.cost_so_far(gke, now=T0 + timedelta(hours=2)) == "n/a"


def test_cost_so_far_asks_the_cost_module_lazily(monkeypatch):
    asked = []
    module = types.ModuleType("infra.fake_cost")
    module.cost_so_far = lambda target, hours: asked.append((target, hours)) or 0.75 * hours
    monkeypatch.setitem(sys.modules, "infra.fake_cost", module)
    monkeypatch.setattr(sessions, "COST_MODULES", ("infra.fake_cost",))
    gke = sessions.record(StackSettings(session="cloudy", target="gke"), now=T0)
    assert sessions.cost_so_far(gke, now=T0 + timedelta(hours=2)) == "~$1.50"
    assert asked == [("gke", 2.0)]


def test_cost_so_far_survives_a_failing_cost_module(monkeypatch):
    module = types.ModuleType("infra.broken_cost")
    module.cost_so_far = lambda target, hours: 1 / 0
    monkeypatch.setitem(sys.modules, "infra.broken_cost", module)
    monkeypatch.setattr(sessions, "COST_MODULES", ("infra.broken_cost",))
    gke = sessions.record(StackSettings(session="cloudy", target="gke"), now=T0)
    assert sessions.cost_so_far(gke, now=T0 + timedelta(hours=2)) == "n/a"


def test_session_list_shows_age_expiry_target_stacks_and_cost(monkeypatch, capsys, tmp_path):
    from infra import instructor

    now = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path)
    sessions.record(StackSettings(session="monday"), now=now - timedelta(hours=2, minutes=10))
    (tmp_path / "Pulumi.monday-kind.yaml").write_text("config: {}\n")
    sessions.record(StackSettings(session="old"), now=now - timedelta(hours=10))
    write_pulumi_state("norecord", "norecord-kind")  # a first up killed outright: its state, no record
    (paths.session_dir("failed") / "last-run.log").parent.mkdir(parents=True)  # a first up that created nothing
    (paths.session_dir("failed") / "last-run.log").write_text("error: ...\n")
    monkeypatch.setattr(sessions, "COST_MODULES", ("infra.no_such_cost_module",))
    sessions.record(StackSettings(session="cloudy", target="gke"), now=now - timedelta(minutes=30))
    instructor.session_list(now=now)
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in capsys.readouterr().out.splitlines() if line.count("│") >= 7}
    assert rows["monday"] == ["kind", "2h10m", "in 5h50m", "monday-kind", "-"]
    assert rows["old"][2] == "expired 2h00m ago"
    assert rows["norecord"][:3] == ["?", "?", "?"]
    assert "failed" not in rows
    assert rows["cloudy"][0] == "gke" and rows["cloudy"][4] == "n/a"


def test_invoke_session_list_and_extend(monkeypatch, capsys):
    sessions.record(StackSettings(session="monday"), now=datetime.now(timezone.utc) - timedelta(hours=9))
    _invoke("session", "extend", "--session=monday", "--hours=2")
    assert not sessions.load("monday").expired()
    _invoke("session", "list")
    assert "monday" in capsys.readouterr().out


def test_invoke_session_extend_bad_hours_is_one_line(capsys):
    sessions.record(StackSettings(session="monday"))
    with pytest.raises(SystemExit) as exit_:
        _invoke("session", "extend", "--session=monday", "--hours=500")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "--hours must be between 1 and 168" in err and len(err.splitlines()) == 1


# --- the record tells the truth: written once something exists, never guessed from a broken file -------

class FailingUpDriver:
    """Fails an `up` as the real driver does: Pulumi has made the stack (its config file, its checkpoint
    in the session's backend, holding `created` resources) and its log before the provider refused;
    the error is the driver's one line naming the log."""

    created: tuple[str, ...] = ()

    def __init__(self, session):
        self.session = session

    def up(self, settings, title):
        from infra.driver import run_log

        (paths.STACKS_DIR / f"Pulumi.{settings.stack_name}.yaml").write_text("encryptionsalt: v1:abc\nconfig: {}\n")
        write_pulumi_state(self.session, settings.stack_name, custom=self.created)
        run_log(self.session).write_text("error: googleapi: Error 403: Compute Engine API has not been used\n")
        raise LabsError(f"{title} failed at gcp:compute:Network labs-{self.session}: googleapi: Error 403 "
                        f"(full log: {run_log(self.session)})")


@pytest.fixture
def cloud_up(monkeypatch, tmp_path, copy_of_real_lab):
    from infra.catalog import Catalog

    catalog = Catalog.load(copy_of_real_lab)
    monkeypatch.setattr(Catalog, "load", classmethod(lambda cls, labs_dir=None: catalog))
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path / "stacks")
    (tmp_path / "stacks").mkdir()
    monkeypatch.setattr(commands, "make_driver", FailingUpDriver)
    monkeypatch.setattr("infra.clusters.gke.GkeTarget.preflight", lambda self, settings: None)
    FailingUpDriver.created = ()

    def up():
        settings = commands.stack_settings(target="gke", session="monday", gcpProject="labs-test")
        with pytest.raises(LabsError, match="Error 403") as failure:
            commands.lab_up("ingress", settings, yes=True)
        return str(failure.value)

    return up


def test_a_failed_cloud_up_that_created_nothing_leaves_no_session(cloud_up, tmp_path):
    error = cloud_up()
    assert sessions.load("monday") is None
    assert [info.session for info in sessions.list_sessions()] == []
    assert sessions.stacks_of("monday") == [] and list((tmp_path / "stacks").iterdir()) == []
    assert not (paths.session_dir("monday") / "expires-at").exists()  # the expiry tag planned for it is gone too
    # the log the error names is kept, and only it
    assert [p.name for p in paths.session_dir("monday").iterdir()] == ["last-run.log"]
    assert str(paths.session_dir("monday") / "last-run.log") in error


def test_a_failed_cloud_up_that_created_something_is_recorded(cloud_up):
    FailingUpDriver.created = ("gcp:compute/network:Network",)
    cloud_up()
    record = sessions.load("monday")
    assert record.targets == ["gke"] and record.options["gke"]["k8s-labs:gcpProject"] == "labs-test"
    assert record.expires_at  # the expiry its resources are tagged with
    assert sessions.stacks_of("monday") == ["monday-gke"]


def test_a_failed_up_of_a_recorded_session_keeps_its_record(cloud_up):
    before = sessions.record(StackSettings(session="monday"), now=T0)  # its kind cluster exists
    cloud_up()
    assert sessions.load("monday") == before


def test_what_a_session_created_is_read_from_its_checkpoints(monkeypatch):
    assert sessions.created_resources("monday") == []  # no state at all
    write_pulumi_state("monday", "monday-kind", custom=())  # the stack, its provider: nothing created
    assert sessions.created_resources("monday") == []
    write_pulumi_state("monday", "monday-gke", custom=(), pending=("gcp:container/cluster:Cluster",))
    assert sessions.created_resources("monday") == ["urn:pulumi:monday-gke::k8s-labs::gcp:container/cluster:Cluster::p0"]
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket/labs")
    assert sessions.created_resources("monday") is None  # not on this machine: cannot tell


def test_session_down_of_a_record_with_nothing_created_needs_no_pulumi_cli(monkeypatch, tmp_path, capsys):
    """The real driver, and no Pulumi CLI anywhere: the session still goes."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(paths, "STACKS_DIR", tmp_path)
    sessions.record(StackSettings(session="monday"), now=T0)  # as an older version wrote it before its `up`
    (tmp_path / "Pulumi.monday-kind.yaml").write_text("config: {}\n")
    _invoke("session", "down", "--session=monday")
    assert not paths.session_dir("monday").exists() and not (tmp_path / "Pulumi.monday-kind.yaml").exists()
    assert "session 'monday' removed (no stacks" in capsys.readouterr().err


BROKEN_RECORDS = [
    ("{\"session\": \"monday\", \"targets\": [\"kind\"", "not JSON"),
    ("[\"kind\"]", "not a JSON object"),
    (json.dumps({"session": "monday", "targets": ["kind"], "created_at": "monday morning",
                 "expires_at": "2026-09-01T16:00:00+00:00", "options": {}}), "field 'created_at'"),
    (json.dumps({"session": "monday", "targets": "kind", "created_at": "2026-09-01T08:00:00+00:00",
                 "expires_at": "2026-09-01T16:00:00+00:00", "options": {}}), "field 'targets'"),
    (json.dumps({"session": "monday", "targets": ["kind"], "created_at": "2026-09-01T08:00:00+00:00",
                 "expires_at": "2026-09-01T16:00:00+00:00", "options": {}, "owner": "me"}), "unknown field 'owner'"),
    (json.dumps({"session": "monday", "targets": ["kind"], "created_at": "2026-09-01T08:00:00+00:00",
                 "expires_at": "2026-09-01T16:00:00+00:00", "options": {"kind": {"k8s-labs:workers": 3}}}),
     "field 'options'"),
]


@pytest.mark.parametrize("text, problem", BROKEN_RECORDS)
def test_a_broken_record_is_one_line_with_its_path_and_the_fix_and_stays_as_it_is(offline, capsys, text, problem):
    file = sessions.record_file("monday")
    file.parent.mkdir(parents=True)
    file.write_text(text)
    with pytest.raises(SystemExit) as exit_:
        _invoke("lab", "up", "--lab=ingress", "--session=monday")
    assert exit_.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {file} is not a valid session record (") and problem in line
    assert line.endswith("repair it by hand, or remove the session with `invoke session down --session=monday`")
    assert file.read_text() == text  # never rewritten


def test_session_list_shows_a_broken_record_and_session_down_removes_it(offline, capsys):
    sessions.record(StackSettings(session="tuesday"), now=T0)
    file = sessions.record_file("monday")
    file.parent.mkdir(parents=True)
    file.write_text("{}")
    _invoke("session", "list")
    out, err = capsys.readouterr()
    assert "monday" in out and "unreadable record" in out and "tuesday" in out
    assert f"{file} is not a valid session record" in " ".join(err.split())
    _invoke("session", "down", "--session=monday")
    assert not file.exists() and sessions.load("tuesday") is not None
