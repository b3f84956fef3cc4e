"""``python -m frontier.notebooks run|clean|check|html`` (see ``--help``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .hygiene import clean_notebook, find_notebooks, hygiene_problems, tracked_notebooks


def _param(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameters look like NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m frontier.notebooks",
                                 description="Run, clean and check the course's notebooks.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill into build/ (never in place)")
    run.add_argument("paths", nargs="+", help="notebooks or folders")
    run.add_argument("--smoke", action="store_true", help="inject SMOKE=True (small sizes, same logic)")
    run.add_argument("--jobs", "-j", type=int, default=2, help="notebooks run in parallel (default 2)")
    run.add_argument("--out", default="build/executed", help="folder for executed copies")
    run.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    run.add_argument("-p", "--param", type=_param, action="append", default=[],
                     help="extra parameter NAME=VALUE (JSON values), may repeat")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--times", default=None, metavar="FILE",
                     help="also write the wall-time table to FILE (build/notebook-times.txt for SMOKE runs, "
                          "build/notebook-times-full.txt for full ones: the takeaways' course map reads them)")
    clean = sub.add_parser("clean", help="strip outputs and volatile metadata (default: every tracked notebook)")
    clean.add_argument("paths", nargs="*")
    check = sub.add_parser("check", help="report hygiene problems (default: every tracked notebook)")
    check.add_argument("paths", nargs="*")
    html = sub.add_parser("html", help="executed notebooks -> HTML pages with plotly.js embedded (work offline)")
    html.add_argument("src", nargs="?", default="build/executed")
    html.add_argument("out", nargs="?", default="build/html")
    args = ap.parse_args(argv)

    if args.cmd == "html":
        from .html import main as html_main

        return html_main([args.src, args.out])

    try:
        if args.cmd == "run":
            from .runner import format_table, run_notebooks

            results = run_notebooks(args.paths, out_dir=args.out, smoke=args.smoke, jobs=args.jobs,
                                    parameters=dict(args.param), timeout=args.timeout,
                                    progress=not args.no_progress)
            table = format_table(results)
            print(table)
            if args.times:
                Path(args.times).parent.mkdir(parents=True, exist_ok=True)
                Path(args.times).write_text(table + "\n")
            return 0 if all(r.ok for r in results) else 1
        notebooks = find_notebooks(args.paths) if args.paths else tracked_notebooks()
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "clean":
        changed = [nb for nb in notebooks if clean_notebook(nb)]
        for nb in changed:
            print(f"cleaned {nb}")
        print(f"{len(changed)} of {len(notebooks)} notebooks changed")
        return 0
    problems = [p for nb in notebooks for p in hygiene_problems(nb)]
    for p in problems:
        print(p)
    print(f"{len(notebooks)} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
