"""Kubernetes resource quantities as numbers: CPU in millicores, memory in MiB.

Plain Python: read by the footprint (requests per layer) and the check engine (a claim's capacity).
"""
from __future__ import annotations

_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024, "K": 1000 / 1024 ** 2,
                 "M": 1000 ** 2 / 1024 ** 2, "G": 1000 ** 3 / 1024 ** 2}


def cpu_millicores(quantity) -> float | None:
    if quantity in (None, ""):
        return None
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def memory_mebibytes(quantity) -> float | None:
    if quantity in (None, ""):
        return None
    text = str(quantity)
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _MEMORY_UNITS[suffix]
    return float(text) / 1024 ** 2
