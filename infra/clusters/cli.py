"""What the local targets (kind, kwok) share about the CLIs they drive."""
from __future__ import annotations

import subprocess


def checked(result: subprocess.CompletedProcess, what: str) -> str:
    """The command's stdout, or RuntimeError with its last line of error output (the engine shows it)."""
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"{what} failed: {detail[-1] if detail else 'no output'}")
    return result.stdout
