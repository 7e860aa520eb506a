"""Typed stack settings: the one object the program, the render and the driver agree on."""
from __future__ import annotations

from dataclasses import dataclass

PROJECT = "k8s-labs"


@dataclass(frozen=True)
class StackSettings:
    session: str = "default"
    target: str = "kind"
    lab: str = ""  # slug or number; "" = cluster only
    workers: int = 2
    http_port: int = 80
    https_port: int = 443

    @property
    def stack_name(self) -> str:
        return f"{self.session}-{self.target}"

    def as_config(self) -> dict[str, str]:
        """Pulumi config (project-namespaced, as strings), the form the driver writes and Pulumi reads."""
        return {
            f"{PROJECT}:session": self.session,
            f"{PROJECT}:target": self.target,
            f"{PROJECT}:lab": self.lab,
            f"{PROJECT}:workers": str(self.workers),
            f"{PROJECT}:httpPort": str(self.http_port),
            f"{PROJECT}:httpsPort": str(self.https_port),
        }

    @classmethod
    def from_pulumi_config(cls) -> "StackSettings":
        import pulumi

        config = pulumi.Config(PROJECT)
        return cls(
            session=config.get("session") or cls.session,
            target=config.get("target") or cls.target,
            lab=config.get("lab") or "",
            workers=config.get_int("workers") if config.get("workers") is not None else cls.workers,
            http_port=config.get_int("httpPort") or cls.http_port,
            https_port=config.get_int("httpsPort") or cls.https_port,
        )
