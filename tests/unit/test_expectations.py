"""Exercise expectations: loading with one-line errors, and a judge per kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmodlab.errors import InputError
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "expectations.md"
HEAD = 'version = 1\n[exercise]\nname = "misc-device"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expectations.toml"
    path.write_text(text)
    return path


def load(tmp_path: Path, checks: str, head: str = HEAD) -> ex.Expectations:
    return ex.load_expectations(write(tmp_path, head + checks))


def one(tmp_path: Path, entry: str) -> ex.Check:
    (check,) = load(tmp_path, "[[checks]]\n" + entry).checks
    return check


# -- loading ----------------------------------------------------------------------
def test_the_documented_example_loads(tmp_path) -> None:
    """Does the complete example in docs/expectations.md load, every kind included?"""
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert example
    exp = ex.load_expectations(write(tmp_path, example.group(1)))
    assert exp.name == "misc-device" and exp.title == "A misc character device"
    assert {c.kind for c in exp.checks} == set(ex.KINDS)
    assert exp.points("fault-injection") == 4 and exp.points("build") == 1
    assert exp.points("count-param") == 2
    assert exp.max_score == sum(ex.DEFAULT_GENERIC_POINTS.values()) + 2 + 15
    assert exp.taught == ("greeting", "count-param", "device-node", "fault-injection")
    assert exp.requires == ("misc_register",)


def test_generic_defaults_cover_exactly_the_generic_checks() -> None:
    """Is there a default weight for each generic check and for nothing else?"""
    assert set(ex.DEFAULT_GENERIC_POINTS) == set(GENERIC_CHECKS)


def test_fields_are_parsed_into_typed_checks(tmp_path) -> None:
    """Do strings, regex tables, bools and numbers land in the right typed fields?"""
    entry = 'id="p"\nkind="params"\npoints=2\nmodule="m"\nname="on"\ntype="bool"\n'
    p = one(tmp_path, entry + 'default=false\nvalue=true\nlog_regex="m: on=(Y|1)"\n')
    assert isinstance(p, ex.ParamCheck)
    assert (p.default, p.value, p.points, p.partial) == ("N", "Y", 2.0, False)
    assert p.log == ex.Pattern("m: on=(Y|1)", regex=True)
    f = one(
        tmp_path, 'id="f"\nkind="files"\npoints=1\npaths=["/dev/x", {path="/proc/y", content="a+"}]'
    )
    assert isinstance(f, ex.FilesCheck) and f.paths == (("/dev/x", None), ("/proc/y", "a+"))


BAD = [
    # (what, file text after HEAD or whole file, words the message must contain)
    ("no version", '[exercise]\nname="x"\n', ["top level", "missing `version`"]),
    ("newer version", 'version = 2\n[exercise]\nname="x"\n', ["version 2"]),
    ("not toml", "version = = 1\n", ["not valid TOML"]),
    ("no exercise", "version = 1\n", ["missing `exercise`"]),
    ("bad kind", '[[checks]]\nid="a"\nkind="lgo"\npoints=1\n', ['(id "a")', 'unknown kind "lgo"']),
    ("no points", '[[checks]]\nid="a"\nkind="log"\non_load=["x"]\n', ["#1", "missing `points`"]),
    ("string points", '[[checks]]\nid="a"\nkind="log"\npoints="2"\non_load=["x"]\n',
     ["`points` must be a number >= 0, not a string"]),
    ("bool points", '[[checks]]\nid="a"\nkind="log"\npoints=true\non_load=["x"]\n',
     ["not true/false"]),
    ("negative", '[[checks]]\nid="a"\nkind="log"\npoints=-1\non_load=["x"]\n', [">= 0"]),
    ("typo", '[[checks]]\nid="a"\nkind="log"\npoints=1\non_laod=["x"]\n',
     ["unknown field `on_laod`", "on_load"]),
    ("bad regex", '[[checks]]\nid="a"\nkind="log"\npoints=1\non_load_regex=["(x"]\n',
     ["on_load_regex[0]", "not a valid regular expression"]),
    ("two-line", '[[checks]]\nid="a"\nkind="log"\npoints=1\non_load=["a\\nb"]\n', ["spans lines"]),
    ("empty log", '[[checks]]\nid="a"\nkind="log"\npoints=1\n', ["no lines"]),
    ("dup id", '[[checks]]\nid="a"\nkind="log"\npoints=1\non_load=["x"]\n' * 2,
     ['two [[checks]] have id "a"']),
    ("reserved", '[[checks]]\nid="build"\nkind="log"\npoints=1\non_load=["x"]\n', ["reserved"]),
    ("generic", '[generic]\nbulid = 3\n', ["[generic]", "`bulid` is not a generic check"]),
    ("relative", '[[checks]]\nid="a"\nkind="files"\npoints=1\npaths=["dev/x"]\n',
     ["paths[0]", "not absolute"]),
    ("log no value", '[[checks]]\nid="a"\nkind="params"\npoints=1\nmodule="m"\nname="n"\n'
     'log="x"\n', ["`log` without `value`"]),
    ("param type", '[[checks]]\nid="a"\nkind="params"\npoints=1\nmodule="m"\nname="n"\n'
     'type="integer"\n', ['unknown parameter type "integer"']),
    ("modinfo value", '[[checks]]\nid="a"\nkind="modinfo"\npoints=1\nmodule="m"\n'
     'fields={license=3}\n', ["fields.license must be"]),
    ("symbol", '[[checks]]\nid="a"\nkind="exports"\npoints=1\nmodule="m"\nsymbols=[{nam="x"}]\n',
     ["symbols[0]", "unknown field `nam`", "name, gpl_only"]),
    ("symbol name", '[[checks]]\nid="a"\nkind="exports"\npoints=1\nmodule="m"\n'
     'symbols=[{gpl_only=true}]\n', ["symbols[0]", "missing `name`"]),
    ("not a table", '[[checks]]\nid="a"\nkind="files"\npoints=1\npaths=[3]\n',
     ["paths[0]", "not a table but an integer"]),
]  # fmt: skip


@pytest.mark.parametrize(("what", "text", "words"), BAD, ids=[b[0] for b in BAD])
def test_a_mistake_is_one_line_naming_file_entry_and_fix(tmp_path, what, text, words) -> None:
    """Is each kind of mistake one InputError line with the file, the entry and a fix?"""
    full = text if text.startswith(("version", "[exercise]")) else HEAD + text
    with pytest.raises(InputError) as info:
        ex.load_expectations(write(tmp_path, full))
    err = info.value
    line = err.line()
    assert "\n" not in line and str(tmp_path / "expectations.toml") in line
    assert err.fix
    for w in words:
        assert w in line, (w, line)


def test_a_missing_file_says_where_the_format_is(tmp_path) -> None:
    """Does a missing file name itself and point at the format's documentation?"""
    with pytest.raises(InputError, match="no such expectations file.*docs/expectations.md"):
        ex.load_expectations(tmp_path / "nope.toml")


# -- judges -----------------------------------------------------------------------
def common(kind: str, **kw) -> dict:
    return {"id": "c", "kind": kind, "points": 2.0, "title": "c", "partial": False, **kw}


LOG = ex.LogCheck(
    **common("log"),
    on_load=(ex.Pattern("mydev: ready"),),
    on_unload=(ex.Pattern(r"mydev: served \d+ reads", regex=True),),
)


def test_log_passes_on_whole_records() -> None:
    """Do an exact load line and a regex unload line pass with full points?"""
    r = ex.judge(LOG, {"load_log": ["x", "mydev: ready"], "unload_log": ["mydev: served 3 reads"]})
    assert (r.status, r.score, r.max_score) == ("pass", 2.0, 2.0)
    assert r.summary == "2 of 2 expected log lines appeared"


def test_log_fails_on_a_missing_line_with_a_finding() -> None:
    """Does a missing unload line fail the check with a missing-log-line finding?"""
    r = ex.judge(LOG, {"load_log": ["mydev: ready"], "unload_log": ["mydev: bye"]})
    assert (r.status, r.score) == ("fail", 0.0)
    assert [f.kind for f in r.findings] == ["missing-log-line"]
    assert "on unload" in r.findings[0].message


def test_log_level_is_required_when_the_check_names_one(tmp_path) -> None:
    """With level = "info", does a line logged with pr_warn fail, naming both levels?"""
    check = one(
        tmp_path,
        'id = "hello"\nkind = "log"\npoints = 1\non_load = ["Hello"]\nlevel = "info"\n',
    )
    assert check.level == 6
    right = {"load_log": ["Hello"], "load_levels": [6], "unload_log": [], "unload_levels": []}
    assert ex.judge(check, right).status == "pass"
    wrong = {"load_log": ["Hello"], "load_levels": [4], "unload_log": [], "unload_levels": []}
    r = ex.judge(check, wrong)
    assert r.status == "fail"
    assert r.findings[0].message == (
        "expected on load at KERN_INFO: 'Hello', but it was logged at KERN_WARNING"
    )
    # Without a level in the check, any level will do.
    assert ex.judge(LOG, {"load_log": ["mydev: ready"], "load_levels": [0],
                          "unload_log": ["mydev: served 1 reads"], "unload_levels": [7]}
                    ).status == "pass"  # fmt: skip


def test_log_level_must_be_a_printk_level(tmp_path) -> None:
    """Is a misspelt level a one-line error listing the levels?"""
    with pytest.raises(InputError, match="is not a printk level: use one of emerg, alert"):
        one(tmp_path, 'id = "h"\nkind = "log"\npoints = 1\non_load = ["x"]\nlevel = "INFO"\n')


def test_log_is_not_fooled_by_a_module_imitating_lines_or_grader_output() -> None:
    """Do embedded newlines, prefixes and fake verdicts from the module leave it failing?"""
    fake = [
        "noise\nmydev: ready",  # one record: not the line, though dmesg shows it on its own
        "[    1.0] mydev: ready",
        "mydev: ready ",
        "PASS c 2/2 all expected log lines appeared",
        "kmodlab: verdict pass",
    ]
    r = ex.judge(LOG, {"load_log": fake, "unload_log": ["mydev: served 3 reads\nPASS"]})
    assert r.status == "fail" and len(r.findings) == 2


def test_partial_credit_is_proportional_when_asked() -> None:
    """With partial = true, does meeting 1 of 2 lines give half the points?"""
    check = ex.LogCheck(**common("log", partial=True), on_load=LOG.on_load, on_unload=LOG.on_unload)
    r = ex.judge(check, {"load_log": ["mydev: ready"], "unload_log": []})
    assert (r.status, r.score) == ("fail", 1.0)


def test_missing_evidence_is_an_error_not_a_fail() -> None:
    """Without the evidence it needs, does a judge say the grader could not decide?"""
    r = ex.judge(LOG, {"load_log": ["mydev: ready"]})
    assert (r.status, r.score, r.max_score) == ("error", 0.0, 2.0)
    assert "unload_log" in r.summary
    bad = ex.judge(LOG, {"load_log": "mydev: ready", "unload_log": []})
    assert bad.status == "error" and "malformed" in bad.summary


MODINFO = ex.ModinfoCheck(
    **common("modinfo"),
    module="mydev",
    fields=(("license", ex.Pattern("GPL( v2)?", regex=True)), ("author", None)),
)


def test_modinfo_passes_with_the_fields_present() -> None:
    """Do a matching license and any author pass?"""
    ev = {"modinfo": {"mydev": {"license": ["GPL v2"], "author": ["A", "B"]}}}
    assert ex.judge(MODINFO, ev).status == "pass"


def test_modinfo_fails_on_a_wrong_license_and_a_missing_author() -> None:
    """Are a proprietary license and an empty author two findings?"""
    ev = {"modinfo": {"mydev": {"license": "Proprietary", "author": [""]}}}
    r = ex.judge(MODINFO, ev)
    assert r.status == "fail"
    assert [f.message for f in r.findings] == [
        "license is 'Proprietary', expected /GPL( v2)?/",
        "mydev.ko has no MODULE_AUTHOR",
    ]


EXPORTS = ex.ExportsCheck(
    **common("exports"), module="prov", symbols=(("prov_get", True), ("prov_put", None))
)


def test_exports_pass_with_the_right_gpl_ness() -> None:
    """Is a GPL-only export where GPL-only is required, plus any export, a pass?"""
    ev = {"exports": {"prov": {"prov_get": "EXPORT_SYMBOL_GPL", "prov_put": "EXPORT_SYMBOL"}}}
    assert ex.judge(EXPORTS, ev).status == "pass"


def test_exports_fail_on_plain_export_and_missing_symbol() -> None:
    """Do a plain EXPORT_SYMBOL where GPL is required and a missing symbol fail?"""
    r = ex.judge(EXPORTS, {"exports": {"prov": {"prov_get": "EXPORT_SYMBOL"}}})
    assert [f.message for f in r.findings] == [
        "prov_get is exported with EXPORT_SYMBOL, expected EXPORT_SYMBOL_GPL",
        "prov does not export prov_put",
    ]


PARAM = ex.ParamCheck(
    **common("params"), module="mydev", name="count", type="int", default="1", value="3",
    log=ex.Pattern("mydev: count=3"),
)  # fmt: skip


def param_ev(**seen) -> dict:
    base = {"type": "int", "default": "1\n",
            "with_value": {"returncode": 0, "load_log": ["mydev: count=3"]}}  # fmt: skip
    return {"params": {"mydev": {"count": {**base, **seen}}}}


def test_params_pass_with_type_default_and_value_line() -> None:
    """Do the declared type, the sysfs default and the logged value pass?"""
    r = ex.judge(PARAM, param_ev())
    assert r.status == "pass" and r.summary == "3 of 3 parameter checks passed"


def test_params_fail_on_wrong_default_and_value_not_logged() -> None:
    """Are a wrong default and a silent value two findings?"""
    r = ex.judge(PARAM, param_ev(default="0", with_value={"returncode": 0, "load_log": []}))
    assert r.status == "fail"
    assert [f.kind for f in r.findings] == ["param", "missing-log-line"]


def test_params_undeclared_parameter_fails_every_item_once() -> None:
    """Does a missing module_param fail all items with a single finding, even when partial?"""
    check = ex.ParamCheck(**{**PARAM.__dict__, "partial": True})
    r = ex.judge(check, param_ev(type=None))
    assert (r.status, r.score, len(r.findings)) == ("fail", 0.0, 1)


FILES = ex.FilesCheck(
    **common("files"), paths=(("/dev/mydev", None), ("/proc/mydev", r"^reads: \d+$"))
)


def test_files_pass_when_present_with_matching_content() -> None:
    """Do an existing node and a /proc file with a matching line pass?"""
    ev = {"files": {"/dev/mydev": "", "/proc/mydev": "name: mydev\nreads: 4\n"}}
    assert ex.judge(FILES, ev).status == "pass"


def test_files_fail_when_missing_or_content_differs() -> None:
    """Are a missing node and non-matching content each a finding of its own kind?"""
    ev = {"files": {"/dev/mydev": None, "/proc/mydev": "reads: many\n"}}
    r = ex.judge(FILES, ev)
    assert [f.kind for f in r.findings] == ["missing-file", "file-content"]


IN_USE = ex.ProviderInUseCheck(**common("provider-in-use"), provider="prov", consumer="cons")


def test_files_of_modules_that_did_not_load_are_not_called_missing() -> None:
    """When the modules failed to load, does the check say so instead of "does not exist"?"""
    ev = {"files": {"/dev/mydev": None, "/proc/mydev": None}, "files_loaded": False}
    r = ex.judge(FILES, ev)
    assert (r.status, r.score, r.summary) == ("fail", 0.0, "0 of 2 files as expected")
    (f,) = r.findings
    assert "did not load" in f.message and "does not exist" not in f.message


def test_provider_in_use_passes_when_rmmod_is_refused() -> None:
    """Does kmod's "is in use" refusal pass?"""
    ev = {"rmmod_provider_while_used": {
        "returncode": 1, "stderr": "rmmod: ERROR: Module prov is in use by: cons\n"}}  # fmt: skip
    assert ex.judge(IN_USE, ev).status == "pass"


@pytest.mark.parametrize(
    ("rc", "stderr"), [(0, ""), (1, "rmmod: ERROR: Module prov is not currently loaded")]
)
def test_provider_in_use_fails_when_removed_or_refused_for_another_reason(rc, stderr) -> None:
    """Do a successful rmmod, or one failing for another reason, fail?"""
    r = ex.judge(IN_USE, {"rmmod_provider_while_used": {"returncode": rc, "stderr": stderr}})
    assert r.status == "fail" and r.findings[0].kind == "provider-removable"


UNKNOWN = ex.UnknownSymbolCheck(
    **common("unknown-symbol"), consumer="my-cons", symbols=("prov_get",)
)


def test_unknown_symbol_passes_on_the_kernel_line_for_the_consumer() -> None:
    """Does the kernel's "my_cons: Unknown symbol prov_get (err -2)" pass (dash to underscore)?"""
    ev = {"consumer_alone": {"returncode": 1, "stderr": "insmod: ERROR: ...",
                             "log": ["my_cons: Unknown symbol prov_get (err -2)"]}}  # fmt: skip
    assert ex.judge(UNKNOWN, ev).status == "pass"


@pytest.mark.parametrize(
    ("rc", "log"),
    [
        (0, []),
        (1, ["my_cons: Unknown symbol other_sym (err -2)"]),
        (
            1,
            [
                "fake: my_cons: Unknown symbol prov_get (err -2)",
                "other: Unknown symbol prov_get (err -2)",
            ],
        ),
    ],
)
def test_unknown_symbol_fails_on_load_success_or_other_lines(rc, log) -> None:
    """Do a successful load, another symbol, or lines not about the consumer fail?"""
    ev = {"consumer_alone": {"returncode": rc, "stderr": "", "log": log}}
    r = ex.judge(UNKNOWN, ev)
    assert (r.status, r.score) == ("fail", 0.0) and r.findings[0].kind == "unknown-symbol"


# -- the closest line beside a missing one (issue 9, item 12) ----------------------
PUBLIC_HELLO = ex.LogCheck(
    **common("log"),
    on_load=(ex.Pattern("Hello, world!"),),
    on_unload=(),
    level=6,
    public=True,
)


def _hello_log(lines: list[str], levels: list[int]) -> dict:
    return {"load_log": lines, "load_levels": levels, "unload_log": [], "unload_levels": []}


@pytest.mark.parametrize(
    ("logged", "hint"),
    [
        ("Hello world!", "missing ',' after 'Hello'"),
        ("Hello, world! ", "extra ' ' at the end"),
        ("hello, world!", "'h' instead of 'H' at the start"),
    ],
)
def test_public_log_check_shows_the_closest_line_and_what_differs(logged, hint) -> None:
    """Does a missing public line show the closest logged line and the invisible difference?"""
    r = ex.judge(PUBLIC_HELLO, _hello_log(["greeter loaded", logged], [6, 6]))
    (f,) = r.findings
    assert f.data["closest"] == logged
    assert f.data["difference"] == hint
    assert f"closest logged: {logged!r} ({hint})" in f.message


def test_closest_line_names_a_wrong_level_too() -> None:
    """Is a line that differs in text and was logged with pr_warn shown with both differences?"""
    r = ex.judge(PUBLIC_HELLO, _hello_log(["Hello world!"], [4]))
    assert "at KERN_WARNING instead of KERN_INFO" in r.findings[0].message


def test_nothing_alike_is_said_plainly() -> None:
    """When no logged line resembles the expected one, is none shown as 'closest'?"""
    r = ex.judge(PUBLIC_HELLO, _hello_log(["virtio: probe", "xyz"], [6, 6]))
    (f,) = r.findings
    assert "closest" not in f.data
    assert "nothing alike was logged on load" in f.message


def test_hidden_log_check_shows_no_closest_line_nor_difference() -> None:
    """Does a hidden check (public unset) keep the student's near miss and the diff to itself?"""
    hidden = ex.LogCheck(**common("log"), on_load=(ex.Pattern("Hello, world!"),), on_unload=())
    assert hidden.public is False
    r = ex.judge(hidden, _hello_log(["Hello world!"], [6]))
    (f,) = r.findings
    assert f.data == {"hidden": True}
    assert "closest" not in f.message and "missing ','" not in f.message


def test_public_is_read_from_the_file(tmp_path) -> None:
    """Is `public = true` accepted on a log check, and a non-boolean refused?"""
    check = one(tmp_path, 'id = "h"\nkind = "log"\npoints = 1\non_load = ["Hi"]\npublic = true\n')
    assert check.public is True
    with pytest.raises(InputError, match="`public` must be true or false"):
        one(tmp_path, 'id = "h"\nkind = "log"\npoints = 1\non_load = ["Hi"]\npublic = "yes"\n')


def test_the_course_log_checks_are_public() -> None:
    """Are the course's log checks, whose lines each task states, marked public?"""
    root = Path(__file__).resolve().parents[2] / "autograder"
    for path in sorted(root.glob("*/expectations.toml")):
        for c in ex.load_expectations(path).checks:
            if c.kind == "log":
                assert c.public, f"{path}: {c.id}"
