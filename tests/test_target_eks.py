"""The EKS target under the Pulumi mock runtime: network, cluster, node group, add-ons, gp3, IAM,
tags, kubeconfig (needs the eks extra)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("pulumi_eks", reason="the eks extra is not installed (pip install -e '.[eks]')")
pytest.importorskip("pulumi_aws", reason="the eks extra is not installed (pip install -e '.[eks]')")

from infra.clusters import eks  # noqa: E402
from infra.errors import LabsError  # noqa: E402
from tests.cloud_helpers import (  # noqa: E402
    LABELS, assert_kubeconfig_is_a_secret_wired_into_the_provider, by_type, cloud_settings, one, provider_input,
    record,
)

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pytest.fixture(scope="module")
def recorded():
    return record("eks")


def _named(registrations, type_token, name):
    (reg,) = [reg for reg in by_type(registrations, type_token) if reg.name == name]
    return reg


def test_a_vpc_with_one_public_subnet_per_zone_is_created(recorded):
    registrations, _ = recorded
    vpc = one(registrations, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16" and vpc.inputs["enableDnsHostnames"] is True
    subnets = by_type(registrations, "aws:ec2/subnet:Subnet")
    assert sorted(s.inputs["availabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b"]
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" and s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    assert len(by_type(registrations, "aws:ec2/routeTableAssociation:RouteTableAssociation")) == 2
    assert one(registrations, "aws:ec2/routeTable:RouteTable").inputs["routes"][0]["cidrBlock"] == "0.0.0.0/0"
    assert not by_type(registrations, "aws:ec2/natGateway:NatGateway")  # nothing billed by the hour there


def test_an_existing_vpc_is_used_as_given():
    registrations, _ = record("eks", vpc_id="vpc-0abc", subnet_ids="subnet-1,subnet-2")
    assert not by_type(registrations, "aws:ec2/vpc:Vpc") and not by_type(registrations, "aws:ec2/subnet:Subnet")
    cluster = one(registrations, "eks:index:Cluster").inputs
    assert cluster["vpcId"] == "vpc-0abc" and cluster["publicSubnetIds"] == ["subnet-1", "subnet-2"]
    assert _named(registrations, NODE_GROUP, "nodes").inputs["subnetIds"] == ["subnet-1", "subnet-2"]


@pytest.mark.parametrize("changes, message", [({"zones": "us-east-1a"}, "two availability zones"),
                                              ({"vpc_id": "vpc-1", "subnet_ids": "subnet-1"}, "two subnets")])
def test_eks_needs_two_zones(changes, message):
    with pytest.raises(LabsError, match=message):
        record("eks", **changes)


def test_the_cluster_has_oidc_no_default_node_group_and_the_pinned_version(recorded):
    registrations, _ = recorded
    cluster = one(registrations, "eks:index:Cluster")
    assert cluster.inputs["name"] == "labs-monday" and cluster.inputs["version"] == "1.35"
    assert cluster.inputs["skipDefaultNodeGroup"] is True and cluster.inputs["createOidcProvider"] is True
    assert cluster.inputs["authenticationMode"] == "API"
    assert cluster.inputs["tags"] == LABELS and cluster.inputs["clusterTags"] == LABELS


def test_the_managed_node_group_scales_within_the_bounds(recorded):
    registrations, _ = recorded
    group = _named(registrations, NODE_GROUP, "nodes")
    assert group.inputs["scalingConfig"] == {"desiredSize": 2, "minSize": 1, "maxSize": 5}
    assert group.inputs["instanceTypes"] == ["t3.large"] and group.inputs["clusterName"] == "labs-monday"
    assert any(dep.endswith("eks:index:Cluster::eks") for dep in group.dependencies)
    template = one(registrations, "aws:ec2/launchTemplate:LaunchTemplate")
    assert template.urn in group.dependencies


def test_the_node_group_keeps_what_the_autoscaler_decided(monkeypatch):
    """`ignore_changes` on the desired size: a later `up` does not undo a scale-up."""
    import pulumi_aws

    seen = {}
    real = pulumi_aws.eks.NodeGroup.__init__

    def spy(self, name, *args, opts=None, **kwargs):
        seen["ignore_changes"] = opts.ignore_changes
        real(self, name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(pulumi_aws.eks.NodeGroup, "__init__", spy)
    record("eks")
    assert seen["ignore_changes"] == ["scalingConfig.desiredSize"]


@pytest.mark.parametrize("size, instance", [("M", "t3.xlarge"), ("L", "t3.2xlarge")])
def test_node_sizes_pick_the_instance_type(size, instance):
    registrations, _ = record("eks", node_size=size)
    assert _named(registrations, NODE_GROUP, "nodes").inputs["instanceTypes"] == [instance]


def test_the_ebs_csi_driver_and_snapshot_controller_add_ons_wait_for_the_nodes(recorded):
    registrations, _ = recorded
    group = _named(registrations, NODE_GROUP, "nodes")
    ebs = _named(registrations, "aws:eks/addon:Addon", "aws-ebs-csi-driver")
    snapshots = _named(registrations, "aws:eks/addon:Addon", "snapshot-controller")
    assert ebs.inputs["addonName"] == "aws-ebs-csi-driver" and snapshots.inputs["addonName"] == "snapshot-controller"
    assert group.urn in ebs.dependencies and group.urn in snapshots.dependencies
    ebs_role = _named(registrations, "aws:iam/role:Role", "ebs-csi-role")
    policy = _named(registrations, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi")
    assert policy.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    # (the role's ARN is unknown under mocks, so the add-on's dependency on the role shows through
    # its policy attachment, which is made on that role)
    assert policy.urn in ebs.dependencies
    assert "ebs-csi-controller-sa" in ebs_role.inputs["assumeRolePolicy"]


def test_gp3_is_the_default_class_and_tags_its_volumes(recorded):
    registrations, _ = recorded
    gp3 = one(registrations, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert gp3.inputs["provisioner"] == "ebs.csi.aws.com" and gp3.inputs["allowVolumeExpansion"] is True
    assert gp3.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    tags = sorted(v for k, v in gp3.inputs["parameters"].items() if k.startswith("tagSpecification_"))
    assert tags == sorted(f"{k}={v}" for k, v in LABELS.items())
    ebs = _named(registrations, "aws:eks/addon:Addon", "aws-ebs-csi-driver")
    assert ebs.urn in gp3.dependencies
    assert gp3.provider.startswith(one(registrations, "pulumi:providers:kubernetes").urn)


def test_cluster_autoscaler_gets_an_irsa_role_scoped_to_this_cluster(recorded):
    registrations, _ = recorded
    role = _named(registrations, "aws:iam/role:Role", "cluster-autoscaler-role")
    assert "system:serviceaccount:cluster-autoscaler:cluster-autoscaler" in role.inputs["assumeRolePolicy"]
    policy = json.loads(one(registrations, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    read, scale = policy["Statement"]
    assert "autoscaling:DescribeAutoScalingGroups" in read["Action"] and "eks:DescribeNodegroup" in read["Action"]
    assert scale["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/labs-monday": "owned"}}


def test_irsa_trust_policy_names_the_service_account_and_the_issuer():
    policy = json.loads(eks.irsa_policy("arn:aws:iam::1:oidc-provider/x", "https://oidc.eks/id/ABC", "ns", "sa"))
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::1:oidc-provider/x"}
    assert statement["Condition"]["StringEquals"] == {"oidc.eks/id/ABC:sub": "system:serviceaccount:ns:sa",
                                                      "oidc.eks/id/ABC:aud": "sts.amazonaws.com"}


def test_every_aws_resource_carries_the_session_tags(recorded):
    registrations, _ = recorded
    provider = one(registrations, "pulumi:providers:aws")
    assert provider_input(provider, "defaultTags") == {"tags": LABELS}
    assert provider.inputs["region"] == "us-east-1"
    template = one(registrations, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert {spec["resourceType"] for spec in template["tagSpecifications"]} == {"instance", "volume", "network-interface"}
    assert all(spec["tags"] == LABELS for spec in template["tagSpecifications"])
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 2
    tagged = [reg for reg in registrations if reg.type.startswith("aws:") and "tags" in reg.inputs]
    assert tagged and all(LABELS.items() <= reg.inputs["tags"].items() for reg in tagged)
    aws_resources = [reg for reg in registrations if reg.type.startswith("aws:")]
    assert all(reg.provider.startswith(provider.urn + "::") for reg in aws_resources)


def test_the_kubeconfig_is_a_secret_feeding_the_provider_after_the_nodes(recorded):
    registrations, outputs = recorded
    component, _ = assert_kubeconfig_is_a_secret_wired_into_the_provider(
        registrations, outputs, "labs:cluster:Eks", "aws:eks/nodeGroup:NodeGroup::nodes")
    summary = outputs[component.urn]["summary"]
    assert summary["provider"] == "eks" and summary["config"]["node_group"]["scaling"] == {"desired": 2, "min": 1, "max": 5}
    assert summary["config"]["addons"] == ["aws-ebs-csi-driver", "snapshot-controller"]
    assert summary["config"]["cluster_autoscaler_service_account"] == "cluster-autoscaler/cluster-autoscaler"


def test_load_balancers_are_tagged_through_the_service_annotation():
    from infra.clusters.capabilities import BY_TARGET

    annotations = BY_TARGET["eks"](cloud_settings("eks")).load_balancer_annotations
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"] == (
        "project=k8s-labs,session=monday,expires-at=2026-07-23t18-00z")


def test_network_policies_are_enforced_by_the_vpc_cni_agent(recorded):
    registrations, _ = recorded
    cluster = one(registrations, "eks:index:Cluster")
    assert cluster.inputs["vpcCniOptions"]["enableNetworkPolicy"] is True
    from tests.cloud_helpers import cloud_caps

    assert cloud_caps("eks").network_policy_enforced is True


def test_cluster_autoscaler_runs_under_every_lab_so_the_node_group_grows_with_the_class():
    """A lab without the autoscaler layer (pods) still gets cluster-autoscaler on EKS: without it the
    node group never grows past its size at creation, whatever the class needs."""
    registrations, outputs = record("eks", lab="pods")
    releases = {reg.inputs.get("name") for reg in by_type(registrations, "kubernetes:helm.sh/v3:Release")}
    assert "cluster-autoscaler" in releases
    from tests.cloud_helpers import cloud_caps

    assert cloud_caps("eks").always_layers == ("autoscaler",)
    assert cloud_caps("gke").always_layers == () and cloud_caps("aks").always_layers == ()


def test_a_network_only_stack_holds_the_shared_network_and_no_cluster():
    """A classroom's EKS clusters share one network (AWS's default quota: five VPCs per region): the
    classroom session's stack holds only the VPC and its subnets, which carry no cluster's tag."""
    registrations, outputs = record("eks", network_only=True)
    types = {reg.type for reg in registrations}
    assert "aws:ec2/vpc:Vpc" in types and len(by_type(registrations, "aws:ec2/subnet:Subnet")) == 2
    assert not types & {"eks:index:Cluster", NODE_GROUP, "pulumi:providers:kubernetes"}
    for subnet in by_type(registrations, "aws:ec2/subnet:Subnet"):
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert not [key for key in subnet.inputs["tags"] if key.startswith("kubernetes.io/cluster/")]
    network = one(registrations, "labs:cluster:EksNetwork")
    assert set(outputs[network.urn]) == {"vpc_id", "subnet_ids"}


def test_the_autoscaler_lab_gets_a_node_group_that_scales_up_from_zero():
    registrations, _ = record("eks", lab="cluster-autoscaler")
    group = _named(registrations, NODE_GROUP, "autoscaled")
    assert group.inputs["scalingConfig"] == {"desiredSize": 0, "minSize": 0, "maxSize": 5}
    assert group.inputs["instanceTypes"] == ["t3.xlarge"] and group.inputs["labels"]["labs.k8s/autoscaled"] == "true"
    assert group.inputs["taints"] == [{"key": "labs.k8s/autoscaled", "value": "true", "effect": "NO_SCHEDULE"}]
    tags = {reg.inputs["tag"]["key"]: reg.inputs["tag"]["value"]
            for reg in by_type(registrations, "aws:autoscaling/tag:Tag")}
    assert tags == {"k8s.io/cluster-autoscaler/node-template/label/labs.k8s/autoscaled": "true",
                    "k8s.io/cluster-autoscaler/node-template/taint/labs.k8s/autoscaled": "true:NoSchedule"}
    # cluster-autoscaler runs under every lab on EKS (always_layers): the group, at 0 nodes, stays too
    registrations, _ = record("eks", lab="pods")
    assert sorted(reg.name for reg in by_type(registrations, NODE_GROUP)) == ["autoscaled", "nodes"]
