"""Entry point Pulumi runs (`main: infra/` in Pulumi.yaml)."""
from infra.program import build
from infra.settings import StackSettings

build(StackSettings.from_pulumi_config())
