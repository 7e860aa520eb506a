"""`lab render --target=<gke|eks|aks>`: every lab, and every layer at once, renders on each cloud
and passes ../shared/tools/check_k8s.py with 0 errors; the layers adapt (no MetalLB, no simulated
nodes, no second metrics-server). Each target needs its extra (skipped when absent)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.clusters import CLOUD_TARGETS
from infra.clusters.cloud import EXTRAS
from infra.layers import LAYERS
from infra.paths import LABS_DIR
from tests.cloud_helpers import cloud_settings
from tests.conftest import check_k8s_render, render_with_layers


@pytest.fixture(params=CLOUD_TARGETS)
def target(request) -> str:
    for module in EXTRAS[request.param][1]:
        pytest.importorskip(module, reason=f"the {request.param} extra is not installed")
    return request.param


def _release_names(documents) -> set[str]:
    return {release["name"] for doc in documents for release in doc["releases"]}


def test_lab_render_all_passes_check_k8s_on_each_cloud(target, shared, tmp_path):
    done = subprocess.run([sys.executable, "-m", "invoke", "lab", "render", "--lab=all", f"--target={target}",
                           "--format=json"], capture_output=True, text=True, cwd=LABS_DIR.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    documents = json.loads(done.stdout)
    assert documents and all(doc["target"] == target and doc["cluster"]["provider"] == target for doc in documents)
    assert "metallb" not in _release_names(documents)
    assert " 0 errors" in check_k8s_render(shared, documents, tmp_path)


@pytest.fixture
def every_layer(target, tmp_path) -> dict:
    return render_with_layers(tmp_path / "labs", list(LAYERS), cloud_settings(target))


def test_every_layer_at_once_renders_and_passes_check_k8s_on_each_cloud(every_layer, shared, tmp_path):
    output = check_k8s_render(shared, every_layer, tmp_path)
    assert " 0 errors" in output


def test_clouds_get_no_metallb_and_no_simulated_nodes(every_layer):
    names = _release_names([every_layer])
    assert "metallb" not in names and "kwok" not in names and "stage-fast" not in names
    namespaces = {obj["metadata"]["name"] for obj in every_layer["objects"] if obj["kind"] == "Namespace"}
    assert "metallb-system" not in namespaces
    assert not any(obj.get("kind") in ("IPAddressPool", "L2Advertisement") for obj in every_layer["objects"])


def test_metrics_server_is_installed_only_where_the_cloud_has_none(every_layer, target):
    installed = "metrics-server" in _release_names([every_layer])
    assert installed == (target == "eks")


def test_traefik_sits_behind_the_cloud_load_balancer(every_layer):
    (traefik,) = [release for release in every_layer["releases"] if release["name"] == "traefik"]
    assert "hostPort" not in json.dumps(traefik["values"]) and "nodeSelector" not in traefik["values"]


def test_the_cluster_summary_shows_the_cloud_config(every_layer, target):
    cluster = every_layer["cluster"]
    assert cluster["provider"] == target and cluster["kubernetes_version"] == "1.35" and cluster["nodes"] == 2
    labels = cluster["config"].get("labels") or cluster["config"].get("tags")
    assert labels == {"project": "k8s-labs", "session": "monday", "expires-at": "2026-07-23t18-00z"}
    assert "[secret]" not in json.dumps(cluster)


def test_eks_renders_its_gp3_default_class(every_layer, target):
    classes = [obj for obj in every_layer["objects"] if obj["kind"] == "StorageClass"]
    gp3 = [obj for obj in classes if obj["metadata"]["name"] == "gp3"]
    if target != "eks":
        assert not gp3
        return
    (gp3,) = gp3
    assert gp3["provisioner"] == "ebs.csi.aws.com" and gp3["allowVolumeExpansion"] is True
    assert gp3["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert gp3["parameters"]["type"] == "gp3" and gp3["volumeBindingMode"] == "WaitForFirstConsumer"
