"""Per-exercise expectations (autograder/<exercise>/expectations.toml) and their judges.

The file says what an exercise's modules must do beyond the generic checks:
log lines on load/unload, modinfo fields, exports, parameters, files while
loaded, a provider that cannot be removed while used, a consumer that cannot
load alone. Format and evidence keys: docs/expectations.md.

Loading validates everything up front and reports the first mistake as one
InputError line naming the file, the entry and the fix: a typo in an
expectations file must fail before a class is graded, not in the middle.

Judges are pure: (check, evidence) -> CheckResult. ExerciseEvidence is what the
pipeline observed in the guest; a judge never reads the console or a
module's own claims, and log lines match whole kernel log records only, so a
module printing grader-looking text cannot change a verdict.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from kmodlab.errors import InputError
from kmodlab.grader.report.model import CheckResult, Finding
from kmodlab.grader.verdicts.judges import DEFAULT_GENERIC_POINTS, GENERIC_CHECKS

VERSION = 1
# Ids an exercise check may not take: generic checks, the batch's error check, CSV columns.
RESERVED_IDS = frozenset({*GENERIC_CHECKS, "grader", "name", "score", "max_score", "status"})
PARAM_TYPES = ("byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint")
PARAM_TYPES += ("charp", "bool", "invbool", "string")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_MODULE = re.compile(r"^[A-Za-z0-9_-]+$")
_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PERM = re.compile(r"^0?[0-7]{3}$")
# Gradescope's test visibilities; every one but "visible" hides what the check expects.
VISIBILITIES = ("visible", "after_published", "after_due_date", "hidden")

ExerciseEvidence = Mapping[str, Any]


# -- the model ------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    """A whole line: exact text, or a regular expression that must match all of it."""

    text: str
    regex: bool = False

    def matches(self, line: str) -> bool:
        if self.regex:
            return re.fullmatch(self.text, line) is not None
        return line == self.text

    def __str__(self) -> str:
        return f"/{self.text}/" if self.regex else repr(self.text)


@dataclass(frozen=True, kw_only=True)
class Check:
    """One [[checks]] entry: the fields every kind has."""

    id: str
    kind: str
    points: float
    title: str
    partial: bool  # credit in proportion to the items met, instead of all or nothing
    # Who sees the check, in Gradescope's words: anything but "visible" is a hidden
    # check, whose findings never show what it expects (conceal()).
    visibility: str = "visible"


# printk levels by the name of their KERN_* macro (KERN_INFO -> "info").
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


@dataclass(frozen=True, kw_only=True)
class LogCheck(Check):
    on_load: tuple[Pattern, ...]
    on_unload: tuple[Pattern, ...]
    level: int | None = None  # each line must be logged at this level (index in LOG_LEVELS)
    # The exercise's task states these lines: a missing one may be shown beside
    # the closest line logged. Hidden checks (false) never show either.
    public: bool = False


@dataclass(frozen=True, kw_only=True)
class ModinfoCheck(Check):
    module: str
    fields: tuple[tuple[str, Pattern | None], ...]  # None: present and not empty


@dataclass(frozen=True, kw_only=True)
class ExportsCheck(Check):
    module: str
    symbols: tuple[tuple[str, bool | None], ...]  # gpl_only: True, False, or None (either)


@dataclass(frozen=True, kw_only=True)
class ParamCheck(Check):
    module: str
    name: str
    type: str | None
    default: str | None  # as /sys/module/<m>/parameters/<name> shows it
    value: str | None  # passed as name=value at insmod
    log: Pattern | None  # the line that load must log
    perm: int | None = None  # the sysfs file's permission bits (module_param's third argument)


@dataclass(frozen=True, kw_only=True)
class FilesCheck(Check):
    paths: tuple[tuple[str, str | None], ...]  # (absolute path, content regex or None)


@dataclass(frozen=True, kw_only=True)
class ProviderInUseCheck(Check):
    provider: str
    consumer: str


@dataclass(frozen=True, kw_only=True)
class UnknownSymbolCheck(Check):
    consumer: str
    symbols: tuple[str, ...]  # empty: any unknown symbol will do


@dataclass(frozen=True, kw_only=True)
class KbuildCheck(Check):
    # {module: its objects without .o}, as the student's Makefile (or Kbuild) must say
    modules: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, kw_only=True)
class ExtraSymbolsCheck(Check):
    # Two folders of the submission, each with its own Makefile (or Kbuild): the
    # provider's module, and the consumer's, built against the provider's
    # Module.symvers that the consumer's KBUILD_EXTRA_SYMBOLS must name.
    provider_folder: str
    provider: str
    consumer_folder: str
    consumer: str


@dataclass(frozen=True, kw_only=True)
class BuildCleanCheck(Check):
    # Diagnostic kinds (kmodlab.build.diagnostics) the build must not report, e.g.
    # "section-mismatch": a warning the task asks the student to read and fix.
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Expectations:
    path: Path
    name: str
    title: str
    checks: tuple[Check, ...]
    generic_points: Mapping[str, float]
    version: int = VERSION
    # Check ids the stage teaches (the scoring policy, score_report); None: the own checks.
    teaches: tuple[str, ...] | None = None
    # Fallible calls init must make: fault injection without them proves nothing.
    requires: tuple[str, ...] = ()

    @property
    def taught(self) -> tuple[str, ...]:
        """The checks that measure what the stage teaches (scored as judged)."""
        return self.teaches if self.teaches is not None else tuple(c.id for c in self.checks)

    def points(self, check_id: str) -> float:
        """Max score of a generic or exercise check."""
        if check_id in self.generic_points:
            return self.generic_points[check_id]
        for c in self.checks:
            if c.id == check_id:
                return c.points
        raise KeyError(check_id)

    @property
    def max_score(self) -> float:
        return sum(self.generic_points.values()) + sum(c.points for c in self.checks)


# -- loading --------------------------------------------------------------------
def load_expectations(path: Path) -> Expectations:
    """Read and validate an expectations file; any mistake is one InputError line."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such expectations file",
            "create it (format: docs/expectations.md) or check the exercise name",
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it ({e})", "check the file's permissions") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})", "fix the syntax at that place") from None
    top = _Fields(doc, "top level", path).only("version", "exercise", "generic", "checks")
    _check_version(top)
    ex = _Fields(top.table("exercise", required=True), "[exercise]", path)
    ex.only("name", "title", "teaches", "requires")
    name = ex.string("name", required=True, pattern=_ID, what="a lower-case slug like misc-device")
    title = ex.string("title", default=name)
    generic = _generic_points(top.table("generic", default={}), path)
    entries = top.get("checks", list, default=[], what="a list of [[checks]] tables")
    checks = tuple(_check(e, i, path) for i, e in enumerate(entries))
    _unique_ids(checks, path)
    teaches = _teaches(ex, checks)
    requires = _names(ex, "requires", "fallible calls such as kzalloc")
    return Expectations(path, name, title, checks, generic, teaches=teaches, requires=requires)


def _names(f: _Fields, key: str, what: str) -> tuple[str, ...]:
    items = f.get(key, list, default=[], what=f"a list of {what}")
    for item in items:
        if not isinstance(item, str) or not _SYMBOL.match(item):
            f.fail(f"{key}: {item!r} is not a C identifier", f"list {what} as strings")
    return tuple(items)


def _teaches(ex: _Fields, checks: Sequence[Check]) -> tuple[str, ...] | None:
    if "teaches" not in ex.data:
        return None
    ids = [*GENERIC_CHECKS, *(c.id for c in checks)]
    items = ex.get("teaches", list, what="a list of check ids")
    for item in items:
        if item not in ids:
            ex.fail(
                f"teaches: {item!r} is not a check of this exercise",
                f"use some of: {', '.join(ids)}",
            )
    if not items:
        ex.fail("`teaches` is empty", "name the checks the stage teaches, or leave teaches out")
    return tuple(items)


def _check_version(top: _Fields) -> None:
    version = top.get("version", int, required=True, what="the number 1")
    if version != VERSION:
        top.fail(
            f"version {version} is not one this kmodlab reads (it reads version {VERSION})",
            f"write version = {VERSION}, or use the kmodlab the file was written for",
        )


def _generic_points(table: dict[str, Any], path: Path) -> dict[str, float]:
    f = _Fields(table, "[generic]", path)
    points = dict(DEFAULT_GENERIC_POINTS)
    for key in list(table):
        if key not in GENERIC_CHECKS:
            f.fail(f"`{key}` is not a generic check", f"use one of: {', '.join(GENERIC_CHECKS)}")
        points[key] = f.number(key)
    return points


def _unique_ids(checks: Sequence[Check], path: Path) -> None:
    seen: set[str] = set()
    for c in checks:
        if c.id in seen:
            raise InputError(
                f'{path}: two [[checks]] have id "{c.id}"', "give each check its own id"
            )
        seen.add(c.id)


def _check(entry: object, index: int, path: Path) -> Check:
    where = f"[[checks]] #{index + 1}"
    f = _Fields(entry, where, path)
    check_id = f.string("id", required=True, pattern=_ID, what="a lower-case slug like greeting")
    f.where = f'{where} (id "{check_id}")'
    kind = f.string("kind", required=True, what=f"one of {', '.join(KINDS)}")
    if kind not in KINDS:
        f.fail(f'unknown kind "{kind}"', f"use one of: {', '.join(KINDS)}")
    # Typos first: a misspelt field explains a "missing field" better than the reverse.
    f.only(*_COMMON_FIELDS, *KINDS[kind].fields)
    if check_id in RESERVED_IDS:
        f.fail(f'id "{check_id}" is reserved', "choose another id (generic checks use these)")
    common = {
        "id": check_id,
        "kind": kind,
        "points": f.number("points", required=True),
        "title": f.string("title", default=check_id),
        "partial": f.get("partial", bool, default=False, what="true or false"),
        "visibility": f.string("visibility", default="visible", what="a string"),
    }
    if common["visibility"] not in VISIBILITIES:
        f.fail(
            f'`visibility` = "{common["visibility"]}" is not a visibility',
            f"use one of {', '.join(VISIBILITIES)}",
        )
    public = f.get("public", bool, default=False, what="true or false")
    if common["visibility"] != "visible" and public:
        f.fail(
            "`public = true` on a hidden check would show what it expects",
            'remove public, or make the check visibility = "visible"',
        )
    return KINDS[kind].parse(f, common)


def _parse_log(f: _Fields, common: dict[str, Any]) -> Check:
    on_load = f.patterns("on_load") + f.patterns("on_load_regex", regex=True)
    on_unload = f.patterns("on_unload") + f.patterns("on_unload_regex", regex=True)
    if not on_load and not on_unload:
        f.fail("a log check with no lines", "add on_load = [...] or on_unload = [...]")
    level = f.string("level")
    if level is not None and level not in LOG_LEVELS:
        f.fail(f'`level` = "{level}" is not a printk level', f"use one of {', '.join(LOG_LEVELS)}")
    return LogCheck(
        **common,
        on_load=on_load,
        on_unload=on_unload,
        level=LOG_LEVELS.index(level) if level is not None else None,
        public=f.get("public", bool, default=False, what="true or false"),
    )


def _parse_modinfo(f: _Fields, common: dict[str, Any]) -> Check:
    module = f.string("module", required=True, pattern=_MODULE, what="a module name")
    table = f.table("fields", required=True)
    fields: list[tuple[str, Pattern | None]] = []
    for key, value in table.items():
        if value is True:
            fields.append((key, None))
        elif isinstance(value, str):
            fields.append((key, Pattern(value)))
        elif isinstance(value, dict) and set(value) == {"regex"}:
            fields.append((key, Pattern(f.regex(value["regex"], f"fields.{key}"), regex=True)))
        else:
            f.fail(
                f'fields.{key} must be true, a string or {{ regex = "..." }}',
                f'write e.g. {key} = true or {key} = "GPL"',
            )
    if not fields:
        f.fail("`fields` is empty", 'name at least one field, e.g. fields = { license = "GPL" }')
    return ModinfoCheck(**common, module=module, fields=tuple(fields))


def _parse_exports(f: _Fields, common: dict[str, Any]) -> Check:
    module = f.string("module", required=True, pattern=_MODULE, what="a module name")
    items = f.get("symbols", list, required=True, what='a list like [{ name = "x" }]')
    symbols: list[tuple[str, bool | None]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        s = _Fields(item, f"{f.where} symbols[{i}]", f.path).only("name", "gpl_only")
        name = s.string("name", required=True, pattern=_SYMBOL, what="a C identifier")
        symbols.append((name, s.get("gpl_only", bool, what="true or false")))
    if not symbols:
        f.fail("`symbols` is empty", "list the symbols the module must export")
    return ExportsCheck(**common, module=module, symbols=tuple(symbols))


def _parse_params(f: _Fields, common: dict[str, Any]) -> Check:
    module = f.string("module", required=True, pattern=_MODULE, what="a module name")
    name = f.string("name", required=True, pattern=_SYMBOL, what="the parameter's C name")
    ptype = f.string("type", what="a parameter type like int or charp")
    if ptype is not None and ptype.removeprefix("array of ") not in PARAM_TYPES:
        f.fail(f'unknown parameter type "{ptype}"', f"use one of: {', '.join(PARAM_TYPES)}")
    default = _param_text(f, "default")
    value = _param_text(f, "value")
    logs = f.patterns("log", single=True) + f.patterns("log_regex", regex=True, single=True)
    if len(logs) > 1:
        f.fail("both `log` and `log_regex`", "keep one of them")
    if logs and value is None:
        f.fail("`log` without `value`", "add value = ... to pass at insmod")
    perm_text = f.string("perm", pattern=_PERM, what='an octal permission like "0444"')
    perm = int(perm_text, 8) if perm_text is not None else None
    if default is None and value is None and ptype is None and perm is None:
        f.fail("nothing to check", "add type, default, perm, or value (with log)")
    log = logs[0] if logs else None
    return ParamCheck(
        **common,
        module=module,
        name=name,
        type=ptype,
        default=default,
        value=value,
        log=log,
        perm=perm,
    )


def _param_text(f: _Fields, key: str) -> str | None:
    v = f.get(key, (str, int, bool), what="a string, an integer or true/false")
    if isinstance(v, bool):
        # sysfs shows a bool parameter as Y/N; insmod accepts the same letters.
        return "Y" if v else "N"
    return None if v is None else str(v)


def _parse_files(f: _Fields, common: dict[str, Any]) -> Check:
    items = f.get("paths", list, required=True, what='a list like ["/dev/x"]')
    paths: list[tuple[str, str | None]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"path": item}
        s = _Fields(item, f"{f.where} paths[{i}]", f.path).only("path", "content")
        path = s.string("path", required=True, what="an absolute path like /dev/mydev")
        if not path.startswith("/"):
            s.fail(f'path "{path}" is not absolute', "write the full path in the guest, from /")
        content = s.string("content", what="a regular expression")
        paths.append((path, None if content is None else s.regex(content, "content")))
    if not paths:
        f.fail("`paths` is empty", "list the files that must exist while loaded")
    return FilesCheck(**common, paths=tuple(paths))


def _parse_in_use(f: _Fields, common: dict[str, Any]) -> Check:
    provider = f.string("provider", required=True, pattern=_MODULE, what="a module name")
    consumer = f.string("consumer", required=True, pattern=_MODULE, what="a module name")
    return ProviderInUseCheck(**common, provider=provider, consumer=consumer)


def _parse_unknown_symbol(f: _Fields, common: dict[str, Any]) -> Check:
    consumer = f.string("consumer", required=True, pattern=_MODULE, what="a module name")
    symbols = f.get("symbols", list, default=[], what="a list of symbol names")
    for s in symbols:
        if not isinstance(s, str) or not _SYMBOL.match(s):
            f.fail(f"symbols: {s!r} is not a symbol name", "list C identifiers as strings")
    return UnknownSymbolCheck(**common, consumer=consumer, symbols=tuple(symbols))


def _parse_kbuild(f: _Fields, common: dict[str, Any]) -> Check:
    table = f.table("modules", required=True)
    modules = []
    for name, objects in table.items():
        if not _MODULE.match(name):
            f.fail(f"modules: {name!r} is not a module name", "use letters, digits, _ and -")
        if not isinstance(objects, list) or not objects:
            f.fail(f"modules.{name} must list its objects", f'write {name} = ["{name}_main.o"]')
        for obj in objects:
            if not isinstance(obj, str) or not re.fullmatch(r"[A-Za-z0-9_][\w/.+-]*\.o", obj):
                f.fail(f"modules.{name}: {obj!r} is not an object name", "write names like util.o")
        modules.append((name, tuple(o[:-2] for o in objects)))
    if not modules:
        f.fail("`modules` is empty", 'name the modules, e.g. modules = { pair = ["a.o", "b.o"] }')
    return KbuildCheck(**common, modules=tuple(modules))


_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def _parse_extra_symbols(f: _Fields, common: dict[str, Any]) -> Check:
    names = {}
    for key, what, pattern in (
        ("provider_folder", "a folder name", _FOLDER),
        ("provider", "a module name", _MODULE),
        ("consumer_folder", "a folder name", _FOLDER),
        ("consumer", "a module name", _MODULE),
    ):
        names[key] = f.string(key, required=True, pattern=pattern, what=what)
    if names["provider_folder"] == names["consumer_folder"]:
        f.fail("the provider and the consumer share a folder", "give each a folder of its own")
    return ExtraSymbolsCheck(**common, **names)


def _parse_build_clean(f: _Fields, common: dict[str, Any]) -> Check:
    kinds = f.get("kinds", list, required=True, what="a list of diagnostic kinds")
    if not kinds or not all(isinstance(k, str) and _ID.match(k) for k in kinds):
        f.fail("`kinds` must list diagnostic kinds", 'write kinds = ["section-mismatch"]')
    return BuildCleanCheck(**common, kinds=tuple(kinds))


_COMMON_FIELDS = ("id", "kind", "points", "title", "partial", "visibility")


class _Fields:
    """Typed access to one TOML table, failing with the file and entry in the message."""

    def __init__(self, table: object, where: str, path: Path) -> None:
        self.where, self.path = where, path
        if not isinstance(table, dict):
            self.fail(f"not a table but {_toml_type(table)}", "write it as { key = value, ... }")
        self.data: dict[str, Any] = table

    def only(self, *allowed: str) -> _Fields:
        """Refuse unknown keys: a misspelt field must not silently disable a check."""
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown field `{key}`", f"use one of: {', '.join(allowed)}")
        return self

    def fail(self, problem: str, fix: str) -> NoReturn:
        raise InputError(f"{self.path}: {self.where}: {problem}", fix)

    def get(
        self, key: str, types: Any, *, required: bool = False, default: Any = None, what: str
    ) -> Any:
        if key not in self.data:
            if required:
                self.fail(f"missing `{key}`", f"add {key} = ... ({what})")
            return default
        value = self.data[key]
        bool_ok = types is bool or (isinstance(types, tuple) and bool in types)
        if not isinstance(value, types) or (isinstance(value, bool) and not bool_ok):
            self.fail(f"`{key}` must be {what}, not {_toml_type(value)}", f"write {key} as {what}")
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
    ) -> Any:
        value = self.get(key, str, required=required, default=default, what=what)
        if value is not None and pattern is not None and not pattern.match(value):
            self.fail(f'`{key}` = "{value}" is not {what}', f"write {key} as {what}")
        return value

    def number(self, key: str, *, required: bool = False) -> float:
        value = self.get(key, (int, float), required=required, default=0, what="a number >= 0")
        if not 0 <= value < float("inf"):
            self.fail(f"`{key}` = {value} is not a number >= 0", f"write {key} as a number >= 0")
        return float(value)

    def table(self, key: str, *, required: bool = False, default: Any = None) -> Any:
        return self.get(key, dict, required=required, default=default, what=f"a [{key}] table")

    def regex(self, text: object, key: str) -> str:
        if not isinstance(text, str):
            self.fail(f"`{key}` must be a regular expression string", f"quote the {key} pattern")
        try:
            re.compile(text)
        except re.error as e:
            self.fail(f"`{key}`: /{text}/ is not a valid regular expression ({e})", "fix it")
        return text

    def patterns(
        self, key: str, *, regex: bool = False, single: bool = False
    ) -> tuple[Pattern, ...]:
        what = "a string" if single else "a list of strings"
        value = self.get(key, str if single else list, default=None, what=what)
        items = [] if value is None else [value] if single else value
        out = []
        for i, item in enumerate(items):
            label = key if single else f"{key}[{i}]"
            if not isinstance(item, str):
                self.fail(f"`{label}` must be a string, not {_toml_type(item)}", "quote it")
            if "\n" in item:
                self.fail(f"`{label}` spans lines", "expect each kernel log line on its own")
            out.append(Pattern(self.regex(item, label) if regex else item, regex=regex))
        return tuple(out)


def _toml_type(value: object) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


# -- judging --------------------------------------------------------------------
class _NoEvidence(Exception):
    """The pipeline did not collect what a judge needs: the grader cannot decide."""


def _need(evidence: ExerciseEvidence, *keys: str) -> Any:
    value: Any = evidence
    for key in keys:
        if not isinstance(value, Mapping) or value.get(key) is None:
            raise _NoEvidence(".".join(keys))
        value = value[key]
    return value


Judge = Callable[[Any, ExerciseEvidence], CheckResult]


def _judge(fn: Callable[[Any, ExerciseEvidence], CheckResult]) -> Judge:
    """Missing or malformed evidence is an "error" verdict (ours), never a "fail" (theirs)."""

    @functools.wraps(fn)
    def wrapper(check: Check, evidence: ExerciseEvidence) -> CheckResult:
        try:
            return fn(check, evidence)
        except _NoEvidence as e:
            summary = f"the grader collected no `{e}` evidence for this check"
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            summary = f"the grader's evidence for this check is malformed ({type(e).__name__}: {e})"
        return CheckResult(check.id, "error", 0.0, check.points, summary)

    return wrapper


def _verdict(
    check: Check, total: int, problems: list[Finding], noun: str, failed: int | None = None
) -> CheckResult:
    """pass with full points, or fail with nothing (or a share, if the check is partial).

    failed counts the items not met when one finding stands for several.
    """
    ok = total - (len(problems) if failed is None else failed)
    if not problems:
        return CheckResult(check.id, "pass", check.points, check.points, f"{ok} of {total} {noun}")
    score = round(check.points * ok / total, 3) if check.partial and total else 0.0
    return CheckResult(check.id, "fail", score, check.points, f"{ok} of {total} {noun}", problems)


def _lines(evidence: ExerciseEvidence, key: str) -> list[str]:
    lines = _need(evidence, key)
    if not isinstance(lines, list) or not all(isinstance(s, str) for s in lines):
        raise TypeError(f"{key} must be a list of strings")
    return lines


def _levels(evidence: ExerciseEvidence, key: str, count: int) -> list[int | None]:
    levels = evidence.get(key)
    if not isinstance(levels, list) or len(levels) != count:
        return [None] * count  # older evidence without levels: the text alone decides
    return levels


@_judge
def judge_log(check: LogCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Did each expected line appear as a whole kernel log record during load / unload
    (at the check's printk level, when it names one)?"""
    problems = []
    for when, patterns, key in (
        ("load", check.on_load, "load_log"),
        ("unload", check.on_unload, "unload_log"),
    ):
        records = _lines(evidence, key) if patterns else []
        levels = _levels(evidence, key.replace("_log", "_levels"), len(records))
        for p in patterns:
            found = [lvl for r, lvl in zip(records, levels, strict=True) if p.matches(r)]
            if not found:
                problems.append(_missing_line(check, p, when, records, levels))
            elif check.level is not None and check.level not in found:
                want = f"KERN_{LOG_LEVELS[check.level].upper()}"
                got = ", ".join(
                    f"KERN_{LOG_LEVELS[lvl].upper()}" if lvl is not None else "an unknown level"
                    for lvl in sorted(set(found), key=lambda x: -1 if x is None else x)
                )
                msg = f"expected on {when} at {want}: {p}, but it was logged at {got}"
                problems.append(Finding("missing-log-line", msg))
    total = len(check.on_load) + len(check.on_unload)
    return _verdict(check, total, problems, "expected log lines appeared")


# Below this similarity (difflib's ratio) a logged line is not shown as "closest":
# an unrelated line would only distract.
CLOSEST_MIN_RATIO = 0.6


def closest_line(expected: Pattern, records: Sequence[str]) -> tuple[int, float] | None:
    """(index, ratio) of the record most like the expected line, if any is alike. Pure.

    A regular expression is compared by its text, which is rough but enough to
    point at "the line you probably meant".
    """
    best: tuple[int, float] | None = None
    for i, record in enumerate(records):
        ratio = difflib.SequenceMatcher(None, expected.text, record, autojunk=False).ratio()
        if ratio >= CLOSEST_MIN_RATIO and (best is None or ratio > best[1]):
            best = (i, ratio)
    return best


def describe_difference(expected: str, logged: str) -> str:
    """What separates a logged line from the expected one, in words. Pure.

    "missing ',' after 'Hello'", "extra ' ' at the end": the differences a
    reader cannot see when the two lines are printed one above the other.
    """
    ops = difflib.SequenceMatcher(None, expected, logged, autojunk=False).get_opcodes()
    parts = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        where = _where(expected, i1)
        if tag == "delete":
            parts.append(f"missing {expected[i1:i2]!r} {where}")
        elif tag == "insert":
            parts.append(f"extra {logged[j1:j2]!r} {where}")
        else:
            parts.append(f"{logged[j1:j2]!r} instead of {expected[i1:i2]!r} {where}")
    if len(parts) > 3:
        return f"{len(parts)} differences, starting with " + "; ".join(parts[:3])
    return "; ".join(parts)


def _where(text: str, i: int) -> str:
    if i >= len(text):
        return "at the end"
    if i == 0:
        return "at the start"
    return f"after {text[max(0, i - 12) : i]!r}"


def _level_name(level: int | None) -> str:
    return f"KERN_{LOG_LEVELS[level].upper()}" if level is not None else "an unknown level"


def _missing_line(
    check: LogCheck,
    p: Pattern,
    when: str,
    records: Sequence[str],
    levels: Sequence[int | None],
) -> Finding:
    """A missing line; for a public check, shown beside the closest line the module logged.

    A hidden check's finding shows neither the closest line nor a difference
    (either would give the expected answer away); its data says it is hidden.
    """
    message = f"expected on {when}: {p}"
    if not check.public:
        return Finding("missing-log-line", message, data={"hidden": True})
    near = closest_line(p, records)
    if near is None:
        return Finding("missing-log-line", message + f"; nothing alike was logged on {when}")
    index, ratio = near
    logged = records[index]
    hint = "" if p.regex else describe_difference(p.text, logged)
    level = ""
    if check.level is not None and levels[index] != check.level:
        level = f", at {_level_name(levels[index])} instead of {_level_name(check.level)}"
    message += f"; closest logged: {logged!r}" + (f" ({hint}{level})" if hint or level else "")
    data = {"closest": logged, "similarity": round(ratio, 2)}
    if hint:
        data["difference"] = hint
    return Finding("missing-log-line", message, data=data)


@_judge
def judge_modinfo(check: ModinfoCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Does the module's modinfo have each field, with the expected value?"""
    info = _need(evidence, "modinfo", check.module)
    problems = []
    for name, pattern in check.fields:
        values = info.get(name) or []
        values = [values] if isinstance(values, str) else list(values)
        if not any(v.strip() for v in values):
            macro = _MODINFO_MACROS.get(name, f"MODULE_{name.upper()}")
            msg = f"{check.module}.ko has no {macro}"
            problems.append(Finding("modinfo-field", msg))
        elif pattern is not None and not any(pattern.matches(v) for v in values):
            got = ", ".join(repr(v) for v in values)
            problems.append(Finding("modinfo-field", f"{name} is {got}, expected {pattern}"))
    return _verdict(check, len(check.fields), problems, "modinfo fields as expected")


# modinfo fields whose macro is not simply MODULE_<FIELD>.
_MODINFO_MACROS = {"parm": "MODULE_PARM_DESC", "parmtype": "module_param", "alias": "MODULE_ALIAS"}


@_judge
def judge_exports(check: ExportsCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Does the module export each symbol, GPL-only exactly when the exercise says so?"""
    exported: Mapping[str, str] = _need(evidence, "exports", check.module)
    problems = []
    for name, gpl_only in check.symbols:
        how = exported.get(name)
        if how is None:
            problems.append(Finding("export", f"{check.module} does not export {name}"))
        elif gpl_only is not None and how.endswith("_GPL") != gpl_only:  # also *_NS_GPL
            want = "EXPORT_SYMBOL_GPL" if gpl_only else "EXPORT_SYMBOL"
            problems.append(Finding("export", f"{name} is exported with {how}, expected {want}"))
    return _verdict(check, len(check.symbols), problems, "exports as expected")


@_judge
def judge_params(check: ParamCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Is the parameter declared with its type and default, and does the value take effect?"""
    seen = _need(evidence, "params", check.module, check.name)
    total = sum(x is not None for x in (check.type, check.default, check.value, check.perm))
    if seen.get("type") is None:
        msg = f"{check.module} has no parameter {check.name} (module_param is missing)"
        problem = [Finding("param", msg)]
        return _verdict(check, total, problem, "parameter checks passed", failed=total)
    problems = []
    if check.type is not None and seen["type"] != check.type:
        problems.append(Finding("param", f"{check.name} is {seen['type']}, expected {check.type}"))
    if check.default is not None:
        shown = seen.get("default")
        if shown is None:
            msg = f"{check.name} is not readable in /sys/module/{check.module}/parameters"
            problems.append(Finding("param", msg + ": give it a permission such as 0444"))
        elif shown.strip() != check.default:
            msg = f"{check.name} defaults to {shown.strip()!r}, expected {check.default!r}"
            problems.append(Finding("param", msg))
    if check.perm is not None:
        problems += _param_perm_problems(check, seen.get("perm"))
    if check.value is not None:
        problems += _param_value_problems(check, _need(seen, "with_value"))
    return _verdict(check, total, problems, "parameter checks passed")


def _param_perm_problems(check: ParamCheck, shown: object) -> list[Finding]:
    want = f"{check.perm:04o}"
    where = f"/sys/module/{check.module}/parameters/{check.name}"
    if shown is None:
        msg = f"{where} does not exist: module_param({check.name}, ..., 0) has no sysfs file"
        return [Finding("param", f"{msg}; the task asks for permission {want}")]
    got = int(str(shown).strip(), 8)
    if got != check.perm:
        msg = f"{check.name} has permission {got:04o} in sysfs, expected {want}"
        return [Finding("param", f"{msg} (the third argument of module_param)")]
    return []


def _param_value_problems(check: ParamCheck, run: Mapping[str, Any]) -> list[Finding]:
    arg = f"{check.name}={check.value}"
    if run.get("returncode") != 0:
        return [Finding("param", f"insmod {check.module}.ko {arg} failed")]
    records = run.get("load_log")
    if not isinstance(records, list):
        raise _NoEvidence(f"params.{check.module}.{check.name}.with_value.load_log")
    if check.log is not None and not any(check.log.matches(r) for r in records):
        return [Finding("missing-log-line", f"with {arg}, expected on load: {check.log}")]
    return []


@_judge
def judge_files(check: FilesCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Does each path exist while the modules are loaded, with matching content?"""
    files: Mapping[str, str | None] = _need(evidence, "files")
    if evidence.get("files_loaded") is False:
        why = "not checked: the modules did not load, so no file of theirs could be read"
        problem = [Finding("missing-file", why)]
        return _verdict(check, len(check.paths), problem, "files as expected", len(check.paths))
    problems = []
    for path, regex in check.paths:
        if path not in files:
            raise _NoEvidence(f"files.{path}")
        content = files[path]
        if content is None:
            problems.append(Finding("missing-file", f"{path} does not exist while loaded"))
        elif regex is not None and not re.search(regex, content, re.MULTILINE):
            shown = content[:200] + ("..." if len(content) > 200 else "")
            msg = f"{path} does not match /{regex}/; it reads {shown!r}"
            problems.append(Finding("file-content", msg))
    return _verdict(check, len(check.paths), problems, "files as expected")


# kmod's rmmod says "is in use"; the kernel's own refusal (EAGAIN/EBUSY) for other tools.
_IN_USE = re.compile(r"in use|resource temporarily unavailable|device or resource busy", re.I)


@_judge
def judge_provider_in_use(check: ProviderInUseCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Was `rmmod provider` refused because the consumer still uses it?"""
    run = _need(evidence, "rmmod_provider_while_used")
    rc, stderr = run["returncode"], str(run.get("stderr") or "")
    problems = []
    if rc == 0:
        msg = f"rmmod {check.provider} succeeded while {check.consumer} was loaded"
        problems.append(Finding("provider-removable", msg + ": does the consumer use its symbols?"))
    elif not _IN_USE.search(stderr):
        msg = f"rmmod {check.provider} failed, but not because it is in use: {stderr.strip()}"
        problems.append(Finding("provider-removable", msg))
    return _verdict(check, 1, problems, "refusals to remove a provider in use")


@_judge
def judge_unknown_symbol(check: UnknownSymbolCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Did loading the consumer alone fail, the kernel logging "Unknown symbol" for it?"""
    run = _need(evidence, "consumer_alone")
    records = _lines(run, "log")
    # The kernel names modules with "_" where the file name may have "-".
    name = re.escape(check.consumer.replace("-", "_"))
    unknown_re = re.compile(rf"{name}: Unknown symbol (\S+) \(err -?\d+\)")
    unknown = {m.group(1) for r in records if (m := unknown_re.fullmatch(r))}
    total, noun = max(1, len(check.symbols)), "unknown-symbol expectations met"
    if run["returncode"] == 0:
        msg = f"{check.consumer}.ko loaded without its provider: it needs none of its symbols"
        return _verdict(check, total, [Finding("unknown-symbol", msg)], noun, failed=total)
    if not unknown:
        msg = f"loading {check.consumer}.ko alone failed, but the kernel logged no Unknown symbol"
        return _verdict(check, total, [Finding("unknown-symbol", msg)], noun, failed=total)
    named = ", ".join(sorted(unknown))
    problems = [
        Finding("unknown-symbol", f"expected Unknown symbol {sym}; the kernel named {named}")
        for sym in check.symbols
        if sym not in unknown
    ]
    return _verdict(check, total, problems, noun)


@_judge
def judge_kbuild(check: KbuildCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Does the student's own Makefile make kbuild build the modules, from the objects asked?

    No guessing: without a usable obj-m, kbuild builds nothing, and so does
    this exercise (data.fallback tells the scoring policy to count nothing else).
    """
    seen = _need(evidence, "kbuild")
    total = sum(1 + len(objects) for _, objects in check.modules)
    noun = "Makefile items as kbuild reads them"
    where = seen.get("origin") or "the folder"
    problem = seen.get("problem")
    built: Mapping[str, Sequence[str]] = seen.get("modules") or {}
    if problem or not built:
        if problem:
            msg = f"kbuild refuses {where}: {problem}"
        elif seen.get("origin") is None:
            msg = (
                "there is no Makefile (or Kbuild): make has nothing to read and kbuild builds "
                "no module (this exercise never guesses modules from the .c files)"
            )
        else:
            msg = (
                f"{where} has no obj-m line: kbuild would build no module "
                "(this exercise never builds one module per .c file)"
            )
        notes = [str(n) for n in seen.get("notes", [])]
        findings = [Finding("kbuild", msg), *(Finding("kbuild", n) for n in notes)]
        result = _verdict(check, total, findings, noun, failed=total)
        result.data["fallback"] = True
        return result
    problems = []
    failed = 0
    made = ", ".join(f"{m}.ko" for m in built)
    for name, objects in check.modules:
        if name not in built:  # its name and all its objects: every item of it fails
            msg = (
                f"kbuild would build {made} from {where}, and no {name}.ko: "
                f"obj-m must list {name}.o (the module's name is the name in obj-m)"
            )
            problems.append(Finding("kbuild", msg))
            failed += 1 + len(objects)
            continue
        got = list(built[name])
        linked = " ".join(f"{o}.o" for o in got)
        for o in objects:
            if o not in got:
                msg = (
                    f"kbuild would link {name}.ko from {linked} only: {o}.o is missing "
                    f"(list it in {name}-y := ...)"
                )
                problems.append(Finding("kbuild", msg))
                failed += 1
        for o in got:
            if o not in objects:
                msg = f"kbuild would also link {o}.o into {name}.ko, which the task does not ask"
                problems.append(Finding("kbuild", msg))
                failed += 1
    if all(name in built for name, _ in check.modules):  # else named in "would build" above
        for m in [m for m in built if m not in dict(check.modules)]:
            msg = f"kbuild would also build {m}.ko (obj-m lists {m}.o)"
            problems.append(Finding("kbuild", msg))
            failed += 1
    return _verdict(check, total, problems, noun, failed=min(total, failed))


@_judge
def judge_extra_symbols(check: ExtraSymbolsCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Do the provider's and the consumer's own Makefiles build them, does the consumer's
    KBUILD_EXTRA_SYMBOLS name the provider's Module.symvers (modpost then resolves its
    symbols), and do both load, provider first? Four items; the evidence is the two real
    builds (the consumer's with the symbols files its Makefile names) and the loads."""
    seen = _need(evidence, "extra_symbols")
    problems: list[Finding] = []
    failed_items = 0
    want = f"../{check.provider_folder}/Module.symvers"
    fix = f"KBUILD_EXTRA_SYMBOLS := $(PWD)/{want}"
    for folder, module in (
        (check.provider_folder, check.provider),
        (check.consumer_folder, check.consumer),
    ):
        side = seen[folder]
        where = f"{folder}/{side.get('origin') or 'Makefile'}"
        built = side.get("modules") or {}
        if side.get("problem"):
            msg = f"kbuild refuses {where}: {side['problem']}"
        elif side.get("origin") is None:
            msg = f"{folder}/ has no Makefile (or Kbuild): kbuild builds nothing there"
        elif not built:
            msg = f"{where} has no obj-m line: kbuild would build no module in {folder}/"
        elif module not in built:
            made = ", ".join(f"{m}.ko" for m in built)
            msg = f"kbuild would build {made} in {folder}/, and no {module}.ko"
            msg += f": write obj-m += {module}.o"
        else:
            continue
        problems.append(Finding("kbuild", msg, where))
    consumer = seen[check.consumer_folder]
    where = f"{check.consumer_folder}/{consumer.get('origin') or 'Makefile'}"
    named = list(consumer.get("extra_symbols") or [])
    right = [e for e in named if e.get("path") == want]
    undefined = list(consumer.get("undefined") or [])
    error = (
        f'`ERROR: modpost: "{undefined[0] if undefined else "SYMBOL"}" [{check.consumer}.ko] '
        "undefined!`"
    )
    stops = (
        f"modpost (6.1) stops with {error} and makes no {check.consumer}.ko (an error: only "
        "KBUILD_MODPOST_WARN=1 makes it a warning)"
    )
    if not right and not named:
        msg = (
            f"{where} sets no KBUILD_EXTRA_SYMBOLS: modpost knows only the kernel's exports "
            f"and those of {check.consumer_folder}/, so {stops}; add to {where}: {fix}"
        )
        problems.append(Finding("extra-symbols", msg, where))
    elif not right:
        failed_items += 1 - len(named)  # one item, however many files it names
        for e in named:
            if e.get("problem"):
                what = f"no file of the submission ({e['problem']})"
            else:
                what = f"{e.get('path')} from {check.consumer_folder}/"
            msg = (
                f"{where} line {e.get('line')} (`{e.get('written')}`) names {what}, not the "
                f"provider's {want}: {stops} (or, where that file does not exist, with "
                f"`...: No such file or directory`); write: {fix}"
            )
            problems.append(Finding("extra-symbols", msg, where, e.get("line")))
    elif check.consumer in (consumer.get("modules") or {}) and not consumer.get("built"):
        errors = "; ".join(str(x) for x in (consumer.get("errors") or [])[:3])
        msg = f"{check.consumer}.ko did not build: {errors or 'the build failed'}"
        problems.append(Finding("extra-symbols", msg, where))
    loads = seen.get("load") or {}
    first, second = loads.get(check.provider), loads.get(check.consumer)
    if not (first and second and first.get("returncode") == 0 and second.get("returncode") == 0):
        if not consumer.get("built") or not seen[check.provider_folder].get("built"):
            msg = f"{check.provider}.ko and {check.consumer}.ko were not both built: not loaded"
        else:
            failed = next(
                (n for n, r in ((check.provider, first), (check.consumer, second))
                 if not r or r.get("returncode") != 0),
                check.consumer,
            )  # fmt: skip
            got = loads.get(failed) or {}
            said = (got.get("stderr") or "").strip() or "; ".join(got.get("log") or [])
            msg = f"insmod {failed}.ko (after {check.provider}.ko) failed: {said or 'no message'}"
        problems.append(Finding("extra-symbols", msg))
    failed_items += len(problems)
    return _verdict(
        check, 4, problems, "provider/consumer build and load items", failed=min(4, failed_items)
    )


@_judge
def judge_build_clean(check: BuildCleanCheck, evidence: ExerciseEvidence) -> CheckResult:
    """Did the build report none of these kinds of diagnostic (each at its line)?"""
    found = _need(evidence, "diagnostics")
    problems = [
        Finding(str(d["kind"]), str(d["message"]), d.get("file"), d.get("line"))
        for d in found
        if d.get("kind") in check.kinds
    ]
    return _verdict(
        check, 1, problems, "builds free of " + ", ".join(check.kinds), 1 if problems else 0
    )


# Where a kind's evidence comes from. FILES: the submission alone (judged even
# when the build fails). GENERIC_RUN: the generic run's logs and .ko files
# (exercises.host_evidence). GUEST: loads of its own in the grade's session
# (exercises.GUEST_COLLECTORS, keyed by kind).
FILES, GENERIC_RUN, GUEST = "files", "generic-run", "guest"


@dataclass(frozen=True)
class Kind:
    """One exercise check kind, listed once: its TOML fields (besides id, kind, points,
    title, partial), its parser, its check class, where its evidence comes from, its judge."""

    name: str
    check: type[Check]
    fields: tuple[str, ...]
    parse: Callable[[_Fields, dict[str, Any]], Check]
    evidence: str
    judge: Judge


_LOG_FIELDS = ("on_load", "on_load_regex", "on_unload", "on_unload_regex", "level", "public")
_PARAM_FIELDS = ("module", "name", "type", "default", "value", "log", "log_regex", "perm")
# The kinds, in the order docs/expectations.md describes them.
KINDS: Mapping[str, Kind] = {
    k.name: k
    for k in (
        Kind("log", LogCheck, _LOG_FIELDS, _parse_log, GENERIC_RUN, judge_log),
        Kind(
            "modinfo",
            ModinfoCheck,
            ("module", "fields"),
            _parse_modinfo,
            GENERIC_RUN,
            judge_modinfo,
        ),
        Kind(
            "exports",
            ExportsCheck,
            ("module", "symbols"),
            _parse_exports,
            GENERIC_RUN,
            judge_exports,
        ),
        Kind("params", ParamCheck, _PARAM_FIELDS, _parse_params, GUEST, judge_params),
        Kind("files", FilesCheck, ("paths",), _parse_files, GUEST, judge_files),
        Kind(
            "provider-in-use",
            ProviderInUseCheck,
            ("provider", "consumer"),
            _parse_in_use,
            GUEST,
            judge_provider_in_use,
        ),
        Kind(
            "unknown-symbol",
            UnknownSymbolCheck,
            ("consumer", "symbols"),
            _parse_unknown_symbol,
            GUEST,
            judge_unknown_symbol,
        ),
        Kind("kbuild", KbuildCheck, ("modules",), _parse_kbuild, FILES, judge_kbuild),
        Kind(
            "extra-symbols",
            ExtraSymbolsCheck,
            ("provider_folder", "provider", "consumer_folder", "consumer"),
            _parse_extra_symbols,
            GUEST,
            judge_extra_symbols,
        ),
        Kind(
            "build-clean",
            BuildCleanCheck,
            ("kinds",),
            _parse_build_clean,
            GENERIC_RUN,
            judge_build_clean,
        ),
    )
}


def judge(check: Check, evidence: ExerciseEvidence) -> CheckResult:
    """The verdict of one exercise check on the evidence the pipeline collected
    (a hidden check's concealed)."""
    result = KINDS[check.kind].judge(check, evidence)
    return result if check.visibility == "visible" else conceal(check, result)


# -- hidden checks: a verdict that does not give the answer away ------------------
HIDDEN_NOTE = "a hidden check: what it expects is not shown"
# What each finding of a hidden check says instead of its message, by kind.
CONCEALED: Mapping[str, str] = {
    "missing-log-line": "a line it expects was not logged",
    "modinfo-field": "a modinfo field is missing or not as expected",
    "export": "an export is missing or not as expected",
    "param": "a module parameter is not as expected",
    "missing-file": "a file it expects does not exist while loaded",
    "file-content": "a file's content is not as expected",
    "provider-removable": "the provider can be removed while in use",
    "unknown-symbol": "loading the consumer alone did not fail as expected",
    "kbuild": "the Makefile does not build the modules as the task asks",
    "extra-symbols": "the consumer is not built against the provider's exports as asked",
}
_COUNTS = re.compile(r"^(\d+) of (\d+) ")


def conceal(check: Check, result: CheckResult) -> CheckResult:
    """A hidden check's verdict with nothing that names what it expects. Pure.

    Findings keep their kind and number but say only which kind of item was
    not met (the message, the closest line, paths, patterns and values all
    go); the summary keeps its counts; an error keeps only that it is ours.
    The check's visibility goes in data, for Gradescope's per-test visibility.
    """
    findings = [
        Finding(f.kind, f"{CONCEALED.get(f.kind, 'not as expected')} ({HIDDEN_NOTE})",
                data={"hidden": True})
        for f in result.findings
    ]  # fmt: skip
    counts = _COUNTS.match(result.summary)
    if result.status == "error":
        summary = f"the grader could not decide this check ({HIDDEN_NOTE})"
    elif counts:
        summary = f"{counts[1]} of {counts[2]} items as expected ({HIDDEN_NOTE})"
    else:
        summary = f"{'passed' if result.status == 'pass' else 'not passed'} ({HIDDEN_NOTE})"
    data = {k: v for k, v in result.data.items() if k == "fallback"}
    return replace(
        result,
        summary=summary,
        findings=findings,
        data={**data, "visibility": check.visibility},
    )


# -- the scoring policy: a score that measures what the stage teaches ------------
# Stated once, here; docs/expectations.md ("The scoring policy") explains it.
#
# 1. Required calls. A fault-injection check passes vacuously when init makes
#    no fallible call. When the exercise lists the calls its init must make
#    (`requires`), each one missing from the calls fault injection failed is a
#    finding naming it, and the check keeps only the share of its score the
#    calls present justify.
# 2. Gating. The checks the stage teaches (`teaches`, by default the
#    exercise's own checks) are scored as judged. Every other check (the
#    generic ones an empty module passes: build, load, unload...) earns its
#    points times the share of the taught checks' points earned, but at least
#    GATE_FLOOR of them: a module that builds and runs cleanly is worth
#    something, an untouched starter little, a complete answer everything.
GATE_FLOOR = 1 / 3


def score_report(expectations: Expectations, checks: Sequence[CheckResult]) -> list[CheckResult]:
    """The checks rescored by the policy (a pure function; the input is not changed)."""
    out = [_require_calls(expectations, c) if c.id == "fault-injection" else c for c in checks]
    taught = set(expectations.taught)
    earned = sum(c.score for c in out if c.id in taught)
    available = sum(c.max_score for c in out if c.id in taught)
    fallback = [c.id for c in out if c.data.get("fallback")]
    if fallback:  # a kbuild exercise whose Makefile builds nothing: nothing else counts
        out = [_no_guessed_build(c, fallback[0]) if c.id == "build" else c for c in out]
        factor = 0.0
        why = f"counts 0%: kbuild builds no module from this Makefile (see {fallback[0]})"
    elif not taught or available <= 0 or earned >= available:
        return out
    else:
        factor = max(earned / available, GATE_FLOOR)
        why = (
            f"counts {factor:.0%}: the checks this stage teaches earned "
            f"{_num(earned)} of {_num(available)} points"
        )
    gated = [i for i, c in enumerate(out) if c.id not in taught and c.score > 0]
    if fallback:
        gated = [i for i, c in enumerate(out) if c.id not in fallback and c.score > 0]
    # Whole report to 2 decimals: the gated scores add up to their total times the factor.
    target = round(sum(out[i].score for i in gated) * factor, 2)
    for n, i in enumerate(gated):
        c = out[i]
        if n < len(gated) - 1:
            score = round(c.score * factor, 3)
            target = round(target - score, 3)
        else:
            score = target
        out[i] = replace(c, score=score, summary=f"{c.summary} ({why})")
    return out


# The builder's note when it builds one module per .c file for want of obj-m.
_GUESSED_BUILD = "each .c file is built as a module of its own"


def _no_guessed_build(c: CheckResult, kbuild_check: str) -> CheckResult:
    """The build check of an exercise that takes its modules from the Makefile only:
    kmodlab's one-module-per-.c build does not count, and is not offered as what happened."""
    findings = [f for f in c.findings if _GUESSED_BUILD not in f.message]
    summary = (
        f"kbuild builds no module from this Makefile (see {kbuild_check}); this exercise "
        "does not build one module per .c file"
    )
    return replace(c, status="fail", score=0.0, summary=summary, findings=findings)


def _require_calls(expectations: Expectations, c: CheckResult) -> CheckResult:
    points = c.data.get("points")
    if (
        not expectations.requires
        or c.status not in ("pass", "fail")
        or not isinstance(points, list)
    ):
        return c
    made = {p.get("call") for p in points if isinstance(p, Mapping)}
    missing = [call for call in expectations.requires if call not in made]
    if not missing:
        return c
    findings = [
        Finding(
            "missing-call",
            f"init never calls {call}(): the task asks for it, so fault injection "
            f"could not test how init handles its failure",
            data={"call": call},
        )
        for call in missing
    ]
    present = len(expectations.requires) - len(missing)
    names = ", ".join(f"{m}()" for m in missing)
    return replace(
        c,
        status="fail",
        score=round(c.score * present / len(expectations.requires), 3),
        summary=f"{c.summary}; required but never called: {names}",
        findings=[*findings, *c.findings],
    )


def _num(x: float) -> str:
    return f"{round(x, 2):g}"
