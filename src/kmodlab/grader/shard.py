"""A class graded on several machines: shards of a batch, and merging their outputs.

`grade-batch --shard K/N` grades the submissions whose folder name hashes to
K (of N): a stable split that needs no coordination, so N machines (a Slurm
array, a Kubernetes indexed Job) each grade their own share of the same
folder. Each shard's output folder gets shard.json, naming the shard and its
submissions, so `kmodlab merge` can say what is still missing.

`kmodlab merge OUT... --output-dir DEST` copies every finished report of
the shard outputs into DEST and writes one summary.csv and gradebook.csv over
all of them. It is idempotent (merging again, or the same folder twice, gives
the same DEST), keeps reports already in DEST (shards can be merged as they
finish), and refuses outputs of different exercises or two different reports
for one student.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.errors import InputError
from kmodlab.paths import atomic_write

SHARD_FILE = "shard.json"
SHARD_SCHEMA = "kmodlab-shard/1"
# In a merged folder: the shards merged into it so far, so a later merge of the
# remaining shards knows the earlier ones.
MERGED_FILE = "merged.json"


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N), 1 <= K <= N; anything else is a one-line InputError."""
    k, sep, n = text.partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise InputError(
        f"--shard {text!r} is not K/N with 1 <= K <= N",
        "pass e.g. --shard 1/4 (in a Slurm array: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)",
    )


def shard_of(name: str, n: int) -> int:
    """The shard (1..n) a submission folder's name belongs to: a hash, the same on every
    machine and every Python (not hash(), which is salted per process)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n


def select(subs: Sequence[Path], shard: tuple[int, int]) -> list[Path]:
    k, n = shard
    return [s for s in subs if shard_of(s.name, n) == k]


def write_manifest(output_dir: Path, shard: tuple[int, int], names: Sequence[str]) -> None:
    """Record which shard output_dir holds; refuse a folder that holds another shard."""
    path = output_dir / SHARD_FILE
    old = read_manifest(path)
    if old is not None and old["shard"] != list(shard):
        k, n = old["shard"]
        raise InputError(
            f"{output_dir} holds shard {k}/{n}'s reports, not {shard[0]}/{shard[1]}'s",
            "give each shard its own --output-dir",
        )
    doc = {"schema": SHARD_SCHEMA, "shard": list(shard), "submissions": sorted(names)}
    atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode())


def read_manifest(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != SHARD_SCHEMA:
        return None
    return doc


def _merged_manifests(dest: Path) -> list[tuple[Path, dict]]:
    """The shard manifests an earlier merge into dest recorded."""
    try:
        doc = json.loads((dest / MERGED_FILE).read_text(encoding="utf-8"))
        return [(dest, m) for m in doc["shards"] if m.get("schema") == SHARD_SCHEMA]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


@dataclass
class MergeResult:
    dest: Path
    reports: int = 0  # in DEST after the merge
    missing: list[str] = field(default_factory=list)  # listed by a shard, not graded yet
    shards: list[tuple[int, int]] = field(default_factory=list)  # the shards merged

    @property
    def absent_shards(self) -> list[str]:
        """K/N of shards no input folder held (when the inputs are shards of one N)."""
        ns = {n for _k, n in self.shards}
        if len(ns) != 1:
            return []
        (n,) = ns
        have = {k for k, _n in self.shards}
        return [f"{k}/{n}" for k in range(1, n + 1) if k not in have]


def merge(inputs: Sequence[Path], dest: Path) -> MergeResult:
    """Merge shard (or any grade-batch) output folders into dest; see the module docstring."""
    from kmodlab.grader.batch import GRADEBOOK_CSV, SUMMARY_CSV, gradebook_csv, summary_csv

    result = MergeResult(dest)
    manifests: list[tuple[Path, dict]] = []
    per_folder: list[tuple[Path, dict[str, bytes]]] = []
    for folder in inputs:
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder", "pass grade-batch output folders")
        manifest = read_manifest(folder / SHARD_FILE)
        if manifest is not None:
            manifests.append((folder, manifest))
        reports = _reports(folder)
        if not reports and manifest is None:
            raise InputError(
                f"{folder}: no reports in it", "pass the --output-dir of a grade-batch run"
            )
        per_folder.append((folder, reports))
    manifests = _merged_manifests(dest) + manifests  # the inputs are the latest
    _same_shard_count(manifests)
    # Reports already in dest stay (shards merged as they finish); the inputs' win.
    per_folder.insert(0, (dest, _reports(dest)))
    _same_exercise(per_folder)
    found: dict[str, tuple[Path, bytes]] = {}  # name -> (folder, JSON bytes)
    for folder, reports in per_folder[1:]:
        for name, body in reports.items():
            if name in found and found[name][1] != body:
                raise InputError(
                    f"{name} has two different reports, in {found[name][0]} and {folder}",
                    "merge one output per shard (delete the stale one)",
                )
            found[name] = (folder, body)
    kept = {n: (dest, b) for n, b in per_folder[0][1].items() if n not in found}
    everything = {**kept, **found}

    from kmodlab.grader.batch import load_report

    for name, (folder, body) in sorted(found.items()):
        if folder.resolve() == dest.resolve():
            continue
        atomic_write(dest / f"{name}.json", body)
        # The text report, and the evidence `grade-batch --rejudge` re-scores, go along.
        for suffix in (".txt", ".evidence.json.xz"):
            if (extra := folder / f"{name}{suffix}").is_file():
                atomic_write(dest / f"{name}{suffix}", extra.read_bytes())
    by_stem = {n: load_report(folder / f"{n}.json") for n, (folder, _b) in everything.items()}
    by_stem = {n: r for n, r in by_stem.items() if r is not None}
    # Files are named by report_stem() (a hostile folder name is hashed); the
    # summary names each submission as its report does.
    reports = {r.submission: r for r in by_stem.values()}
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write(dest / SUMMARY_CSV, summary_csv(reports).encode("utf-8"))
    atomic_write(dest / GRADEBOOK_CSV, gradebook_csv(reports).encode("utf-8"))
    result.reports = len(reports)
    by_shard = {tuple(m["shard"]): m for _f, m in manifests}  # the latest of each shard
    result.shards = sorted(by_shard)  # type: ignore[arg-type]
    listed = {s for m in by_shard.values() for s in m.get("submissions", [])}
    if by_shard:
        doc = {"shards": [by_shard[k] for k in sorted(by_shard)]}
        atomic_write(dest / MERGED_FILE, (json.dumps(doc, indent=2) + "\n").encode())
    from kmodlab.grader.batch import report_stem

    result.missing = sorted(n for n in listed if report_stem(n) not in by_stem)
    return result


def _reports(folder: Path) -> dict[str, bytes]:
    """The whole, valid reports of a folder, by submission name, as their JSON bytes."""
    from kmodlab.grader.batch import load_report

    out: dict[str, bytes] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        if path.name == SHARD_FILE or path.name.startswith("."):
            continue
        if load_report(path) is not None:
            out[path.stem] = path.read_bytes()
    return out


def _same_shard_count(manifests: Sequence[tuple[Path, dict]]) -> None:
    counts = {m["shard"][1]: f for f, m in manifests}
    if len(counts) > 1:
        (n1, f1), (n2, f2) = list(counts.items())[:2]
        raise InputError(
            f"the outputs are shards of different splits: {f1} of {n1}, {f2} of {n2}",
            "merge the shards of one split (all --shard K/N with the same N)",
        )


def _same_exercise(per_folder: Sequence[tuple[Path, dict[str, bytes]]]) -> None:
    """Refuse reports of different exercises (a grader error's report names none)."""
    from kmodlab.grader.batch import GRADER_CHECK

    seen: dict[str | None, Path] = {}
    for folder, reports in per_folder:
        for body in reports.values():
            doc = json.loads(body)
            if any(c.get("id") == GRADER_CHECK for c in doc.get("checks", [])):
                continue  # the grader failed: the report knows no exercise
            seen.setdefault(doc.get("exercise"), folder)
    if len(seen) > 1:
        (e1, f1), (e2, f2) = list(seen.items())[:2]
        raise InputError(
            f"the outputs grade different exercises: {e1 or 'none'} in {f1}, "
            f"{e2 or 'none'} in {f2}",
            "merge the outputs of one exercise's batch (a separate --output-dir per exercise)",
        )
