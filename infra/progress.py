"""Live progress of a Pulumi operation, built from the engine's events (rich).

Shows one line per resource with what is happening to it, ends with a summary, and keeps the
engine's error diagnostics so a failure can name the failing resource and its message. A line a
provider of ours prints as `note: ...` (the kind cluster's, on stderr: the engine passes it on as an
"info#err" diagnostic) is shown once the display ends, whether the run succeeded or not.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

_DONE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
         "create-replacement": "created", "delete-replaced": "deleted", "same": "unchanged", "read": "read",
         "refresh": "refreshed"}
_HIDDEN_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")


def _op(meta) -> str:
    return getattr(meta.op, "value", str(meta.op))


def short_name(urn: str) -> str:
    """`urn:pulumi:stack::project::a$b$kubernetes:helm.sh/v3:Release::traefik` -> `Release traefik`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    kind = parts[2].split("$")[-1].split(":")[-1]
    return f"{kind} {parts[3]}"


TRACEBACK = "Traceback (most recent call last):"


def provider_message(message: str) -> str:
    """What a resource's failure says. A Python dynamic provider's (the kind and kwok clusters', the CRD
    cleanup's) reaches the engine as its whole traceback: keep what the last exception says, on one
    line, without its type (the traceback stays in the run's full log)."""
    if TRACEBACK not in message:
        return message
    frames = message.rsplit(TRACEBACK, 1)[1].splitlines()
    raised = [line.strip() for line in frames[next((i for i, line in enumerate(frames)
                                                    if line and not line[0].isspace()), len(frames)):]]
    kind, colon, text = " ".join(line for line in raised if line).partition(": ")
    return text if colon and kind.replace(".", "").replace("_", "").isalnum() else kind + colon + text


@dataclass
class Failure:
    resource: str
    message: str


@dataclass
class ProgressDisplay:
    console: Console
    title: str
    rows: dict[str, str] = field(default_factory=dict)  # urn -> what is happening to it
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    changes: dict[str, int] = field(default_factory=dict)
    _live: Live | None = None

    def __enter__(self) -> "ProgressDisplay":
        self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.update(self._table())
            self._live.__exit__(*exc)
        for note in self.notes:
            self.console.print(note, markup=False, highlight=False, soft_wrap=True)

    def handle(self, event) -> None:
        """on_event callback for the Automation API."""
        if event.resource_pre_event and not self._hidden(event.resource_pre_event.metadata):
            meta = event.resource_pre_event.metadata
            self.rows[meta.urn] = f"{_op(meta)}…"
        elif event.res_outputs_event and not self._hidden(event.res_outputs_event.metadata):
            meta = event.res_outputs_event.metadata
            self.rows[meta.urn] = _DONE.get(_op(meta), _op(meta))
        elif event.res_op_failed_event:
            meta = event.res_op_failed_event.metadata
            self.rows[meta.urn] = "failed"
        elif event.diagnostic_event and event.diagnostic_event.severity == "error":
            diag = event.diagnostic_event
            self.failures.append(Failure(short_name(diag.urn) if diag.urn else "stack",
                                         provider_message(diag.message.strip())))
        elif event.diagnostic_event and event.diagnostic_event.severity.startswith("info") \
                and event.diagnostic_event.message.startswith("note: "):
            self.notes.append(event.diagnostic_event.message.strip())
        elif event.summary_event:
            self.changes = {str(k): v for k, v in (event.summary_event.resource_changes or {}).items()}
        if self._live:
            self._live.update(self._table())

    @staticmethod
    def _hidden(meta) -> bool:
        return meta.type.startswith(_HIDDEN_TYPES)

    def _table(self) -> Table:
        elapsed = int(time.monotonic() - self.started)
        table = Table(title=f"{self.title} ({elapsed // 60}m{elapsed % 60:02d}s)", show_header=False, box=None)
        for urn, state in self.rows.items():
            style = "red" if state == "failed" else ("yellow" if state.endswith("…") else "green")
            table.add_row(short_name(urn), f"[{style}]{state}[/{style}]")
        return table

    def summary(self) -> str:
        counts = ", ".join(f"{n} {op}" for op, n in sorted(self.changes.items())) or "no changes"
        return f"{counts} in {int(time.monotonic() - self.started)} s"
