"""The GKE target under the Pulumi mock runtime: cluster, node pool, labels, kubeconfig (needs the gke extra)."""
from __future__ import annotations

import pytest
import yaml

pytest.importorskip("pulumi_gcp", reason="the gke extra is not installed (pip install -e '.[gke]')")

from infra.clusters import gke  # noqa: E402
from tests.cloud_helpers import (  # noqa: E402
    EXPIRES, LABELS, assert_kubeconfig_is_a_secret_wired_into_the_provider, by_type, one, provider_input, record,
)

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"


@pytest.fixture(scope="module")
def recorded():
    return record("gke", gcp_project="course-project")


def test_the_cluster_is_zonal_in_a_release_channel_without_its_default_pool(recorded):
    registrations, _ = recorded
    cluster = one(registrations, CLUSTER).inputs
    assert cluster["name"] == "labs-monday" and cluster["location"] == "us-central1-a"
    assert cluster["releaseChannel"] == {"channel": "REGULAR"} and cluster["minMasterVersion"] == "1.35"
    assert cluster["removeDefaultNodePool"] is True and cluster["initialNodeCount"] == 1
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "course-project.svc.id.goog"}
    assert cluster["deletionProtection"] is False  # or `session down` could not delete it
    assert cluster["project"] == "course-project"


def test_the_node_pool_autoscales_within_the_bounds(recorded):
    registrations, _ = recorded
    cluster = one(registrations, CLUSTER)
    pool = one(registrations, POOL)
    assert pool.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 5}
    assert pool.inputs["initialNodeCount"] == 2 and pool.inputs["location"] == "us-central1-a"
    assert pool.inputs["nodeConfig"]["machineType"] == "e2-standard-2"
    assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert cluster.urn in pool.dependencies


@pytest.mark.parametrize("size, machine", [("M", "e2-standard-4"), ("L", "e2-standard-8")])
def test_node_sizes_pick_the_machine_type(size, machine):
    registrations, _ = record("gke", node_size=size, min_nodes=2, max_nodes=8)
    pool = one(registrations, POOL).inputs
    assert pool["nodeConfig"]["machineType"] == machine
    assert pool["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 8}


def test_every_gcp_resource_carries_the_session_labels_and_expiry(recorded):
    registrations, _ = recorded
    assert provider_input(one(registrations, "pulumi:providers:gcp"), "defaultLabels") == LABELS
    assert one(registrations, CLUSTER).inputs["resourceLabels"] == LABELS
    assert one(registrations, POOL).inputs["nodeConfig"]["resourceLabels"] == LABELS  # VMs and boot disks
    assert LABELS["expires-at"] == EXPIRES
    gcp_resources = [reg for reg in registrations if reg.type.startswith("gcp:")]
    provider = one(registrations, "pulumi:providers:gcp")
    assert gcp_resources and all(reg.provider.startswith(provider.urn + "::") for reg in gcp_resources)


def test_the_kubeconfig_is_a_secret_feeding_the_provider_after_the_node_pool(recorded):
    registrations, outputs = recorded
    component, _ = assert_kubeconfig_is_a_secret_wired_into_the_provider(
        registrations, outputs, "labs:cluster:Gke", "gcp:container/nodePool:NodePool::nodes")
    summary = outputs[component.urn]["summary"]
    assert summary["provider"] == "gke" and summary["kubernetes_version"] == "1.35" and summary["nodes"] == 2
    assert summary["config"]["node_pool"]["autoscaling"] == {"min": 1, "max": 5}
    assert summary["config"]["labels"] == LABELS


def test_the_kubeconfig_uses_the_gke_auth_plugin_and_the_cluster_ca():
    config = yaml.safe_load(gke.kubeconfig("labs-monday", "34.1.2.3", "Q0EtREFUQQ=="))
    assert config["clusters"][0]["cluster"] == {"server": "https://34.1.2.3", "certificate-authority-data": "Q0EtREFUQQ=="}
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin" and exec_["provideClusterInfo"] is True
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert "token" not in yaml.safe_dump(config)


def test_no_kubernetes_object_is_created_by_the_gke_target(recorded):
    registrations, _ = recorded
    assert not [reg for reg in registrations if reg.type.startswith("kubernetes:")]
    assert not by_type(registrations, "labs:layer:")


def test_preflight_asks_for_the_project_and_the_auth_plugin(monkeypatch):
    from infra.errors import LabsError
    from tests.cloud_helpers import cloud_settings

    monkeypatch.setattr("shutil.which", lambda command: None)
    with pytest.raises(LabsError, match="gcpProject"):
        gke.GkeTarget().preflight(cloud_settings("gke", gcp_project=""))
    with pytest.raises(LabsError, match="`gcloud` is not on PATH"):
        gke.GkeTarget().preflight(cloud_settings("gke", gcp_project="p"))
    monkeypatch.setattr("shutil.which", lambda command: None if command == gke.AUTH_PLUGIN else f"/bin/{command}")
    with pytest.raises(LabsError, match="gke-gcloud-auth-plugin"):
        gke.GkeTarget().preflight(cloud_settings("gke", gcp_project="p"))


def test_network_policies_are_enforced_by_dataplane_v2(recorded):
    registrations, _ = recorded
    cluster = one(registrations, CLUSTER).inputs
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in cluster  # Calico's add-on is not combined with Dataplane V2
    from tests.cloud_helpers import cloud_caps

    assert cloud_caps("gke").network_policy_enforced is True


def test_the_autoscaler_lab_gets_a_pool_of_real_nodes_with_its_label_and_taint():
    """Lab 08's pods select and tolerate labs.k8s/autoscaled: a pool of 0 to 5 nodes carries them while the
    autoscaler layer is up (none otherwise: it goes with the lab)."""
    registrations, _ = record("gke", gcp_project="p", lab="cluster-autoscaler")
    lab_pool = [reg for reg in registrations if reg.type == POOL and reg.inputs["name"] == "autoscaled"]
    (pool,) = lab_pool
    assert pool.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 5} and pool.inputs["initialNodeCount"] == 0
    config = pool.inputs["nodeConfig"]
    assert config["machineType"] == "e2-standard-4"  # 4 vCPUs: two of the lab's 1.5-CPU pods per node
    assert config["labels"]["labs.k8s/autoscaled"] == "true"
    assert config["taints"] == [{"key": "labs.k8s/autoscaled", "value": "true", "effect": "NO_SCHEDULE"}]
    registrations, _ = record("gke", gcp_project="p", lab="pods")
    assert [reg.inputs["name"] for reg in by_type(registrations, POOL)] == ["labs"]


def test_the_lab_solutions_pods_fit_the_cloud_pool():
    """What lab 08's solution selects and tolerates is what the cloud pool's nodes carry."""
    from pathlib import Path

    registrations, _ = record("gke", gcp_project="p", lab="cluster-autoscaler")
    (pool,) = [reg for reg in registrations if reg.type == POOL and reg.inputs["name"] == "autoscaled"]
    solution = Path(__file__).parent.parent / "labs/08-cluster-autoscaler/solution/10-worker.yaml"
    spec = yaml.safe_load(solution.read_text())["spec"]["template"]["spec"]
    assert spec["nodeSelector"].items() <= pool.inputs["nodeConfig"]["labels"].items()
    (toleration,) = spec["tolerations"]
    (taint,) = pool.inputs["nodeConfig"]["taints"]
    assert (toleration["key"], toleration["value"], toleration["effect"]) == (
        taint["key"], taint["value"], {"NO_SCHEDULE": "NoSchedule"}[taint["effect"]])


def test_the_pools_size_is_left_to_the_autoscaler(monkeypatch):
    """The provider recreates a pool whose initial_node_count changed (and resizing may change it): a
    class that needs more nodes, or the autoscaler's work, must never replace the pool."""
    import pulumi_gcp

    seen = {}
    real = pulumi_gcp.container.NodePool.__init__

    def spy(self, resource_name, *args, opts=None, **kwargs):
        seen[resource_name] = opts.ignore_changes
        real(self, resource_name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(pulumi_gcp.container.NodePool, "__init__", spy)
    record("gke", gcp_project="p", lab="cluster-autoscaler")
    assert seen == {"nodes": ["initialNodeCount"], "autoscaled": ["initialNodeCount"]}
