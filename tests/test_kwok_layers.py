"""How the layers adapt where no container runs (the kwok target), by capability only. Each of these
was found by the real engine on kwok (controlplane tier): without it `lab up` hangs or fails there."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from infra.settings import StackSettings
from tests.conftest import render_with_layers
from tests.layer_helpers import objects_of_kind, release_named

KWOK = StackSettings(session="monday", target="kwok")
KIND = StackSettings(session="monday")


def test_the_web_uis_do_not_wait_for_an_address_no_ingress_controller_will_publish(tmp_path):
    kwok = objects_of_kind(render_with_layers(tmp_path / "kwok", ["ingress", "monitoring"], KWOK), "Ingress")
    kind = objects_of_kind(render_with_layers(tmp_path / "kind", ["ingress", "monitoring"], KIND), "Ingress")
    assert kwok["grafana-ui"]["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert not kind["grafana-ui"]["metadata"].get("annotations")  # Traefik publishes an address there


def test_no_aggregated_api_nothing_would_serve(tmp_path):
    values = release_named(render_with_layers(tmp_path, ["metrics"], KWOK), "metrics-server")["values"]
    assert values["apiService"] == {"create": False}
    kind_values = release_named(render_with_layers(tmp_path / "kind", ["metrics"], KIND), "metrics-server")["values"]
    assert "apiService" not in kind_values


def test_webhooks_no_pod_serves_are_off_or_ignored(tmp_path):
    document = render_with_layers(tmp_path, ["monitoring", "loadbalancer"], KWOK)
    stack = release_named(document, "kube-prometheus-stack")["values"]
    assert stack["prometheusOperator"]["admissionWebhooks"]["enabled"] is False
    assert release_named(document, "metallb")["values"]["crds"] == {"validationFailurePolicy": "Ignore"}
    kind = render_with_layers(tmp_path / "kind", ["monitoring", "loadbalancer"], KIND)
    assert "enabled" not in release_named(kind, "kube-prometheus-stack")["values"]["prometheusOperator"]["admissionWebhooks"]
    assert "crds" not in release_named(kind, "metallb")["values"]


def test_loki_claims_no_volume_where_no_provisioner_runs(tmp_path):
    kwok = release_named(render_with_layers(tmp_path, ["logging"], KWOK), "loki")["values"]
    kind = release_named(render_with_layers(tmp_path / "kind", ["logging"], KIND), "loki")["values"]
    assert kwok["singleBinary"]["persistence"]["enabled"] is False
    assert kind["singleBinary"]["persistence"]["enabled"] is True


def test_traefik_stays_in_the_cluster(tmp_path):
    values = release_named(render_with_layers(tmp_path, ["ingress"], KWOK), "traefik")["values"]
    assert values["service"] == {"spec": {"type": "ClusterIP"}}
    assert "ports" not in values  # no host ports on fake nodes


def test_the_metallb_pool_names_a_range_no_network_routes(tmp_path):
    pools = objects_of_kind(render_with_layers(tmp_path, ["loadbalancer"], KWOK), "IPAddressPool")
    assert [pool["spec"]["addresses"] for pool in pools.values()] == [["192.0.2.100-192.0.2.150"]]


def test_the_crds_a_chart_installs_from_its_crds_folder_go_with_the_layer(tmp_path):
    """Helm never deletes them: each such release depends on a ChartCrds naming their API groups."""
    document = render_with_layers(tmp_path, ["ingress", "monitoring", "autoscaler"], KWOK)
    assert "traefik-crds" in release_named(document, "traefik")["depends_on"]
    assert "kube-prometheus-stack-crds" in release_named(document, "kube-prometheus-stack")["depends_on"]
    assert "kwok-crds" in release_named(document, "kwok")["depends_on"]


class _Crds:
    """The API server's CRD list and their objects, as the kubernetes client returns them. Deletions
    take effect at once, except for the CRDs in `stuck`: those stay, Terminating with the API server's
    message, and keep the objects in `held` (name -> finalizers)."""

    def __init__(self, groups: dict[str, str], stuck: dict[str, str] | None = None,
                 held: dict[str, list[str]] | None = None):
        self.groups = dict(groups)  # name -> group
        self.stuck = stuck or {}  # name -> its Terminating condition's message
        self.held = held or {}
        self.deleted: list[str] = []

    def list_custom_resource_definition(self):
        def status(name):
            if name not in self.deleted or name not in self.stuck:
                return SimpleNamespace(conditions=[SimpleNamespace(type="Established", message="the initial names "
                                                                   "have been accepted")])
            return SimpleNamespace(conditions=[SimpleNamespace(type="Terminating", message=self.stuck[name])])

        return SimpleNamespace(items=[
            SimpleNamespace(metadata=SimpleNamespace(name=n), status=status(n), spec=SimpleNamespace(
                group=g, names=SimpleNamespace(plural=n.split(".")[0]),
                versions=[SimpleNamespace(name="v1beta1", storage=False), SimpleNamespace(name="v1", storage=True)]))
            for n, g in self.groups.items()])

    def delete_custom_resource_definition(self, name):
        self.deleted.append(name)
        if name not in self.stuck:
            del self.groups[name]

    def list_cluster_custom_object(self, group, version, plural):
        assert version == "v1"  # the stored version
        return {"items": [{"metadata": {"name": name, "finalizers": finalizers}}
                          for name, finalizers in self.held.items()
                          if any(crd == f"{plural}.{group}" for crd in self.stuck)]}


def crd_cleanup_error(monkeypatch, api: _Crds, groups: list[str]) -> str:
    """The one-line error of the CRD cleanup once its wait is over (no wait here)."""
    from infra.layers import chart_crds

    monkeypatch.setattr(chart_crds, "_api", lambda kubeconfig: (api, api))
    monkeypatch.setattr(chart_crds, "DELETE_TIMEOUT_S", 0)
    with pytest.raises(RuntimeError) as failure:
        chart_crds.ChartCrdsProvider().delete(",".join(groups), {"groups": groups, "kubeconfig": "x"})
    assert "\n" not in str(failure.value)
    return str(failure.value)


def test_chart_crds_deletes_only_its_groups(monkeypatch):
    from infra.layers import chart_crds

    api = _Crds({"ingressroutes.traefik.io": "traefik.io", "apis.hub.traefik.io": "hub.traefik.io",
                 "prometheuses.monitoring.coreos.com": "monitoring.coreos.com"})
    monkeypatch.setattr(chart_crds, "_api", lambda kubeconfig: (api, api))
    chart_crds.ChartCrdsProvider().delete("traefik.io", {"groups": ["hub.traefik.io", "traefik.io"], "kubeconfig": "x"})
    assert sorted(api.deleted) == ["apis.hub.traefik.io", "ingressroutes.traefik.io"]
    assert list(api.groups) == ["prometheuses.monitoring.coreos.com"]


def test_a_crd_the_api_server_does_not_remove_in_time_is_named_with_its_reason(monkeypatch):
    """The API server's CRD finalizer says why a CRD is still there (its Terminating condition)."""
    api = _Crds({"stages.kwok.x-k8s.io": "kwok.x-k8s.io", "clusterresourceusages.kwok.x-k8s.io": "kwok.x-k8s.io"},
                stuck={"clusterresourceusages.kwok.x-k8s.io": "CustomResource deletion is in progress"})
    message = crd_cleanup_error(monkeypatch, api, ["kwok.x-k8s.io"])
    assert "clusterresourceusages.kwok.x-k8s.io (CustomResource deletion is in progress)" in message
    assert "stages" not in message and "run the command again" in message


def test_a_crd_whose_objects_finalizers_hold_names_them_and_the_fix(monkeypatch):
    """Found on kwok: an object with a finalizer no controller removes keeps its CRD for ever."""
    api = _Crds({"clusterresourceusages.kwok.x-k8s.io": "kwok.x-k8s.io"},
                stuck={"clusterresourceusages.kwok.x-k8s.io": "could not confirm zero CustomResources remaining"},
                held={"held": ["example.com/never-removed"]})
    message = crd_cleanup_error(monkeypatch, api, ["kwok.x-k8s.io"])
    assert "1 object(s) held by finalizers: held (example.com/never-removed)" in message
    assert "kubectl patch clusterresourceusages.kwok.x-k8s.io held --type=merge" in message
