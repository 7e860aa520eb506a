"""The classroom's tenancy as a Pulumi ComponentResource: `labs:classroom:Tenancy`.

`infra.program.build` adds it when the stack settings carry a roster (`roster`: the normalized roster
JSON `classroom up` writes in the session folder). Every child is parented to the component and
bound to the cluster's explicit Kubernetes provider; the objects themselves are the plain manifests of
`infra.classroom.objects`. The layers stay shared: the tenancy does not wait for them.

Registered outputs: `students` (id, name, group, namespace, service account, host suffix and, with a
lab, the lab's host name): what `classroom render` lists beside the objects. No credential is created
here: the ServiceAccount tokens come from the TokenRequest API after `up` (infra.classroom.credentials),
so none is ever in the Pulumi state or in a render.
"""
from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s

from infra.classroom import objects
from infra.classroom.roster import Student

# kind -> the typed resource class registering it
_CLASSES = {
    "Namespace": k8s.core.v1.Namespace,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "ResourceQuota": k8s.core.v1.ResourceQuota,
    "LimitRange": k8s.core.v1.LimitRange,
    "Role": k8s.rbac.v1.Role,
    "RoleBinding": k8s.rbac.v1.RoleBinding,
    "ClusterRole": k8s.rbac.v1.ClusterRole,
    "ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "ValidatingAdmissionPolicy": k8s.admissionregistration.v1.ValidatingAdmissionPolicy,
    "ValidatingAdmissionPolicyBinding": k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding,
}
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def register(manifest: dict, name: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """A plain manifest as its typed resource: top-level fields become keyword arguments
    (roleRef -> role_ref); nested fields keep the API's camelCase, which the provider sends as is."""
    kwargs = {_SNAKE.sub("_", key).lower(): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
    return _CLASSES[manifest["kind"]](name, opts=opts, **kwargs)


class Tenancy(pulumi.ComponentResource):
    """Per student: namespace, identity, rights, quota, limits, network policies (see objects.py)."""

    def __init__(self, name: str, students: list[Student], base_domain: str, provider: pulumi.ProviderResource,
                 lab=None, cluster_admin: bool = False):
        super().__init__("labs:classroom:Tenancy", name, None,
                         pulumi.ResourceOptions(providers={"kubernetes": provider}))
        shared = pulumi.ResourceOptions(parent=self)
        if not cluster_admin:
            register(objects.view_cluster_role(), "classroom-view", shared)
        for label, (policy, binding) in (("hostname-policy", objects.hostname_policy(base_domain)),
                                         ("middleware-policy", objects.middleware_policy())):
            policy_resource = register(policy, label, shared)
            register(binding, f"{label}-binding", pulumi.ResourceOptions(parent=self, depends_on=[policy_resource]))
        for student in students:
            namespace_manifest, *namespaced = objects.student_objects(student.id, cluster_admin=cluster_admin)
            namespace = register(namespace_manifest, student.id, shared)
            inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
            for manifest in namespaced:
                register(manifest, f"{student.id}-{manifest['kind'].lower()}-{manifest['metadata']['name']}", inside)
        from infra.manifests import lab_hosts

        hosts = lab_hosts(lab) if lab is not None else None  # the lab's files, read once for the class
        self.students = [self.summary(student, base_domain, lab, hosts) for student in students]
        self.register_outputs({"students": self.students})

    @staticmethod
    def summary(student: Student, base_domain: str, lab=None, hosts: list[str] | None = None) -> dict:
        entry = {
            "id": student.id, "name": student.name, "group": student.group, "namespace": student.namespace,
            "service_account": f"{student.namespace}/{objects.SERVICE_ACCOUNT}",
            "host_suffix": objects.host_suffix(student.id, base_domain),
        }
        if lab is not None:
            from infra.manifests import student_hosts

            entry["lab_hosts"] = student_hosts(lab, student.id, base_domain, hosts)
        return entry


def build_tenancy(roster_file: str, ctx, provider: pulumi.ProviderResource, lab=None) -> Tenancy:
    """The tenancy of the roster the settings name (the program's entry; reads only that file)."""
    from infra.classroom.roster import load_roster_json

    students, tenancy = load_roster_json(roster_file)
    return Tenancy("classroom", students, ctx.capabilities.base_domain, provider, lab=lab,
                   cluster_admin=tenancy == "cluster")
