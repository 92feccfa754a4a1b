"""The official JSONata conformance suite, run through flowpin's own evaluation path.

Every case goes through ``flowpin.expressions.jsonata`` with flowpin's default ``Limits``; a case's
``timelimit`` and ``depth`` replace the time and depth bounds (as the reference harness's
``timeboxExpression`` does). A case without a ``timelimit`` gets ``UNTIMED_BUDGET_MS`` instead of
the 50 ms default: the reference harness times nothing else, and a wall-clock budget measures
the machine, not the language (``performance/case000`` takes 25-70 ms on a loaded 2-core box).
The time bound itself is tested in ``test_hostile.py``; the other bounds (depth, array, string and
result size) are deterministic and stay at flowpin's defaults. Expected errors must surface as
``ExpressionError`` with the case's JSONata code. Cases flowpin does not pass are listed, each
with the reason, in ``jsonata_known_failures.toml``; they must keep failing (strict xfail), so a
fix shows up.

The suite lives outside the repository, in ``shared/conformance/jsonata`` beside the repository
root (CI clones the repository with ``shared/`` beside it); without it the module is skipped.
Format: ``TESTSUITE.md`` there; harness semantics follow ``test/run-test-suite.js`` of jsonata-js.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import (
    DEFAULT_LIMITS,
    UNDEFINED,
    Limits,
    compile_expression,
)

SUITE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "jsonata"
KNOWN_FAILURES_FILE = Path(__file__).with_name("jsonata_known_failures.toml")
EXPECTED_CASE_COUNT = 1686
UNTIMED_BUDGET_MS = 2000.0

if not (SUITE / "groups").is_dir():
    pytest.skip(
        f"JSONata conformance suite not found at {SUITE.resolve()} (expected shared/ beside the "
        "repository root)",
        allow_module_level=True,
    )


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    """``group/file`` for a one-case file, ``group/file[i]`` for an item of a list file."""
    spec: dict[str, Any]
    directory: Path

    @property
    def expression(self) -> str:
        if "expr-file" in self.spec:
            return (self.directory / self.spec["expr-file"]).read_text(encoding="utf-8")
        return str(self.spec["expr"])


def _load_cases() -> list[Case]:
    cases = []
    for file in sorted((SUITE / "groups").glob("*/*.json")):
        name = f"{file.parent.name}/{file.stem}"
        spec = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(spec, list):
            cases += [Case(f"{name}[{i}]", item, file.parent) for i, item in enumerate(spec)]
        else:
            cases.append(Case(name, spec, file.parent))
    return cases


CASES = {case.id: case for case in _load_cases()}
DATASETS = {
    file.stem: json.loads(file.read_text(encoding="utf-8"))
    for file in (SUITE / "datasets").glob("*.json")
}
KNOWN_FAILURES: dict[str, str] = tomllib.loads(KNOWN_FAILURES_FILE.read_text(encoding="utf-8"))[
    "known_failures"
]

_NO_RESULT = object()


def _input(case: Case) -> Any:
    """``data`` if given, else the named dataset; ``dataset: null`` is no input (undefined).

    flowpin passes ``None`` as "no input", so ``data: null`` (a JSON null document) is no input
    too — one known failure depends on that.
    """
    if "data" in case.spec:
        return case.spec["data"]
    if case.spec.get("dataset") is None:
        return None
    return DATASETS[case.spec["dataset"]]


def _limits(case: Case) -> Limits:
    changes: dict[str, Any] = {"timeout_ms": float(case.spec.get("timelimit", UNTIMED_BUDGET_MS))}
    if "depth" in case.spec:
        changes["max_depth"] = int(case.spec["depth"])
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def _run(case: Case) -> tuple[Any, ExpressionError | None]:
    """(result, None) or (_NO_RESULT, error); an undefined result is ``UNDEFINED``."""
    limits = _limits(case)
    bindings = case.spec.get("bindings") or None
    data = _input(case)
    try:
        compiled = compile_expression(case.expression)
        result = compiled.evaluate(data, bindings=bindings, limits=limits)
        if result is None:  # null or undefined? Only the marker path can tell.
            result = compiled.evaluate(data, bindings=bindings, limits=limits, undefined=UNDEFINED)
    except ExpressionError as exc:
        return _NO_RESULT, exc
    return result, None


def _same(actual: Any, expected: Any) -> bool:
    """JSON equality as the harness's ``deep.equal``: booleans are not numbers, 1 == 1.0."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[key], expected[key]) for key in expected)
        )
    return type(actual) is type(expected) and actual == expected


def _same_unordered(actual: Any, expected: Any) -> bool:
    if not isinstance(actual, list) or not isinstance(expected, list):
        return _same(actual, expected)
    remaining = list(actual)
    for item in expected:
        match = next((i for i, other in enumerate(remaining) if _same(other, item)), None)
        if match is None:
            return False
        del remaining[match]
    return not remaining


def _show(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def check(case: Case) -> str | None:
    """None when ``case`` passes, else what went wrong."""
    spec = case.spec
    result, error = _run(case)
    expected_error = spec.get("error") or ({"code": spec["code"]} if "code" in spec else None)
    if expected_error is not None:
        if "token" in spec:
            expected_error = {**expected_error, "token": spec["token"]}
        if error is None:
            return f"expected error {expected_error}, got result {_show(result)}"
        actual = {"code": error.jsonata_code, "token": error.token, "message": error.reason}
        # ``functionName`` and ``value`` (two D3140 cases) are jsonata-js error fields that
        # ExpressionError does not carry; the code identifies the error.
        wrong = {
            key: (value, actual[key])
            for key, value in expected_error.items()
            if key in actual and actual[key] != value
        }
        if wrong:
            got = f"{error.jsonata_code} {error.reason!r} (token {error.token!r})"
            return f"expected error {expected_error}, got {got}; differs in {sorted(wrong)}"
        return None
    if error is not None:
        return f"unexpected {error.jsonata_code}: {error.reason}"
    if spec.get("undefinedResult"):
        return None if result is UNDEFINED else f"expected undefined, got {_show(result)}"
    if "result" not in spec:
        return "the case has nothing to check"
    expected = spec["result"]
    same = _same_unordered if spec.get("unordered") else _same
    if result is UNDEFINED or not same(result, expected):
        return f"expected {_show(expected)}, got {_show(result)}"
    return None


@pytest.mark.parametrize("case_id", list(CASES))
def test_case(case_id: str) -> None:
    case = CASES[case_id]
    problem = check(case)
    if case_id in KNOWN_FAILURES:
        if problem is None:
            pytest.fail(
                f"{case_id} passes now: remove it from {KNOWN_FAILURES_FILE.name} "
                f"(listed as: {KNOWN_FAILURES[case_id]})"
            )
        pytest.xfail(f"{KNOWN_FAILURES[case_id]} — {problem}")
    if problem is not None:
        pytest.fail(f"{case_id}: {case.expression!r}: {problem}", pytrace=False)


def test_suite_is_complete() -> None:
    assert len(CASES) == EXPECTED_CASE_COUNT, (
        f"the conformance suite at {SUITE} has {len(CASES)} cases, expected "
        f"{EXPECTED_CASE_COUNT}: update EXPECTED_CASE_COUNT if the suite was upgraded"
    )


def test_known_failures_name_real_cases() -> None:
    stale = sorted(set(KNOWN_FAILURES) - set(CASES))
    assert not stale, f"{KNOWN_FAILURES_FILE.name} lists cases the suite does not have: {stale}"
    assert all(reason.strip() for reason in KNOWN_FAILURES.values())
