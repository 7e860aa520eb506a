"""What the cloud targets share, testable without any cloud SDK: the optional extras, the message
when one is missing, settings, capabilities, labels and the session's fixed expiry."""
from __future__ import annotations

import sys
import tomllib
from datetime import datetime, timezone

import pytest

from infra.clusters import CLOUD_TARGETS, TARGETS, Capabilities, cloud
from infra.clusters.capabilities import BY_TARGET
from infra.errors import LabsError
from infra.paths import PROJECT_ROOT
from infra.settings import StackSettings

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def test_each_cloud_sdk_is_its_own_pinned_extra_and_cloud_is_all_three():
    assert EXTRAS["gke"] == ["pulumi-gcp==10.2.0"]
    assert EXTRAS["eks"] == ["pulumi-eks==4.4.0", "pulumi-aws==7.51.1"]
    assert EXTRAS["aks"] == ["pulumi-azure-native==3.29.0"]
    assert sorted(EXTRAS["cloud"]) == sorted(EXTRAS["gke"] + EXTRAS["eks"] + EXTRAS["aks"])


def test_neither_the_base_install_nor_the_test_extra_needs_a_cloud_sdk():
    needed = " ".join(PYPROJECT["project"]["dependencies"] + EXTRAS["test"])
    for sdk in ("pulumi-gcp", "pulumi-aws", "pulumi-eks", "pulumi-azure-native"):
        assert sdk not in needed


def test_every_cloud_target_is_registered_and_choosing_one_imports_no_sdk():
    """Resolving the targets (what option parsing does) loads no cloud SDK."""
    import subprocess

    code = (
        "import sys; from infra.clusters import get_target, CLOUD_TARGETS; from infra.commands import stack_settings; "
        "from infra.clusters.capabilities import target_capabilities; "
        "[get_target(t) and target_capabilities(stack_settings(target=t)) for t in CLOUD_TARGETS]; "
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi_gcp', 'pulumi_aws', 'pulumi_eks', 'pulumi_azure_native')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    assert set(CLOUD_TARGETS) <= set(TARGETS)


@pytest.mark.parametrize("target, extra, module", [("gke", "gke", "pulumi_gcp"), ("eks", "eks", "pulumi_eks"),
                                                   ("aks", "aks", "pulumi_azure_native")])
def test_a_cloud_target_without_its_extra_names_the_extra_in_one_line(monkeypatch, target, extra, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now raises ImportError
    with pytest.raises(LabsError) as error:
        cloud.require_sdk(target)
    assert str(error.value) == f"the {target} target needs its cloud SDK: pip install -e '.[{extra}]'"


@pytest.mark.parametrize("target, module", [("gke", "pulumi_gcp"), ("eks", "pulumi_eks"), ("aks", "pulumi_azure_native")])
def test_lab_render_without_the_extra_is_one_error_line(monkeypatch, capsys, target, module):
    from invoke import Program

    import tasks

    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(SystemExit) as exit_:
        Program(namespace=tasks.ns, name="invoke").run(["invoke", "lab", "render", "--lab=ingress", f"--target={target}"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: the {target} target needs its cloud SDK: pip install -e '.[{target}]'"


@pytest.mark.parametrize("target", CLOUD_TARGETS)
def test_the_committed_stack_file_pins_region_and_version_and_holds_no_secret(target):
    import yaml

    file = PROJECT_ROOT / "stacks" / f"Pulumi.{target}.yaml"
    config = yaml.safe_load(file.read_text())["config"]
    settings = StackSettings.for_target(target)
    assert settings.target == target and settings.region and settings.kubernetes_version.startswith("1.")
    assert settings.expires_hours == 8 and settings.node_size == "S"
    assert not any(word in key.lower() for key in config for word in ("secret", "password", "token", "key"))
    assert all(not isinstance(value, dict) or "secure" not in value for value in config.values())


def test_cloud_settings_reach_the_stack_config_only_on_clouds():
    kind = StackSettings(session="monday").as_config()
    assert "k8s-labs:region" not in kind and "k8s-labs:expiresAt" not in kind
    gke = StackSettings.for_target("gke").as_config()
    assert gke["k8s-labs:zones"] == "us-central1-a" and gke["k8s-labs:nodeSize"] == "S"
    assert "k8s-labs:vpcId" not in gke and "k8s-labs:gcpProject" in gke
    assert "k8s-labs:vpcId" in StackSettings.for_target("eks").as_config()


def test_node_size_is_validated_with_one_line():
    with pytest.raises(LabsError, match="nodeSize must be one of S, M, L, got 'XL'"):
        StackSettings(target="gke").with_config({"nodeSize": "XL"}, "command line")
    assert StackSettings(target="gke").with_config({"nodeSize": "m"}, "x").node_size == "M"


def test_node_sizes_map_per_provider_with_their_real_capacity_and_a_source():
    assert cloud.MACHINE_TYPES["gke"] == {"S": "e2-standard-2", "M": "e2-standard-4", "L": "e2-standard-8"}
    assert cloud.MACHINE_TYPES["eks"] == {"S": "t3.large", "M": "t3.xlarge", "L": "t3.2xlarge"}
    assert cloud.MACHINE_TYPES["aks"] == {"S": "Standard_D4s_v5", "M": "Standard_D8s_v5", "L": "Standard_D16s_v5"}
    for target in ("gke", "eks"):
        assert [cloud.NODE_SIZES[target][size].vcpu for size in "SML"] == [2, 4, 8]
    assert [cloud.NODE_SIZES["aks"][size].vcpu for size in "SML"] == [4, 8, 16]  # a System pool: 4 at least
    assert not any(node.sku.startswith("Standard_B") for node in cloud.NODE_SIZES["aks"].values())
    assert all(node.source and node.memory_gib >= 4 * 1 for sizes in cloud.NODE_SIZES.values()
               for node in sizes.values())


def test_node_counts_keep_workers_within_the_autoscaling_bounds():
    assert cloud.node_counts(StackSettings(target="gke", workers=2, min_nodes=1, max_nodes=5)) == (2, 1, 5)
    assert cloud.node_counts(StackSettings(target="gke", workers=9, min_nodes=1, max_nodes=5)) == (5, 1, 5)
    assert cloud.node_counts(StackSettings(target="gke", workers=0, min_nodes=0, max_nodes=3)) == (1, 0, 3)
    with pytest.raises(LabsError, match="minNodes"):
        cloud.node_counts(StackSettings(target="gke", min_nodes=4, max_nodes=2))


# --- capabilities ---------------------------------------------------------------------------------

def caps(target: str) -> Capabilities:
    return BY_TARGET[target](StackSettings.for_target(target))


def test_kind_keeps_its_profile():
    kind = caps("kind")
    assert (kind.load_balancer, kind.ingress_exposure, kind.metrics_server) == (False, "host-ports", False)
    assert kind.default_storage_class == "standard" and kind.default_provisioner == "rancher.io/local-path"
    assert kind.node_autoscaling == "" and not kind.cloud and not kind.snapshot_controller


@pytest.mark.parametrize("target", CLOUD_TARGETS)
def test_clouds_provide_load_balancers_and_expose_the_ingress_through_one(target):
    c = caps(target)
    assert c.cloud and c.load_balancer and c.ingress_exposure == "load-balancer"
    assert (c.http_port, c.https_port) == (80, 443)
    assert c.csi_driver == c.default_provisioner and c.volume_expansion and c.snapshot_controller
    assert c.node_autoscaling and (c.min_nodes, c.max_nodes) == ((2, 5) if target == "aks" else (1, 5))
    assert c.nodes == 2
    assert c.storage_classes[0] == c.default_storage_class
    assert c.base_domain == cloud.DEFAULT_BASE_DOMAIN


@pytest.mark.parametrize(
    "target, default, premium, driver, snapshot_class, metrics, autoscaling",
    [
        ("gke", "standard-rwo", "premium-rwo", "pd.csi.storage.gke.io", "", True, "node-pool"),
        ("eks", "gp3", "", "ebs.csi.aws.com", "", False, "cluster-autoscaler-aws"),
        ("aks", "managed-csi", "managed-csi-premium", "disk.csi.azure.com", "csi-azuredisk-vsc", True, "node-pool"),
    ],
)
def test_each_cloud_declares_its_storage_metrics_and_autoscaling(target, default, premium, driver, snapshot_class,
                                                                  metrics, autoscaling):
    c = caps(target)
    assert (c.default_storage_class, c.premium_storage_class, c.csi_driver) == (default, premium, driver)
    assert (c.snapshot_class, c.metrics_server, c.node_autoscaling) == (snapshot_class, metrics, autoscaling)


def test_the_layers_read_the_cloud_capabilities():
    from infra.layers.autoscaler import needs_simulated_nodes
    from infra.layers.loadbalancer import needs_metallb
    from infra.layers.metrics import needs_metrics_server

    for target in CLOUD_TARGETS:
        assert not needs_metallb(caps(target)) and not needs_simulated_nodes(caps(target))
    assert needs_metallb(caps("kind")) and needs_simulated_nodes(caps("kind"))
    assert [needs_metrics_server(caps(t)) for t in CLOUD_TARGETS] == [False, True, False]


def test_base_domain_comes_from_the_settings():
    settings = StackSettings.for_target("gke").with_config({"baseDomain": "labs.example.org"}, "x")
    assert BY_TARGET["gke"](settings).base_domain == "labs.example.org"


# --- labels and expiry ----------------------------------------------------------------------------

def test_labels_carry_project_session_and_expiry_as_valid_gcp_label_values():
    import re

    settings = StackSettings(session="monday", target="gke", expires_at="2026-07-23t18-00z")
    labels = cloud.labels(settings)
    assert labels == {"project": "k8s-labs", "session": "monday", "expires-at": "2026-07-23t18-00z"}
    assert all(re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) for key in labels)
    assert all(re.fullmatch(r"[a-z0-9_-]{0,63}", value) for value in labels.values())
    assert cloud.tag_list(settings) == "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z"


def test_the_expiry_is_computed_once_per_session_and_then_kept():
    settings = StackSettings(session="monday", target="eks", expires_hours=8)
    first = cloud.session_expiry(settings, now=datetime(2026, 7, 23, 10, 0, tzinfo=timezone.utc))
    assert first == "2026-07-23t18-00z"
    later = cloud.session_expiry(settings, now=datetime(2026, 7, 23, 12, 30, tzinfo=timezone.utc))
    assert later == first  # a second `up` two hours later keeps the tag
    assert cloud.with_expiry(settings).expires_at == first
    assert cloud.parse_expiry(first) == datetime(2026, 7, 23, 18, 0, tzinfo=timezone.utc)


def test_a_render_neither_reads_nor_writes_an_expiry(tmp_path):
    from infra import paths

    settings = StackSettings(session="monday", target="gke")
    assert cloud.with_expiry(settings, create=False).expires_at == ""
    assert not (paths.session_dir("monday") / cloud.EXPIRY_FILE).exists()
    assert cloud.labels(settings)["expires-at"] == cloud.EXPIRY_AT_UP


def test_kind_has_no_expiry():
    assert cloud.with_expiry(StackSettings(session="monday")).expires_at == ""


def test_exec_kubeconfig_has_no_credentials_of_its_own():
    import yaml

    text = cloud.exec_kubeconfig("c", "https://1.2.3.4", "Q0E=", {"command": "plugin", "apiVersion": "v1"})
    config = yaml.safe_load(text)
    assert config["current-context"] == "c" and config["clusters"][0]["cluster"]["server"] == "https://1.2.3.4"
    assert config["users"][0]["user"] == {"exec": {"command": "plugin", "apiVersion": "v1"}}

