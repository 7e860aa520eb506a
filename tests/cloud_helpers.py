"""Helpers for the cloud target tests: record the program of a cloud stack under the mock runtime."""
from __future__ import annotations

import json
from dataclasses import replace

from infra.commands import stack_settings
from infra.render import record_program

EXPIRES = "2026-07-23t18-00z"


def cloud_settings(target: str, **changes):
    """The committed stack defaults of `target` for session `monday`, with a fixed expiry."""
    return replace(stack_settings(target=target, session="monday"), expires_at=EXPIRES, **changes)


def cloud_caps(target: str):
    """The target's own capabilities for the committed stack defaults (no cloud SDK needed)."""
    from infra.clusters.capabilities import BY_TARGET

    return BY_TARGET[target](cloud_settings(target))


def cloud_labels(target: str) -> dict[str, str]:
    """The labels/tags every resource of the `monday` session carries."""
    from infra.clusters.cloud import labels

    return labels(cloud_settings(target))


def record(target: str, catalog=None, **changes):
    return record_program(cloud_settings(target, **changes), catalog)


def by_type(registrations, type_token: str):
    return [reg for reg in registrations if reg.type == type_token]


def one(registrations, type_token: str):
    (reg,) = by_type(registrations, type_token)
    return reg


def provider_input(reg, key: str):
    """Provider inputs arrive JSON-encoded when they are not strings."""
    value = reg.inputs.get(key)
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


LABELS = {"project": "k8s-labs", "session": "monday", "expires-at": EXPIRES}


def assert_kubeconfig_is_a_secret_wired_into_the_provider(registrations, outputs, component_type: str, waits_for: str):
    from pulumi.runtime import rpc

    component = one(registrations, component_type)
    assert rpc.is_rpc_secret(outputs[component.urn]["kubeconfig"])
    provider = one(registrations, "pulumi:providers:kubernetes")
    assert provider.parent == component.urn
    assert rpc.is_rpc_secret(provider.inputs["kubeconfig"])
    assert provider.inputs.get("enableServerSideApply") in ("true", True)
    assert provider.inputs.get("deleteUnreachable") in (None, "false", False)  # never on a cloud
    assert any(dep.endswith(waits_for) for dep in provider.dependencies), provider.dependencies
    return component, provider
