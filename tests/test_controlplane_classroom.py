"""A namespace-tenancy classroom on a real API server (kwok target): what really stops a student.

One classroom of three students for the module, brought up by `invoke classroom up --target=kwok`
through the real engine, the students' kubeconfigs from the real TokenRequest API. Every request below
is made with a student's own kubeconfig, never the instructor's:

- the isolation matrix (tests/classroom_isolation.py, the README's table): student-03 tries each
  attempt against itself, student-02 and the cluster, and the API server refuses it with the reason
  the case names (RBAC, Pod Security admission, the ValidatingAdmissionPolicies, quota, limit range);
- what a student can do: route their own host names, and every lab's starting point and solution in
  their namespace, played by student-01 as `invoke lab solve --student` does, lab after lab as a class
  moves on, each Deployment's pods really admitted (a full quota refuses them silently); for the three
  labs a shared cluster cannot give a student whole (08's nodes, 11's PersistentVolume, 21's mesh), the
  instructor is told at `classroom up` and the API server refuses that step, for the reason asserted;
- `classroom up` again with a student more, then one fewer: the engine's own summary counts only
  that student's objects, and nobody else's kubeconfig changes; the board reads the cluster in as
  many requests for four students as for three;
- `session extend` then `classroom up` re-issues tokens that end with the session; `classroom down`
  makes every earlier kubeconfig answer 401.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from infra.catalog import Catalog
from infra.classroom.objects import WHOLE_CLUSTER_LABS, student_objects
from infra.paths import LABS_DIR
from tests.classroom_isolation import CAN, CANNOT
from tests.controlplane import Cli, engine_changes, throwaway_cli

pytestmark = pytest.mark.controlplane

LABS = [lab.slug for lab in Catalog.load(LABS_DIR).labs]
PLAYER, NEIGHBOUR, ATTACKER = "student-01", "student-02", "student-03"
PODS_ADMITTED_S = 60  # how long the controllers get to create a lab's pods
LIMITED = r"exceeded quota|must be less than or equal to cpu limit|maximum (cpu|memory) usage per Container"
# Labs whose solution takes a step no student may take on a shared cluster (SHARED_CLUSTER_NOTES), and
# the API server's refusal of it (the last one `lab solve` shows).
NOT_A_STUDENTS_TO_DO = {
    "persistent-volume": 'cannot create resource "persistentvolumes" in API group "" at the cluster scope',
    "service-mesh": "HTTPRoute hostnames are required and end in student-01.localhost",
}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    cli = throwaway_cli(tmp_path_factory, "cr")
    cli.run("classroom", "up", "--target=kwok", "--students=3", "--lab=ingress")
    yield cli
    cli.run("session", "down", check=False)  # whatever a failed test left


def attempt(cli: Cli, case, student: str = ATTACKER):
    filled = case.filled(own=student, other=NEIGHBOUR, domain="localhost")
    args = filled.kubectl or ("create", "-f", "-")
    result = cli.kubectl(*args, check=False, kubeconfig=cli.student_kubeconfig(student), stdin=filled.manifest or "{}")
    return filled, result


@pytest.mark.parametrize("case", CANNOT, ids=[case.attempt for case in CANNOT])
def test_a_student_cannot(classroom, case):
    filled, result = attempt(classroom, case)
    if filled.manifest:  # what a multi-object attempt got in before its refusal (the first LoadBalancer)
        classroom.kubectl("delete", "-n", ATTACKER, "-f", "-", "--ignore-not-found", "--wait=false", check=False,
                          stdin=filled.manifest)
    assert result.returncode != 0, f"the API server let {ATTACKER} {case.attempt}:\n{result.output}"
    assert filled.reason in result.output, f"refused for another reason than {case.enforcer}:\n{result.output}"


@pytest.mark.parametrize("case", CAN, ids=[case.attempt for case in CAN])
def test_a_student_can(classroom, case):
    filled, result = attempt(classroom, case)
    assert result.returncode == 0 and filled.reason in result.output, result.output


def board_requests(cli: Cli, monkeypatch) -> list[str]:
    """The requests one board refresh makes to the API server (the real one, counted at the client)."""
    from kubernetes.client import rest

    from infra.classroom.board import run_board
    from infra.classroom.record import load_classroom

    for name in ("LABS_STATE_DIR", "LABS_TOOLS_DIR", "LABS_BUNDLE"):
        monkeypatch.setenv(name, cli.env[name])
    made: list[str] = []
    real = rest.RESTClientObject.request

    def counted(self, method, url, *args, **kwargs):
        made.append(f"{method} {url.split('://', 1)[1].split('/', 1)[1]}")
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(rest.RESTClientObject, "request", counted)
    record, students = load_classroom(cli.session)
    rows = run_board(record, students, Catalog.load(LABS_DIR).resolve(record.lab))
    assert not any(row.error for row in rows), [row.error for row in rows]
    return sorted(made)


def test_one_more_student_creates_only_theirs_and_one_fewer_removes_only_theirs(classroom, monkeypatch):
    others = {s: classroom.student_kubeconfig(s).read_bytes() for s in (PLAYER, NEIGHBOUR, ATTACKER)}
    board_of_three = board_requests(classroom, monkeypatch)
    per_student = len(student_objects("student-04"))

    added = classroom.run("classroom", "up", "--target=kwok", "--students=4")
    assert engine_changes(added.output) == {"create": per_student, "same": engine_changes(added.output)["same"]}
    assert {s: classroom.student_kubeconfig(s).read_bytes() for s in others} == others
    assert classroom.student_kubeconfig("student-04").is_file()
    whoami = classroom.kubectl("auth", "whoami", "-o", "json", kubeconfig=classroom.student_kubeconfig("student-04"))
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:student-04:student"
    board_of_four = board_requests(classroom, monkeypatch)
    assert board_of_four == board_of_three and 0 < len(board_of_four) <= len(Catalog.load(LABS_DIR).resolve("ingress").checks)

    removed = classroom.run("classroom", "up", "--target=kwok", "--students=3")
    assert engine_changes(removed.output) == {"delete": per_student, "same": engine_changes(removed.output)["same"]}
    assert {s: classroom.student_kubeconfig(s).read_bytes() for s in others} == others
    assert not classroom.student_kubeconfig("student-04").exists()
    assert classroom.kubectl("get", "namespace", "student-04", check=False).returncode != 0


def pods_not_admitted(cli: Cli, namespace: str) -> list[str]:
    """Deployments and StatefulSets of the namespace whose pods the controllers could not all create,
    with the reason they give (a full quota refuses pods, not the Deployment)."""
    short = []
    for obj in cli.objects_in(namespace, "deployments", "statefulsets", "replicasets"):
        if obj["kind"] == "ReplicaSet":
            failure = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "ReplicaFailure"]
            short += [f"ReplicaSet/{obj['metadata']['name']}: {c.get('message')}" for c in failure]
        elif (obj.get("status") or {}).get("replicas", 0) < (obj.get("spec") or {}).get("replicas", 1):
            short.append(f"{obj['kind']}/{obj['metadata']['name']}: {obj.get('status')}")
    return short


@pytest.mark.parametrize("lab", LABS)
def test_a_student_plays_every_lab_in_their_namespace(classroom, lab):
    moved = classroom.run("classroom", "up", "--target=kwok", "--students=3", f"--lab={lab}")
    solved = classroom.run("lab", "solve", f"--lab={lab}", f"--student={PLAYER}", "--target=kwok",
                           f"--kubeconfig={classroom.student_kubeconfig(PLAYER)}", check=lab not in NOT_A_STUDENTS_TO_DO)
    if lab in NOT_A_STUDENTS_TO_DO:
        # A step of it acts on what students share: `classroom up` told the instructor, and the API server
        # refuses that step to the student.
        assert f"on a shared cluster, lab {lab}" in moved.output
        assert solved.returncode != 0 and NOT_A_STUDENTS_TO_DO[lab] in solved.output, solved.output
        return
    assert "solution applied in student-01" in solved.output
    if lab in WHOLE_CLUSTER_LABS:
        # Its exercise is nodes coming for pods no node can hold: a student's limits refuse those pods,
        # and `classroom up` told the instructor so (--tenancy=cluster, or a demonstration).
        assert "works on the cluster itself" in moved.output
        deadline = time.monotonic() + PODS_ADMITTED_S
        while not (short := pods_not_admitted(classroom, PLAYER)) and time.monotonic() < deadline:
            time.sleep(2)
        assert short and all(re.search(LIMITED, reason) for reason in short if reason.startswith("ReplicaSet/")), short
        return
    deadline = time.monotonic() + PODS_ADMITTED_S
    while (short := pods_not_admitted(classroom, PLAYER)) and time.monotonic() < deadline:
        time.sleep(2)
    assert not short, f"{lab}: pods not admitted in {PLAYER}'s namespace: {short}"


def token_expiry(kubeconfig: Path) -> int:
    import yaml

    from infra.classroom.credentials import token_claims

    return token_claims(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])["exp"]


def test_tokens_follow_the_session_and_die_with_the_classroom(classroom, tmp_path):
    from datetime import datetime

    students = (PLAYER, NEIGHBOUR, ATTACKER)
    before = {s: token_expiry(classroom.student_kubeconfig(s)) for s in students}
    classroom.run("session", "extend", "--hours=12")
    classroom.run("classroom", "up", "--target=kwok", "--students=3")
    session = json.loads((classroom.state / "sessions" / classroom.session / "session.json").read_text())
    expires = datetime.fromisoformat(session["expires_at"]).timestamp()
    for student in students:
        after = token_expiry(classroom.student_kubeconfig(student))
        assert after > before[student] and abs(after - expires) <= 300, (student, after, expires)
        own = classroom.kubectl("get", "pods", kubeconfig=classroom.student_kubeconfig(student))
        assert own.returncode == 0
    kept = {s: tmp_path / s for s in students}
    for student, copy in kept.items():
        copy.write_bytes(classroom.student_kubeconfig(student).read_bytes())

    classroom.run("classroom", "down")
    for student, copy in kept.items():
        refused = classroom.kubectl("get", "pods", check=False, kubeconfig=copy)
        assert refused.returncode != 0 and "Unauthorized" in refused.output, (student, refused.output)
