"""python -m kmodlab.course extract NOTEBOOK|SUBMITTED OUT [--assignment A] [--exercise E]
python -m kmodlab.course student-edition OUT

With a notebook: its modules into OUT. With nbgrader's submitted/ (or
autograded/) folder and --assignment: OUT/<student>/ for every student, ready
for `kmodlab grade-batch OUT --output-dir REPORTS --exercise E`. student-edition
writes what students get: notebooks, starters and public checks, no solutions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kmodlab.course.extract import extract_class, modules_of, write_modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kmodlab.course", description=(__doc__ or "").split("\n\n")[1]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="write the %%kmodule cells of notebooks as module files")
    ex.add_argument("source", type=Path, help="a notebook, or nbgrader's submitted/ folder")
    ex.add_argument("out", type=Path)
    ex.add_argument("--assignment", help="the nbgrader assignment (with a folder)")
    ex.add_argument("--exercise", help="keep only this exercise's files (exercises/NAME)")
    ed = sub.add_parser(
        "student-edition", help="write the student edition (no solutions, no hidden tests)"
    )
    ed.add_argument("out", type=Path, help="a new or empty folder")
    args = parser.parse_args(argv)

    if args.command == "student-edition":
        from kmodlab.course.edition import make_student_edition
        from kmodlab.errors import KmodlabError

        try:
            written = make_student_edition(args.out)
        except KmodlabError as e:
            print(f"kmodlab: error: {e.line()}", file=sys.stderr)
            return 2
        print(f"{args.out}: {len(written)} files (notebooks, starters, public checks)")
        return 0
    if args.source.is_file():
        names = write_modules(modules_of(args.source), args.out, args.exercise)
        print(f"{args.out}: {', '.join(names) or 'no modules'}")
        return 0 if names else 1
    if not args.source.is_dir() or not args.assignment:
        parser.error("give a notebook, or a submitted/ folder with --assignment")
    done = extract_class(args.source, args.out, assignment=args.assignment, exercise=args.exercise)
    for student, names in done.items():
        print(f"{student}: {', '.join(names) or 'no modules'}")
    if not done:
        print(f"no <student>/{args.assignment}/ folders in {args.source}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
