"""Shortcuts an impatient student might take (tests/shortcut_files.py), each against the check named
for the step it skips, offline. The fake API server (tests/fake_cluster.py) gets the lab's starting
point, the rest of its solution and the shortcut's objects, with the statuses a converged cluster
reports; the named check must pass on the solution alone and fail on the shortcut. A check no shortcut
can fail is a check to rethink. The same shortcuts run on a real API server in the controlplane tier.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from infra.catalog import Catalog
from infra.checks import ClusterReader, NEEDS_CONTAINERS, run_checks
from infra.clusters import kwok
from infra.paths import LABS_DIR
from tests.fake_cluster import FakeCluster, load_objects
from tests.shortcut_files import is_tool_record, key, load_shortcut, shortcut_files, taken_instead
from tests.test_checks import answer_solved, resize_event

LABS = {lab.id: lab for lab in Catalog.load(LABS_DIR).labs}


def run_check(lab, check_id: str, objects: list[dict], tmp_path: Path, solved: bool = False):
    """The check, on a fake cluster holding `objects`; `solved`: plus what the solved labs leave beyond
    their files (Helm's release records, the restarted scheduler's Lease: tests/test_checks.py)."""
    check = lab_check(lab, check_id)
    assert check["kind"] not in NEEDS_CONTAINERS and not check.get("needs_containers"), \
        f"{check_id} cannot be decided from objects: test that shortcut on a cluster"
    return decide(lab, check, objects, tmp_path, solved)


def lab_check(lab, check_id: str) -> dict:
    check = next((c for c in lab.checks if c["id"] == check_id), None)
    assert check, f"{lab.id} has no check {check_id!r}"
    return check


def decide(lab, check: dict, objects: list[dict], tmp_path: Path, solved: bool = False):
    """`check` on a fake cluster holding `objects` (and, `solved`, what the solved lab leaves)."""
    with FakeCluster() as cluster:
        cluster.add(*objects)
        if solved:
            answer_solved(cluster, lab)
        reader = ClusterReader(cluster.kubeconfig(tmp_path), ingress_url=cluster.url)
        return run_checks([check], reader, lab.namespace, "en").results[0]


def test_every_lab_has_a_shortcut():
    covered = {file.parent.name for file in shortcut_files()}
    assert covered == set(LABS), f"labs without a shortcut: {sorted(set(LABS) - covered)}; " \
                                 f"shortcuts of no lab: {sorted(covered - set(LABS))}"


@pytest.mark.parametrize("file", shortcut_files(), ids=lambda file: f"{file.parent.name}/{file.stem}")
def test_the_check_for_the_skipped_step_fails_on_the_shortcut(file, tmp_path):
    lab = LABS[file.parent.name]
    shortcut, applied = load_shortcut(file, lab.namespace)
    starter = load_objects(lab.path / "manifests", namespace=lab.namespace)
    solution = load_objects(lab.path / "solution", namespace=lab.namespace)
    solved = run_check(lab, shortcut["fails"], starter + solution, tmp_path, solved=True)
    assert solved.passed, f"{shortcut['fails']} fails on the solution itself: {solved.detail}"

    taken = run_check(lab, shortcut["fails"], starter + taken_instead(lab, shortcut, applied), tmp_path)
    assert not taken.passed and not taken.skipped, f"{file.name}: {shortcut['fails']} passed: {taken.detail}"


@pytest.mark.parametrize("file", shortcut_files(), ids=lambda file: f"{file.parent.name}/{file.stem}")
def test_a_shortcut_can_be_played_on_a_real_cluster(file):
    """On kwok a shortcut's objects are applied with kubectl, and what its tools wrote (Helm's release
    Secrets) comes from the solve steps it names: those must exist, and records need steps that write them."""
    lab = LABS[file.parent.name]
    shortcut, applied = load_shortcut(file, lab.namespace)
    steps = shortcut.get("steps") or []
    assert all(isinstance(n, int) and 1 <= n <= len(lab.solve) for n in steps), f"{file.name}: steps {steps}"
    assert all(lab.solve[n - 1]["action"] in ("kubectl", "helm") for n in steps), f"{file.name}: steps {steps}"
    if any(is_tool_record(obj) for obj in applied):
        assert any(lab.solve[n - 1]["action"] == "helm" for n in steps), \
            f"{file.name}: Helm's records, but no helm step to write them on a real cluster"


def test_lab_12s_resize_check_fails_on_a_claim_created_at_2gi(tmp_path):
    """The shortcut: `data` created directly at 2Gi, never grown. Its resize check needs the CSI resizer
    and a kubelet (`needs_containers`), so the harness above refuses it; here the cluster holds the events
    such a claim really gets (its provisioning) and, solved, the kubelet's resize event (test_checks)."""
    lab = LABS["12-persistent-volume-claim"]
    starter = load_objects(lab.path / "manifests", namespace=lab.namespace)
    solution = load_objects(lab.path / "solution", namespace=lab.namespace)
    at_2gi = [copy.deepcopy(obj) for obj in solution]
    claim = next(obj for obj in at_2gi if key(obj) == "PersistentVolumeClaim/data")
    claim["spec"]["resources"]["requests"]["storage"] = "2Gi"
    provisioned = resize_event("data", "ProvisioningSucceeded")
    grown = lab_check(lab, "data-claim-grown")

    assert decide(lab, grown, starter + solution, tmp_path, solved=True).passed
    shortcut = decide(lab, grown, starter + at_2gi + [provisioned], tmp_path)
    assert not shortcut.passed and not shortcut.skipped, shortcut.detail
    # Why the event: the capacity check alone cannot tell that claim from a grown one.
    assert decide(lab, lab_check(lab, "data-claim-resized"), starter + at_2gi, tmp_path).passed


def test_lab_11s_volume_is_pinned_to_one_node_in_every_session():
    """The PV's node affinity selects exactly one node of a kind/kwok cluster whatever the session's name
    (a node name such as labs-default-worker exists in the session `default` only)."""
    lab = LABS["11-persistent-volume"]
    pv = next(obj for obj in load_objects(lab.path / "solution", namespace=lab.namespace)
              if obj["kind"] == "PersistentVolume")
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]

    def selected(labels: dict) -> bool:
        return any(all(expr["operator"] == "In" and labels.get(expr["key"]) in expr["values"]
                       for expr in term["matchExpressions"]) for term in terms)

    for session in ("default", "monday", "alice"):
        nodes = [node["metadata"]["name"] for node in kwok.node_manifests(session, 2)
                 if selected(node["metadata"]["labels"])]
        assert nodes == [f"labs-{session}-worker"], (session, nodes)


def test_lab_19s_class_costs_are_what_invoke_cost_estimates():
    """Lab 19's check wants the `invoke cost` totals for 12 students and 8 hours: a price table update
    must update the check too (else every student fails it)."""
    from infra import commands

    fields = next(c for c in LABS["19-cloud"].checks if c["id"] == "target-comparison")["fields"]
    for cloud in ("gke", "eks", "aks"):
        estimate = commands.cost_estimate(commands.stack_settings(target=cloud), 12, 8)
        assert fields[f"data.{cloud}-class-cost"] == f"{estimate.total:.2f}", cloud


# After a reset, before lab 17's alert can fire (see infra.commands.LAB_TEST_TIMEOUT_S): the rule's way to
# Prometheus through a ConfigMap volume (kubelet sync 60 s + cache 60 s), two scrapes at the operator's
# default 30 s interval for rate(), then the rule's `for:` and one evaluation (30 s).
RULE_PICKUP_S, SCRAPES_S, EVALUATION_S = 120, 2 * 30, 30


def test_lab_test_waits_long_enough_for_lab_17s_alert():
    from infra import cli, commands

    rule = next(obj for obj in load_objects(LABS["17-alerting"].path / "solution", namespace="lab-alerting")
                if obj["kind"] == "PrometheusRule")["spec"]["groups"][0]["rules"][0]
    amount, unit = int(rule["for"][:-1]), rule["for"][-1]
    for_s = amount * {"s": 1, "m": 60, "h": 3600}[unit]
    assert RULE_PICKUP_S + SCRAPES_S + for_s + EVALUATION_S <= commands.LAB_TEST_TIMEOUT_S
    action = next(action for action in cli.LAB.actions if action.name == "test")
    assert action.options["timeout"] == commands.LAB_TEST_TIMEOUT_S
