"""The footprint table: requests per layer container, our values beside the chart defaults.

Goal: all layers together, on the kind profile, request <= 1.5 CPU and <= 3 GiB, and no container
runs without requests. Chart defaults come from ../shared/charts (the real upstream values.yaml).
Run: python benchmarks/footprint.py. Writes benchmarks/results/footprint.md.
"""
from __future__ import annotations

import sys
from datetime import date

from _timing import ROOT, write_result

sys.path.insert(0, str(ROOT))

from infra.footprint import (BUDGET_CPU_M, BUDGET_MEMORY_MI, chart_default_resources,  # noqa: E402
                             cpu_millicores, footprint, memory_mebibytes, totals)
from infra.settings import StackSettings  # noqa: E402

CHARTS = ROOT.parent / "shared" / "charts"


def _default(row) -> tuple[str, str, float, float]:
    """Chart-default cpu/memory requests of a release container ('none' when the chart sets none)."""
    if not row.chart or not (CHARTS / row.chart).is_dir():
        return ("n/a", "n/a", 0.0, 0.0)
    requests = (chart_default_resources(CHARTS / row.chart, row.source) or {}).get("requests") or {}
    cpu, memory = cpu_millicores(requests.get("cpu")), memory_mebibytes(requests.get("memory"))
    return (f"{cpu:g}m" if cpu is not None else "none", f"{memory:g}Mi" if memory is not None else "none",
            (cpu or 0) * row.count, (memory or 0) * row.count)


def main() -> int:
    per_layer = footprint("all", StackSettings.for_target("kind"))
    lines = [
        f"# Footprint on the kind profile ({date.today()})", "",
        "| layer | workload | container | × | cpu | memory | mem limit | chart default cpu | chart default memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    every_row, default_cpu, default_memory = [], 0.0, 0.0
    for layer, rows in per_layer.items():
        for row in rows:
            d_cpu, d_mem, d_cpu_total, d_mem_total = _default(row)
            default_cpu += d_cpu_total
            default_memory += d_mem_total
            fmt = lambda v, unit: f"{v:g}{unit}" if v is not None else "**none**"  # noqa: E731
            lines.append(f"| {layer} | {row.owner} | {row.container} | {row.count} | {fmt(row.cpu_m, 'm')} | "
                         f"{fmt(row.memory_mi, 'Mi')} | {fmt(row.memory_limit_mi, 'Mi')} | {d_cpu} | {d_mem} |")
        every_row.extend(rows)
        cpu, memory = totals(rows)
        lines.append(f"| **{layer}** | | total | | {cpu:g}m | {memory:g}Mi | | | |")
    cpu, memory = totals(every_row)
    lacking = [f"{r.owner}/{r.container}" for r in every_row if r.lacks_requests]
    within = cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI and not lacking
    lines += [
        "",
        f"All layers: **{cpu:g}m CPU, {memory:g}Mi memory** requested; budget {BUDGET_CPU_M}m / {BUDGET_MEMORY_MI}Mi: "
        f"{'met' if within else 'NOT met'}.",
        f"Same containers with the charts' default requests (release containers only; 'none' counts 0): "
        f"{default_cpu:g}m CPU, {default_memory:g}Mi.",
        f"Containers without requests: {', '.join(lacking) or 'none'}.",
    ]
    write_result("footprint.md", lines)
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
