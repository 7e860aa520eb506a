"""k8s-labs: the lab provisioner behind `invoke lab up`.

Data flows one way: labs/*/lab.yaml -> catalog (layers resolved) -> target (cluster and what it
provides) -> layers installed on it. Nothing here imports Pulumi at package import time, so that
listing labs stays instant; the Pulumi program lives in `infra.program`.
"""
