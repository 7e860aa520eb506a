"""Typed stack settings: the one object the program, the render and the driver agree on.

Values come, lowest priority first, from the dataclass defaults, the target's committed stack file
(`stacks/Pulumi.<target>.yaml`) and the command line. Under the Pulumi engine the program reads
them back from the stack's config, through the same parser.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

PROJECT = "k8s-labs"

CLOUDS = ("gke", "eks", "aks")
NODE_SIZES = ("S", "M", "L")


def _flag(raw: object) -> bool:
    text = str(raw).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


def _node_size(raw: object) -> str:
    size = str(raw).strip().upper()
    if size not in NODE_SIZES:
        raise ValueError(size)
    return size


def _ipv4(raw: object) -> str:
    """"" or an IPv4 address (kind's apiServerAddress)."""
    import ipaddress

    text = str(raw).strip()
    if text and not isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address):
        raise ValueError(text)
    return text


# config key -> (field, parser, accepted range for ints, targets that use it: None = every target)
_KEYS = {
    "session": ("session", str, None, None),
    "target": ("target", str, None, None),
    "lab": ("lab", str, None, None),
    "workers": ("workers", int, (0, 10), None),
    "httpPort": ("http_port", int, (1, 65535), None),
    "httpsPort": ("https_port", int, (1, 65535), None),
    "lbAddressRange": ("lb_address_range", str, None, None),
    # Web UIs and lab apps at <name>.<baseDomain> ("" = the target's default: localhost on kind).
    "baseDomain": ("base_domain", str, None, None),
    # kind: the host address its API server listens on ("" = 127.0.0.1: this machine only).
    "apiServerAddress": ("api_server_address", _ipv4, None, ("kind",)),
    # Classroom: the normalized roster `classroom up` writes (unset = left as the stack has it).
    "roster": ("roster", str, None, None),
    # Managed clouds only (stacks/Pulumi.<gke|eks|aks>.yaml pins them).
    "region": ("region", str, None, CLOUDS),
    "zones": ("zones", str, None, CLOUDS),
    "kubernetesVersion": ("kubernetes_version", str, None, CLOUDS),
    "nodeSize": ("node_size", _node_size, None, CLOUDS),
    "minNodes": ("min_nodes", int, (0, 50), CLOUDS),
    "maxNodes": ("max_nodes", int, (1, 50), CLOUDS),
    "expiresHours": ("expires_hours", int, (1, 168), CLOUDS),
    "expiresAt": ("expires_at", str, None, CLOUDS),
    "gcpProject": ("gcp_project", str, None, ("gke",)),
    "releaseChannel": ("release_channel", str, None, ("gke",)),
    "vpcId": ("vpc_id", str, None, ("eks",)),
    "subnetIds": ("subnet_ids", str, None, ("eks",)),
    # EKS cluster tenancy: the classroom session's stack holding only the network its clusters share.
    "networkOnly": ("network_only", _flag, None, ("eks",)),
}

def config_bounds(key: str) -> tuple[int, int]:
    """The range a whole-number setting accepts (e.g. maxNodes: 1 to 50)."""
    return _KEYS[key][2]


_MESSAGES = {int: "a whole number", _flag: "true or false", _node_size: f"one of {', '.join(NODE_SIZES)}",
             _ipv4: "an IPv4 address of this machine (e.g. 192.168.1.10)"}


@dataclass(frozen=True)
class StackSettings:
    session: str = "default"
    target: str = "kind"
    lab: str = ""  # slug or number; "" = cluster only
    workers: int = 2  # kind: workers beside the control plane; clouds: nodes of the pool at creation
    http_port: int = 80
    https_port: int = 443
    lb_address_range: str = ""  # "" = taken from the kind Docker network at up (MetalLB pool)
    base_domain: str = ""  # web UIs at <name>.<baseDomain> ("" = the target's default)
    api_server_address: str = ""  # kind: a LAN address of this machine, for students on their own machines
    # Classroom roster JSON (infra.classroom): None leaves the stack's value alone, so `lab up` in a
    # classroom keeps the students' tenancy; "" removes it (`classroom down`).
    roster: str | None = None
    # Managed clouds (defaults from stacks/Pulumi.<target>.yaml; credentials from the cloud CLI login).
    region: str = ""  # GCP region, AWS region, Azure location
    zones: str = ""  # comma-separated: GKE's cluster zone (first), EKS subnets' availability zones
    kubernetes_version: str = ""  # minor, e.g. "1.35": the provider picks its latest patch
    node_size: str = "S"  # S/M/L, mapped per provider (see infra/clusters/cloud.py)
    min_nodes: int = 1  # node pool autoscaling bounds
    max_nodes: int = 5
    expires_hours: int = 8  # the expiry tag: first `lab up` of the session + this
    expires_at: str = ""  # the expiry tag's value, fixed once per session (infra.clusters.cloud)
    gcp_project: str = ""  # GKE: the Google Cloud project
    release_channel: str = "REGULAR"  # GKE release channel
    vpc_id: str = ""  # EKS: an existing VPC ("" = the target creates one)
    subnet_ids: str = ""  # EKS: comma-separated subnets of that VPC
    network_only: bool = False  # EKS: only the network (a classroom's clusters share it), no cluster

    @property
    def zone_list(self) -> list[str]:
        return [zone.strip() for zone in self.zones.split(",") if zone.strip()]

    @property
    def subnet_id_list(self) -> list[str]:
        return [subnet.strip() for subnet in self.subnet_ids.split(",") if subnet.strip()]

    @property
    def stack_name(self) -> str:
        return f"{self.session}-{self.target}"

    def as_config(self) -> dict[str, str]:
        """Pulumi config (project-namespaced strings): what the driver writes into the stack."""
        return {
            f"{PROJECT}:{key}": str(getattr(self, attr))
            for key, (attr, _, _, targets) in _KEYS.items()
            if (targets is None or self.target in targets) and getattr(self, attr) is not None
        }

    def with_config(self, values: dict[str, object], source: str) -> "StackSettings":
        """These settings overridden by config values (keys with or without the project prefix).

        Bad values raise LabsError naming `source`, the key and what is accepted.
        """
        from infra.errors import LabsError

        changes = {}
        for raw_key, raw in values.items():
            key = raw_key.split(":", 1)[1] if raw_key.startswith(f"{PROJECT}:") else raw_key
            if key not in _KEYS or raw is None:
                continue
            attr, parse, bounds, _ = _KEYS[key]
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                raise LabsError(f"{source}: {key} must be {_MESSAGES[parse]}, got '{raw}'") from None
            if bounds and not bounds[0] <= value <= bounds[1]:
                raise LabsError(f"{source}: {key} must be between {bounds[0]} and {bounds[1]}, got {value}")
            changes[attr] = value
        result = replace(self, **changes)
        if {"http_port", "https_port"} & set(changes) and result.http_port == result.https_port:
            raise LabsError(f"{source}: httpPort and httpsPort are both {result.http_port}: one host port cannot "
                            "serve both, give two different ports (e.g. --http-port=8080 --https-port=8443)")
        return result

    @classmethod
    def for_target(cls, target: str) -> "StackSettings":
        """Defaults for `target`, with its committed stack file applied when there is one."""
        import yaml

        from infra.errors import LabsError
        from infra.paths import STACKS_DIR

        file = STACKS_DIR / f"Pulumi.{target}.yaml"
        settings = cls(target=target)
        if not file.is_file():
            return settings
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError:
            raise LabsError(f"{file}: not valid YAML: fix the syntax") from None
        return settings.with_config(data.get("config") or {}, str(file))

    @classmethod
    def from_pulumi_config(cls) -> "StackSettings":
        import pulumi

        config = pulumi.Config(PROJECT)
        return cls().with_config({key: config.get(key) for key in _KEYS}, "stack config")

