"""Typed stack settings: the one object the program, the render and the driver agree on.

Values come, lowest priority first, from the dataclass defaults, the target's committed stack file
(`stacks/Pulumi.<target>.yaml`) and the command line. Under the Pulumi engine the program reads
them back from the stack's config, through the same parser.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

PROJECT = "k8s-labs"

# config key -> (field, parser, accepted range for ints)
_KEYS = {
    "session": ("session", str, None),
    "target": ("target", str, None),
    "lab": ("lab", str, None),
    "workers": ("workers", int, (0, 10)),
    "httpPort": ("http_port", int, (1, 65535)),
    "httpsPort": ("https_port", int, (1, 65535)),
    "lbAddressRange": ("lb_address_range", str, None),
}


@dataclass(frozen=True)
class StackSettings:
    session: str = "default"
    target: str = "kind"
    lab: str = ""  # slug or number; "" = cluster only
    workers: int = 2
    http_port: int = 80
    https_port: int = 443
    lb_address_range: str = ""  # "" = taken from the kind Docker network at up (MetalLB pool)

    @property
    def stack_name(self) -> str:
        return f"{self.session}-{self.target}"

    def as_config(self) -> dict[str, str]:
        """Pulumi config (project-namespaced strings): what the driver writes into the stack."""
        return {f"{PROJECT}:{key}": str(getattr(self, attr)) for key, (attr, _, _) in _KEYS.items()}

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
            attr, parse, bounds = _KEYS[key]
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                raise LabsError(f"{source}: {key} must be a whole number, got '{raw}'") from None
            if bounds and not bounds[0] <= value <= bounds[1]:
                raise LabsError(f"{source}: {key} must be between {bounds[0]} and {bounds[1]}, got {value}")
            changes[attr] = value
        return replace(self, **changes)

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

