"""Resuming after a run that was killed outright (SIGKILL, a closed laptop, a power cut).

Pulumi then leaves "pending operations" in the state: resources it had started to create or update.
The next `up` drops them and creates those resources again, which the Kubernetes objects survive
(server-side apply takes them over), but a Helm release does not: the killed install left Helm's own
record of it (a Secret `sh.helm.release.v1.<name>.v<revision>`) in status `pending-install` (or
`pending-upgrade`, `pending-rollback`), and Helm refuses every later install or upgrade of that name
("cannot re-use a name that is still in use", "another operation is in progress"). For an
interrupted upgrade, that pending record is what `helm` itself would never finish: it is deleted, and
only it; the earlier deployed revision stays. For an interrupted install (a create Pulumi never
recorded), every record of the release goes, whatever its status: Helm may have finished just before
the kill, and the state, which does not know the release, is about to install it again. The objects
the killed install created are adopted by the new install (they carry the release's annotations).

Which releases: those the state lists as pending, and every release the program is about to manage
(its offline render) that the state does not know yet: the engine may be killed after Helm began an
install but before its checkpoint recorded the operation. Students' own Helm releases (lab 20) are
neither, and are never touched.

The cluster is reached with the kubeconfig of the Kubernetes provider the release was bound to, as
the state holds it (`pulumi stack export --show-secrets`): a first `up` killed midway has not yet
written the session's kubeconfig file.
"""
from __future__ import annotations

import json

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
PROVIDER_TYPE = "pulumi:providers:kubernetes"
PENDING_STATUSES = ("pending-install", "pending-upgrade", "pending-rollback")


def _plain(value):
    """A state value as `stack export --show-secrets` writes it: secrets are {"plaintext": <JSON>}."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def _release_key(resource: dict) -> tuple[str, str]:
    inputs = resource.get("inputs") or {}
    return _plain(inputs.get("namespace")) or "default", _plain(inputs.get("name"))


def interrupted_releases(deployment: dict, planned: set[tuple[str, str]] = frozenset()) -> list[dict]:
    """The Helm releases a killed run may have left behind: [{"namespace", "name", "kubeconfig",
    "installing"}]: the state's pending ones, and those of `planned` (namespace, name) it does not know."""
    providers = {}
    for resource in deployment.get("resources") or []:
        if resource.get("type") == PROVIDER_TYPE:
            reference = f"{resource['urn']}::{resource.get('id', '')}"
            providers[reference] = _plain((resource.get("inputs") or {}).get("kubeconfig"))
    found: dict[tuple[str, str], dict] = {}
    for operation in deployment.get("pending_operations") or []:
        resource = operation.get("resource") or {}
        if resource.get("type") != RELEASE_TYPE or not _release_key(resource)[1]:
            continue
        namespace, name = _release_key(resource)
        found[(namespace, name)] = {"namespace": namespace, "name": name,
                                    "kubeconfig": providers.get(resource.get("provider", "")),
                                    "installing": operation.get("type") == "creating"}
    known = {_release_key(r) for r in deployment.get("resources") or [] if r.get("type") == RELEASE_TYPE}
    kubeconfigs = [k for k in providers.values() if k]
    for namespace, name in sorted(set(planned) - known - set(found)):
        if len(kubeconfigs) == 1:  # one cluster per stack: its provider is the one a release would use
            found[(namespace, name)] = {"namespace": namespace, "name": name, "kubeconfig": kubeconfigs[0],
                                        "installing": True}
    return list(found.values())


def planned_releases(settings) -> set[tuple[str, str]]:
    """(namespace, name) of every Helm release the program registers for `settings` (offline render)."""
    from infra.catalog import Catalog
    from infra.render import RELEASE_TYPE as RENDERED, record_program

    registrations, _ = record_program(settings, Catalog.load())
    return {(reg.inputs["namespace"], reg.inputs["name"]) for reg in registrations if reg.type == RENDERED}


def unblock(release: dict, api=None) -> list[str]:
    """Delete the release's pending Helm records (all of them for an interrupted install); returns the
    Secrets deleted."""
    if api is None:
        if not release.get("kubeconfig"):
            return []
        import yaml
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config_dict(yaml.safe_load(release["kubeconfig"])))
    selector = f"owner=helm,name={release['name']}"
    deleted = []
    for secret in api.list_namespaced_secret(release["namespace"], label_selector=selector).items:
        if release.get("installing") or (secret.metadata.labels or {}).get("status") in PENDING_STATUSES:
            api.delete_namespaced_secret(secret.metadata.name, release["namespace"])
            deleted.append(secret.metadata.name)
    return deleted
