"""Are the verdicts pure: judging an evidence document imports nothing that runs a
process, a guest, a build or reads an ELF file?"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import kmodlab

SRC = Path(kmodlab.__file__).parent
# What judging an evidence document runs: verdicts.judge and everything it reaches.
JUDGING = (
    "kmodlab.grader.verdicts.document",
    "kmodlab.grader.evidence",
    "kmodlab.grader.verdicts.judges",
    "kmodlab.grader.verdicts.expectations",
)
# Never reached from the judging code: processes, the guest, the build, ELF reading,
# and the collection side of the grader.
FORBIDDEN = (
    "subprocess",
    "kmodlab.vm",
    "kmodlab.build",
    "elftools",
    "kmodlab.grader.collection.decode",
    "kmodlab.grader.collection.collect",
    "kmodlab.grader.collection.instrument",
    "kmodlab.grader.pipeline",
    "kmodlab.grader.exercise_plan",
)
# Modules whose every function is a verdict or a parser: no import of the forbidden
# modules even inside a function, and no file read.
PURE_FILES = (
    "grader/verdicts/document.py",
    "grader/verdicts/judges.py",
    "grader/verdicts/symbols.py",
    "grader/verdicts/ledger.py",
    "grader/collection/kmemtrace.py",
    "grader/collection/timers.py",
    "grader/verdicts/witness.py",
    "grader/collection/guest_state.py",
    "grader/verdicts/labels.py",
    "grader/collection/interfaces.py",
    "records.py",
)


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_importing_the_judges_loads_no_process_guest_build_or_elf_module():
    """Does a fresh interpreter that imports the judging modules load none of subprocess,
    kmodlab.vm, kmodlab.build, elftools or the grader's collection side?"""
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in JUDGING)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if _forbidden(m)] == []
    assert "kmodlab.grader.verdicts.judges" in loaded  # the check did import them


def test_pure_modules_import_nothing_forbidden_even_inside_a_function():
    """Does no verdict or parser module import a forbidden module anywhere in its code,
    nor read a file (open, read_text, read_bytes)?"""
    for rel in PURE_FILES:
        tree = ast.parse((SRC / rel).read_text(), rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            assert not [n for n in names if _forbidden(n)], (rel, names)
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                assert called not in ("open", "read_text", "read_bytes"), (rel, node.lineno)


def test_the_check_would_see_a_forbidden_import(tmp_path):
    """Is the AST check able to fail: does it flag a module that imports subprocess lazily?"""
    tree = ast.parse("def f():\n    import subprocess\n    from kmodlab.vm import guest\n")
    found = [
        a.name if isinstance(n, ast.Import) else n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [None])
    ]
    assert [n for n in found if _forbidden(n)] == ["subprocess", "kmodlab.vm"]
