"""The shape of every lab's stack: at most 4 levels deep (cluster -> CRDs/namespaces -> releases ->
custom resources), so Pulumi installs as much as possible in parallel."""
from __future__ import annotations

from dataclasses import replace

import pytest

from infra.catalog import Catalog
from infra.paths import LABS_DIR
from infra.render import record_program
from infra.settings import StackSettings

MAX_LEVELS = 4


def stack_depth(registrations) -> int:
    """Longest dependency chain of real resources; every Kubernetes object sits on the cluster
    (level 1) through the provider, so a root object is level 2."""
    real = {r.urn: r for r in registrations if r.custom and not r.type.startswith("pulumi:providers:")}
    # Depending on a component means depending on its children: expand to real resources.
    children: dict[str, list[str]] = {}
    for reg in registrations:
        children.setdefault(reg.parent, []).append(reg.urn)

    def real_deps(urn: str) -> list[str]:
        if urn in real:
            return [urn]
        return [d for child in children.get(urn, []) for d in real_deps(child)]

    memo: dict[str, int] = {}

    def level(urn: str) -> int:
        if urn not in memo:
            reg = real[urn]
            base = 1 if reg.type.startswith("pulumi-python:dynamic") else 2
            deps = [d for dep in reg.dependencies for d in real_deps(dep) if d != urn]
            memo[urn] = max([base, *(level(d) + 1 for d in deps)])
        return memo[urn]

    return max(level(urn) for urn in real)


@pytest.mark.parametrize("lab", Catalog.load(LABS_DIR).labs, ids=lambda lab: lab.id)
def test_every_lab_stack_is_at_most_four_levels_deep(lab, catalog):
    registrations, _ = record_program(replace(StackSettings(), lab=lab.slug), catalog)
    assert stack_depth(registrations) <= MAX_LEVELS
