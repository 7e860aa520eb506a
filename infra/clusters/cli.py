"""What the local targets (kind, kwok) share about the CLIs they drive."""
from __future__ import annotations

import subprocess


def last_line(result: subprocess.CompletedProcess) -> str:
    """The last line of a failed command's error output (else its output): where CLIs put the cause."""
    detail = (result.stderr or result.stdout or "").strip().splitlines()
    return detail[-1].strip() if detail else "no output"


def checked(result: subprocess.CompletedProcess, what: str) -> str:
    """The command's stdout, or RuntimeError with its last line of error output (the engine shows it)."""
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed: {last_line(result)}")
    return result.stdout
