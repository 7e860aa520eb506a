"""`classroom status`: the lab's checks for several students' namespaces on the fake API server."""
from __future__ import annotations

import copy
import re

import pytest

from infra.catalog import Catalog
from infra.classroom.board import board_html, classroom_status
from infra.classroom.record import load_record
from infra.paths import LABS_DIR
from tests.classroom_helpers import classroom_driver, fake_cluster, fake_grafana  # noqa: F401 (fixtures)
from tests.conftest import write_lab
from tests.test_cli import invoke

LAB = """slide: Deploy
slug: deploy
layers: []
duration: 20
namespace: lab-deploy
objectives: {fr: [Déployer], en: [Deploy]}
checks:
  - {id: web-rolled-out, kind: rollout, object: Deployment, name: web, hint: {fr: Déploie web, en: Deploy web}}
  - {id: config, kind: exists, apiVersion: v1, object: ConfigMap, name: settings, fields: {data.color: blue},
     hint: {fr: Crée settings, en: Create settings}}
"""


def deployment(namespace):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}}


def config(namespace, color):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
            "data": {"color": color}}


@pytest.fixture
def deploy_lab(tmp_path) -> Catalog:
    write_lab(tmp_path / "labs", "05-deploy", LAB)
    return Catalog.load(tmp_path / "labs")


@pytest.fixture
def four_students(classroom_driver, fake_cluster):
    invoke("classroom", "up", "--students=4")
    fake_cluster.add(deployment("student-01"), config("student-01", "blue"),  # done
                     deployment("student-02"), config("student-02", "red"),  # one of two
                     config("student-03", "blue"))  # one of two; student-04: nothing
    return fake_cluster


def test_board_runs_each_students_checks_in_their_own_namespace(four_students, deploy_lab, capsys, tmp_path):
    page = tmp_path / "board.html"
    rows = classroom_status("default", "deploy", html_file=str(page), parallel=3, catalog=deploy_lab)
    assert [(r.student.id, r.results) for r in rows] == [
        ("student-01", {"web-rolled-out": True, "config": True}),
        ("student-02", {"web-rolled-out": True, "config": False}),
        ("student-03", {"web-rolled-out": False, "config": True}),
        ("student-04", {"web-rolled-out": False, "config": False}),
    ]
    assert "data.color is 'red', expected 'blue'" in rows[1].details["config"] and "Crée settings" in rows[1].details["config"]
    out = capsys.readouterr().out
    assert "05-deploy: 1/4 students done" in out and "Student 04" in out and "2/2" in out and "0/2" in out
    text = page.read_text()
    assert re.search(r'<meta http-equiv="refresh" content="30">', text)
    assert text.count('class="ok"') == 4 and text.count('class="ko"') == 4
    assert "<title>05-deploy · default · 1/4</title>" in text


def test_a_student_whose_checks_cannot_run_is_an_error_row_not_a_crash(four_students, deploy_lab):
    from infra.classroom.roster import Student

    record = load_record("default")
    from infra.classroom.board import run_board

    (row,) = run_board(record, [Student(id="ghost", name="Ghost")], deploy_lab.resolve("deploy"))
    assert row.results == {"web-rolled-out": False, "config": False}  # not found in its namespace
    broken = copy.copy(record)
    broken.session = "elsewhere"  # no kubeconfig there
    (row,) = run_board(broken, [Student(id="student-01", name="S")], deploy_lab.resolve("deploy"))
    assert row.error.startswith("cannot load kubeconfig")
    html = board_html([row], deploy_lab.resolve("deploy"), "elsewhere", 10)
    assert 'class="err"' in html and 'content="10"' in html


def test_status_needs_a_lab_and_a_classroom(classroom_driver, capsys):
    with pytest.raises(SystemExit):
        invoke("classroom", "status", "--session=monday")
    assert "session 'monday' has no classroom" in capsys.readouterr().err
    invoke("classroom", "up", "--students=1")
    with pytest.raises(SystemExit):
        invoke("classroom", "status")
    assert "which lab? pass --lab=" in capsys.readouterr().err


def test_status_of_the_real_ingress_lab_through_the_cli(classroom_driver, fake_cluster, capsys, monkeypatch):
    from infra.manifests import lab_objects_for
    from tests.test_checks import answer_solved

    monkeypatch.setattr("infra.commands.ingress_url", lambda target, port, kubeconfig, context: fake_cluster.url)

    invoke("classroom", "up", "--students=2", "--lab=ingress")  # the starting point in both namespaces
    lab = Catalog.load(LABS_DIR).resolve("ingress")
    fake_cluster.add(*lab_objects_for(lab, ("solution",), "student-02", "student-02").objects)
    # The ingress answers student-02's own host names (and the lab's, which no check of theirs may ask).
    answer_solved(fake_cluster, lab, "student-02", "student-02")
    answer_solved(fake_cluster, lab)
    invoke("classroom", "status", "--lang=en")
    out = capsys.readouterr().out
    student_02 = next(line for line in out.splitlines() if "Student 02" in line)
    student_01 = next(line for line in out.splitlines() if "Student 01" in line)
    # student-02 solved it all, host names included; student-01 has the starting point only.
    assert student_02.count("✓") == 9 and "9/9" in student_02
    assert student_01.count("✓") == 1 and "1/9" in student_01
    assert "blue-reachable *" not in out  # per student now: not marked as reading something shared


def test_roster_names_are_text_on_the_board_not_rich_markup(deploy_lab, capsys):
    """A roster name is free text: "[/x]" would make rich raise, "[b]" would vanish into bold."""
    from rich.console import Console

    from infra.classroom.board import StudentRow, board_table
    from infra.classroom.roster import Student

    rows = [StudentRow(Student(id="anne", name="Anne [/x]"), {"web-rolled-out": True, "config": True}),
            StudentRow(Student(id="marie", name="Marie [b]B[/b]"), error="boom")]
    console = Console(width=120, record=True)
    console.print(board_table(rows, deploy_lab.resolve("deploy")))
    text = console.export_text()
    assert "Anne [/x]" in text and "Marie [b]B[/b]" in text


def test_on_a_cloud_each_clusters_ingress_is_looked_up_once_and_a_cluster_without_one_is_its_students_error(
        classroom_driver, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from infra.classroom.board import ingress_urls
    from infra.classroom.record import ClassroomRecord
    from infra.classroom.roster import Student
    from infra.driver import session_kubeconfig
    from infra.errors import LabsError

    record = ClassroomRecord(session="c", target="gke", tenancy="cluster", tenants={
        "team-1": {"session": "c-team-1", "students": ["ann", "bob"], "http_port": 80},
        "team-2": {"session": "c-team-2", "students": ["cid"], "http_port": 80}})
    asked = []

    def ingress_url(target, port, kubeconfig, context):
        asked.append(kubeconfig)
        if "team-2" in kubeconfig:
            raise LabsError("the ingress load balancer has no address yet")
        return "http://34.1.2.3"

    monkeypatch.setattr("infra.commands.ingress_url", ingress_url)
    students = [Student(id=name, name=name) for name in ("ann", "bob", "cid")]
    with ThreadPoolExecutor(2) as pool:
        urls = ingress_urls(record, students, pool)
    assert sorted(asked) == [str(session_kubeconfig("c-team-1")), str(session_kubeconfig("c-team-2"))]
    assert urls["ann"] == urls["bob"] == "http://34.1.2.3"
    assert isinstance(urls["cid"], LabsError) and "no address yet" in str(urls["cid"])


WEB_LAB = """slide: Web
slug: web
layers: []
duration: 20
namespace: lab-web
objectives: {fr: [Publier], en: [Publish]}
checks:
  - {id: web-rolled-out, kind: rollout, object: Deployment, name: web, hint: {fr: Déploie web, en: Deploy web}}
  - {id: reachable, kind: http, host: web.localhost, hint: {fr: Publie web, en: Publish web}}
"""


def test_where_no_container_runs_a_data_path_check_is_a_skipped_cell_never_a_pass(
        four_students, tmp_path, capsys, monkeypatch):
    """A classroom on a target whose capabilities say containers do not run (kwok): the http check is
    not run for anyone (no ingress looked up, no request), its cells are "–" with a legend, and a
    student is done when the decidable checks pass."""
    from infra.checks import ClusterReader

    record = load_record("default")
    record.target = "kwok"
    record.save()
    write_lab(tmp_path / "labs", "07-web", WEB_LAB)
    catalog = Catalog.load(tmp_path / "labs")
    monkeypatch.setattr("infra.commands.ingress_url", lambda *a: pytest.fail("the ingress was looked up"))
    monkeypatch.setattr(ClusterReader, "http_get", lambda *a: pytest.fail("an http check was run"))
    page = tmp_path / "board.html"
    rows = classroom_status("default", "web", html_file=str(page), parallel=2, catalog=catalog)
    reason = "skipped on kwok: needs running containers"
    assert [(r.student.id, r.results, r.skipped) for r in rows] == [
        ("student-01", {"web-rolled-out": True}, {"reachable": reason}),
        ("student-02", {"web-rolled-out": True}, {"reachable": reason}),
        ("student-03", {"web-rolled-out": False}, {"reachable": reason}),
        ("student-04", {"web-rolled-out": False}, {"reachable": reason}),
    ]
    out = capsys.readouterr().out
    assert "07-web: 2/4 students done" in out
    student_01 = next(line for line in out.splitlines() if "Student 01" in line)
    student_03 = next(line for line in out.splitlines() if "Student 03" in line)
    assert "–" in student_01 and student_01.count("✓") == 1 and "1/1" in student_01
    assert "–" in student_03 and "✓" not in student_03 and "0/1" in student_03
    assert f"– {reason} (not decided)" in " ".join(out.split())  # the legend (wrapped to the table's width)
    text = page.read_text()
    assert text.count('class="skip"') == 4 + 1  # four cells, and the legend's sample
    assert text.count('class="ok"') == 2 and text.count('class="ko"') == 2
    assert f'title="{reason}"' in text and f"{reason} (not decided)" in text
    assert "<title>07-web · default · 2/4</title>" in text


def test_a_student_is_done_when_the_decidable_checks_pass_and_never_on_skipped_cells_alone():
    from infra.classroom.board import StudentRow, board_table
    from infra.classroom.roster import Student

    lab = Catalog.load(LABS_DIR).resolve("logging")  # a rollout and a loki check
    ids = [check["id"] for check in lab.checks]
    loki = next(check["id"] for check in lab.checks if check["kind"] == "loki")
    rollout = next(i for i in ids if i != loki)
    skipped = {loki: "skipped on kwok: needs running containers"}
    done = StudentRow(Student(id="ann", name="Ann"), {rollout: True}, skipped=skipped)
    behind = StudentRow(Student(id="bob", name="Bob"), {rollout: False}, skipped=skipped)
    assert done.done(ids) and not behind.done(ids)
    assert not done.done([loki])  # every check skipped: nothing decided, not done
    assert "1/2 students done" in str(board_table([done, behind], lab).title)


def test_one_refresh_reads_each_kind_once_whatever_the_number_of_students(classroom_driver, fake_cluster, deploy_lab):
    """The board's requests grow with the lab's checks, not with the class (60 students, same count as 4)."""
    counts = {}
    for students in (4, 60):
        invoke("classroom", "up", f"--students={students}")
        fake_cluster.add(deployment("student-01"), config("student-01", "blue"))
        fake_cluster.requests.clear()
        rows = classroom_status("default", "deploy", parallel=8, catalog=deploy_lab)
        assert rows[0].results == {"web-rolled-out": True, "config": True}
        assert all(row.results == {"web-rolled-out": False, "config": False} for row in rows[1:])
        counts[students] = sorted(fake_cluster.requests)
    assert counts[4] == counts[60] == ["/api/v1/configmaps", "/apis/apps/v1/deployments"]


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app==web,tier=front", {"app": "web", "tier": "front"}, True),
    ("app==web,tier=front", {"app": "web"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("app", {}, False),
    ("!app", {}, True),
    ("!app", {"app": "web"}, False),
])
def test_label_selectors_match_as_the_api_server_matches_them(selector, labels, expected):
    from infra.classroom.board import selected, selector_terms

    assert selected(labels, selector_terms(selector)) is expected


def test_a_set_based_selector_is_left_to_the_api_server():
    from infra.classroom.board import ClassReads, selector_terms

    asked = []

    class Reader:
        ingress_url = ""

        def list(self, api_version, kind, namespace, selector=""):
            asked.append((kind, namespace, selector))
            return [{"metadata": {"name": "a", "namespace": namespace}}]

    assert selector_terms("app in (web,db)") is None
    reads = ClassReads(Reader())
    assert reads.list("v1", "Pod", "student-01", "app in (web,db)") == [{"metadata": {"name": "a", "namespace": "student-01"}}]
    assert reads.list("v1", "Pod", "student-02", "app=web") == []
    assert asked == [("Pod", "student-01", "app in (web,db)"), ("Pod", None, "")]
