"""The SDK's mock runtime, recording what a program registers (used by the render and the tests).

Imports Pulumi at module level: import it only where a render or a test runs.
"""
from __future__ import annotations

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from infra.render import Registration


class EchoMocks(pulumi.runtime.Mocks):
    """Every resource's outputs are its inputs; no provider function is called by the program."""

    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        return {}


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps each registration's dependencies, provider and parent."""

    def __init__(self):
        self.mocks = EchoMocks()
        super().__init__(self.mocks)
        self.registrations: list[Registration] = []
        self.component_outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.registrations.append(
            Registration(
                urn=response.urn, type=request.type, name=request.name, custom=request.custom,
                inputs=rpc.deserialize_properties(request.object), provider=request.provider,
                parent=request.parent, dependencies=list(request.dependencies),
            )
        )
        return response

    def RegisterResourceOutputs(self, request):
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)
