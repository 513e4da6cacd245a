"""python -m kmodlab.course extract NOTEBOOK|SUBMITTED OUT [--assignment A] [--exercise E]
python -m kmodlab.course student-edition OUT
python -m kmodlab.course render OUT [NOTEBOOK ...]

With a notebook: its modules into OUT. With nbgrader's submitted/ (or
autograded/) folder and --assignment: OUT/<student>/ for every student, ready
for `kmodlab grade-batch OUT --output-dir REPORTS --exercise E`. student-edition
writes what students get: notebooks, starters and public checks, no solutions.
render executes the lessons in the real lab and writes them as HTML with their
outputs (the rendered edition, for reading before running).
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
    rd = sub.add_parser(
        "render", help="execute the lessons in the lab and write them as HTML, outputs kept"
    )
    rd.add_argument("out", type=Path, help="the folder for NAME.html and index.html")
    rd.add_argument("notebooks", type=Path, nargs="*", help="default: the course's lessons")
    args = parser.parse_args(argv)

    if args.command == "render":
        return _render(args.out, args.notebooks)

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
        from kmodlab.course.exercises import student_writes_build

        own_build = bool(args.exercise) and student_writes_build(args.exercise)
        files = modules_of(args.source, build_files=own_build)
        names = write_modules(files, args.out, args.exercise)
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


def _render(out: Path, notebooks: list[Path]) -> int:
    from kmodlab.course.readahead import render
    from kmodlab.errors import KmodlabError

    try:
        done = render(out, notebooks)
    except KmodlabError as e:
        print(f"kmodlab: error: {e.line()}", file=sys.stderr)
        return 2
    for r in done:
        note = f" (cells that raised: {', '.join(r.raised)})" if r.raised else ""
        print(f"{r.html}{note}")
    print(f"{out / 'index.html'}: {len(done)} notebooks")
    return 1 if any(r.raised for r in done) else 0


if __name__ == "__main__":
    sys.exit(main())
