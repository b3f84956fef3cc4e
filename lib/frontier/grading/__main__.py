"""``python -m frontier.grading``: the TA workflow as commands (see docs/ta_guide.md)."""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from . import Course, GradingError, compare_releases, copy_course, find_leaks, log


def _course(args, overrides=None) -> Course:
    root = Path(args.root) if args.root else (Path.cwd() if (Path.cwd() / "nbgrader_config.py").is_file() else None)
    return Course(root, overrides=overrides)


def _assignments(course: Course, names: List[str]) -> List[str]:
    known = course.assignments()
    for n in names:
        if n not in known:
            raise SystemExit(f"no assignment {n!r} under solutions/; known: {', '.join(known) or 'none'}")
    return names or known


def cmd_list(args) -> int:
    course = _course(args)
    print(f"{'assignment':<28}{'autograded':>11}{'by hand':>9}{'auto share':>12}")
    for a in course.assignments():
        p = course.points(a)
        total = p["auto"] + p["manual"]
        share = p["auto"] / total if total else 0.0
        print(f"{a:<28}{p['auto']:>11g}{p['manual']:>9g}{share:>12.0%}")
    return 0


def cmd_release(args) -> int:
    """Regenerate assignments/ from solutions/ in a scratch copy, then check and copy it back."""
    course = _course(args)
    status = 0
    with tempfile.TemporaryDirectory(prefix="frontier-release-") as tmp:
        for a in _assignments(course, args.assignments):
            scratch = copy_course(course.root, Path(tmp) / a, assignments=[a])
            shutil.rmtree(scratch.release_dir(a), ignore_errors=True)
            scratch.generate(a)  # a throwaway gradebook: never touches grading/
            generated = scratch.release_dir(a)
            leaks = find_leaks(scratch, a, generated.glob("*.ipynb"))
            if leaks:
                print(f"{a}: the release would leak solution, hidden-test or rubric text:", *leaks, sep="\n  ")
                status = 1
                continue
            diffs = compare_releases(generated, course.release_dir(a))
            if args.check:
                if diffs:
                    status = 1
                    print(f"{a}: assignments/{a} is out of date (run `make assignments`):")
                    for d in diffs:
                        print(f"  {d.notebook}: " + "; ".join(d.problems[:5]))
                else:
                    print(f"{a}: up to date")
                continue
            dest = course.release_dir(a)
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(generated, dest)
            print(f"{a}: {'regenerated' if diffs else 'unchanged'} -> {dest.relative_to(course.root)}")
    if not args.assignments:
        release_root = course.release_dir("x").parent
        orphans = sorted(p.name for p in release_root.glob("*") if p.is_dir() and p.name not in course.assignments())
        for name in orphans:
            print(f"{name}: {release_root.name}/{name} has no source in solutions/; delete it or restore the source")
            status = 1
    return status


def cmd_validate(args) -> int:
    """Metadata and conventions hold; solutions pass every test; blank releases pass none."""
    course = _course(args)
    status = 0
    for a in _assignments(course, args.assignments):
        problems = course.lint(a)
        print(f"{a} (metadata and conventions): {'OK' if not problems else f'{len(problems)} problem(s)'}")
        for prob in problems:
            print("   ", prob)
        status |= bool(problems)
        for nb in course.source_notebooks(a):
            res = course.validate(nb)
            bad = res.get("failed", []) + res.get("type_changed", [])
            print(f"{a}/{nb.name} (solution): {'OK' if not bad else f'{len(bad)} test cell(s) fail'}")
            for cell in bad:
                print("   ", (cell.get("raw_error") or cell.get("source", ""))[:400].replace("\n", "\n    "))
            status |= bool(bad)
        for nb in course.release_notebooks(a):
            res = course.validate(nb, invert=True)
            # cells that hold only hidden tests are comments in the release and "pass" trivially
            passed = [c for c in res.get("passed", []) if _has_code(c.get("source", ""))]
            print(f"{a}/{nb.name} (release): {'OK' if not passed else f'{len(passed)} test cell(s) pass unanswered'}")
            status |= bool(passed)
    return int(status)


def _has_code(source: str) -> bool:
    return any(l.strip() and not l.strip().startswith("#") for l in source.splitlines())


def _print_results(results) -> None:
    print(f"{'student':<24}{'auto':>12}{'written':>12}{'total':>14}  status")
    for r in results.values():
        written = f"{r.written_score:g}/{r.max_written_score:g}" + ("*" if r.ok and r.needs_manual_grade else "")
        status = "ok" if r.ok else f"FAILED: {r.error}"
        print(f"{r.student:<24}{r.auto_score:>6g}/{r.max_auto_score:<5g}{written:>12}"
              f"{r.score:>8g}/{r.max_score:<5g}  {status}")
    if any(r.ok and r.needs_manual_grade for r in results.values()):
        print("* written answers still to grade in the formgrader (see docs/ta_guide.md), then run "
              "`python -m frontier.grading feedback <assignment>`")


def cmd_autograde(args) -> int:
    overrides = {"Execute": {"timeout": args.timeout}} if args.timeout else None
    course = _course(args, overrides)
    a = _assignments(course, [args.assignment])[0]
    if args.submissions:
        students = course.import_submissions(a, args.submissions)
        print(f"imported {len(students)} submission(s) into {course.submitted_dir(a, '*').parent.parent}")
    else:
        students = course.submitted_students(a)
    if args.student:
        students = [s for s in students if s in set(args.student)]
    if not students:
        print(f"no submissions of {a} to grade")
        return 1
    results = course.autograde(a, students)
    feedback_errors = {} if args.no_feedback else course.feedback(a, [s for s in students if results[s].ok])
    grades = course.export_grades(args.grades)
    _print_results(results)
    for s, err in feedback_errors.items():
        print(f"feedback for {s}: {err}")
    print(f"grades: {grades}")
    print(f"feedback: {course.feedback_dir(a, '<student>')}")
    return 0 if all(r.ok for r in results.values()) and not feedback_errors else 2


def cmd_feedback(args) -> int:
    course = _course(args)
    a = _assignments(course, [args.assignment])[0]
    students = args.student or course.submitted_students(a)
    errors = course.feedback(a, students)
    grades = course.export_grades(args.grades)
    _print_results({s: course.result(a, s, error=errors.get(s, "")) for s in students})
    print(f"grades: {grades}")
    return 0 if not errors else 2


def cmd_rehearse(args) -> int:
    """Grade fake students (solution, blank, tampered, looping, crash, warns, corrupt) in a scratch copy."""
    from .rehearsal import rehearse

    course = _course(args)
    status = 0
    for a in _assignments(course, args.assignments):
        with tempfile.TemporaryDirectory(prefix="frontier-rehearse-") as tmp:
            r = rehearse(course.root, a, tmp, timeout=args.timeout)
            print(f"== {a}")
            _print_results(r.results)
            for p in r.problems:
                print("PROBLEM:", p)
            print(f"{a}: {'as expected' if not r.problems else f'{len(r.problems)} problem(s)'}")
            status |= bool(r.problems)
    return int(status)


def cmd_freeze(args) -> int:
    """Write the expected values of hidden tests into the source notebooks (or, with --check, compare)."""
    from .freeze import freeze_assignment

    course = _course(args)
    status = 0
    for a in _assignments(course, args.assignments):
        changes, unused = freeze_assignment(course, a, check=args.check)
        for nb, cells in changes.items():
            for cell, names in cells.items():
                verb = "differs from the library" if args.check else "rewritten"
                print(f"{a}/{nb} cell {cell}: {', '.join(names)} {verb}")
        for name in unused:
            print(f"{a}: frozen value {name} is used by no cell")
        if args.check and changes:
            print(f"{a}: frozen expected values are stale: run `python -m frontier.grading freeze {a}`, "
                  f"then `make assignments`")
        elif not changes:
            print(f"{a}: frozen values up to date")
        status |= bool(unused) or (args.check and bool(changes))
    return int(status)


def cmd_export(args) -> int:
    print(_course(args).export_grades(args.grades))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m frontier.grading",
                                description="Generate, autograde and give feedback on the course's nbgrader "
                                            "assignments (docs/ta_guide.md).")
    p.add_argument("--root", help="course root holding nbgrader_config.py (default: here, else the repository)")
    p.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's own log")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="assignments and how many points are autograded")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("release", help="regenerate assignments/ from solutions/ (make assignments)")
    s.add_argument("assignments", nargs="*", help="default: all")
    s.add_argument("--check", action="store_true", help="change nothing; exit 1 if assignments/ is out of date")
    s.set_defaults(func=cmd_release)

    s = sub.add_parser("validate", help="check metadata; solutions pass all tests; unanswered releases pass none")
    s.add_argument("assignments", nargs="*", help="default: all")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("autograde", help="import a folder of submissions, autograde, write feedback and grades.csv")
    s.add_argument("assignment")
    s.add_argument("submissions", nargs="?",
                   help="folder with one sub-folder (or notebook) per student; default: what `nbgrader collect` "
                        "put in grading/submitted")
    s.add_argument("--student", action="append", help="only this student (repeatable)")
    s.add_argument("--timeout", type=int, help="seconds per cell before it is stopped (default: nbgrader_config.py)")
    s.add_argument("--grades", help="CSV file to write (default: grading/grades.csv)")
    s.add_argument("--no-feedback", action="store_true", help="skip generating feedback")
    s.set_defaults(func=cmd_autograde)

    s = sub.add_parser("feedback", help="regenerate feedback and grades.csv, e.g. after grading written answers")
    s.add_argument("assignment")
    s.add_argument("--student", action="append", help="only this student (repeatable)")
    s.add_argument("--grades", help="CSV file to write (default: grading/grades.csv)")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("rehearse", help="dry run: grade fake students in a scratch copy and check the scores")
    s.add_argument("assignments", nargs="*", help="default: all")
    s.add_argument("--timeout", type=int, default=15, help="seconds per cell (the looping student costs this much)")
    s.set_defaults(func=cmd_rehearse)

    s = sub.add_parser("freeze", help="write the hidden tests' expected values, computed by the library, into "
                                      "solutions/ (frontier.exercises.<assignment>.frozen_values)")
    s.add_argument("assignments", nargs="*", help="default: all")
    s.add_argument("--check", action="store_true", help="change nothing; exit 1 if a frozen value is stale")
    s.set_defaults(func=cmd_freeze)

    s = sub.add_parser("export", help="write grades.csv from the gradebook")
    s.add_argument("--grades", help="CSV file to write (default: grading/grades.csv)")
    s.set_defaults(func=cmd_export)

    args = p.parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s",
                        level=logging.INFO if args.verbose else logging.WARNING)
    if args.verbose:
        log.setLevel(logging.INFO)
    try:
        return args.func(args)
    except (GradingError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
