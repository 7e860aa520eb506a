"""k8s-labs: the lab provisioner behind `invoke lab up`.

Data flows one way: labs/*/lab.yaml -> catalog (layers resolved) -> target (cluster and what it
provides) -> layers installed on it. Nothing here imports Pulumi at package import time, so that
listing labs stays instant; the Pulumi program lives in `infra.program`.

Layering (tests/test_structure.py reads it): a module imports only modules of its own level or of the
levels listed before it, never a later one, never in a circle, and never another module's `_private`
name. A name ending in `.*` stands for the submodules of that package not named elsewhere.
  1 foundation: errors paths settings progress kinds quantities toolchain source_build
  2 model: check_spec solve_spec catalog manifests layers clusters clusters.cli clusters.cloud clusters.capabilities doctor
    lab_schema bundle pricing sessions classroom classroom.roster classroom.objects
  3 program: layers.* clusters.* classroom.tenancy program recording __main__
  4 engines: checkpoints driver recovery render footprint images imagecache checks
  5 lab commands: commands
  6 classroom: classroom.*
  7 classroom commands: classroom.commands
  8 entry points: instructor classroom.cli cli
"""
