"""flowpin's JSONata API: determinism, caching, errors, syntax checks and read paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from flowpin.errors import ExpressionError
from flowpin.expressions import jsonata
from flowpin.expressions.jsonata import (
    DEFAULT_LIMITS,
    UNDEFINED,
    ExpressionLimitError,
    Limits,
    boolean,
    check_syntax,
    compile_cache_info,
    compile_expression,
    evaluate,
    read_paths,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
NOW_MS = 1773500966535


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        NOW_MS,
        float(NOW_MS),
        "2026-03-14T15:09:26.535Z",
        "2026-03-14T16:09:26.535+01:00",
        NOW.astimezone(timezone(timedelta(hours=-5))),
        NOW.replace(tzinfo=None),  # naive = UTC
    ],
    ids=["aware", "ms", "float-ms", "iso-z", "iso-offset", "other-zone", "naive"],
)
def test_now_and_millis_are_the_callers_time(now: object) -> None:
    result = evaluate("[$now(), $millis()]", {}, now=now)  # type: ignore[arg-type]
    assert result == ["2026-03-14T15:09:26.535Z", NOW_MS]


def test_now_and_millis_are_constant_within_one_evaluation() -> None:
    source = "[$millis(), $sum([1..50000]), $millis(), $now(), $now()]"
    first, _, again, stamp, stamp_again = evaluate(source, {}, now=NOW)
    assert first == again == NOW_MS
    assert stamp == stamp_again


def test_now_formats_with_a_picture() -> None:
    assert evaluate("$now('[Y0001]-[M01]-[D01]')", {}, now=NOW) == "2026-03-14"
    assert evaluate("$fromMillis($millis(), '[H01]:[m01]')", {}, now=NOW) == "15:09"


def test_random_follows_the_seed() -> None:
    source = "[$random(), $random(), $random()]"
    first = evaluate(source, {}, seed=42)
    assert evaluate(source, {}, seed=42) == first
    assert evaluate(source, {}, seed=43) != first
    assert len(set(first)) == 3
    assert all(0 <= value < 1 for value in first)


def test_shuffle_follows_the_seed() -> None:
    source = "$shuffle([1..20])"
    assert evaluate(source, {}, seed=7) == evaluate(source, {}, seed=7)
    assert sorted(evaluate(source, {}, seed=7)) == list(range(1, 21))


def test_any_integer_seed_is_accepted() -> None:
    # the runtime derives 64-bit seeds from a hash; negative or wider ones wrap around
    assert evaluate("$random()", {}, seed=-1) == evaluate("$random()", {}, seed=2**64 - 1)
    assert evaluate("$random()", {}, seed=2**64 + 5) == evaluate("$random()", {}, seed=5)


def test_a_bad_now_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("$now()", {}, now="yesterday")


# ------------------------------------------------------------------------------ compile cache


def test_compilation_is_cached() -> None:
    source = "payload.cache_probe_" + "x" * 10
    first = compile_expression(source)
    hits = compile_cache_info().hits
    assert compile_expression(source) is first
    assert compile_cache_info().hits == hits + 1


def test_a_compiled_expression_is_reusable_across_inputs() -> None:
    compiled = compile_expression("vars.a + vars.b")
    assert [compiled.evaluate({"vars": {"a": i, "b": 1}}) for i in range(3)] == [1, 2, 3]


# ------------------------------------------------------------------------------ results


def test_undefined_is_none_unless_a_marker_is_asked_for() -> None:
    assert evaluate("nothing.here", {}) is None
    assert evaluate("null", {}) is None
    assert evaluate("nothing.here", {}, undefined=UNDEFINED) is UNDEFINED
    assert evaluate("null", {}, undefined=UNDEFINED) is None
    assert evaluate("vars", {"vars": {"a": [1, 2.5, True]}}, undefined=UNDEFINED) == {
        "a": [1, 2.5, True]
    }


def test_results_keep_json_types() -> None:
    result = evaluate('{"i": 1, "f": 1.5, "b": true, "n": null, "s": "x", "a": [1]}', {})
    assert result == {"i": 1, "f": 1.5, "b": True, "n": None, "s": "x", "a": [1]}
    assert type(result["i"]) is int and type(result["b"]) is bool


def test_bindings_define_variables() -> None:
    assert evaluate("$limit * 2", {}, bindings={"limit": 21}) == 42


# ------------------------------------------------------------------------------ errors


def test_syntax_error_carries_position_and_code() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("payload.a +")
    error = caught.value
    assert error.expression == "payload.a +"
    assert error.jsonata_code == "S0207"
    assert error.position == 11
    assert error.details["reason"] == error.reason


def test_evaluation_error_carries_position_and_code() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate('payload.n + "x"', {"payload": {"n": 1}})
    error = caught.value
    assert error.jsonata_code == "T2002"
    assert error.position is not None and 0 < error.position <= len(error.expression)
    assert not isinstance(error, ExpressionLimitError)


@pytest.mark.parametrize("source", ["", "   ", "\n"])
def test_empty_expression(source: str) -> None:
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression(source)


def test_non_string_expression() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(42)  # type: ignore[arg-type]


def test_lone_surrogate_in_the_source_is_a_compile_error() -> None:
    with pytest.raises(ExpressionError, match="surrogate") as caught:
        compile_expression('"a\ud800"')
    assert caught.value.position == 2


def test_input_that_is_not_json_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        evaluate("a", {"a": datetime(2026, 1, 1)})
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("a", {"a": float("nan")}, undefined=UNDEFINED)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="timeout_ms"):
        Limits(timeout_ms=0)
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)
    with pytest.raises(ValueError, match="max_steps"):
        Limits(max_steps=-1)
    assert Limits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.timeout_ms == 50
    assert DEFAULT_LIMITS.max_result_bytes == 256 * 1024


# ------------------------------------------------------------------------------ check_syntax


def test_check_syntax() -> None:
    assert check_syntax("payload.email.from ~> /support@/") is None
    error = check_syntax("payload.(")
    assert isinstance(error, ExpressionError)
    assert error.position is not None
    assert check_syntax("") is not None
    assert check_syntax("%.x") is not None  # parent of nothing: S0217 at compile time


# ------------------------------------------------------------------------------ read_paths


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ("vars.a", {("vars", "a")}),
        ("vars.a.b + payload.x", {("vars", "a", "b"), ("payload", "x")}),
        ("vars.items[0].price", {("vars", "items", "price")}),
        ("vars.a[b = 1].c", {("vars", "a", "b"), ("vars", "a", "c")}),
        ("$sum(vars.items.(price * qty))", {("vars", "items", "price"), ("vars", "items", "qty")}),
        ("$keys(vars)", {("vars",)}),
        ("$exists(vars.a)", {("vars", "a")}),
        ("($v := vars; $v.a)", {("vars", "a")}),
        ('$lookup(vars, "a")', {("vars", "a")}),
        ("vars.`a b`", {("vars", "a b")}),
        ("vars.a.%.b", {("vars", "a"), ("vars", "b")}),
        ("event.payload.to ~> /support@/", {("event", "payload", "to")}),
        ('"literal"', set()),
        ("$now()", set()),
        ("$", None),
        ("$$", None),
        ('$eval("vars.a")', None),
        ("$unknown(vars.a)", None),
    ],
)
def test_read_paths(source: str, paths: set[tuple[str, ...]] | None) -> None:
    assert read_paths(source) == paths


def test_read_paths_is_a_fresh_set() -> None:
    paths = read_paths("vars.fresh")
    assert paths is not None
    paths.add(("x",))
    assert read_paths("vars.fresh") == {("vars", "fresh")}


def test_read_paths_of_a_syntax_error_raises() -> None:
    with pytest.raises(ExpressionError):
        read_paths("vars.(")


# ------------------------------------------------------------------------------ boolean


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (0.0, False),
        (-1, True),
        ("", False),
        ("false", True),
        ([], False),
        ([0, ""], False),
        ([0, 1], True),
        ([[False], [True]], True),
        ({}, False),
        ({"a": 0}, True),
    ],
)
def test_boolean_matches_jsonata(value: object, expected: bool) -> None:
    assert boolean(value) is expected
    # the engine's own $boolean agrees
    assert evaluate("$boolean($v)", {}, bindings={"v": value}) is expected


# ------------------------------------------------------------------------------ engine boundary


def test_only_the_wrapper_imports_the_engine() -> None:
    src = Path(jsonata.__file__).resolve().parents[1]
    offenders = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if path.name != "jsonata.py" and "jlens" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, f"only expressions/jsonata.py may use jlens: {offenders}"
