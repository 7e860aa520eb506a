"""Cluster tenancy: one cluster per student (or group), brought up in parallel through a fake driver."""
from __future__ import annotations

import json
import threading

import pytest
import yaml

from infra import paths
from infra.classroom import fanout
from infra.classroom.record import load_record
from infra.classroom.credentials import student_kubeconfig
from tests.classroom_helpers import ClassroomDriver, classroom_driver, fake_cluster, fake_grafana  # noqa: F401 (fixtures)
from tests.test_cli import invoke


class TenantDriver(ClassroomDriver):
    """A tenant's driver: records the stacks it brings up and how many ran at once."""

    lock = threading.Lock()
    active = 0
    most = 0
    barrier: threading.Barrier | None = None
    failing: set[str] = set()
    interrupted: set[str] = set()  # sessions whose `up` is cut short by Ctrl-C
    destroyed: list[str] = []

    def up(self, settings, title):
        cls = TenantDriver
        with cls.lock:
            cls.active += 1
            cls.most = max(cls.most, cls.active)
        try:
            if cls.barrier is not None:
                cls.barrier.wait()  # every slot of the pool is busy at once, never more
            if self.session in cls.failing | cls.interrupted:
                from infra.errors import LabsError

                ClassroomDriver.stacks[settings.stack_name] = settings  # part of it was created: the stack exists
                if self.session in cls.interrupted:
                    raise KeyboardInterrupt
                raise LabsError(f"cluster of {self.session} failed at KindCluster kind: no space left on device")
            return super().up(settings, title)
        finally:
            with cls.lock:
                cls.active -= 1

    def destroy_session(self):
        TenantDriver.destroyed.append(self.session)
        return super().destroy_session()


@pytest.fixture
def tenants(classroom_driver, monkeypatch):
    TenantDriver.active = TenantDriver.most = 0
    TenantDriver.barrier, TenantDriver.failing, TenantDriver.interrupted, TenantDriver.destroyed = None, set(), set(), []
    monkeypatch.setattr(fanout, "make_tenant_driver", TenantDriver)
    cleaned = []
    monkeypatch.setattr("infra.clusters.kind.KindTarget.cleanup", lambda self, settings: cleaned.append(settings.session))
    return cleaned


def tenant_ups():
    return [call[1] for instance in TenantDriver.instances if isinstance(instance, TenantDriver)
            for call in instance.calls if call[0] == "up"]


def test_one_cluster_per_student_each_its_own_session_stack_and_ports(tenants, fake_cluster):
    TenantDriver.barrier = threading.Barrier(2, timeout=30)
    invoke("classroom", "up", "--students=4", "--tenancy=cluster", "--parallel=2", "--session=mon", "--lab=ingress")
    ups = sorted(tenant_ups(), key=lambda s: s.session)
    assert TenantDriver.most == 2  # bounded: two clusters at a time, and two did run together
    assert [s.stack_name for s in ups] == [f"mon-student-0{i}-kind" for i in range(1, 5)]
    assert [(s.http_port, s.https_port) for s in ups] == [(8080, 8443), (8081, 8444), (8082, 8445), (8083, 8446)]
    assert all(s.lab == "ingress" for s in ups)
    for settings in ups:
        roster = json.loads(open(settings.roster).read())
        assert roster["tenancy"] == "cluster" and [s["id"] for s in roster["students"]] == [settings.session[4:]]
    record = load_record("mon")
    assert record.tenancy == "cluster" and record.tenants["student-03"]["session"] == "mon-student-03"
    assert record.tenants["student-03"]["http_port"] == 8082
    for i in range(1, 5):
        config = yaml.safe_load(student_kubeconfig("mon", f"student-0{i}").read_text())
        assert config["contexts"][0]["context"]["namespace"] == f"student-0{i}"
    assert not [instance for instance in ClassroomDriver.instances if not isinstance(instance, TenantDriver)]


def test_kind_refuses_more_than_four_clusters_and_says_why(tenants, capsys):
    with pytest.raises(SystemExit):
        invoke("classroom", "up", "--students=5", "--tenancy=cluster")
    err = capsys.readouterr().err
    assert "would create 5 kind clusters; at most 4" in err and "memory" in err and len(err.strip().splitlines()) == 1
    assert tenant_ups() == [] and not paths.session_dir("default").exists()


def test_kwok_makes_as_many_clusters_as_the_memory_available_holds_and_says_so(tenants, capsys, monkeypatch):
    monkeypatch.setattr(fanout, "available_memory_mb", lambda: 2 * fanout.KWOK_CLUSTER_MB + 500)
    with pytest.raises(SystemExit):
        invoke("classroom", "up", "--students=3", "--tenancy=cluster", "--target=kwok")
    err = capsys.readouterr().err
    assert "would create 3 kwok clusters; at most 2" in err and f"{2 * fanout.KWOK_CLUSTER_MB + 500} MB available" in err
    assert tenant_ups() == [] and not paths.session_dir("default").exists()
    monkeypatch.setattr("infra.clusters.kwok.KwokTarget.preflight", lambda self, settings: None)
    invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--target=kwok", "--session=mon")
    ups = sorted(tenant_ups(), key=lambda s: s.session)
    assert [s.stack_name for s in ups] == ["mon-student-01-kwok", "mon-student-02-kwok"]
    assert "estimated" not in capsys.readouterr().err  # no cost on this machine


def test_groups_of_k_share_a_cluster(tenants):
    invoke("classroom", "up", "--students=5", "--tenancy=cluster", "--group-size=2", "--session=mon")
    ups = sorted(tenant_ups(), key=lambda s: s.session)
    assert [s.session for s in ups] == ["mon-team-01", "mon-team-02", "mon-team-03"]
    assert load_record("mon").tenants["team-02"]["students"] == ["student-03", "student-04"]
    assert [s["id"] for s in json.loads(open(ups[2].roster).read())["students"]] == ["student-05"]


def test_a_failing_cluster_does_not_stop_the_others_and_classroom_down_destroys_it(tenants, capsys):
    """student-02's `up` fails after its stack was created (as a cloud quota reached after the network
    was made): it is recorded as failed, and `classroom down` destroys its stack with the others."""
    TenantDriver.failing = {"default-student-02"}
    with pytest.raises(SystemExit) as exit_:
        invoke("classroom", "up", "--students=3", "--tenancy=cluster")
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "1 of 3 clusters failed (student-02)" in err and "default-student-02/last-run.log" in err
    assert "invoke classroom down --session=default" in err
    assert student_kubeconfig("default", "student-01").is_file() and student_kubeconfig("default", "student-03").is_file()
    assert not student_kubeconfig("default", "student-02").exists()
    record = load_record("default")
    assert {name: t["status"] for name, t in record.tenants.items()} == {
        "student-01": "ready", "student-02": "failed", "student-03": "ready"}
    assert "default-student-02-kind" in ClassroomDriver.stacks
    invoke("classroom", "down")
    assert sorted(TenantDriver.destroyed) == ["default-student-01", "default-student-02", "default-student-03"]
    assert ClassroomDriver.stacks == {} and not paths.session_dir("default-student-02").exists()


def test_a_run_cut_short_leaves_every_cluster_recorded_for_session_down(tenants, monkeypatch):
    """Ctrl-C while the clusters are being made: the record was written before any stack was touched."""
    TenantDriver.interrupted = {"mon-student-02"}
    with pytest.raises(SystemExit) as exit_:
        invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--parallel=1", "--session=mon")
    assert exit_.value.code == 130
    assert sorted(load_record("mon").tenants) == ["student-01", "student-02"]
    monkeypatch.setattr("infra.imagecache.unwire", lambda session: None)
    invoke("session", "down", "--session=mon")
    assert sorted(TenantDriver.destroyed) == ["mon-student-01", "mon-student-02"] and ClassroomDriver.stacks == {}


def test_a_cluster_no_longer_planned_stays_recorded_until_classroom_down(tenants, capsys):
    invoke("classroom", "up", "--students=3", "--tenancy=cluster", "--session=mon")
    invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--session=mon")
    assert "cluster(s) of an earlier `classroom up` with no student now: student-03" in capsys.readouterr().err
    record = load_record("mon")
    assert record.tenants["student-03"]["session"] == "mon-student-03" and record.tenants["student-03"]["students"] == []
    invoke("classroom", "down", "--session=mon")
    assert sorted(TenantDriver.destroyed) == ["mon-student-01", "mon-student-02", "mon-student-03"]
    assert ClassroomDriver.stacks == {}


def test_names_too_long_for_a_session_are_refused_before_anything(tenants, capsys, tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("name\nMaximilienne de la Tour\n")
    with pytest.raises(SystemExit):
        invoke("classroom", "up", f"--roster={roster}", "--tenancy=cluster", "--session=monday")
    assert "'monday-maximilienne-de-la-tour' is longer than 20 characters" in capsys.readouterr().err
    assert tenant_ups() == []


def test_classroom_down_and_session_down_remove_every_cluster(tenants, monkeypatch):
    invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--session=mon")
    assert paths.session_dir("mon-student-01").is_dir()
    invoke("classroom", "down", "--session=mon")
    assert sorted(TenantDriver.destroyed) == ["mon-student-01", "mon-student-02"]
    assert sorted(tenants) == ["mon-student-01", "mon-student-02"]  # kind clusters deleted by name too
    assert not paths.session_dir("mon-student-01").exists() and not (paths.session_dir("mon") / "classroom").exists()

    TenantDriver.destroyed.clear()
    invoke("classroom", "up", "--students=2", "--tenancy=cluster", "--session=mon")
    monkeypatch.setattr("infra.imagecache.unwire", lambda session: None)
    invoke("session", "down", "--session=mon")
    assert sorted(TenantDriver.destroyed) == ["mon-student-01", "mon-student-02"]
    assert not paths.session_dir("mon").exists() and not paths.session_dir("mon-student-02").exists()


def test_render_of_a_cluster_classroom_is_one_document_per_cluster(capsys):
    invoke("classroom", "render", "--students=2", "--tenancy=cluster", "--session=mon")
    documents = json.loads(capsys.readouterr().out)
    assert [d["cluster"]["name"] for d in documents] == ["labs-mon-student-01", "labs-mon-student-02"]
    assert [d["students"][0]["id"] for d in documents] == ["student-01", "student-02"]
    ports = [d["cluster"]["config"]["nodes"][0]["extraPortMappings"][0]["hostPort"] for d in documents]
    assert ports == [8080, 8081]
    (binding,) = [o for o in documents[0]["objects"] if o["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == "cluster-admin" and documents[0]["tenancy"] == "cluster"


def test_a_tenant_whose_kubeconfigs_fail_leaves_the_others_theirs_and_the_record(tenants, capsys, monkeypatch):
    """Every cluster came up, one's TokenRequest fails: the others still get their kubeconfigs, and the
    classroom record lists every cluster, so `classroom down` removes them all."""
    from infra.classroom import credentials
    from infra.errors import LabsError

    asked = credentials.request_token

    def failing(core_api, student, seconds):
        if student.id == "student-02":
            raise LabsError("TokenRequest for student-02/student answered 503 Service Unavailable")
        return asked(core_api, student, seconds)

    monkeypatch.setattr(credentials, "request_token", failing)
    with pytest.raises(SystemExit) as exit_:
        invoke("classroom", "up", "--students=3", "--tenancy=cluster")
    assert exit_.value.code == 1
    assert "1 of 3 clusters failed (student-02)" in capsys.readouterr().err
    assert student_kubeconfig("default", "student-01").is_file() and student_kubeconfig("default", "student-03").is_file()
    assert sorted(load_record("default").tenants) == ["student-01", "student-02", "student-03"]
    invoke("classroom", "down")
    assert sorted(TenantDriver.destroyed) == ["default-student-01", "default-student-02", "default-student-03"]


def test_cloud_clusters_release_what_bills_before_their_destroy(tenants, monkeypatch, capsys):
    """A cluster that came up releases its load balancers and disks first; a release that fails is
    reported and the cluster destroyed anyway (as in `session down`: it stops billing), and one that
    never came up (no kubeconfig) is only destroyed."""
    from infra.classroom.record import ClassroomRecord
    from infra.driver import session_kubeconfig
    from infra.settings import StackSettings

    released = []

    def release(driver, session, stack, target):
        released.append(stack)
        if session in ("mon-student-02", "mon-student-04"):
            return [f"{stack}: removing lab layers from {stack} failed at Release traefik: timeout"]
        return []

    monkeypatch.setattr("infra.commands.release_cloud_stack", release)
    status = {"student-01": "ready", "student-02": "failed", "student-03": "failed", "student-04": "ready"}
    for name in status:
        settings = StackSettings(session=f"mon-{name}", target="gke")
        ClassroomDriver.stacks[settings.stack_name] = settings
        if name != "student-03":  # student-03's cluster never came up: no kubeconfig
            session_kubeconfig(settings.session).parent.mkdir(parents=True)
            session_kubeconfig(settings.session).write_text("apiVersion: v1\n")
    record = ClassroomRecord(session="mon", target="gke", tenancy="cluster", tenants={
        name: {"session": f"mon-{name}", "students": [name], "status": state} for name, state in status.items()})
    assert fanout.cluster_down(record) == ["student-01", "student-02", "student-03", "student-04"]
    assert sorted(released) == ["mon-student-01-gke", "mon-student-02-gke", "mon-student-04-gke"]
    assert sorted(TenantDriver.destroyed) == ["mon-student-01", "mon-student-02", "mon-student-03", "mon-student-04"]
    assert list(ClassroomDriver.stacks) == []
    err = " ".join(capsys.readouterr().err.split())
    assert "student-04: mon-student-04-gke: removing lab layers from mon-student-04-gke failed" in err
    assert "destroying its cluster anyway" in err
    for session in ("mon-student-02", "mon-student-03", "mon-student-04"):
        assert f"invoke session orphans --target=gke --session={session}`" in err
    assert "--session=mon-student-01`" not in err


@pytest.fixture
def on_gke(monkeypatch):
    monkeypatch.setattr("infra.clusters.gke.GkeTarget.preflight", lambda self, settings: None)
    monkeypatch.setattr("infra.clusters.gke.GkeTarget.cleanup", lambda self, settings: None)
    monkeypatch.setattr("infra.commands.require_target_sdk", lambda settings: None)


def test_cloud_clusters_are_priced_together_and_tagged_with_the_sessions_expiry(tenants, on_gke, capsys):
    """Cluster tenancy on a cloud: the confirmation shows the total of every cluster, and each tenant's
    stack carries the expiry fixed then (never the render placeholder)."""
    import re

    from infra.clusters.cloud import EXPIRY_AT_UP

    invoke("classroom", "up", "--students=3", "--tenancy=cluster", "--target=gke", "--yes", "--session=mon")
    err = " ".join(capsys.readouterr().err.split())
    one_cluster = float(re.search(r"indicative total: \$([\d,.]+) for 8 h", err).group(1).replace(",", ""))
    total = float(re.search(r"3 clusters × \$[\d,.]+ = indicative total \$([\d,.]+)", err).group(1).replace(",", ""))
    assert total == pytest.approx(3 * one_cluster, abs=0.01)
    (expiry,) = {settings.expires_at for settings in tenant_ups()}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dt\d\d-\d\dz", expiry) and expiry != EXPIRY_AT_UP


def test_each_cloud_cluster_is_sized_for_its_group(tenants, on_gke):
    """A group of 12 on e2-standard-2 nodes (2 vCPUs: 4 students each) gets a pool of 3, as priced."""
    invoke("classroom", "up", "--students=12", "--group-size=12", "--tenancy=cluster", "--target=gke", "--yes",
           "--session=mon")
    (settings,) = tenant_ups()
    assert (settings.workers, settings.max_nodes) == (3, 5)


def test_eks_clusters_share_one_network_destroyed_after_them(tenants, monkeypatch):
    """Cluster tenancy on EKS: one network stack in the classroom session, its VPC and subnets given
    to every cluster; `classroom down` destroys it once the clusters are gone."""
    from infra import commands

    events = []

    class NetworkDriver(ClassroomDriver):
        def up(self, settings, title):
            if settings.network_only:
                events.append(("network", self.session))
                ClassroomDriver.stacks[settings.stack_name] = settings
                return {"vpc_id": "vpc-0abc", "subnet_ids": ["subnet-1", "subnet-2"]}
            return super().up(settings, title)

        def destroy_session(self):
            events.append(("destroy", self.session))
            return super().destroy_session()

    class EksTenantDriver(TenantDriver):
        def destroy_session(self):
            events.append(("destroy", self.session))
            return super().destroy_session()

    monkeypatch.setattr(commands, "make_driver", NetworkDriver)
    monkeypatch.setattr(fanout, "make_tenant_driver", EksTenantDriver)
    monkeypatch.setattr("infra.clusters.eks.EksTarget.preflight", lambda self, settings: None)
    monkeypatch.setattr("infra.clusters.eks.EksTarget.cleanup", lambda self, settings: None)
    monkeypatch.setattr("infra.commands.require_target_sdk", lambda settings: None)
    monkeypatch.setattr("infra.commands.release_cloud_stack", lambda driver, session, stack, target: [])
    invoke("classroom", "up", "--students=3", "--tenancy=cluster", "--target=eks", "--yes", "--session=mon")
    assert events == [("network", "mon")]
    assert {(s.vpc_id, s.subnet_ids, s.network_only) for s in tenant_ups()} == {("vpc-0abc", "subnet-1,subnet-2", False)}
    invoke("classroom", "down", "--session=mon")
    assert events[-1] == ("destroy", "mon") and len(events) == 5  # the three clusters first, then the network
    assert not ClassroomDriver.stacks
