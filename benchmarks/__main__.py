"""Run benchmarks: ``python -m benchmarks [NAME ...]`` (all when no name is given)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

#: Benchmark modules in the order ``make bench`` runs them; each has ``main() -> None``.
ALL = (
    "generator",
    "realism",
    "model_table",
    "automl_vs_custom",
    "pipeline",
    "contention",
    "predlog",
    "tree_paths",
    "serving",
    "reliability",
    "closed_loop",
    "demo",
    "test_suite",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: {', '.join(ALL)})"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(ALL)}")
    for name in args.names or ALL:
        start = time.perf_counter()
        print(f"== benchmark {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"== {name} done in {time.perf_counter() - start:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
