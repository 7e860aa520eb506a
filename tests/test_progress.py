"""The live progress display: what it keeps of a failing resource's message."""
from __future__ import annotations

import traceback
from types import SimpleNamespace

from rich.console import Console

from infra.errors import LabsError
from infra.progress import ProgressDisplay, provider_message


def formatted(raise_it) -> str:
    """The message a Python dynamic provider's failure reaches the engine with: its whole traceback
    (pulumi.dynamic's servicer aborts the call with traceback.format_exc())."""
    try:
        raise_it()
    except Exception:
        return traceback.format_exc()
    raise AssertionError("nothing was raised")


def raise_labs_error():
    raise LabsError("kind cannot reach Docker: start Docker, then run the command again")


def raise_while_handling():
    try:
        {}["kubeconfig"]
    except KeyError:
        raise RuntimeError("the API server has not removed these CRDs 300 s after their deletion: "
                           "stages.kwok.x-k8s.io\nrun the command again") from None


def test_a_provider_traceback_becomes_what_its_exception_says():
    assert provider_message(formatted(raise_labs_error)) == \
        "kind cannot reach Docker: start Docker, then run the command again"


def test_a_multi_line_exception_is_kept_whole_on_one_line():
    assert provider_message(formatted(raise_while_handling)) == (
        "the API server has not removed these CRDs 300 s after their deletion: stages.kwok.x-k8s.io "
        "run the command again")


def test_a_chained_traceback_keeps_the_last_exception():
    def chained():
        try:
            raise ValueError("first")
        except ValueError as exc:
            raise LabsError("second: the one that reached the engine") from exc

    assert provider_message(formatted(chained)) == "second: the one that reached the engine"


def test_a_message_without_traceback_is_unchanged():
    message = "Helm release \"traefik\" failed: context deadline exceeded"
    assert provider_message(message) == message


def test_the_display_keeps_the_failing_resource_and_its_message():
    display = ProgressDisplay(Console(file=open("/dev/null", "w")), "lab ingress")
    diagnostic = SimpleNamespace(severity="error", urn="urn:pulumi:s::p::labs:layer:Ingress$pulumi-python:dynamic:"
                                 "Resource::traefik-crds", message=formatted(raise_labs_error) + "\n")
    display.handle(SimpleNamespace(resource_pre_event=None, res_outputs_event=None, res_op_failed_event=None,
                                   diagnostic_event=diagnostic, summary_event=None))
    assert [(f.resource, f.message) for f in display.failures] == [
        ("Resource traefik-crds", "kind cannot reach Docker: start Docker, then run the command again")]
