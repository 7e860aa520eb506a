"""A dated table of public list prices for the cloud targets, and the cost estimate built on it.

INDICATIVE ONLY. On-demand (pay-as-you-go) list prices in USD, before tax, for ONE region per
provider (the region of the committed stack file), compiled on PRICES_DATE from public pages
found by search (each figure names where it comes from). Not included: network egress, NAT,
logging/monitoring, snapshots, support plans, free tiers and credits (GKE's $74.40/month credit
covers one zonal cluster's fee), committed-use or spot discounts, taxes. Prices change and differ
by region: check the providers' pricing pages (PRICING_PAGES) before teaching on a budget.

Figures marked "(list price recalled, not re-checked here)" are the providers' published list
prices as known when this table was written; the pages cited for them could not be opened from
this workplace. Update the table (and PRICES_DATE) when you check them.

The estimate (see `estimate`):
  nodes          = max(nodes at creation, ceil(students / students_per_node(node size))), capped at maxNodes
                   (the node size's real vCPUs and pod limit: infra.clusters.cloud.NODE_SIZES)
  control plane  = fee per hour × hours
  nodes          = nodes × node price per hour × hours
  fixed network  = what the cluster always has (AKS: its outbound load balancer and public IP)
  load balancers = (1 for the ingress + LOAD_BALANCERS_PER_STUDENT × students) × price per hour × hours
  disks          = (nodes × node boot disk + students × DISK_GB_PER_STUDENT) GB × price per GB-month
                   × hours / HOURS_PER_MONTH
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

PRICES_DATE = "2026-11-28"
HOURS_PER_MONTH = 730
CURRENCY = "USD"

# Classroom assumptions (tune them here): each student runs lab workloads requesting about half a
# vCPU in a handful of pods, exposes one LoadBalancer Service (Services lab) and claims one volume
# (rounded up to the provider's smallest billed disk: 10 GB covers pd-balanced's minimum and Azure's
# small tiers). Where a node size caps its pods (EKS), the node's own system pods come first.
STUDENT_CPU_M = 500
STUDENT_PODS = 5
SYSTEM_PODS_PER_NODE = 8  # DaemonSets (CNI, kube-proxy, CSI node, metrics) and the layers' share
LOAD_BALANCERS_PER_STUDENT = 1
DISK_GB_PER_STUDENT = 10

PRICING_PAGES = {
    "gke": ["https://cloud.google.com/kubernetes-engine/pricing",
            "https://cloud.google.com/compute/vm-instance-pricing",
            "https://cloud.google.com/compute/disks-image-pricing",
            "https://cloud.google.com/load-balancing/pricing"],
    "eks": ["https://aws.amazon.com/eks/pricing/",
            "https://aws.amazon.com/ec2/pricing/on-demand/",
            "https://aws.amazon.com/ebs/pricing/",
            "https://aws.amazon.com/elasticloadbalancing/pricing/",
            "https://aws.amazon.com/vpc/pricing/"],
    "aks": ["https://azure.microsoft.com/pricing/details/kubernetes-service/",
            "https://azure.microsoft.com/pricing/details/virtual-machines/linux/",
            "https://azure.microsoft.com/pricing/details/managed-disks/",
            "https://azure.microsoft.com/pricing/details/load-balancer/",
            "https://azure.microsoft.com/pricing/details/ip-addresses/"],
}


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


@dataclass(frozen=True)
class ProviderPrices:
    region: str
    control_plane: Price  # per cluster-hour
    nodes: dict[str, Price]  # machine type -> per node-hour
    load_balancer: Price  # per LoadBalancer Service-hour
    disk: Price  # per GB-month (the default StorageClass's disk type, and node boot disks)
    fixed_network: Price = field(default_factory=lambda: Price(0.0, "per cluster-hour", "none"))


_RECALLED = "(list price recalled, not re-checked here)"

PRICES: dict[str, ProviderPrices] = {
    "gke": ProviderPrices(
        region="us-central1",
        control_plane=Price(0.10, "per cluster-hour",
                            "cloud.google.com/kubernetes-engine/pricing: 'management fee of $0.10 per cluster per "
                            "hour' (Standard mode); the free tier credit is not deducted here"),
        nodes={
            "e2-standard-2": Price(0.067006, "per node-hour", f"cloud.google.com/compute/vm-instance-pricing, us-central1 {_RECALLED}"),
            "e2-standard-4": Price(0.134012, "per node-hour", f"cloud.google.com/compute/vm-instance-pricing, us-central1 {_RECALLED}"),
            "e2-standard-8": Price(0.268024, "per node-hour", f"cloud.google.com/compute/vm-instance-pricing, us-central1 {_RECALLED}"),
        },
        load_balancer=Price(0.025, "per forwarding rule-hour",
                            "cloud.google.com/load-balancing/pricing: 'First 5 forwarding rules $0.025 per hour' "
                            "(each additional rule $0.01: an upper bound past five)"),
        disk=Price(0.10, "per GB-month",
                   "pd-balanced, Iowa: 'Zonal balanced PD: 30 GiB USD 3.00' per month in a Google Cloud Pricing "
                   "Calculator estimate (github.com/developmentseed/bioacoustics-api, files/11512854, 2023)"),
    ),
    "eks": ProviderPrices(
        region="us-east-1",
        control_plane=Price(0.10, "per cluster-hour",
                            "aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-versions-pricing: "
                            "'standard support ... $0.10 per cluster per hour' ($0.60 in extended support)"),
        nodes={
            "t3.large": Price(0.0832, "per node-hour",
                              "go-cloud.io (EC2 pricing guide): 't3.large instance in us-east-1, which costs $0.0832/hour'"),
            "t3.xlarge": Price(0.1664, "per node-hour", f"twice t3.large (t3 sizes scale linearly) {_RECALLED}"),
            "t3.2xlarge": Price(0.3328, "per node-hour", f"four times t3.large (t3 sizes scale linearly) {_RECALLED}"),
        },
        load_balancer=Price(0.0325, "per NLB-hour",
                            "NLB $0.0225/hour in us-east-1 (clustercost.com 'AWS Network Load Balancer Pricing "
                            "(US-East-1 2025 Guide)'; awsnegotiations.com, May 2026), plus one public IPv4 address per "
                            f"zone at $0.005/hour × 2 zones {_RECALLED}; NLCU charges for traffic not included"),
        disk=Price(0.08, "per GB-month",
                   "gp3 'Pricing: $0.08 per GB-month (us-east-1)' (cloudoptimo.com, AWS EBS pricing guide)"),
    ),
    "aks": ProviderPrices(
        region="eastus",
        control_plane=Price(0.0, "per cluster-hour",
                            "Free tier (the target's `sku.tier: Free`): no control-plane fee; the Standard tier "
                            "(uptime SLA) is $0.10/hour (techcommunity.microsoft.com, 'AKS introduces Uptime SLA')"),
        nodes={
            "Standard_D4s_v5": Price(0.192, "per node-hour", f"East US, Linux, pay-as-you-go {_RECALLED} "
                                     "(learningbro.com shows '~$0.19')"),
            "Standard_D8s_v5": Price(0.384, "per node-hour", f"twice D4s_v5 (Dsv5 sizes scale linearly) {_RECALLED}"),
            "Standard_D16s_v5": Price(0.768, "per node-hour", f"four times D4s_v5 (Dsv5 sizes scale linearly) {_RECALLED}"),
        },
        load_balancer=Price(0.015, "per Service-hour",
                            "every LoadBalancer Service adds a rule to the cluster's Standard load balancer "
                            "($0.01/rule-hour past the first five, c3x.dev azurerm_lb) and a public IP "
                            f"($0.005/hour {_RECALLED})"),
        disk=Price(0.075, "per GB-month",
                   f"Standard SSD managed disks (managed-csi): E4, 32 GiB, $2.40/month {_RECALLED}"),
        fixed_network=Price(0.03, "per cluster-hour",
                            "the cluster's Standard load balancer, which AKS creates for outbound traffic even "
                            "without Services: '$0.025/hour' (c3x.dev azurerm_lb), plus its outbound public IP "
                            f"($0.005/hour {_RECALLED})"),
    ),
}


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    unit_price: str
    cost: float


@dataclass(frozen=True)
class Estimate:
    target: str
    region: str
    students: int
    hours: float
    nodes: int
    machine_type: str
    lines: tuple[Line, ...]
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    @property
    def per_student(self) -> float | None:
        return self.total / self.students if self.students else None


def students_per_node(node) -> int:
    """Students one node holds: its vCPUs at STUDENT_CPU_M each, and, where the node size caps its
    pods (EKS), what its pod limit leaves after its own system pods."""
    by_cpu = node.vcpu * 1000 // STUDENT_CPU_M
    if not node.max_pods:
        return by_cpu
    return max(1, min(by_cpu, (node.max_pods - SYSTEM_PODS_PER_NODE) // STUDENT_PODS))


def nodes_for(students: int, node, at_creation: int, maximum: int) -> tuple[int, bool]:
    """Nodes the class needs (at least the pool's size at creation); True when capped at maximum."""
    wanted = max(at_creation, math.ceil(students / students_per_node(node)) if students else 0)
    return min(wanted, maximum), wanted > maximum


def estimate(target: str, students: int, hours: float, size: str = "S", nodes_at_creation: int = 2,
             max_nodes: int = 5, region: str = "") -> Estimate:
    from infra.clusters.cloud import NODE_DISK_GB, NODE_SIZES

    if students < 0 or hours <= 0:
        from infra.errors import LabsError

        raise LabsError("--students must be 0 or more and --hours more than 0")
    prices = PRICES[target]
    node = NODE_SIZES[target][size]
    machine = node.sku
    node_price = prices.nodes[machine]
    nodes, capped = nodes_for(students, node, nodes_at_creation, max_nodes)
    load_balancers = 1 + LOAD_BALANCERS_PER_STUDENT * students
    disk_gb = nodes * NODE_DISK_GB + students * DISK_GB_PER_STUDENT
    lines = [
        Line("control plane", f"1 cluster × {hours:g} h", f"${prices.control_plane.usd:g}/h",
             prices.control_plane.usd * hours),
        Line(f"nodes ({machine}, {node.vcpu} vCPU / {node.memory_gib} GiB)", f"{nodes} × {hours:g} h", f"${node_price.usd:g}/h", nodes * node_price.usd * hours),
    ]
    if prices.fixed_network.usd:
        lines.append(Line("cluster network (outbound LB, IP)", f"1 × {hours:g} h", f"${prices.fixed_network.usd:g}/h",
                          prices.fixed_network.usd * hours))
    lines += [
        Line("load balancers", f"{load_balancers} × {hours:g} h", f"${prices.load_balancer.usd:g}/h",
             load_balancers * prices.load_balancer.usd * hours),
        Line("disks", f"{disk_gb} GB × {hours:g} h", f"${prices.disk.usd:g}/GB-month",
             disk_gb * prices.disk.usd * hours / HOURS_PER_MONTH),
    ]
    notes = []
    if capped:
        notes.append(f"{students} students would need more than maxNodes={max_nodes} nodes: raise maxNodes or the node size")
    if region and region != prices.region:
        notes.append(f"prices are for {prices.region}; the stack's region {region} may cost more or less")
    return Estimate(target, prices.region, students, hours, nodes, machine, tuple(lines), tuple(notes))


def fit_class(settings, students: int):
    """Settings whose pool holds the class: maxNodes raised to the nodes `students` need (the node
    size's real capacity, `nodes_for`) and the pool created with them (up to the workers a stack
    accepts; the autoscaler, on every cloud, adds the rest as pods pend). What the estimate prices is
    then what the pool grows to, not a count it can never reach."""
    from dataclasses import replace

    from infra.clusters.cloud import MAX_POOL_NODES, MAX_WORKERS, machine_type, node_counts, node_size
    from infra.errors import LabsError

    if not students:
        return settings
    nodes, _, high = node_counts(settings)
    need, too_many = nodes_for(students, node_size(settings), nodes, MAX_POOL_NODES)
    if too_many:
        raise LabsError(f"{students} students need more than {MAX_POOL_NODES} {machine_type(settings)} nodes: "
                        "choose a larger --node-size (M or L)")
    return replace(settings, max_nodes=max(high, need), workers=max(settings.workers, min(need, MAX_WORKERS)))
