"""The footprint: quantities, requests read from the values the program installs, the laptop budget."""
from __future__ import annotations

import pytest

from infra.footprint import BUDGET_CPU_M, BUDGET_MEMORY_MI, chart_default_resources, footprint, totals
from infra.quantities import cpu_millicores, memory_mebibytes
from infra.layers import LAYERS
from infra.settings import StackSettings


@pytest.mark.parametrize("quantity, millicores", [("50m", 50), ("0.1", 100), ("1", 1000), (None, None)])
def test_cpu_quantities(quantity, millicores):
    assert cpu_millicores(quantity) == millicores


@pytest.mark.parametrize("quantity, mebibytes", [("64Mi", 64), ("1Gi", 1024), ("512Ki", 0.5), ("1M", 1e6 / 2**20),
                                                 ("1048576", 1), (None, None)])
def test_memory_quantities(quantity, mebibytes):
    assert memory_mebibytes(quantity) == pytest.approx(mebibytes)


def test_traefik_requests_come_from_the_installed_values(catalog):
    from infra.layers.ingress import traefik_values
    from infra.clusters.capabilities import BY_TARGET

    rows = footprint("ingress", StackSettings(), catalog)["ingress"]
    (row,) = rows
    caps = BY_TARGET["kind"](StackSettings())
    assert row.cpu_m == cpu_millicores(traefik_values(caps)["resources"]["requests"]["cpu"])
    assert (row.owner, row.container, row.chart) == ("traefik", "traefik", "traefik/41.3.0")


def test_whole_stack_fits_a_laptop_and_every_container_has_requests(catalog):
    """All layers the labs use, on the kind profile: <= 1.5 CPU, <= 3 GiB, no container without requests."""
    per_layer = footprint("all", StackSettings(), catalog)
    rows = [row for layer_rows in per_layer.values() for row in layer_rows]
    assert rows
    assert [f"{r.owner}/{r.container}" for r in rows if r.lacks_requests] == []
    cpu, memory = totals(rows)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI


def test_every_used_layer_declares_its_workloads(catalog):
    used = {layer for lab in catalog.labs for layer in lab.layer_closure()}
    for layer in used - {"gateway-api"}:
        module = __import__(LAYERS[layer].component.partition(":")[0], fromlist=["WORKLOADS"])
        assert hasattr(module, "WORKLOADS"), layer


def test_chart_defaults_are_read_from_reference_values(shared):
    traefik = shared / "charts" / "traefik" / "41.3.0"
    assert chart_default_resources(traefik, "resources") == {}
    istiod = shared / "charts" / "istiod" / "1.30.3"
    assert chart_default_resources(istiod, "resources")["requests"]["memory"] == "2048Mi"
    kps = shared / "charts" / "kube-prometheus-stack" / "88.5.3"
    assert chart_default_resources(kps, "grafana.resources") == {}  # read from the grafana subchart
