"""`invoke cost`: the dated price table and the estimate's arithmetic (no cloud SDK needed)."""
from __future__ import annotations

import math
import re
from datetime import date

import pytest
from invoke import Program

import tasks
from infra import pricing
from infra.clusters.cloud import MACHINE_TYPES, NODE_DISK_GB
from infra.errors import LabsError


def invoke(*argv: str) -> None:
    Program(namespace=tasks.ns, name="invoke").run(["invoke", *argv])


def test_the_table_is_dated_and_every_figure_names_its_source():
    assert date.fromisoformat(pricing.PRICES_DATE)
    for target, prices in pricing.PRICES.items():
        figures = [prices.control_plane, prices.load_balancer, prices.disk, prices.fixed_network,
                   *prices.nodes.values()]
        assert all(price.source and price.unit and price.usd >= 0 for price in figures)
        assert set(prices.nodes) == set(MACHINE_TYPES[target].values())  # every node size has a price
        assert all(url.startswith("https://") for url in pricing.PRICING_PAGES[target])


def test_the_estimate_adds_control_plane_nodes_load_balancers_and_disks():
    est = pricing.estimate("gke", students=20, hours=8, size="S", nodes_at_creation=2, max_nodes=5)
    gke = pricing.PRICES["gke"]
    nodes = math.ceil(20 / (2 * 1000 // pricing.STUDENT_CPU_M))  # e2-standard-2: 2 vCPUs, 4 students: 5
    expected = {
        "control plane": gke.control_plane.usd * 8,
        "nodes (e2-standard-2, 2 vCPU / 8 GiB)": nodes * gke.nodes["e2-standard-2"].usd * 8,
        "load balancers": (1 + 20) * gke.load_balancer.usd * 8,
        "disks": (nodes * NODE_DISK_GB + 20 * pricing.DISK_GB_PER_STUDENT) * gke.disk.usd * 8 / 730,
    }
    assert {line.item: line.cost for line in est.lines} == pytest.approx(expected)
    assert est.nodes == 5 and est.total == pytest.approx(sum(expected.values()))
    assert est.total == pytest.approx(8.1734, abs=1e-3)  # 0.80 + 2.68 + 4.20 + 0.49
    assert est.per_student == pytest.approx(est.total / 20)


def test_a_cluster_alone_costs_its_nodes_at_creation_and_the_ingress_load_balancer():
    est = pricing.estimate("eks", students=0, hours=1, size="M", nodes_at_creation=3, max_nodes=5)
    eks = pricing.PRICES["eks"]
    lines = {line.item: line.cost for line in est.lines}
    assert lines["nodes (t3.xlarge, 4 vCPU / 16 GiB)"] == pytest.approx(3 * eks.nodes["t3.xlarge"].usd)
    assert lines["load balancers"] == pytest.approx(eks.load_balancer.usd)
    assert lines["control plane"] == pytest.approx(0.10)
    assert est.per_student is None


def test_aks_free_tier_has_no_control_plane_fee_but_its_outbound_load_balancer():
    est = pricing.estimate("aks", students=0, hours=10)
    lines = {line.item: line.cost for line in est.lines}
    assert lines["control plane"] == 0
    assert lines["cluster network (outbound LB, IP)"] == pytest.approx(pricing.PRICES["aks"].fixed_network.usd * 10)


def test_too_many_students_for_max_nodes_is_said():
    est = pricing.estimate("gke", students=40, hours=2, size="S", nodes_at_creation=2, max_nodes=5)
    assert est.nodes == 5 and any("maxNodes=5" in note for note in est.notes)
    assert pricing.estimate("gke", students=40, hours=2, size="L", max_nodes=5).nodes == 3


def test_another_region_than_the_tables_is_said():
    est = pricing.estimate("eks", students=1, hours=1, region="eu-west-3")
    assert any("us-east-1" in note and "eu-west-3" in note for note in est.notes)
    assert not pricing.estimate("eks", students=1, hours=1, region="us-east-1").notes


def test_hours_must_be_positive():
    with pytest.raises(LabsError):
        pricing.estimate("gke", students=1, hours=0)


def test_invoke_cost_prints_an_indicative_dated_estimate_with_the_pricing_pages(capsys):
    invoke("cost", "--target=gke", "--students=20", "--hours=8")
    out = capsys.readouterr().out
    assert "INDICATIVE" in out and pricing.PRICES_DATE in out and "us-central1" in out
    assert "$8.17" in out and "per student" in out
    assert "https://cloud.google.com/kubernetes-engine/pricing" in out


@pytest.mark.parametrize("argv, message", [
    (("cost", "--target=kind"), "no cost estimate for 'kind'"),
    (("cost", "--target=gke", "--students=-3"), "--students must be 0 or more"),
    (("cost", "--target=gke", "--hours=zero"), "--hours must be a number of hours"),
    (("cost", "--target=gke", "--node-size=XL"), "nodeSize must be one of S, M, L"),
])
def test_bad_cost_input_is_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        invoke(*argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_node_size_changes_the_machine_priced(capsys):
    invoke("cost", "--target=aks", "--students=4", "--hours=2", "--node-size=L")
    assert "Standard_D16s_v5" in capsys.readouterr().out


def test_unit_prices_in_the_output_match_the_table(capsys):
    invoke("cost", "--target=eks", "--students=2", "--hours=1")
    out = capsys.readouterr().out
    assert re.search(r"\$0\.0832/h", out) and "$0.08/GB-month" in out


def test_students_per_node_come_from_the_node_sizes_vcpus_and_pod_limit():
    """A t3.large has 2 vCPUs (4 students) and 35 pods (5 students after its system pods): 4; a
    t3.2xlarge has 8 vCPUs (16 students) but 58 pods: the pod limit decides (10)."""
    from infra.clusters.cloud import NODE_SIZES

    assert pricing.students_per_node(NODE_SIZES["eks"]["S"]) == 4
    assert pricing.students_per_node(NODE_SIZES["eks"]["L"]) == 10
    assert pricing.students_per_node(NODE_SIZES["aks"]["S"]) == 8  # D4s_v5: 4 vCPUs
    est = pricing.estimate("eks", students=30, hours=1, size="L", nodes_at_creation=2, max_nodes=10)
    assert est.nodes == 3  # 30 students, 10 per t3.2xlarge


def test_aks_prices_the_two_node_system_pool_it_creates():
    """Even with one worker and minNodes 1 asked, AKS creates (and the estimate prices) two nodes."""
    from infra.commands import cost_estimate, stack_settings

    est = cost_estimate(stack_settings(target="aks", workers=1, minNodes=1), students=0, hours=1)
    assert (est.nodes, est.machine_type) == (2, "Standard_D4s_v5")
