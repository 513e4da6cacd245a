#!/usr/bin/env python3
"""A grade-batch output folder of N evidence documents, made from the captured ones.

    .venv/bin/python bench/captured_batch.py OUT [--count 50]
    .venv/bin/python bench/grader_benchmark.py --rejudge-only OUT

Figure 4 of the grader benchmark without a guest: the documents under
tests/data/evidence/ (real grades of the corpus and of every exercise), taken
in turn as student000, student001, ... (the submission renamed, the digest
recomputed), each beside the report that rejudging it gives, as `kmodlab
grade-batch` leaves them (NAME.json, NAME.txt, NAME.evidence.json.xz).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAPTURED = REPO / "tests" / "data" / "evidence"


def make(out: Path, count: int) -> None:
    from kmodlab.grader import evidence
    from kmodlab.grader.rejudge import EVIDENCE_SUFFIX, _rejudge_one, write_evidence

    docs = sorted(CAPTURED.rglob("*" + EVIDENCE_SUFFIX))
    if not docs:
        raise SystemExit(f"captured_batch: no evidence documents under {CAPTURED}")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        doc = evidence.read_document(docs[i % len(docs)])
        name = f"student{i:03d}"
        doc["submission"] = name
        doc["digest"] = evidence.digest(doc)
        path = out / (name + EVIDENCE_SUFFIX)
        write_evidence(path, doc)
        result = _rejudge_one(path, None)
        if len(result) == 1:
            raise SystemExit(f"captured_batch: {result[0]}")
        body, text, _ = result
        (out / f"{name}.json").write_text(body + "\n", encoding="utf-8")
        (out / f"{name}.txt").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="the folder to write (created)")
    p.add_argument("--count", type=int, default=50, help="documents (default 50)")
    args = p.parse_args(argv)
    make(args.out, args.count)
    print(f"{args.count} evidence documents and their reports in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
