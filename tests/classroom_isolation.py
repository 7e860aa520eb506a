"""The classroom isolation matrix: what a student tries with their own kubeconfig, what stops it, and the
API server's own words.

One list, read twice: `tests/test_controlplane_classroom.py` plays every case against a real API server
(the kwok target), as student `{own}` with `{other}` as the neighbour, and asserts the refusal and its
reason; `tests/test_classroom_isolation_table.py` checks that the README's table is this list.
Placeholders: `{own}`, `{other}` (namespaces, named after the students), `{domain}` (the base domain).
"""
from __future__ import annotations

from dataclasses import dataclass

RBAC = "RBAC"
POD_SECURITY = "Pod Security admission (baseline)"
HOSTNAME_POLICY = "ValidatingAdmissionPolicy (host names)"
MIDDLEWARE_POLICY = "ValidatingAdmissionPolicy (Middlewares)"
QUOTA = "ResourceQuota"
LIMIT_RANGE = "LimitRange"


@dataclass(frozen=True)
class Case:
    attempt: str  # what the student tries, as the README's table says it
    enforcer: str  # what in the API server refuses it
    reason: str  # a part of the API server's answer, placeholders filled
    kubectl: tuple[str, ...] = ()  # the student's kubectl arguments...
    manifest: str = ""  # ...or a manifest they `kubectl create -f -`

    def filled(self, **names: str) -> "Case":
        return Case(self.attempt, self.enforcer, self.reason.format(**names),
                    tuple(arg.format(**names) for arg in self.kubectl), self.manifest.format(**names))


def forbidden(verb: str, resource: str, group: str = "", namespace: str | None = "{own}") -> str:
    """How the RBAC authorizer words a refusal (the user is always the student's ServiceAccount)."""
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return (f'User "system:serviceaccount:{{own}}:student" cannot {verb} resource "{resource}" '
            f'in API group "{group}" {where}')


def pod(name: str, spec: str) -> str:
    """A one-container pod manifest with extra lines of pod spec (indented 2)."""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec}"
            "  containers:\n  - name: main\n    image: busybox:1.36.1\n    command: [sleep, '3600']\n")


def ingress(name: str, rule: str) -> str:
    return (f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n{rule}")


def route(kind: str, name: str, hostnames: str) -> str:
    return (f"apiVersion: gateway.networking.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
            f"  parentRefs:\n  - name: traefik-gateway\n    namespace: traefik\n{hostnames}")


def middleware(name: str, spec: str) -> str:
    return f"apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: {name}\nspec:\n{spec}"


HOST_RULE = ("  rules:\n  - host: HOST\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
             "        backend:\n          service: {{name: web, port: {{number: 80}}}}\n")
DEFAULT_BACKEND = "  defaultBackend:\n    service: {{name: web, port: {{number: 80}}}}\n"
HOSTNAME_REFUSED = ("ValidatingAdmissionPolicy 'classroom-student-hostnames' with binding "
                    "'classroom-student-hostnames' denied request: in this classroom, ")
MIDDLEWARE_REFUSED = ("ValidatingAdmissionPolicy 'classroom-student-middlewares' with binding "
                      "'classroom-student-middlewares' denied request: in this classroom, a Middleware is one of")

CANNOT = [
    # Another student's namespace
    Case("list another student's pods", RBAC, forbidden("list", "pods", namespace="{other}"),
         ("get", "pods", "-n", "{other}")),
    Case("list another student's secrets", RBAC, forbidden("list", "secrets", namespace="{other}"),
         ("get", "secrets", "-n", "{other}")),
    Case("read another student's configmaps", RBAC, forbidden("list", "configmaps", namespace="{other}"),
         ("get", "configmaps", "-n", "{other}")),
    Case("list another student's services", RBAC, forbidden("list", "services", namespace="{other}"),
         ("get", "services", "-n", "{other}")),
    Case("create a ConfigMap in another student's namespace", RBAC,
         forbidden("create", "configmaps", namespace="{other}"),
         ("create", "configmap", "intruder", "-n", "{other}", "--from-literal=a=b")),
    Case("delete another student's pod", RBAC, forbidden("delete", "pods", namespace="{other}"),
         ("delete", "pod", "web", "-n", "{other}")),
    Case("exec into another student's pod", RBAC, forbidden("create", "pods/exec", namespace="{other}"),
         ("create", "--raw", "/api/v1/namespaces/{other}/pods/web/exec?command=id", "-f", "-")),
    Case("port-forward to another student's pod", RBAC, forbidden("create", "pods/portforward", namespace="{other}"),
         ("create", "--raw", "/api/v1/namespaces/{other}/pods/web/portforward?ports=80", "-f", "-")),
    Case("read another student's pod logs", RBAC, forbidden("get", "pods/log", namespace="{other}"),
         ("get", "--raw", "/api/v1/namespaces/{other}/pods/web/log")),
    Case("reach another student's service through the API server proxy", RBAC,
         forbidden("get", "services/proxy", namespace="{other}"),
         ("get", "--raw", "/api/v1/namespaces/{other}/services/web:80/proxy/")),
    Case("evict another student's pod", RBAC, forbidden("create", "pods/eviction", namespace="{other}"),
         ("create", "--raw", "/api/v1/namespaces/{other}/pods/web/eviction", "-f", "-")),
    # The cluster and the platform
    Case("list secrets cluster-wide", RBAC, forbidden("list", "secrets", namespace=None),
         ("get", "secrets", "--all-namespaces")),
    Case("read the ingress controller's secrets", RBAC, forbidden("list", "secrets", namespace="traefik"),
         ("get", "secrets", "-n", "traefik")),
    Case("create a namespace", RBAC, forbidden("create", "namespaces", namespace=None),
         ("create", "namespace", "intruder")),
    Case("delete their own namespace", RBAC, forbidden("delete", "namespaces", namespace="{own}"),
         ("delete", "namespace", "{own}")),
    Case("label a node", RBAC, forbidden("patch", "nodes", namespace=None),
         ("label", "nodes", "--all", "intruder=yes")),
    # RBAC itself
    Case("create a ClusterRole", RBAC, forbidden("create", "clusterroles", "rbac.authorization.k8s.io", None),
         ("create", "clusterrole", "intruder", "--verb=get", "--resource=secrets")),
    Case("bind cluster-admin to themselves", RBAC,
         forbidden("create", "clusterrolebindings", "rbac.authorization.k8s.io", None),
         ("create", "clusterrolebinding", "intruder", "--clusterrole=cluster-admin",
          "--serviceaccount={own}:student")),
    Case("grant a Role more than they hold (every verb on everything)", RBAC,
         forbidden("create", "roles", "rbac.authorization.k8s.io"),
         ("create", "role", "intruder", "--verb=*", "--resource=*")),
    Case("bind a ClusterRole in their namespace (RoleBinding to admin)", RBAC,
         forbidden("create", "rolebindings", "rbac.authorization.k8s.io"),
         ("create", "rolebinding", "intruder", "--clusterrole=admin", "--serviceaccount={own}:student")),
    # Identities
    Case("create a token for another ServiceAccount", RBAC, forbidden("create", "serviceaccounts/token"),
         ("create", "token", "default")),
    Case("create a token for another student's ServiceAccount", RBAC,
         forbidden("create", "serviceaccounts/token", namespace="{other}"),
         ("create", "token", "student", "-n", "{other}")),
    Case("mint a longer token for their own ServiceAccount", RBAC, forbidden("create", "serviceaccounts/token"),
         ("create", "token", "student", "--duration=8760h")),
    Case("impersonate a user", RBAC, 'User "system:serviceaccount:{own}:student" cannot impersonate',
         ("get", "pods", "--as=admin")),
    Case("impersonate the system:masters group", RBAC, 'User "system:serviceaccount:{own}:student" cannot impersonate',
         ("get", "pods", "--as=intruder", "--as-group=system:masters")),
    Case("impersonate another student", RBAC, 'User "system:serviceaccount:{own}:student" cannot impersonate',
         ("get", "pods", "-n", "{other}", "--as=system:serviceaccount:{other}:student")),
    Case("ask for a client certificate (CertificateSigningRequest)", RBAC,
         forbidden("create", "certificatesigningrequests", "certificates.k8s.io", None),
         (), "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: intruder\n"
             "spec:\n  request: aW50cnVkZXI=\n  signerName: kubernetes.io/kube-apiserver-client\n"
             "  usages: [client auth]\n"),
    # Their own guard rails
    Case("relax their namespace's Pod Security level (its labels)", RBAC,
         forbidden("patch", "namespaces"),
         ("label", "namespace", "{own}", "--overwrite", "pod-security.kubernetes.io/enforce=privileged")),
    Case("raise their quota", RBAC, forbidden("patch", "resourcequotas"),
         ("patch", "resourcequota", "student", "--type=merge", "-p", '{{"spec":{{"hard":{{"pods":"1000"}}}}}}')),
    Case("delete their limit range", RBAC, forbidden("delete", "limitranges"),
         ("delete", "limitrange", "student")),
    Case("delete their default-deny network policy", RBAC,
         forbidden("delete", "networkpolicies", "networking.k8s.io"),
         ("delete", "networkpolicy", "default-deny-ingress")),
    Case("add a network policy letting everyone in", RBAC,
         forbidden("create", "networkpolicies", "networking.k8s.io"),
         (), "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: intruder\n"
             "spec:\n  podSelector: {{}}\n  ingress:\n  - {{}}\n"),
    Case("write Endpoints (traffic to any pod IP behind a Service)", RBAC, forbidden("create", "endpoints"),
         (), "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: intruder\n"
             "subsets:\n- addresses:\n  - ip: 10.0.0.1\n  ports:\n  - port: 80\n"),
    Case("delete the shared Gateway", RBAC, forbidden("delete", "gateways", "gateway.networking.k8s.io", "traefik"),
         ("delete", "gateway", "traefik-gateway", "-n", "traefik")),
    # Cluster-wide kinds
    Case("create a validating webhook", RBAC,
         forbidden("create", "validatingwebhookconfigurations", "admissionregistration.k8s.io", None),
         (), "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n"
             "  name: intruder\nwebhooks: []\n"),
    Case("create a mutating webhook", RBAC,
         forbidden("create", "mutatingwebhookconfigurations", "admissionregistration.k8s.io", None),
         (), "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n"
             "  name: intruder\nwebhooks: []\n"),
    Case("remove the host-name policy's binding", RBAC,
         forbidden("delete", "validatingadmissionpolicybindings", "admissionregistration.k8s.io", None),
         ("delete", "validatingadmissionpolicybinding", "classroom-student-hostnames")),
    Case("create a CustomResourceDefinition", RBAC,
         forbidden("create", "customresourcedefinitions", "apiextensions.k8s.io", None),
         (), "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
             "  name: intruders.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n"
             "  names: {{plural: intruders, kind: Intruder}}\n  versions:\n  - name: v1\n    served: true\n"
             "    storage: true\n    schema: {{openAPIV3Schema: {{type: object}}}}\n"),
    Case("create an APIService", RBAC, forbidden("create", "apiservices", "apiregistration.k8s.io", None),
         (), "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v1.example.com\n"
             "spec:\n  group: example.com\n  version: v1\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n"
             "  service: {{name: web, namespace: '{own}'}}\n"),
    Case("create a PriorityClass", RBAC, forbidden("create", "priorityclasses", "scheduling.k8s.io", None),
         ("create", "priorityclass", "intruder", "--value=1000000")),
    Case("create a PersistentVolume", RBAC, forbidden("create", "persistentvolumes", namespace=None),
         (), "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: intruder\nspec:\n"
             "  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: /}}\n"),
    Case("create a StorageClass", RBAC, forbidden("create", "storageclasses", "storage.k8s.io", None),
         (), "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: intruder\n"
             "provisioner: rancher.io/local-path\n"),
    Case("create an IngressClass", RBAC, forbidden("create", "ingressclasses", "networking.k8s.io", None),
         (), "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: intruder\n"
             "spec:\n  controller: example.com/intruder\n"),
    # Pods that would leave the namespace
    Case("run a privileged pod", POD_SECURITY, 'violates PodSecurity "baseline:latest": privileged',
         (), pod("privileged", "").replace("command: [sleep, '3600']\n",
                                           "command: [sleep, '3600']\n    securityContext:\n      privileged: true\n")),
    Case("mount a hostPath volume", POD_SECURITY, 'violates PodSecurity "baseline:latest": hostPath volumes',
         (), pod("hostpath", "  volumes:\n  - name: root\n    hostPath:\n      path: /\n")),
    Case("use the node's network (hostNetwork)", POD_SECURITY,
         'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true',
         (), pod("hostnetwork", "  hostNetwork: true\n")),
    Case("see the node's processes (hostPID)", POD_SECURITY,
         'violates PodSecurity "baseline:latest": host namespaces (hostPID=true',
         (), pod("hostpid", "  hostPID: true\n")),
    Case("add the SYS_ADMIN capability", POD_SECURITY,
         'violates PodSecurity "baseline:latest": non-default capabilities',
         (), pod("sysadmin", "").replace("command: [sleep, '3600']\n",
                                         "command: [sleep, '3600']\n    securityContext:\n      capabilities:\n"
                                         "        add: [SYS_ADMIN]\n")),
    # Limits
    Case("request more CPU than their quota", QUOTA, "exceeded quota: student, requested: requests.cpu=3",
         (), pod("greedy", "").replace("command: [sleep, '3600']\n",
                                       "command: [sleep, '3600']\n    resources: {{requests: {{cpu: 1500m}}, "
                                       "limits: {{cpu: 1500m}}}}\n  - name: second\n    image: busybox:1.36.1\n"
                                       "    command: [sleep, '3600']\n    resources: {{requests: {{cpu: 1500m}}, "
                                       "limits: {{cpu: 1500m}}}}\n")),
    Case("create a second LoadBalancer Service", QUOTA, "exceeded quota: student, requested: services.loadbalancers=1",
         (), "".join(f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: lb-{n}\nspec:\n  type: LoadBalancer\n"
                     "  selector: {{app: none}}\n  ports:\n  - port: 80\n" for n in (1, 2))),
    Case("set a container limit above the maximum", LIMIT_RANGE, "maximum cpu usage per Container is 2, but limit is 3",
         (), pod("huge", "").replace("command: [sleep, '3600']\n",
                                     "command: [sleep, '3600']\n    resources: {{limits: {{cpu: '3'}}}}\n")),
    Case("claim more storage than the maximum", LIMIT_RANGE,
         "maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 6Gi",
         (), "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: huge\nspec:\n"
             "  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 6Gi}}}}\n"),
    # Host names on the shared ingress controller
    Case("route another student's host name (Ingress)", HOSTNAME_POLICY, HOSTNAME_REFUSED + "Ingress hosts end in {own}.{domain}",
         (), ingress("theft", HOST_RULE.replace("HOST", "web.{other}.{domain}"))),
    Case("route every host (a wildcard Ingress rule)", HOSTNAME_POLICY, HOSTNAME_REFUSED + "Ingress hosts end in",
         (), ingress("wildcard", HOST_RULE.replace("HOST", "'*.{domain}'"))),
    Case("catch every host (an Ingress default backend)", HOSTNAME_POLICY, HOSTNAME_REFUSED + "Ingress hosts end in",
         (), ingress("catchall", DEFAULT_BACKEND)),
    Case("route another student's host name (HTTPRoute)", HOSTNAME_POLICY,
         HOSTNAME_REFUSED + "HTTPRoute hostnames are required and end in {own}.{domain}",
         (), route("HTTPRoute", "theft", "  hostnames: [web.{other}.{domain}]\n")),
    Case("route every host (an HTTPRoute without hostnames)", HOSTNAME_POLICY,
         HOSTNAME_REFUSED + "HTTPRoute hostnames are required", (), route("HTTPRoute", "catchall", "")),
    Case("route another student's host name (GRPCRoute)", HOSTNAME_POLICY,
         HOSTNAME_REFUSED + "GRPCRoute hostnames are required and end in {own}.{domain}",
         (), route("GRPCRoute", "theft", "  hostnames: [grpc.{other}.{domain}]\n")),
    Case("make Traefik call a service of their choice (forwardAuth Middleware)", MIDDLEWARE_POLICY,
         MIDDLEWARE_REFUSED, (),
         middleware("forward", "  forwardAuth:\n    address: http://web.{other}.svc.cluster.local/\n")),
    Case("make Traefik fetch pages of another service (errors Middleware)", MIDDLEWARE_POLICY, MIDDLEWARE_REFUSED, (),
         middleware("errors", "  errors:\n    status: ['500']\n    query: /\n    service:\n      name: web\n"
                              "      namespace: '{other}'\n      port: 80\n")),
]

# What the same student can do (beside every lab's starting point and solution, played lab by lab).
CAN = [
    Case("route their own host name (Ingress)", "", "created", (),
         ingress("own-ingress", HOST_RULE.replace("HOST", "web.{own}.{domain}"))),
    Case("route their own host name (HTTPRoute)", "", "created", (),
         route("HTTPRoute", "own-httproute", "  hostnames: [web.{own}.{domain}]\n")),
    Case("route their own host name (GRPCRoute)", "", "created", (),
         route("GRPCRoute", "own-grpcroute", "  hostnames: [grpc.{own}.{domain}]\n")),
    Case("strip a path prefix (a Middleware the policy allows)", "", "created", (),
         middleware("own-strip", "  stripPrefix:\n    prefixes: [/api]\n")),
]

TABLE_START = "<!-- isolation matrix: tests/classroom_isolation.py -->"
TABLE_END = "<!-- end of the isolation matrix -->"


def readme_table() -> str:
    """The README's table: one row per case, the refusal's reason as the API server words it."""
    names = {"own": "student-a", "other": "student-b", "domain": "localhost"}
    rows = ["| A student tries to… | Stopped by | The API server answers (excerpt) |", "|---|---|---|"]
    for case in CANNOT:
        reason = case.filled(**names).reason.replace("|", "\\|")
        rows.append(f"| {case.attempt} | {case.enforcer} | `{reason}` |")
    return "\n".join([TABLE_START, *rows, TABLE_END])
