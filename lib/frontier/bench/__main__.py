"""Dispatch ``python -m frontier.bench NAME [options]`` to ``frontier.bench.NAME.main``."""
from __future__ import annotations

import importlib
import sys

from . import BENCHMARKS


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print("usage: python -m frontier.bench NAME [options]\n\nbenchmarks:")
        for name, mod in BENCHMARKS.items():
            print(f"  {name:10s} {mod}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; choose one of {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(BENCHMARKS[name]).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
