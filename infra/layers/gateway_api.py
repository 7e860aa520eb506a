"""Gateway API standard-channel CRDs, installed once by the stack.

One owner in the stack: the ingress layer (Traefik's Gateway provider) and later the mesh layer
(Istio) both require this layer instead of letting their charts install the CRDs, so switching labs
never makes two owners fight over them. The manifest comes from the Gateway API release page at
`up` time (yaml.v2.ConfigFile), or from the offline bundle when its index names that URL
(infra.bundle); the render lists it under "manifests" (with `"from": "bundle:..."` in the latter case).
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.bundle import manifest_source
from infra.layers.base import Layer

GATEWAY_API_VERSION = "v1.6.1"
STANDARD_INSTALL_URL = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
)


class GatewayApiLayer(Layer):
    type_name = "GatewayApi"

    def __init__(self, name, ctx, provider, requires=None):
        super().__init__(name, ctx, provider, requires)
        self.crds = k8s.yaml.v2.ConfigFile(
            "gateway-api-crds",
            file=manifest_source(STANDARD_INSTALL_URL),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"version": GATEWAY_API_VERSION})
