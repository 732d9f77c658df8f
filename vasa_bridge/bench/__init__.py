"""Benchmarks, one module per group, one naming scheme:

- `bench_<group>(quick) -> (figures, rows)`: what `vasa-bridge bench` (and `make bench`) runs: figures for
  `--json` (their keys are what CI and the docs read), rows (name, value, note) for the table;
- `measure_<thing>(...) -> dict`: one measurement, for callers that want the raw figures.

Figures are measured, never assumed; ratios compare against baselines timed in the same run on the same input.
Tool code: it may import anything (commands, train); no library module imports it (tests/test_layers.py)."""

from __future__ import annotations

from typing import Callable

from vasa_bridge.bench.timing import Rows

Benchmark = Callable[..., tuple[dict[str, float], Rows]]


def _group(module: str) -> Benchmark:
    """`bench_<module>` imported when run, so `vasa-bridge bench --only teacher` loads no torch or server code."""
    def run(quick: bool = False) -> tuple[dict[str, float], Rows]:
        import importlib

        return getattr(importlib.import_module(f"vasa_bridge.bench.{module}"), f"bench_{module}")(quick=quick)

    run.__name__ = f"bench_{module}"
    return run


BENCHMARKS: dict[str, Benchmark] = {name: _group(name) for name in ("teacher", "sidecar", "render", "corpus",
                                                                     "motion", "cluster")}


def format_table(rows: Rows, title: str) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"== {title}"]
    lines += [f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
