"""vasa-bridge bench [--json] [--only NAME...]: speed figures, with the baselines measured in the same run."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmark groups")
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")


def run(args: argparse.Namespace) -> int:
    import json

    from vasa_bridge.bench import BENCHMARKS, format_table

    groups = args.only or list(BENCHMARKS)
    unknown = [g for g in groups if g not in BENCHMARKS]
    if unknown:
        from vasa_bridge.errors import VasaBridgeError

        raise VasaBridgeError(f"unknown benchmark group(s) {unknown}; choose from {list(BENCHMARKS)}")
    results: dict[str, float | str] = {}
    rows: list[tuple[str, str, str]] = []
    for group in groups:
        figures, group_rows = BENCHMARKS[group](quick=args.quick)
        results.update(figures)
        rows.extend(group_rows)
        if not args.json:
            print(format_table(group_rows, title=group), flush=True)
    if args.json:
        print(json.dumps(results, indent=1, sort_keys=True))
    return 0
