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


def interrupted_releases(deployment: dict) -> list[dict]:
    """The Helm releases a killed run left pending: [{"namespace", "name", "kubeconfig", "installing"}]."""
    providers = {}
    for resource in deployment.get("resources") or []:
        if resource.get("type") == PROVIDER_TYPE:
            reference = f"{resource['urn']}::{resource.get('id', '')}"
            providers[reference] = _plain((resource.get("inputs") or {}).get("kubeconfig"))
    found = []
    for operation in deployment.get("pending_operations") or []:
        resource = operation.get("resource") or {}
        inputs = resource.get("inputs") or {}
        if resource.get("type") != RELEASE_TYPE or not inputs.get("name"):
            continue
        found.append({"namespace": _plain(inputs.get("namespace")) or "default", "name": _plain(inputs["name"]),
                      "kubeconfig": providers.get(resource.get("provider", "")),
                      "installing": operation.get("type") == "creating"})
    return found


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
