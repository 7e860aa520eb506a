"""The CRDs a chart installs from its `crds/` folder, removed with the layer.

Helm installs a chart's `crds/` folder once and never upgrades or deletes it (its documented policy:
deleting a CRD deletes every object of it cluster-wide). A lab cluster is the opposite case: `lab down`
and switching labs must leave nothing of a layer behind, or the next lab sees stale APIs (and the
teardown checks see our CRDs left in the API server). So each release whose chart carries such a
folder depends on a `ChartCrds` resource naming the API groups of those CRDs; it does nothing at
create (Helm makes them) and, when the layer goes, deletes every CRD of those groups and waits until
the API server has removed them, after the release is uninstalled (the release depends on it, so
Pulumi deletes the release, and its operator, first).

A Python dynamic resource, like the kind and kwok clusters: it needs no provider plugin.
"""
from __future__ import annotations

import time

import pulumi
import pulumi.dynamic as dynamic

# How long the API server may take to remove the CRDs once asked. Its CRD finalizer first deletes every
# object of each CRD (and polls up to a minute for them to go), one CRD per worker; on an API server
# short of CPU a CRD was seen still there after 120 s. The wait ends as soon as they are all gone.
DELETE_TIMEOUT_S = 300


def _api(kubeconfig: str):
    """(the CRD API, the API of their objects) for the cluster of `kubeconfig`."""
    import yaml
    from kubernetes import client, config

    api_client = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))
    return client.ApiextensionsV1Api(api_client), client.CustomObjectsApi(api_client)


def crds_of(api, groups: list[str]) -> list:
    return sorted((crd for crd in api.list_custom_resource_definition().items if crd.spec.group in groups),
                  key=lambda crd: crd.metadata.name)


def why_still_there(objects_api, crd) -> str:
    """`name (why)`: its objects that finalizers hold (the API server removes a CRD only once its objects
    are gone), else the API server's Terminating condition."""
    from kubernetes.client.exceptions import ApiException

    version = next(v.name for v in crd.spec.versions if v.storage)
    try:
        items = objects_api.list_cluster_custom_object(crd.spec.group, version, crd.spec.names.plural)["items"]
    except ApiException:
        items = []
    held = [item["metadata"] for item in items if item["metadata"].get("finalizers")]
    if held:
        first = held[0]
        where = f" -n {first['namespace']}" if first.get("namespace") else ""
        named = ", ".join(f"{meta.get('namespace', '') and meta['namespace'] + '/'}{meta['name']} "
                          f"({', '.join(meta['finalizers'])})" for meta in held[:3])
        return (f"{crd.metadata.name} ({len(held)} object(s) held by finalizers: {named}; "
                f"e.g. `kubectl patch {crd.metadata.name} {first['name']}{where} --type=merge "
                "-p '{\"metadata\":{\"finalizers\":null}}'`)")
    condition = next((c for c in (crd.status.conditions or []) if c.type == "Terminating"), None) \
        if crd.status else None
    return f"{crd.metadata.name} ({condition.message})" if condition and condition.message else crd.metadata.name


class ChartCrdsProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=",".join(props["groups"]), outs=props)

    def diff(self, id_: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = sorted(olds.get("groups") or []) != sorted(news.get("groups") or [])
        # A new kubeconfig (credentials rotated) changes nothing to delete: update in place.
        return dynamic.DiffResult(changes=changed or olds.get("kubeconfig") != news.get("kubeconfig"),
                                  replaces=["groups"] if changed else [])

    def update(self, id_: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=news)

    def delete(self, id_: str, props: dict) -> None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api, objects_api = _api(props["kubeconfig"])
        try:
            crds = crds_of(api, props["groups"])
        except HTTPError:  # no API server answers: the cluster is gone, and its CRDs with it
            return
        for crd in crds:
            try:
                api.delete_custom_resource_definition(crd.metadata.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        deadline = time.monotonic() + DELETE_TIMEOUT_S
        while (left := crds_of(api, props["groups"])) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            reasons = "; ".join(why_still_there(objects_api, crd) for crd in left)
            raise RuntimeError(f"the API server has not removed these CRDs {DELETE_TIMEOUT_S} s after their deletion: "
                               f"{reasons}; run the command again to wait for them")


class ChartCrds(dynamic.Resource):
    def __init__(self, name: str, groups: list[str], kubeconfig: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(ChartCrdsProvider(), name, {"groups": sorted(groups), "kubeconfig": kubeconfig},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["kubeconfig"])))
