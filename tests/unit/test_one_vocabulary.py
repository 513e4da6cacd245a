"""One word for each thing: guest module commands, fatal reports, frames to lines, timeouts."""

import re
from pathlib import Path

from kmodlab.grader.collection import decode
from kmodlab.grader.collection.decode import SourceLocation, locate_report, report_frames
from kmodlab.vm import protocol
from kmodlab.vm.console import find_reports, is_fatal, leaves_kernel_untrusted
from kmodlab.vm.guest import COMMAND_TIMEOUT_S, CommandResult

SRC = Path(__file__).resolve().parents[2] / "src" / "kmodlab"
LOGS = Path(__file__).parent.parent / "data" / "logs"


def _python_sources() -> dict[Path, str]:
    return {p: p.read_text() for p in SRC.rglob("*.py")}


def test_agent_module_commands_are_spelled_only_in_the_protocol():
    """Is "@load"/"@unload"/"@cycle" written in one module only (vm/protocol.py, where the
    agent's commands are; callers use its words)?"""
    spelled = re.compile(r"""["']@(load|unload|cycle)["']""")
    where = [p.relative_to(SRC) for p, text in _python_sources().items() if spelled.search(text)]
    assert len(where) == 1, where


def test_session_module_methods_send_the_agent_commands():
    """Do Session.load/unload/cycle send the agent's own commands, parameters and timeout?"""
    from kmodlab.vm.session import Session

    sent: list[tuple[list[str], float]] = []

    class Recorder(Session):
        def __init__(self) -> None:  # no guest: only what would be sent
            pass

        def run(self, command, *, timeout_s=COMMAND_TIMEOUT_S):  # type: ignore[no-untyped-def]
            sent.append((list(command), timeout_s))
            return CommandResult(list(command), "exited", 0, "", "")

    s = Recorder()
    s.load("hello-1.ko", "count=3", timeout_s=20)
    s.unload("hello_1")
    s.cycle("hello-1.ko", "hello_1", 5, timeout_s=40)
    assert sent == [
        (["@load", "hello-1.ko", "count=3"], 20),
        (["@unload", "hello_1"], COMMAND_TIMEOUT_S),
        (["@cycle", "hello-1.ko", "hello_1", "5"], 40),
    ]
    assert protocol.is_cycle(sent[2][0]) and not protocol.is_cycle(sent[0][0])


def test_the_command_timeout_default_is_written_once():
    """Is the guest command timeout's 30 s written once, and every default taken from it?"""
    literal = re.compile(r"timeout\w*\s*[:=]\s*(float\s*=\s*)?30(\.0)?\b|default=30(\.0)?\b")
    where = [p.relative_to(SRC) for p, text in _python_sources().items() if literal.search(text)]
    assert where == []
    assert COMMAND_TIMEOUT_S == 30.0
    from kmodlab.cli import build_parser
    from kmodlab.grader.collection.collect import Limits
    from kmodlab.run import run_submission

    args = build_parser().parse_args(["run", "somewhere"])
    assert args.timeout == COMMAND_TIMEOUT_S == Limits().command_timeout_s
    assert run_submission.__kwdefaults__["timeout_s"] == COMMAND_TIMEOUT_S


def test_fatal_and_untrusting_reports_follow_one_policy():
    """Is an oops fatal, a sleeping-in-atomic BUG only untrusting, a WARNING neither?"""
    oops = find_reports((LOGS / "null_deref_oops.log").read_text())[0]
    text = (
        "BUG: sleeping function called from invalid context at mm/slab.h:1\n"
        "---[ end trace 0000000000000000 ]---\n"
        "kernel BUG at lib/list_debug.c:53!\n"
        "---[ end trace 0000000000000000 ]---\n"
        "WARNING: CPU: 0 PID: 9 at fs/proc/generic.c:383 proc_register+0x1/0x2\n"
    )
    sleeping, bug_at, warning = find_reports(text)
    assert is_fatal(oops) and leaves_kernel_untrusted(oops)
    assert not is_fatal(sleeping) and leaves_kernel_untrusted(sleeping)
    assert is_fatal(bug_at)
    assert not is_fatal(warning) and not leaves_kernel_untrusted(warning)


def test_the_fatal_policy_is_declared_once():
    """Does one module only (vm/console.py, beside the report parser) declare a set of
    fatal report kinds?"""
    kinds_set = re.compile(r"frozenset\(\{[^}]*\"(oops|panic|soft-lockup)\"")
    where = [p.relative_to(SRC) for p, text in _python_sources().items() if kinds_set.search(text)]
    assert len(where) == 1, where


def test_one_function_takes_a_report_to_the_students_line(monkeypatch):
    """Does locate_report decode the RIP as is, return addresses one byte back, and skip
    frames outside the student's modules or refused by `accept`?"""
    report = find_reports((LOGS / "null_deref_oops.log").read_text())[0]
    frames = report_frames(report)
    assert frames[0] == ("null_deref_init+0x11/0x1000", "null_deref", False)
    assert all(is_return for _, _, is_return in frames[1:])
    calls = []

    def fake_decode(frame, ko, *, return_address=False):  # type: ignore[no-untyped-def]
        calls.append((frame, return_address))
        return SourceLocation(frame.split("+")[0], "/build/x/null_deref.c", 7)

    class Build:
        def student_path(self, path: str) -> str:
            return Path(path).name

    monkeypatch.setattr(decode, "decode_frame", fake_decode)
    ko = Path("null_deref.ko")
    found = locate_report(report, lambda m: (ko, Build()) if m == "null_deref" else None)
    assert found == SourceLocation("null_deref_init", "null_deref.c", 7)
    assert calls == [("null_deref_init+0x11/0x1000", False)]
    assert locate_report(report, lambda m: None) is None
    assert locate_report(report, lambda m: (ko, Build()), accept=lambda loc: False) is None


def test_lab_and_grader_share_the_report_locator():
    """Do the lab and the judges both place reports with decode.locate_report (no copy)?"""
    for rel in ("lab/workspace.py", "grader/verdicts/judges.py"):
        text = (SRC / rel).read_text()
        assert "locate_report(" in text, rel
        assert "return_address=is_return" not in text, rel


class _FakeSession:
    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = dict(modules)
        self.restarts = 0
        self.pushed: list[Path] = []
        self.unloaded: list[str] = []

    def restart(self) -> None:
        self.restarts += 1

    def push_modules(self, kos, *, depmod=True):  # type: ignore[no-untyped-def]
        self.pushed += list(kos)

    def loaded(self) -> set[str]:
        return {"m"}

    def unload(self, name: str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        self.unloaded.append(name)
        return CommandResult(["@unload", name], "exited", 0, "", "")


def test_exercise_evidence_is_collected_in_the_grades_own_session(monkeypatch):
    """Does the exercise guest reuse the grade's session (restarted only when the generic run
    left it unclean) instead of opening a second one, and report it unclean afterwards?"""
    from kmodlab.grader import exercise_plan as exercises
    from kmodlab.grader.evidence import Evidence

    class GuestCheck:
        id, kind = "probe", "files"

    seen = []
    monkeypatch.setattr(exercises, "host_evidence", lambda ev: {})
    monkeypatch.setitem(exercises.GUEST_COLLECTORS, "files", lambda c, ev, s, t: seen.append(s))
    monkeypatch.setattr(
        exercises, "Session", lambda *a, **k: (_ for _ in ()).throw(AssertionError("2nd session"))
    )
    expectations = type("E", (), {"checks": [GuestCheck()]})()
    ko = Path("/build/m.ko")
    ev = Evidence(submission=Path("sub"))
    ev.kos, ev.order = {"m": ko}, ["m"]
    for clean, restarts in ((True, 0), (False, 1)):
        s = _FakeSession({"m": ko})
        assert exercises.collect_evidence(expectations, ev, s, 20.0, clean=clean) is False
        assert seen[-1] is s and s.restarts == restarts and s.pushed == []
        assert s.unloaded == ["m"]


def test_exercise_evidence_reads_the_submission_as_validated_once(monkeypatch):
    """Does the kbuild evidence come from the texts the grade validated (Evidence.sources),
    never from reading the folder again, and carry the validator's problem when there is
    no submission to read?"""
    from kmodlab.build import validate
    from kmodlab.grader import exercise_plan as exercises
    from kmodlab.grader.collection import collect
    from kmodlab.grader.evidence import Evidence

    def no_second_read(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the submission was read again")

    monkeypatch.setattr(validate, "load_submission", no_second_read)
    monkeypatch.setattr(collect, "load_submission", no_second_read)
    ev = Evidence(submission=Path("/nonexistent"))
    ev.sources = {"Makefile": "obj-m += pair.o\npair-y := a.o b.o\n", "a.c": "", "b.c": ""}
    got = exercises._kbuild_evidence(ev)
    assert got["origin"] == "Makefile" and got["modules"] == {"pair": ["a", "b"]}
    ev = Evidence(submission=Path("/nonexistent"))
    ev.build_problem = "x.c: not UTF-8 text; save it as UTF-8"
    assert exercises._kbuild_evidence(ev)["problem"] == ev.build_problem


def test_report_forms_quote_the_files_the_grade_validated(tmp_path):
    """Do the text forms quote the sources the grade validated (Report.sources), reading the
    folder only for a report loaded from JSON, and does the JSON leave them out?"""
    from kmodlab.grader.report.formats import quotable, to_json
    from kmodlab.grader.report.model import Report

    (tmp_path / "m.c").write_text("// on disk now\n")
    graded = Report("m", "6.1", [], sources={"m.c": "// as graded\n"})
    assert quotable(graded, tmp_path) == {"m.c": "// as graded\n"}
    assert "as graded" not in to_json(graded)
    loaded = Report.from_dict(graded.to_dict())
    assert quotable(loaded, tmp_path) == {"m.c": "// on disk now\n"}
