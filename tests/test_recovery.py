"""Resuming after a killed run: which Helm releases it left pending, and that only their pending
records go. The real kill-and-resume runs in the controlplane tier (tests/test_controlplane_lifecycle.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from infra.recovery import interrupted_releases, unblock

PROVIDER_URN = "urn:pulumi:s-kwok::k8s-labs::labs:cluster:Kwok$pulumi:providers:kubernetes::k8s"
KUBECONFIG = "apiVersion: v1\nkind: Config\n"


def deployment(pending: list[dict]) -> dict:
    """As `pulumi stack export --show-secrets` writes it: the provider's kubeconfig a decrypted secret."""
    return {
        "resources": [{"urn": PROVIDER_URN, "id": "abc", "type": "pulumi:providers:kubernetes",
                       "inputs": {"kubeconfig": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                                 "plaintext": json.dumps(KUBECONFIG)}}}],
        "pending_operations": pending,
    }


def test_a_pending_release_is_found_with_its_namespace_and_its_providers_kubeconfig():
    pending = [
        {"type": "creating", "resource": {"type": "kubernetes:helm.sh/v3:Release", "provider": f"{PROVIDER_URN}::abc",
                                          "inputs": {"name": "loki", "namespace": "logging"}}},
        {"type": "creating", "resource": {"type": "kubernetes:core/v1:Namespace", "provider": f"{PROVIDER_URN}::abc",
                                          "inputs": {"metadata": {"name": "logging"}}}},
    ]
    assert interrupted_releases(deployment(pending)) == [
        {"namespace": "logging", "name": "loki", "kubeconfig": KUBECONFIG, "installing": True}]
    assert interrupted_releases(deployment([])) == []


class HelmRecords:
    """The Secrets Helm keeps per release revision, as the API lists them; records what is deleted."""

    def __init__(self, statuses: dict[str, str]):
        self.statuses = statuses
        self.deleted: list[tuple[str, str]] = []

    def list_namespaced_secret(self, namespace, label_selector):
        assert label_selector == "owner=helm,name=loki"
        items = [SimpleNamespace(metadata=SimpleNamespace(name=name, labels={"owner": "helm", "status": status}))
                 for name, status in self.statuses.items()]
        return SimpleNamespace(items=items)

    def delete_namespaced_secret(self, name, namespace):
        self.deleted.append((namespace, name))


def test_after_an_interrupted_upgrade_only_the_pending_record_goes_and_the_deployed_revision_stays():
    records = HelmRecords({"sh.helm.release.v1.loki.v1": "deployed", "sh.helm.release.v1.loki.v2": "pending-upgrade"})
    release = {"namespace": "logging", "name": "loki", "kubeconfig": KUBECONFIG, "installing": False}
    assert unblock(release, api=records) == ["sh.helm.release.v1.loki.v2"]
    assert records.deleted == [("logging", "sh.helm.release.v1.loki.v2")]


def test_after_an_interrupted_install_every_record_goes_even_one_helm_finished():
    # Helm finished the install just before the kill: the state never recorded it, and the next up
    # installs it again, which Helm refuses while any record of the name exists.
    records = HelmRecords({"sh.helm.release.v1.loki.v1": "deployed"})
    release = {"namespace": "logging", "name": "loki", "kubeconfig": KUBECONFIG, "installing": True}
    assert unblock(release, api=records) == ["sh.helm.release.v1.loki.v1"]


def test_nothing_is_deleted_when_no_record_is_pending():
    records = HelmRecords({"sh.helm.release.v1.loki.v1": "deployed"})
    assert unblock({"namespace": "logging", "name": "loki", "kubeconfig": KUBECONFIG}, api=records) == []
    assert records.deleted == []


def test_without_a_kubeconfig_in_the_state_nothing_is_attempted():
    assert unblock({"namespace": "logging", "name": "loki", "kubeconfig": None}) == []


def test_a_planned_release_the_state_does_not_know_is_treated_as_an_interrupted_install():
    # Killed after Helm began installing but before the engine's checkpoint recorded the operation.
    known = {"urn": "urn:r", "type": "kubernetes:helm.sh/v3:Release", "inputs": {"name": "traefik", "namespace": "traefik"}}
    state = deployment([])
    state["resources"].append(known)
    found = interrupted_releases(state, {("traefik", "traefik"), ("monitoring", "kube-prometheus-stack")})
    assert found == [{"namespace": "monitoring", "name": "kube-prometheus-stack", "kubeconfig": KUBECONFIG,
                      "installing": True}]


def test_the_planned_releases_are_the_renders(tmp_path):
    from infra.recovery import planned_releases
    from infra.settings import StackSettings

    assert planned_releases(StackSettings(target="kwok", lab="logging")) >= {("logging", "loki"), ("logging", "alloy"),
                                                                             ("monitoring", "kube-prometheus-stack")}
    assert planned_releases(StackSettings(target="kwok", lab="")) == set()
