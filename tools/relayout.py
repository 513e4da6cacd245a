#!/usr/bin/env python3
"""Lay src/kmodlab/grader/ out by the grading flow: collection, verdicts, report.

    python3 tools/relayout.py            # move (git mv) and rewrite; prints what it did
    python3 tools/relayout.py --check    # exit 1 if anything is still to move or rewrite

    grader/collection/  gathering evidence: the guest steps and the witnesses
    grader/verdicts/    pure functions from evidence to checks
    grader/report/      the report model, its formats, the ladder drawing
    grader/             the flow itself (pipeline, batch, shard, exercise_plan)
                        and the evidence passed from collection to verdicts

Idempotent: a module already in place is left alone, and imports are
rewritten wherever the old names still appear, so it can be run again after
merging a branch that added or edited files under their old names. It
rewrites src/, tests/, tools/, docs/, bench/, notebooks/ and course/ (and
README.md): `kmodlab.grader.X` dotted names, `from kmodlab.grader import
X, Y` lines (split by new package; a renamed module keeps its old name as
an alias, so the code using it is unchanged) and `grader/X.py` paths.
Then it runs ruff to sort the imports and format. A file under an old name
whose new place is also taken is a conflict, left for a person.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADER = ROOT / "src" / "kmodlab" / "grader"

# old module (in grader/) -> new dotted path under grader/
MOVES: dict[str, str] = {
    # collection: the guest steps and the witnesses that read the guest and the build
    "collect": "collection.collect",
    "state": "collection.guest_state",
    "kmemtrace": "collection.kmemtrace",
    "timers": "collection.timers",
    "interfaces": "collection.interfaces",
    "instrument": "collection.instrument",
    "modinfo": "collection.modinfo",
    "decode": "collection.decode",
    # verdicts: pure functions from evidence to checks
    "judges": "verdicts.judges",
    "ledger": "verdicts.ledger",
    "witness": "verdicts.witness",
    "labels": "verdicts.labels",
    "integrity": "verdicts.integrity",
    "expectations": "verdicts.expectations",
    # report: what a grade returns, and how it is shown
    "model": "report.model",
    "formats": "report.formats",
    "ladder": "report.ladder",
    # the exercise's plan (its checks' evidence and scoring), apart from
    # course/exercises.py (the course's stage folders)
    "exercises": "exercise_plan",
    # Modules of the evidence branch (issue #11's evidence document), when merged:
    # judging a whole document, and the recorded debug-info table the judges read.
    "verdicts": "verdicts.document",
    "symbols": "verdicts.symbols",
}

PACKAGES: dict[str, str] = {
    "collection": '"""Gathering evidence: the grading steps in the guest and the witnesses that\n'
    'read the guest, the build and the kernel\'s own formats (collect.py names the order)."""\n',
    "verdicts": '"""Verdicts: pure functions from evidence to checks. Nothing here starts a\n'
    'process, touches the VM or builds (tests/unit/test_layout.py checks the imports)."""\n',
    "report": '"""The report: its model (a versioned JSON schema), its text, JSON and Gradescope\n'
    'forms, and the fault-injection ladder drawing."""\n',
}

REWRITE_DIRS = ("src", "tests", "tools", "docs", "bench", "notebooks", "course")
REWRITE_FILES = ("README.md",)
# Left alone: this script and the test that feeds it old-layout text on purpose.
KEEP = ("tools/relayout.py", "tests/unit/test_layout.py")
PYTHON_DIRS = ("src", "tests", "tools", "bench")  # what ruff then sorts and formats
SUFFIXES = (".py", ".md", ".toml", ".txt", ".ipynb", ".cfg")


def _git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def move_modules(dry: bool) -> tuple[list[str], list[str]]:
    """git mv each module still at its old place; (what was moved, conflicts)."""
    moved, conflicts = [], []
    for package, doc in PACKAGES.items():
        init = GRADER / package / "__init__.py"
        if not init.exists() and not dry:
            init.parent.mkdir(exist_ok=True)
            init.write_text(doc)
            _git("add", str(init.relative_to(ROOT)))
    for old, new in MOVES.items():
        src = GRADER / f"{old}.py"
        dst = GRADER / (new.replace(".", "/") + ".py")
        if not src.exists():
            continue
        if dst.exists():
            conflicts.append(f"{src.relative_to(ROOT)} and {dst.relative_to(ROOT)} both exist")
            continue
        moved.append(f"{src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
        if not dry:
            _git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))
    return moved, conflicts


def _dotted(text: str) -> str:
    """kmodlab.grader.OLD (an import path, a monkeypatch target) -> its new place."""
    names = "|".join(sorted(MOVES, key=len, reverse=True))
    # An old module named like a new package (verdicts.py, verdicts/): followed by
    # a module of that package (`.judges`, `import judges`), it is the new layout.
    inside = "|".join(sorted({n.rpartition(".")[2] for n in MOVES.values() if "." in n}))
    pattern = re.compile(
        rf"\bkmodlab\.grader\.({names})\b(?!\.py)"
        rf"(?!\.(?:{inside})\b)(?!\s+import\s+\(?\s*(?:{inside})\b)"
    )
    return pattern.sub(lambda m: f"kmodlab.grader.{MOVES[m.group(1)]}", text)


_FROM_GRADER = re.compile(
    r"^(?P<indent>[ \t]*)from kmodlab\.grader import "
    r"(?P<names>\([^)]*\)|[^\n]*?)(?P<comment>[ \t]*#[^\n]*)?$",
    re.M,
)


def _from_grader(text: str) -> str:
    """`from kmodlab.grader import a, b as c` -> one line per new package."""

    def split(m: re.Match[str]) -> str:
        indent = m.group("indent")
        raw = m.group("names").strip().strip("()")
        items = [i.strip() for i in raw.replace("\n", " ").split(",") if i.strip()]
        groups: dict[str, list[str]] = {}
        for item in items:
            name, _, alias = (p.strip() for p in item.partition(" as "))
            target = MOVES.get(name)
            if target is None:
                groups.setdefault("kmodlab.grader", []).append(item)
                continue
            package, _, module = target.rpartition(".")
            where = f"kmodlab.grader.{package}" if package else "kmodlab.grader"
            keep = alias or name
            groups.setdefault(where, []).append(module if keep == module else f"{module} as {keep}")
        if not any(item.partition(" as ")[0].strip() in MOVES for item in items):
            return m.group(0)
        comment = m.group("comment") or ""
        lines = [
            f"{indent}from {where} import {', '.join(names)}" for where, names in groups.items()
        ]
        return "\n".join(lines) + comment

    return _FROM_GRADER.sub(split, text)


def _paths(text: str) -> str:
    """grader/OLD.py (in docs, comments and tests) -> grader/NEW.py."""
    names = "|".join(sorted(MOVES, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w/])((?:src/)?(?:kmodlab/)?)grader/({names})\.py\b")
    return pattern.sub(
        lambda m: f"{m.group(1)}grader/{MOVES[m.group(2)].replace('.', '/')}.py", text
    )


# Names that moved between modules in the same change (issue #11's de-duplication):
# (module they were imported from, name) -> the module that now defines them.
NAME_MOVES: dict[tuple[str, str], str] = {
    ("kmodlab.grader.report.model", "GENERIC_CHECKS"): "kmodlab.grader.verdicts.judges",
}
_FROM_MODULE = re.compile(
    r"^(?P<indent>[ \t]*)from (?P<module>[\w.]+) import (?P<names>[^\n(]*?)[ \t]*$", re.M
)


def _moved_names(text: str) -> str:
    """`from kmodlab.grader.report.model import GENERIC_CHECKS, Report` -> two imports."""

    def split(m: re.Match[str]) -> str:
        module, indent = m.group("module"), m.group("indent")
        items = [i.strip() for i in m.group("names").split(",") if i.strip()]
        moved = {i: NAME_MOVES[(module, i)] for i in items if (module, i) in NAME_MOVES}
        if not moved:
            return m.group(0)
        kept = [i for i in items if i not in moved]
        lines = [f"{indent}from {module} import {', '.join(kept)}"] if kept else []
        lines += [f"{indent}from {where} import {name}" for name, where in moved.items()]
        return "\n".join(lines)

    return _FROM_MODULE.sub(split, text)


def _renamed_arguments(text: str) -> str:
    """Session(on_restart=...) is Session(progress=...): one callback for its messages."""
    return re.sub(r"\bon_restart=", "progress=", text)


def rewrite(text: str) -> str:
    return _renamed_arguments(_moved_names(_paths(_from_grader(_dotted(text)))))


def _files() -> list[Path]:
    out = [ROOT / f for f in REWRITE_FILES if (ROOT / f).is_file()]
    for d in REWRITE_DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            wanted = p.is_file() and p.suffix in SUFFIXES and ".egg-info" not in str(p)
            if wanted and str(p.relative_to(ROOT)) not in KEEP:
                out.append(p)
    return out


def rewrite_tree(dry: bool) -> list[str]:
    changed = []
    for path in _files():
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            changed.append(str(path.relative_to(ROOT)))
            if not dry:
                path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if work is left")
    args = p.parse_args(argv)
    moved, conflicts = move_modules(args.check)
    changed = rewrite_tree(args.check)
    for line in moved:
        print(f"moved     {line}")
    for line in changed:
        print(f"rewrote   {line}")
    for line in conflicts:
        print(f"CONFLICT  {line}: merge them by hand, then run this again", file=sys.stderr)
    if not (moved or changed or conflicts):
        print("nothing to do: the grader is laid out by the flow")
    if args.check:
        return 1 if moved or changed or conflicts else 0
    if changed:
        ruff = [sys.executable, "-m", "ruff"]
        venv = ROOT / ".venv" / "bin" / "ruff"
        if venv.exists():
            ruff = [str(venv)]
        subprocess.run(
            [*ruff, "check", "--select", "I", "--fix", "-q", *PYTHON_DIRS],
            cwd=ROOT,
            check=False,
        )
        subprocess.run([*ruff, "format", "-q", *PYTHON_DIRS], cwd=ROOT, check=False)
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
