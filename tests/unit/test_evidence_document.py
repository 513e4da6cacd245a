"""The evidence document itself: written whole, read back unchanged, refused when it is
from a later version, changed or cut, and free of the grading machine's paths."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from kmodlab import cli
from kmodlab.errors import InputError
from kmodlab.grader import evidence
from kmodlab.grader.evidence import Evidence, Step, StepCrash
from kmodlab.grader.rejudge import evidence_path, rejudge_file, write_evidence
from kmodlab.records import CommandResult, KmsgRecord

DATA = Path(__file__).parent.parent / "data" / "evidence"
SAMPLE = DATA / "corpus" / "leak_kmalloc.evidence.json.xz"


def _doc() -> dict:
    return evidence.read_document(SAMPLE)


def _write(tmp_path: Path, doc: dict, name: str = "x.evidence.json.xz") -> Path:
    path = tmp_path / name
    write_evidence(path, doc)
    return path


def test_a_captured_document_reads_back_and_writes_the_same_document():
    """Is from_document lossless: does writing what it read give the very same document?"""
    doc = _doc()
    read = evidence.from_document(doc)
    again = evidence.to_document(
        read.evidence,
        kernel=read.kernel,
        exercise=read.exercise,
        cycles=read.cycles,
        duration_s=read.duration_s,
    )
    assert again == doc


def test_a_document_of_a_later_version_is_refused_in_one_line(tmp_path):
    """Is a kmodlab-evidence/2 document refused with one line naming the version?"""
    doc = _doc() | {"schema": "kmodlab-evidence/2"}
    doc["digest"] = evidence.digest(doc)
    with pytest.raises(InputError) as e:
        rejudge_file(_write(tmp_path, doc))
    line = e.value.line()
    assert "kmodlab-evidence/2" in line and "newer" in line and "\n" not in line


def test_a_changed_document_is_refused(tmp_path):
    """Does changing one verdict-relevant value (an exit code) without its digest get
    a one-line error instead of a report?"""
    doc = _doc()
    doc["loads"][0]["result"]["returncode"] = 12
    with pytest.raises(InputError, match="changed after it was written"):
        rejudge_file(_write(tmp_path, doc))


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_document_is_refused(tmp_path, cut):
    """Is a file cut short (compressed, or plain JSON) a one-line error, not a traceback?"""
    packed = SAMPLE.read_bytes()
    short = tmp_path / "short.evidence.json.xz"
    short.write_bytes(packed[: int(len(packed) * cut)])
    with pytest.raises(InputError, match="truncated|damaged"):
        rejudge_file(short)
    text = lzma.decompress(packed)
    plain = tmp_path / "short.json"
    plain.write_bytes(text[: int(len(text) * cut)])
    with pytest.raises(InputError, match="not whole JSON"):
        rejudge_file(plain)


def test_a_report_or_garbage_is_not_taken_for_evidence(tmp_path):
    """Are a report, a document missing a key (with a matching digest) and binary junk refused?"""
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"schema": "kmodlab-report/1", "checks": []}))
    with pytest.raises(InputError, match="not a kmodlab evidence document"):
        rejudge_file(report)
    doc = _doc()
    del doc["loads"]
    doc["digest"] = evidence.digest(doc)
    with pytest.raises(InputError, match="not a valid kmodlab-evidence/1 document"):
        rejudge_file(_write(tmp_path, doc))
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError):
        rejudge_file(junk)


def test_cli_rejudge_of_a_bad_file_prints_one_line_and_exits_2(tmp_path, capsys):
    """Does `kmodlab rejudge` on a cut file exit 2 with one error line and no traceback?"""
    short = tmp_path / "cut.evidence.json.xz"
    short.write_bytes(SAMPLE.read_bytes()[:100])
    assert cli.main(["rejudge", str(short)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "cut.evidence" in err


def test_cli_rejudge_prints_the_report(capsys):
    """Does `kmodlab rejudge --format json` print the report of the document's submission?"""
    assert cli.main(["rejudge", str(SAMPLE), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "kmodlab-report/1" and report["submission"] == "leak_kmalloc"


def test_host_paths_are_replaced_everywhere():
    """Does to_document replace the grading machine's folders in every string, keys
    included (build folder -> relative, home -> ~), and keep the rest?"""
    tmp, home = "/tmp/kmodlab-grade-abc/plain/build-x", "/home/grader"
    record = KmsgRecord(6, 1, 10, f"n0nce 1 acquire kmalloc at={tmp}/hello.c:12")
    ev = Evidence(submission=Path(f"{home}/class/alice"))
    ev.sources = {"hello.c": f"// see {home}/notes\n"}
    ev.loads = [
        Step("load hello", CommandResult(["@load", "hello.ko"], "exited", 0, "", "", [record]))
    ]
    ev.unloads = [Step("unload hello", None, StepCrash("hung", f"stuck in {tmp}/hello.c"))]
    doc = evidence.to_document(
        ev, kernel="6.1", exercise=None, cycles=20, duration_s=1.0,
        host_paths=[(f"{tmp}/", ""), (home, "~")],
    )  # fmt: skip
    text = json.dumps(doc)
    assert "/tmp/" not in text and home not in text
    assert doc["submission"] == "alice"
    assert doc["loads"][0]["result"]["kmsg"][0][3].endswith("at=hello.c:12")
    assert doc["sources"]["hello.c"] == "// see ~/notes\n"
    assert doc["unloads"][0]["crash"] == {
        "kind": "hung",
        "problem": "stuck in hello.c",
        "console": "",
    }


def test_evidence_goes_beside_the_report():
    """Is NAME.json's evidence NAME.evidence.json.xz (what grade --output and grade-batch write)?"""
    assert evidence_path(Path("out/alice.json")) == Path("out/alice.evidence.json.xz")
    assert evidence_path(Path("report")) == Path("report.evidence.json.xz")


def test_grade_batch_rejudge_rewrites_reports_and_csvs(tmp_path, capsys):
    """Does `grade-batch --rejudge OUT` re-score each report from its evidence (an old score
    is replaced and counted as changed), keep a report without evidence, list a cut
    evidence file (exit 1, its report untouched), and rewrite summary.csv and gradebook.csv?"""
    from kmodlab.grader.report.formats import to_json
    from kmodlab.grader.report.model import CheckResult, Report

    out = tmp_path / "out"
    out.mkdir()
    for name in ("alice", "bob", "carol"):
        doc = _doc() | {"submission": name}
        doc["digest"] = evidence.digest(doc)
        write_evidence(out / f"{name}.evidence.json.xz", doc)
    for name in ("alice", "bob", "carol", "dave"):
        old = Report(name, "6.1", [CheckResult("build", "pass", 99.0, 99.0, "old rubric")])
        (out / f"{name}.json").write_text(to_json(old) + "\n")
    docs = {n: evidence.read_document(out / f"{n}.evidence.json.xz") for n in ("alice", "bob")}
    assert all(docs.values())  # the renamed copies are whole documents (digest updated)
    (out / "carol.evidence.json.xz").write_bytes(b"\xfd7zXZ\x00cut")
    assert cli.main(["grade-batch", "--rejudge", str(out)]) == 1
    err = capsys.readouterr().err
    assert "carol.evidence.json.xz" in err and "Traceback" not in err
    alice = json.loads((out / "alice.json").read_text())
    assert alice["submission"] == "alice" and alice["max_score"] != 99.0
    assert json.loads((out / "carol.json").read_text())["max_score"] == 99.0
    assert json.loads((out / "dave.json").read_text())["max_score"] == 99.0
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["student", "alice", "bob", "carol", "dave"]
    assert "leaks" in (out / "summary.csv").read_text().splitlines()[0]
    assert "alice" in (out / "alice.txt").read_text()


def test_captured_documents_name_no_path_of_the_grading_machine():
    """Do the committed documents (written by real grades) hold no temporary folder, home
    folder or checkout path, only relative names and /usr/src for the kernel headers?"""
    docs = sorted(DATA.rglob("*.evidence.json.xz"))
    assert docs
    for path in docs:
        text = lzma.decompress(path.read_bytes()).decode()
        for host in ("/tmp/", "/home/", "/root/", "kmodlab-grade-", str(Path.home()) + "/"):
            assert host not in text, (path.name, host)
        doc = json.loads(text)
        assert all(not f.startswith("/") for f in doc["sources"]), path.name
