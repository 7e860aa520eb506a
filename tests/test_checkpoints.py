"""Runs without Pulumi's intermediate checkpoints (infra.checkpoints): where, and how a killed one is
finished before anything else; and how many steps the engine runs at once. The kill itself, on a real engine and API server, is in
tests/test_controlplane_lifecycle.py."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from infra import driver, paths
from infra.checkpoints import UNSAVED_RUN, UnsavedRun, may_skip_checkpoints
from infra.errors import LabsError
from infra.settings import StackSettings

HOLDS_CLUSTER = {"resources": [{"type": "pulumi:pulumi:Stack"}, {"type": "labs:cluster:Kwok"}]}


@pytest.fixture
def classroom(monkeypatch, tmp_path) -> StackSettings:
    """A class of 30 on kwok: its roster file, and no Helm release to clear after a kill (what
    infra.recovery does then is tested in test_driver)."""
    from infra import recovery

    roster = tmp_path / "roster-30.json"
    roster.write_text("{}")
    monkeypatch.setattr(recovery, "planned_releases", lambda settings: set())
    return StackSettings(session="monday", target="kwok", lab="07-ingress", roster=str(roster))


@pytest.mark.parametrize("target, deployment, skips", [
    ("kwok", HOLDS_CLUSTER, True),
    ("kind", {"resources": [{"type": "labs:cluster:Kind"}]}, True),
    ("kwok", {"resources": [{"type": "pulumi:pulumi:Stack"}]}, False),  # this run creates the cluster
    ("kwok", {}, False),
    ("gke", {"resources": [{"type": "labs:cluster:Gke"}]}, False),  # billed resources outside the cluster
    ("eks", {"resources": [{"type": "labs:cluster:Eks"}]}, False),
])
def test_checkpoints_are_skipped_only_on_a_local_cluster_the_state_holds(target, deployment, skips):
    assert may_skip_checkpoints(StackSettings(session="monday", target=target), deployment) is skips


def test_pulumi_skip_checkpoints_false_in_the_environment_keeps_every_checkpoint(monkeypatch):
    monkeypatch.setenv("PULUMI_SKIP_CHECKPOINTS", "false")
    assert not may_skip_checkpoints(StackSettings(session="monday", target="kwok"), HOLDS_CLUSTER)


def test_an_unsaved_run_gives_back_its_settings_and_title_for_its_stack_only(classroom):
    unsaved = UnsavedRun("monday", "monday-kwok")
    workspace = SimpleNamespace(env_vars={"PULUMI_HOME": "/x"})
    with pytest.raises(RuntimeError), unsaved.running(workspace, classroom, "classroom of 30 students"):
        assert workspace.env_vars == {"PULUMI_HOME": "/x", "PULUMI_SKIP_CHECKPOINTS": "true"}
        raise RuntimeError("the engine failed")
    assert workspace.env_vars == {"PULUMI_HOME": "/x"}
    settings, title = unsaved.left()
    assert title == "classroom of 30 students"
    assert settings.as_config() == classroom.as_config() and settings.target == "kwok"
    assert (unsaved.file.stat().st_mode & 0o777) == 0o600
    assert UnsavedRun("monday", "monday-kind").left() is None
    unsaved.finish()
    assert unsaved.left() is None


def test_a_hand_edited_unsaved_run_is_one_line_naming_the_file():
    unsaved = UnsavedRun("monday", "monday-kwok")
    paths.write_private(unsaved.file, "{not json")
    with pytest.raises(LabsError) as err:
        unsaved.left()
    assert str(unsaved.file) in str(err.value) and "\n" not in str(err.value)


class _Stack:
    """A stack holding a kwok cluster, as the Automation API's Stack: records each up with the config
    it ran with and whether checkpoints were skipped; `fails` makes the up raise as the CLI does."""

    def __init__(self, fails: bool = False):
        self.workspace = SimpleNamespace(env_vars={})
        self.config: dict = {}
        self.ups: list[tuple[str, str | None, bool]] = []
        self.forced: list[str | None] = []  # PULUMI_K8S_ENABLE_PATCH_FORCE of each up
        self.fails = fails
        self.name = "monday-kwok"

    def set_all_config(self, config):
        self.config = {key: value.value for key, value in config.items()}

    def export_stack(self):
        return SimpleNamespace(deployment=HOLDS_CLUSTER)

    def refresh(self, **kwargs):
        pass

    def up(self, **kwargs):
        from pulumi import automation as auto

        marker = paths.session_dir("monday") / UNSAVED_RUN
        self.parallel = kwargs.get("parallel")
        self.forced.append(self.workspace.env_vars.get("PULUMI_K8S_ENABLE_PATCH_FORCE"))
        self.ups.append((self.config["k8s-labs:roster"] if "k8s-labs:roster" in self.config else "",
                         self.workspace.env_vars.get("PULUMI_SKIP_CHECKPOINTS"), marker.exists()))
        if self.fails:
            raise auto.CommandError(auto.CommandResult("", "error: update failed\n", 255))
        return SimpleNamespace(outputs={})


def _driver(monkeypatch, stack: _Stack, stale_lock: bool = False):
    pulumi_driver = driver.PulumiDriver("monday", Console(file=open("/dev/null", "w")))
    monkeypatch.setattr(pulumi_driver, "_workspace", lambda delete_unreachable=False: stack.workspace)
    monkeypatch.setattr(pulumi_driver, "_stack", lambda ws, name: stack)
    monkeypatch.setattr(driver, "release_stale_locks", lambda backend, name: [Path("lock.json")] if stale_lock else [])
    return pulumi_driver


def test_an_up_on_a_local_cluster_runs_without_checkpoints_and_keeps_its_settings_only_while_it_runs(monkeypatch, classroom):
    stack = _Stack()
    _driver(monkeypatch, stack).up(classroom, "classroom of 30 students")
    assert stack.ups == [(classroom.roster, "true", True)]
    assert stack.workspace.env_vars == {} and UnsavedRun("monday", "monday-kwok").left() is None
    assert stack.parallel == driver.ENGINE_PARALLEL


def test_pulumi_parallel_in_the_environment_wins(monkeypatch, classroom):
    monkeypatch.setenv("PULUMI_PARALLEL", "4")
    stack = _Stack()
    _driver(monkeypatch, stack).up(classroom, "classroom of 30 students")
    assert stack.parallel is None  # the CLI then reads PULUMI_PARALLEL itself


def test_a_run_killed_before_it_saved_is_run_again_before_the_next_one(monkeypatch, classroom):
    """`classroom up` of 30 students killed outright, then `classroom down` (roster ""): the 30 are
    made known to the state first, so the down removes every one of them."""
    killed = _Stack(fails=True)
    with pytest.raises(LabsError):
        _driver(monkeypatch, killed).up(classroom, "classroom of 30 students")
    stack = _Stack()
    _driver(monkeypatch, stack, stale_lock=True).up(replace(classroom, roster=""), "removing the classroom")
    assert stack.ups == [(classroom.roster, "true", True), ("", "true", True)]
    assert UnsavedRun("monday", "monday-kwok").left() is None
    # The run again takes over the fields the killed run's lost field manager held; the next one does not.
    assert stack.forced == ["true", None] and stack.workspace.env_vars == {}


def test_a_killed_run_asked_again_runs_once(monkeypatch, classroom):
    with pytest.raises(LabsError):
        _driver(monkeypatch, _Stack(fails=True)).up(classroom, "classroom of 30 students")
    stack = _Stack()
    _driver(monkeypatch, stack, stale_lock=True).up(classroom, "classroom of 30 students")
    assert stack.ups == [(classroom.roster, "true", True)]
    assert stack.forced == ["true"]


def test_a_run_that_failed_but_saved_is_not_run_again(monkeypatch, classroom):
    """No stale lock: the engine ended (and saved the state); its settings are simply dropped."""
    with pytest.raises(LabsError):
        _driver(monkeypatch, _Stack(fails=True)).up(classroom, "classroom of 30 students")
    stack = _Stack()
    _driver(monkeypatch, stack).up(replace(classroom, roster=""), "removing the classroom")
    assert stack.ups == [("", "true", True)]
    assert stack.forced == [None]


def test_a_cloud_run_keeps_its_checkpoints(monkeypatch, classroom):
    stack = _Stack()
    _driver(monkeypatch, stack).up(replace(classroom, target="gke"), "classroom of 30 students")
    assert stack.ups == [(classroom.roster, None, False)]


def test_a_killed_run_whose_roster_is_gone_is_dropped_with_a_warning(monkeypatch, classroom, capsys):
    with pytest.raises(LabsError):
        _driver(monkeypatch, _Stack(fails=True)).up(classroom, "classroom of 30 students")
    Path(classroom.roster).unlink()
    stack = _Stack()
    pulumi_driver = _driver(monkeypatch, stack, stale_lock=True)
    pulumi_driver.console = Console(file=None, width=200)
    pulumi_driver.up(replace(classroom, roster=""), "removing the classroom")
    assert stack.ups == [("", "true", True)]
    out = capsys.readouterr().out
    assert "cannot be finished" in out and f"{classroom.roster} is gone" in out
