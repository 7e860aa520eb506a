"""The SDK's mock runtime, recording what a program registers (used by the render and the tests).

Imports Pulumi at module level: import it only where a render or a test runs.
"""
from __future__ import annotations

import asyncio
import atexit
import weakref
from dataclasses import dataclass, field

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

# The mock monitor gives each worker thread its own event loop and never closes it; left to the
# interpreter's final garbage collection, such a loop dies after its sockets and prints an
# "Exception ignored ... Invalid file descriptor" traceback. Close them at exit, while all is valid.
_THREAD_LOOPS: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()


@atexit.register
def _close_thread_loops() -> None:
    for loop in list(_THREAD_LOOPS):
        if not loop.is_closed() and not loop.is_running():
            loop.close()


@dataclass
class Registration:
    """One resource the program registered, as the render and the footprint read it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict
    provider: str = ""  # provider reference ("<urn>::<id>") the resource is bound to
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)


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
        try:
            _THREAD_LOOPS.add(asyncio.get_event_loop())
        except RuntimeError:
            pass  # the stack's own registration returns before making this thread a loop
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
