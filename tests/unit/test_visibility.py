"""Hidden checks stay hidden: `visibility` in expectations.toml, in every output format.

Each case is a failing check whose expected answer holds a secret word. As a
hidden check (visibility other than "visible"), the secret must appear in no
output: the report's JSON, its text (grade, grade-batch's reports), Gradescope's
results.json, and the nbgrader test cell's failure message. The same check
visible is the control: it still names what it expects, as before.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kmodlab.course.checks import failure_message
from kmodlab.errors import InputError
from kmodlab.grader.report import formats
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.gradescope import apply_visibility


def common(kind: str) -> dict:
    return {"id": "secret-check", "kind": kind, "points": 2.0, "title": "t", "partial": False}


LOG_EV = {"load_log": ["mydev: secret redy"], "load_levels": [6], "unload_log": [],
          "unload_levels": []}  # fmt: skip
# (check, evidence that fails it, the secret only the expected answer holds)
CASES = {
    "log": (
        ex.LogCheck(**common("log"), on_load=(ex.Pattern("mydev: secret ready"),), on_unload=()),
        LOG_EV,
        "secret ready",
    ),
    "log-regex": (
        ex.LogCheck(
            **common("log"), on_load=(ex.Pattern(r"mydev: secret \d+", regex=True),), on_unload=()
        ),
        LOG_EV,
        r"secret \d+",
    ),
    "modinfo": (
        ex.ModinfoCheck(
            **common("modinfo"), module="mydev", fields=(("license", ex.Pattern("GPL-sesame")),)
        ),
        {"modinfo": {"mydev": {"license": ["Proprietary"]}}},
        "GPL-sesame",
    ),
    "exports": (
        ex.ExportsCheck(**common("exports"), module="prov", symbols=(("sesame_get", True),)),
        {"exports": {"prov": {}}},
        "sesame_get",
    ),
    "params": (
        ex.ParamCheck(
            **common("params"),
            module="mydev",
            name="count",
            type="int",
            default="4242",
            value="3",
            log=ex.Pattern("mydev: sesame=3"),
        ),  # fmt: skip
        {
            "params": {
                "mydev": {
                    "count": {
                        "type": "int",
                        "default": "1\n",
                        "with_value": {"returncode": 0, "load_log": []},
                    }
                }
            }
        },
        "4242",
    ),  # fmt: skip
    "files-missing": (
        ex.FilesCheck(**common("files"), paths=(("/proc/sesame", None),)),
        {"files": {"/proc/sesame": None}},
        "sesame",
    ),
    "files-content": (
        ex.FilesCheck(**common("files"), paths=(("/proc/mydev", r"^sesame: \d+$"),)),
        {"files": {"/proc/mydev": "reads: 4\n"}},
        "sesame",
    ),
    "unknown-symbol": (
        ex.UnknownSymbolCheck(**common("unknown-symbol"), consumer="cons", symbols=("sesame_get",)),
        {
            "consumer_alone": {
                "returncode": 1,
                "stderr": "",
                "log": ["cons: Unknown symbol other_get (err -2)"],
            }
        },
        "sesame_get",
    ),  # fmt: skip
    "kbuild": (
        ex.KbuildCheck(**common("kbuild"), modules=(("pair", ("pair_main", "sesame_util")),)),
        {"kbuild": {"origin": "Makefile", "modules": {"pair": ["pair_main"]}}},
        "sesame_util",
    ),
    "no-evidence": (
        ex.FilesCheck(**common("files"), paths=(("/proc/sesame", None),)),
        {"files": {}},
        "sesame",
    ),
}


def outputs(check: ex.Check, evidence: dict) -> dict[str, str]:
    """Everything a student or a tool may read of the check's verdict."""
    result = ex.judge(check, evidence)
    report = Report("alice", "6.1.0-50-amd64", [result], exercise="misc-device")
    results = apply_visibility(formats.to_gradescope(report), {"hidden": []})
    return {
        "json": formats.to_json(report),
        "text": formats.to_text(report),
        "gradescope": json.dumps(results),
        "nbgrader": failure_message(report, report.max_score, {}),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failing_hidden_check_prints_no_expected_text_anywhere(case: str) -> None:
    """Does a failing hidden check keep its expected answer out of the JSON, the text, the
    Gradescope results and the nbgrader message, while still failing (or erring) with one
    finding per unmet item, its visibility in data, and the same check visible naming it?"""
    check, evidence, secret = CASES[case]
    hidden = replace(check, visibility="after_published")
    seen = outputs(hidden, evidence)
    for name, text in seen.items():
        assert secret not in text, f"{case}: the {name} output shows {secret!r}"
        assert ex.HIDDEN_NOTE in text, name
    shown = ex.judge(check, evidence)
    concealed = ex.judge(hidden, evidence)
    assert concealed.status == shown.status != "pass"
    assert concealed.score == shown.score
    assert [f.kind for f in concealed.findings] == [f.kind for f in shown.findings]
    assert all(f.data == {"hidden": True} and f.file is None for f in concealed.findings)
    assert concealed.data["visibility"] == "after_published"
    results = json.loads(seen["gradescope"])
    assert [t["visibility"] for t in results["tests"]] == ["after_published"]
    # The control: visible, the same failure names what it expects, as before.
    assert any(secret in text for text in outputs(check, evidence).values()), case


def test_a_visible_check_is_unchanged() -> None:
    """Is a visible check's verdict exactly the judge's own, with no visibility in its data
    and Gradescope's "visible"?"""
    check, evidence, _ = CASES["log"]
    result = ex.judge(check, evidence)
    assert result == ex.KINDS["log"].judge(check, evidence)
    assert "visibility" not in result.data
    report = Report("alice", "k", [result])
    assert formats.to_gradescope(report)["tests"][0]["visibility"] == "visible"


def test_a_passing_hidden_check_keeps_its_counts() -> None:
    """Does a passing hidden check say how many items it met, and nothing of them?"""
    check = replace(CASES["files-missing"][0], visibility="hidden")
    result = ex.judge(check, {"files": {"/proc/sesame": ""}})
    assert (result.status, result.score) == ("pass", 2.0)
    assert result.summary == f"1 of 1 items as expected ({ex.HIDDEN_NOTE})"


HEAD = 'version = 1\n[exercise]\nname = "misc-device"\n[[checks]]\nid = "h"\nkind = "log"\n'


def test_visibility_is_read_from_expectations_toml(tmp_path) -> None:
    """Is `visibility` read (default "visible"), a value Gradescope does not know refused,
    and `public = true` on a hidden check refused, each as one line with the fix?"""
    path = tmp_path / "expectations.toml"

    def load(extra: str) -> ex.Check:
        path.write_text(HEAD + 'points = 1\non_load = ["Hi"]\n' + extra)
        return ex.load_expectations(path).checks[0]

    assert load("").visibility == "visible"
    assert load('visibility = "after_published"\n').visibility == "after_published"
    with pytest.raises(InputError, match="is not a visibility") as caught:
        load('visibility = "secret"\n')
    assert "after_published" in caught.value.fix
    with pytest.raises(InputError, match="public = true` on a hidden check"):
        load('visibility = "hidden"\npublic = true\n')


def test_the_bundles_hide_flag_still_hides_a_visible_check() -> None:
    """Does `kmodlab gradescope --hide` still make a visible check after_published, and leave
    a check hidden by expectations.toml as its file says?"""
    results = {"tests": [{"name": "greetings", "visibility": "visible"},
                         {"name": "secret", "visibility": "hidden"}]}  # fmt: skip
    out = apply_visibility(results, {"hidden": ["greetings", "secret"], "visibility": "visible"})
    assert [t["visibility"] for t in out["tests"]] == ["after_published", "hidden"]
    assert (out["visibility"], out["stdout_visibility"]) == ("visible", "hidden")


def test_the_documented_hidden_check_loads(tmp_path) -> None:
    """Does the hidden check shown in docs/expectations.md load, as after_published?"""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "expectations.md").read_text()
    section = doc[doc.index("## Hidden checks") :]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block
    path = tmp_path / "expectations.toml"
    path.write_text('version = 1\n[exercise]\nname = "capstone"\n' + block.group(1))
    (check,) = ex.load_expectations(path).checks
    assert (check.kind, check.visibility) == ("files", "after_published")


def test_the_bundles_top_level_visibility_is_chosen(tmp_path) -> None:
    """Does `kmodlab gradescope --visibility after_published` put it in the bundle's config,
    and so in results.json's top level, and is an unknown one refused?"""
    import zipfile

    from kmodlab import gradescope
    from kmodlab.cli import main
    from tests.unit.test_gradescope import make_bundle

    bundle = make_bundle(tmp_path, "--visibility", "after_published")
    with zipfile.ZipFile(bundle) as z:
        config = json.loads(z.read(gradescope.CONFIG))
    assert config["visibility"] == "after_published"
    assert apply_visibility({"tests": []}, config)["visibility"] == "after_published"
    with pytest.raises(SystemExit):
        main(["gradescope", "hello", "--visibility", "later"])
