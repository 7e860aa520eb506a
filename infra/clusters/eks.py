"""The EKS target: an EKS cluster with a managed node group, the EBS CSI driver and `gp3` (pulumi_eks).

Resources (children of the `labs:cluster:Eks` component, on an explicit aws provider whose
`default_tags` are the session's tags, so every AWS resource carries them):
  - Network, unless `vpcId` + `subnetIds` name an existing one: a VPC (10.0.0.0/16, DNS on), an
    internet gateway, a public route table and one public subnet per zone of `zones` (EKS needs two
    zones or more), tagged `kubernetes.io/role/elb=1` so LoadBalancer Services find them. Public
    subnets only: no NAT gateway to pay for (nodes get public addresses; their security group
    comes from pulumi_eks).
  - IAM role of the nodes (worker, CNI and ECR read-only managed policies).
  - eks.Cluster `labs-<session>`: `kubernetesVersion`, no default node group (the managed one
    below replaces it), an OIDC provider (IRSA for the two roles below), the node role mapped in,
    the VPC CNI add-on with its network policy agent on (`enableNetworkPolicy`: NetworkPolicies
    enforced, which classroom isolation relies on).
  - aws.ec2.LaunchTemplate: tags the instances, their volumes and network interfaces (the
    node group's own tags stop at the node group), IMDSv2 with 2 hops (pods of the add-ons), a
    50 GiB encrypted gp3 root volume.
  - eks.ManagedNodeGroup `labs`: `nodeSize` -> t3.large/xlarge/2xlarge (2/4/8 vCPUs, cloud.NODE_SIZES), scaling config
    (desired `workers`, min `minNodes`, max `maxNodes`), `ignore_scaling_changes` so a later `up`
    does not undo what cluster-autoscaler did. EKS tags the node group's Auto Scaling group with
    `k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster>` itself, which is
    what cluster-autoscaler's auto-discovery looks for.
  - eks.NodeGroup `autoscaled`, while a lab using the autoscaler layer is up: 0 to 5 nodes of 4 vCPUs
    with the label and taint `labs.k8s/autoscaled=true` (NoSchedule) the autoscaler lab's pods select
    and tolerate, and the node-template tags on its Auto Scaling group cluster-autoscaler reads to
    scale it up from zero.
  - Add-ons: `aws-ebs-csi-driver` with its IRSA role (AmazonEBSCSIDriverPolicy, service account
    kube-system/ebs-csi-controller-sa) and `snapshot-controller` (VolumeSnapshot CRDs and controller).
  - StorageClass `gp3` (ebs.csi.aws.com, the default class, WaitForFirstConsumer, expansion,
    encrypted, the session tags on every volume through `tagSpecification_N`). EKS's own `gp2`
    class stays (not default since EKS 1.30).
  - Cluster autoscaler IAM wiring (for the autoscaler lab): an IRSA role that the service account
    `cluster-autoscaler/cluster-autoscaler` may assume (the autoscaler layer's namespace and
    release name), with the policy of cluster-autoscaler's AWS guide: describe calls on `*`,
    SetDesiredCapacity / TerminateInstanceInAutoScalingGroup only on groups tagged
    `k8s.io/cluster-autoscaler/<cluster>=owned`. Exposed as `.autoscaler_role_arn`,
    `.autoscaler_service_account` and `.cluster_name`: the autoscaler layer runs cluster-autoscaler
    with `cloudProvider: aws`, `autoDiscovery.clusterName`, `awsRegion` and the role annotation
    `eks.amazonaws.com/role-arn` on its service account. The target installs no cluster-autoscaler
    itself (a layer owns every chart).
The kubeconfig is pulumi_eks's (`aws eks get-token` exec credential: the instructor's AWS CLI
login), a Pulumi secret, feeding an explicit pulumi_kubernetes.Provider that waits for the nodes.

Provided (capabilities): load balancers (the AWS cloud controller, NLB by annotation), `gp3` with
the EBS CSI driver and the snapshot controller (no VolumeSnapshotClass: the storage layer can add
one for ebs.csi.aws.com), no metrics-server (not an EKS default: the metrics layer installs it),
node-group bounds with cluster-autoscaler to run in the cluster.
"""
from __future__ import annotations

import json

import pulumi

from infra.clusters import AUTOSCALED_LABEL, AUTOSCALED_TAINT, cloud
from infra.clusters.capabilities import EKS_CSI_DRIVER, EKS_STORAGE_CLASS, gp3_parameters
from infra.settings import StackSettings

PROVIDER = "eks"
NODE_GROUP = "labs"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
AUTOSCALER_SERVICE_ACCOUNT = ("cluster-autoscaler", "cluster-autoscaler")  # the autoscaler layer's
VPC_CIDR = "10.0.0.0/16"
NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "ecr": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
}
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
ADDONS = ("aws-ebs-csi-driver", "snapshot-controller")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
ROOT_DEVICE = "/dev/xvda"  # root volume of the EKS-optimized Amazon Linux AMIs


def subnet_cidr(index: int) -> str:
    return f"10.0.{index * 32}.0/19"


def assume_role_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def irsa_policy(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy letting one Kubernetes service account assume a role (IAM roles for service accounts)."""
    issuer = (issuer or "").removeprefix("https://")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }},
    }]})


def autoscaler_policy(cluster: str) -> str:
    """cluster-autoscaler's permissions (its AWS guide): read everywhere, scale only this cluster's groups."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"]},
        {"Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}}},
    ]})


def network(aws, settings: StackSettings, name: str, tags: dict, opts) -> tuple:
    """The VPC and public subnets: existing ones from the settings, or created for the session."""
    from infra.errors import LabsError

    if settings.vpc_id:
        if len(settings.subnet_id_list) < 2:
            raise LabsError("stacks/Pulumi.eks.yaml: vpcId needs subnetIds, two subnets or more in different zones")
        return settings.vpc_id, settings.subnet_id_list
    zones = settings.zone_list
    if len(zones) < 2:
        raise LabsError("stacks/Pulumi.eks.yaml: zones needs two availability zones or more (EKS requires it)")
    vpc = aws.ec2.Vpc("vpc", cidr_block=VPC_CIDR, enable_dns_hostnames=True, enable_dns_support=True,
                      tags={**tags, "Name": name}, opts=opts)
    gateway = aws.ec2.InternetGateway("igw", vpc_id=vpc.id, tags={**tags, "Name": name}, opts=opts)
    routes = aws.ec2.RouteTable(
        "public", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-public"},
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)], opts=opts,
    )
    subnets = []
    for index, zone in enumerate(zones):
        subnet = aws.ec2.Subnet(
            f"public-{zone}", vpc_id=vpc.id, cidr_block=subnet_cidr(index), availability_zone=zone,
            map_public_ip_on_launch=True,
            # A shared network carries no cluster's tag: the AWS cloud provider skips subnets tagged
            # for another cluster when it places a load balancer; untagged ones serve every cluster.
            tags={**tags, "Name": f"{name}-{zone}", "kubernetes.io/role/elb": "1",
                  **({} if settings.network_only else {f"kubernetes.io/cluster/{name}": "shared"})},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(f"public-{zone}", subnet_id=subnet.id, route_table_id=routes.id, opts=opts)
        subnets.append(subnet.id)
    return vpc.id, subnets


def aws_provider(aws, settings: StackSettings, tags: dict, parent):
    """The explicit aws provider in the stack's region, the session's tags on every resource."""
    return aws.Provider("aws", region=settings.region or None, default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                        opts=pulumi.ResourceOptions(parent=parent))


class EksNetworkComponent(pulumi.ComponentResource):
    """Only the network (`networkOnly`): the VPC and public subnets a classroom's EKS clusters share,
    one per classroom session instead of one per cluster (AWS's default quota is five VPCs per region)."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:EksNetwork", "network", None, opts)
        aws, _ = cloud.require_sdk(PROVIDER)
        tags = cloud.labels(settings)
        provider = aws_provider(aws, settings, tags, self)
        self.vpc_id, self.subnet_ids = network(aws, settings, cloud.cluster_name(settings), tags,
                                               pulumi.ResourceOptions(parent=self, provider=provider))
        self.register_outputs({"vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids})


class EksClusterComponent(pulumi.ComponentResource):
    """The EKS cluster, its network, node group, add-ons, `gp3`, and the Kubernetes provider."""

    def __init__(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labs:cluster:Eks", "cluster", None, opts)
        aws, eks = cloud.require_sdk(PROVIDER)
        import pulumi_kubernetes as k8s

        name = cloud.cluster_name(settings)
        tags = cloud.labels(settings)
        nodes, low, high = cloud.node_counts(settings)
        machine = cloud.machine_type(settings)
        self.cluster_name = name

        on_aws_provider = aws_provider(aws, settings, tags, self)
        on_aws = pulumi.ResourceOptions(parent=self, provider=on_aws_provider)
        on_aws_components = pulumi.ResourceOptions(parent=self, providers={"aws": on_aws_provider})

        vpc_id, subnet_ids = network(aws, settings, name, tags, on_aws)

        node_role = aws.iam.Role("node-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                                 tags=tags, opts=on_aws)
        attachments = [
            aws.iam.RolePolicyAttachment(f"node-{key}", role=node_role.name, policy_arn=arn, opts=on_aws)
            for key, arn in NODE_POLICIES.items()
        ]
        self.cluster = eks.Cluster(
            "eks",
            name=name,
            version=settings.kubernetes_version or None,
            vpc_id=vpc_id,
            public_subnet_ids=subnet_ids,
            skip_default_node_group=True,
            create_oidc_provider=True,
            # Access entries (no aws-auth ConfigMap): EKS adds the managed node group's role itself,
            # and the identity that creates the cluster (the instructor's CLI login) is its admin.
            authentication_mode=eks.AuthenticationMode.API,
            endpoint_public_access=True,
            # The VPC CNI add-on with its network policy agent: NetworkPolicies are not enforced
            # without it ("enableNetworkPolicy" in the vpc-cni add-on configuration,
            # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html).
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            tags=tags,
            cluster_tags=tags,
            opts=pulumi.ResourceOptions.merge(on_aws_components, pulumi.ResourceOptions(depends_on=attachments)),
        )
        template = aws.ec2.LaunchTemplate(
            "nodes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=cloud.NODE_DISK_GB, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"),
            )],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            tags=tags,
            opts=on_aws,
        )
        # The managed node group and the add-ons are pulumi_aws resources on the cluster's name and
        # wait for the cluster component (pulumi_eks's own ManagedNodeGroup/Addon take the cluster
        # as a resource reference, which the SDK's mock runtime cannot echo back for a render).
        after_cluster = pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(depends_on=[self.cluster]))
        self.node_group = aws.eks.NodeGroup(
            "nodes",
            cluster_name=name,
            node_group_name=NODE_GROUP,
            node_role_arn=node_role.arn,
            subnet_ids=subnet_ids,
            instance_types=[machine],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(desired_size=nodes, min_size=low, max_size=high),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(lambda v: None if v is None else str(v))),
            labels={"labs.k8s/node-group": NODE_GROUP},
            tags=tags,
            # cluster-autoscaler changes the desired size: a later `up` must not undo it.
            opts=pulumi.ResourceOptions.merge(
                after_cluster, pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"],
                                                      depends_on=attachments)),
        )

        self._lab_group_context = (aws, settings, name, node_role, subnet_ids, template, tags,
                                   pulumi.ResourceOptions.merge(after_cluster, pulumi.ResourceOptions(
                                       depends_on=attachments)))
        ebs_role = self._irsa_role(aws, "ebs-csi", EBS_CSI_SERVICE_ACCOUNT, tags, on_aws)
        ebs_policy = aws.iam.RolePolicyAttachment("ebs-csi", role=ebs_role.name, policy_arn=EBS_CSI_POLICY, opts=on_aws)
        after_nodes = pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(depends_on=[self.node_group]))
        self.addons = {
            "aws-ebs-csi-driver": aws.eks.Addon(
                "aws-ebs-csi-driver", cluster_name=name, addon_name="aws-ebs-csi-driver",
                service_account_role_arn=ebs_role.arn, tags=tags,
                opts=pulumi.ResourceOptions.merge(after_nodes, pulumi.ResourceOptions(depends_on=[ebs_policy])),
            ),
            "snapshot-controller": aws.eks.Addon(
                "snapshot-controller", cluster_name=name, addon_name="snapshot-controller", tags=tags,
                opts=after_nodes,
            ),
        }
        autoscaler_role = self._irsa_role(aws, "cluster-autoscaler", AUTOSCALER_SERVICE_ACCOUNT, tags, on_aws)
        aws.iam.RolePolicy("cluster-autoscaler", role=autoscaler_role.id, policy=autoscaler_policy(name), opts=on_aws)
        self.autoscaler_role_arn = autoscaler_role.arn
        self.autoscaler_service_account = "/".join(AUTOSCALER_SERVICE_ACCOUNT)
        self.region = settings.region

        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig_json.apply(lambda text: text or ""))
        self.provider = cloud.k8s_provider(self, self.kubeconfig, [self.node_group])
        self.storage_class = k8s.storage.v1.StorageClass(
            EKS_STORAGE_CLASS,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=EKS_STORAGE_CLASS, labels=cloud.MANAGED_BY_LABEL,
                                                annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
            provisioner=EKS_CSI_DRIVER,
            parameters=gp3_parameters(settings),
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider,
                                        depends_on=[self.addons["aws-ebs-csi-driver"]]),
        )
        summary = {
            "provider": PROVIDER,
            "name": name,
            "kubernetes_version": settings.kubernetes_version,
            "nodes": nodes,
            "config": {
                "region": settings.region,
                "zones": settings.zone_list,
                "network": {"vpc_id": settings.vpc_id, "subnet_ids": settings.subnet_id_list} if settings.vpc_id
                else {"created": True, "cidr": VPC_CIDR, "public_subnets": [subnet_cidr(i) for i in range(len(settings.zone_list))]},
                "node_group": {"name": NODE_GROUP, "instance_type": machine, "size": settings.node_size,
                               "scaling": {"desired": nodes, "min": low, "max": high}},
                "addons": list(ADDONS),
                "vpc_cni": {"network_policy": True},
                "storage_class": EKS_STORAGE_CLASS,
                "cluster_autoscaler_service_account": self.autoscaler_service_account,
                "tags": tags,
            },
        }
        self.register_outputs({"summary": summary, "kubeconfig": self.kubeconfig,
                               "autoscaler_role_arn": self.autoscaler_role_arn})

    def add_lab_node_group(self):
        """The autoscaler lab's node group (the autoscaler layer asks for it): 0 to LAB_GROUP_MAX nodes
        with the lab's label and taint; the in-cluster cluster-autoscaler grows it. At 0 nodes cluster-autoscaler
        learns the group's label and taint from tags on its Auto Scaling group
        (`k8s.io/cluster-autoscaler/node-template/label|taint/<key>`, "Scaling up from 0",
        docs.aws.amazon.com/eks/latest/eksctl/autoscaling.html): EKS does not put them there."""
        aws, settings, name, node_role, subnet_ids, template, tags, opts = self._lab_group_context
        node = cloud.lab_node_size(settings.target)
        group = aws.eks.NodeGroup(
            cloud.LAB_GROUP,
            cluster_name=name,
            node_group_name=cloud.LAB_GROUP,
            node_role_arn=node_role.arn,
            subnet_ids=subnet_ids,
            instance_types=[node.sku],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(desired_size=0, min_size=0, max_size=cloud.LAB_GROUP_MAX),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(lambda v: None if v is None else str(v))),
            labels={AUTOSCALED_LABEL: "true", "labs.k8s/node-group": cloud.LAB_GROUP},
            taints=[aws.eks.NodeGroupTaintArgs(key=AUTOSCALED_TAINT["key"], value=AUTOSCALED_TAINT["value"],
                                               effect="NO_SCHEDULE")],
            tags=tags,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"])),
        )
        group_name = group.resources.apply(  # the Auto Scaling group EKS made for the node group
            lambda found: found[0].autoscaling_groups[0].name if found and found[0].autoscaling_groups else None)
        template_tags = {f"k8s.io/cluster-autoscaler/node-template/label/{AUTOSCALED_LABEL}": "true",
                         f"k8s.io/cluster-autoscaler/node-template/taint/{AUTOSCALED_TAINT['key']}":
                             f"{AUTOSCALED_TAINT['value']}:{AUTOSCALED_TAINT['effect']}"}
        for index, (key, value) in enumerate(template_tags.items()):
            aws.autoscaling.Tag(f"{cloud.LAB_GROUP}-template-{index}", autoscaling_group_name=group_name,
                                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                                opts=opts)
        return group

    def _irsa_role(self, aws, name: str, service_account: tuple[str, str], tags: dict, opts):
        policy = pulumi.Output.all(self.cluster.oidc_provider_arn, self.cluster.oidc_issuer).apply(
            lambda args: irsa_policy(args[0] or "", args[1] or "", *service_account))
        return aws.iam.Role(f"{name}-role", assume_role_policy=policy, tags=tags, opts=opts)


class EksTarget:
    name = PROVIDER

    def preflight(self, settings: StackSettings) -> None:
        cloud.require_sdk(PROVIDER)
        cloud.require_cli("aws", "install the AWS CLI v2 and log in (`aws configure` or `aws sso login`): "
                                 "kubectl uses `aws eks get-token`")

    def create(self, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> EksClusterComponent:
        return EksClusterComponent(settings, opts)

    def create_network(self, settings: StackSettings) -> EksNetworkComponent:
        return EksNetworkComponent(settings)

    def cleanup(self, settings: StackSettings) -> None:
        """Nothing to delete by name: what a lost state leaves is listed by `session orphans`."""
