"""Facts about Kubernetes kinds that several modules need (plain data)."""
from __future__ import annotations

# Kinds whose objects live outside any namespace: never retargeted to a student's namespace
# (infra.manifests), looked up without one (infra.checks).
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
                  "IngressClass", "GatewayClass", "CustomResourceDefinition", "VolumeSnapshotClass", "CSIDriver",
                  "PriorityClass", "CSINode", "VolumeAttachment", "RuntimeClass", "APIService",
                  "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
                  "MutatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
                  "CertificateSigningRequest", "FlowSchema", "PriorityLevelConfiguration", "IPAddress", "ServiceCIDR",
                  "DeviceClass", "ClusterIssuer"}
