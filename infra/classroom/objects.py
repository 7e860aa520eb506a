"""The Kubernetes objects of a classroom, as plain manifests (no Pulumi import).

`infra.classroom.tenancy` registers exactly these, so the render, the security tests and the checkov
scan look at one definition. Per student (namespace tenancy, one shared cluster):

  Namespace <id>            Pod Security Admission: enforce baseline, warn and audit restricted
  ServiceAccount student    the identity in the student's kubeconfig (token from the TokenRequest API)
  Role student-edit         edit-like rights in the namespace only: workloads, services, config, storage
                            claims, routes, Traefik middlewares, monitors; read-only quota, limit range and
                            network policies (a student cannot lift their own limits); nothing of RBAC
  RoleBinding student-edit  the Role to the ServiceAccount, in the namespace
  ClusterRoleBinding        classroom-view-<id>: the shared read-only ClusterRole to the ServiceAccount
  ResourceQuota student     sized for the labs (see QUOTA)
  LimitRange student        defaults for containers without resources, and maximums
  NetworkPolicy default-deny-ingress         no ingress at all...
  NetworkPolicy allow-namespace-and-platform ...but from the namespace itself, the ingress controller
                                             (traefik) and monitoring (Prometheus scrapes)

Shared by every student: the ClusterRole `classroom-view` (get/list/watch on the cluster-scoped kinds
labs look at) and a ValidatingAdmissionPolicy keeping each student's Ingress, HTTPRoute and GRPCRoute
host names under their own `*.<id>.<base domain>` (the ingress controller is shared: without it one
student could route another's host, or every host).

Cluster tenancy (a cluster per student): the same objects in the student's own cluster, except that
the ServiceAccount is bound to `cluster-admin` (the cluster is theirs) instead of `classroom-view`.
"""
from __future__ import annotations

MANAGED_BY = {"app.kubernetes.io/managed-by": "k8s-labs"}
STUDENT_LABEL = "k8s-labs/student"  # on every classroom object: the student's id
SERVICE_ACCOUNT = "student"
ROLE = "student-edit"
VIEW_CLUSTER_ROLE = "classroom-view"
ADMIN_CLUSTER_ROLE = "cluster-admin"
HOSTNAME_POLICY = "classroom-student-hostnames"
MIDDLEWARE_POLICY = "classroom-student-middlewares"
# Traefik Middleware kinds that only act on the request they are given (lab 07 uses stripPrefix).
STUDENT_MIDDLEWARES = ("addPrefix", "stripPrefix", "stripPrefixRegex", "replacePath", "replacePathRegex",
                       "redirectRegex", "redirectScheme", "headers", "compress", "rateLimit", "inFlightReq",
                       "ipAllowList", "retry", "buffering", "circuitBreaker", "contentType", "grpcWeb", "chain",
                       "basicAuth", "digestAuth")
DEFAULT_DENY = "default-deny-ingress"
ALLOW_PLATFORM = "allow-namespace-and-platform"
# The shared layers' namespaces that may reach students' pods (infra.layers.ingress / monitoring;
# tests/test_classroom_tenancy.py checks they stay equal).
INGRESS_NAMESPACE = "traefik"
MONITORING_NAMESPACE = "monitoring"

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]
# What a student's lab work needs per namespace (the shape of the built-in `edit` role, without
# impersonation, RBAC, or write access to the guard rails: quota, limit range, network policies).
EDIT_RULES = [
    {"apiGroups": [""], "resources": ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims",
                                      "serviceaccounts", "replicationcontrollers"], "verbs": READ + WRITE},
    # Endpoints read only, as in the built-in `edit` role since Kubernetes 1.22 (CVE-2021-25740): a
    # hand-written Endpoints (mirrored to an EndpointSlice) behind a selector-less Service would have
    # Traefik, which every namespace lets in, forward to any pod IP, another student's included.
    {"apiGroups": [""], "resources": ["pods/log", "pods/status", "events", "resourcequotas", "limitranges",
                                      "services/status", "persistentvolumeclaims/status", "endpoints"], "verbs": READ},
    {"apiGroups": [""], "resources": ["pods/exec", "pods/attach", "pods/portforward", "pods/eviction",
                                      "services/proxy"], "verbs": ["get", "create"]},
    # Lab 03's `kubectl debug` (an ephemeral container, checked by Pod Security like any other).
    {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch", "update"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets",
                                          "deployments/scale", "statefulsets/scale", "replicasets/scale"],
     "verbs": READ + WRITE},
    {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": READ + WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ + WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": READ + WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": READ + WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes", "grpcroutes", "referencegrants"],
     "verbs": READ + WRITE},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": READ},
    # Lab 07's path prefix removal: a Traefik Middleware, used only by the routes that name it.
    {"apiGroups": ["traefik.io"], "resources": ["middlewares"], "verbs": READ + WRITE},
    {"apiGroups": ["snapshot.storage.k8s.io"], "resources": ["volumesnapshots"], "verbs": READ + WRITE},
    {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors", "podmonitors", "prometheusrules"],
     "verbs": READ + WRITE},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": READ},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": READ},
]
# Cluster-scoped kinds the labs look at (kubectl get nodes, storageclasses...): read only.
VIEW_RULES = [
    {"apiGroups": [""], "resources": ["nodes", "namespaces", "persistentvolumes"], "verbs": READ},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csidrivers", "csinodes"], "verbs": READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": READ},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gatewayclasses"], "verbs": READ},
    {"apiGroups": ["snapshot.storage.k8s.io"], "resources": ["volumesnapshotclasses", "volumesnapshotcontents"],
     "verbs": READ},
    {"apiGroups": ["apiregistration.k8s.io"], "resources": ["apiservices"], "verbs": READ},
    {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": READ},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": READ},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["nodes"], "verbs": READ},
]
# Sized for one student doing one lab at a time: the largest lab (a Deployment of 6 replicas, an HPA
# up to 5, a few claims) fits; a runaway loop does not take the shared cluster down.
QUOTA = {
    "requests.cpu": "2", "requests.memory": "2Gi", "limits.cpu": "4", "limits.memory": "4Gi",
    "pods": "20", "services": "10", "services.loadbalancers": "1", "services.nodeports": "2",
    "persistentvolumeclaims": "5", "requests.storage": "10Gi", "configmaps": "30", "secrets": "30",
    "count/ingresses.networking.k8s.io": "10",
}
# Labs whose exercise is the cluster itself (nodes coming and going): they need more than a quota and
# act on what everyone shares, so a class does them with --tenancy=cluster (or as a demonstration).
WHOLE_CLUSTER_LABS = ("cluster-autoscaler",)
# Labs whose objects fit a student's namespace (infra.manifests retargets them) but a step of which acts
# on something the students share or cannot touch: `classroom up` says so to the instructor.
SHARED_CLUSTER_NOTES = {
    "orchestrateur": "its node failure (docker stop of a worker) stops that node for everyone: run it yourself, "
                     "as a demonstration",
    "services": "NodePort 30080 exists once per cluster (one student gets it, the others' Services are refused), "
                "and every LoadBalancer Service takes an address from the one shared pool",
    "daemonset": "students cannot label nodes (step 2): label them yourself, for everyone",
    "persistent-volume": "a PersistentVolume is cluster-wide: students can only read them, lab-pv binds one claim "
                         "in the whole class, and its folder is read with docker exec on a node: a demonstration",
    "alerting": "Alertmanager, its silences and the mailbox are shared (a silence on alertname silences everyone's), "
                "and amtool runs through kubectl exec in `monitoring`, which students cannot do",
    "architecture": "it works on the nodes themselves (docker exec, stopping the scheduler stops it for everyone): "
                    "a demonstration",
    "service-mesh": "the mesh is switched on by labelling namespaces and compared in a second namespace: students "
                    "can do neither, nor create the waypoint Gateway; use --tenancy=cluster",
}
LIMITS = [
    {"type": "Container",
     "default": {"cpu": "500m", "memory": "256Mi"},
     "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
     "max": {"cpu": "2", "memory": "2Gi"}},
    {"type": "PersistentVolumeClaim", "max": {"storage": "5Gi"}},
]
PSA_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}


def _meta(name: str, student: str, namespace: str | None = None, **labels: str) -> dict:
    meta = {"name": name, "labels": {**MANAGED_BY, STUDENT_LABEL: student, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _from_namespace(name: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def student_objects(student: str, cluster_admin: bool = False) -> list[dict]:
    """The manifests of one student's tenancy, the Namespace first."""
    ns = student
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}]
    cluster_role = ADMIN_CLUSTER_ROLE if cluster_admin else VIEW_CLUSTER_ROLE
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, student, **PSA_LABELS)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, student, ns),
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(ROLE, student, ns),
         "rules": EDIT_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(ROLE, student, ns),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE}, "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(f"classroom-{'admin' if cluster_admin else 'view'}-{student}", student),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
         "subjects": subject},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta("student", student, ns),
         "spec": {"hard": dict(QUOTA)}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": _meta("student", student, ns),
         "spec": {"limits": LIMITS}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(DEFAULT_DENY, student, ns),
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(ALLOW_PLATFORM, student, ns),
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {}}, _from_namespace(INGRESS_NAMESPACE),
                                        _from_namespace(MONITORING_NAMESPACE)]}]}},
    ]


def view_cluster_role() -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": VIEW_CLUSTER_ROLE, "labels": dict(MANAGED_BY)}, "rules": VIEW_RULES}


def _student_policy(name: str, resource_rules: list[dict], validations: list[dict], variables=()) -> list[dict]:
    """A ValidatingAdmissionPolicy on CREATE/UPDATE of `resource_rules`, bound to the students' namespaces."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{**rule, "operations": ["CREATE", "UPDATE"]}
                                                   for rule in resource_rules]},
            **({"variables": list(variables)} if variables else {}),
            "validations": validations,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchExpressions": [
                     {"key": STUDENT_LABEL, "operator": "Exists"}]}}},
    }
    return [policy, binding]


def hostname_policy(base_domain: str) -> list[dict]:
    """In a student's namespace, every Ingress rule, HTTPRoute and GRPCRoute names a host under
    `<namespace>.<base domain>`, and nothing catches every host (an Ingress default backend, a rule
    or route without a host)."""
    return _student_policy(
        HOSTNAME_POLICY,
        [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"], "resources": ["ingresses"]},
         # GRPCRoute too: students may write them, and one attaches to the shared Gateway's HTTP listener.
         {"apiGroups": ["gateway.networking.k8s.io"], "apiVersions": ["v1"], "resources": ["httproutes", "grpcroutes"]}],
        [{"expression": "request.kind.kind != 'Ingress' || (!has(object.spec.defaultBackend) && "
                        "(!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && "
                        "r.host.endsWith(variables.suffix))))",
          "messageExpression": "'in this classroom, Ingress hosts end in ' + variables.suffix.substring(1)"
                               " + ' (e.g. web' + variables.suffix + '), and no default backend'"},
         {"expression": "!(request.kind.kind in ['HTTPRoute', 'GRPCRoute']) || (has(object.spec.hostnames) && "
                        "object.spec.hostnames.all(h, h.endsWith(variables.suffix)))",
          "messageExpression": "'in this classroom, ' + request.kind.kind + ' hostnames are required and end in ' + "
                               "variables.suffix.substring(1)"}],
        variables=[{"name": "suffix", "expression": f"'.' + namespaceObject.metadata.name + '.{base_domain}'"}],
    )


def middleware_policy() -> list[dict]:
    """In a student's namespace, a Traefik Middleware only rewrites or shapes the request it is given.
    Traefik itself may enter every student's namespace (the ingress controller); a forwardAuth
    `address`, an `errors` page service or a `plugin` would make it fetch another student's service on
    the author's behalf and hand back the answer, around the NetworkPolicies."""
    allowed = ", ".join(f"'{kind}'" for kind in STUDENT_MIDDLEWARES)
    return _student_policy(
        MIDDLEWARE_POLICY,
        [{"apiGroups": ["traefik.io"], "apiVersions": ["v1alpha1"], "resources": ["middlewares"]}],
        [{"expression": f"!has(object.spec) || object.spec.all(kind, kind in [{allowed}])",
          "message": "in this classroom, a Middleware is one of: " + ", ".join(STUDENT_MIDDLEWARES)
                     + " (no forwardAuth, errors or plugin: they reach other namespaces)"}],
    )


def host_suffix(student: str, base_domain: str) -> str:
    return f"{student}.{base_domain}"


