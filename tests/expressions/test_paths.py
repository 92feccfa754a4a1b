"""Envelope paths: parsing, reading, writing, and the refusal of prototype-style segments."""

from __future__ import annotations

from typing import Any

import pytest

from flowpin.expressions.paths import (
    FORBIDDEN_SEGMENTS,
    MISSING,
    PathError,
    get_path,
    has_path,
    lookup,
    parse_path,
    set_path,
)

ENVELOPE: dict[str, Any] = {
    "payload": {"contact": {"email": "a@example.com", "tags": ["vip", {"level": 2}]}},
    "vars": {"nothing": None, "zero": 0, "empty": ""},
    "meta": {},
}


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("vars.ticket", ("vars", "ticket")),
        ("payload.contact.email", ("payload", "contact", "email")),
        ("meta.state", ("meta", "state")),
        ("vars.items.0", ("vars", "items", "0")),
    ],
)
def test_parse_writable_paths(path: str, segments: tuple[str, ...]) -> None:
    assert parse_path(path) == segments


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "path is empty"),
        ("vars.", "empty segment"),
        (".vars.a", "empty segment"),
        ("vars..a", "empty segment"),
        ("vars", "must name a field below 'vars'"),
        ("run.id", "must start with one of: meta., payload., vars."),
        ("error.message", "must start with one of"),
        ("ticket", "must start with one of"),
    ],
)
def test_bad_writable_paths(path: str, message: str) -> None:
    with pytest.raises(PathError, match=message.replace(".", r"\.")):
        parse_path(path)


@pytest.mark.parametrize("segment", [*sorted(FORBIDDEN_SEGMENTS), "__class__", "__dict__"])
@pytest.mark.parametrize("writable", [True, False])
def test_prototype_style_segments_are_refused(segment: str, writable: bool) -> None:
    for path in (f"vars.{segment}", f"vars.a.{segment}.b", f"payload.{segment}"):
        with pytest.raises(PathError, match="forbidden segment"):
            parse_path(path, writable=writable)


def test_prototype_segments_are_refused_when_writing() -> None:
    data: dict[str, Any] = {"vars": {}}
    with pytest.raises(PathError, match="forbidden"):
        set_path(data, "vars.__proto__.polluted", True)
    assert data == {"vars": {}}


def test_read_paths_may_start_anywhere() -> None:
    assert parse_path("run.id", writable=False) == ("run", "id")
    assert parse_path("error", writable=False) == ("error",)


def test_a_path_must_be_a_string() -> None:
    with pytest.raises(PathError, match="empty"):
        parse_path(None)  # type: ignore[arg-type]


def test_get_path() -> None:
    assert get_path(ENVELOPE, "payload.contact.email") == "a@example.com"
    assert get_path(ENVELOPE, "payload.contact.tags.0") == "vip"
    assert get_path(ENVELOPE, "payload.contact.tags.1.level") == 2
    assert get_path(ENVELOPE, ("payload", "contact", "email")) == "a@example.com"
    assert get_path(ENVELOPE, "payload.contact.phone") is None
    assert get_path(ENVELOPE, "payload.contact.phone", "n/a") == "n/a"
    assert get_path(ENVELOPE, "payload.contact.tags.9", "n/a") == "n/a"
    assert get_path(ENVELOPE, "payload.contact.tags.first", "n/a") == "n/a"
    assert get_path(ENVELOPE, "payload.contact.email.length", "n/a") == "n/a"


def test_present_falsy_values_are_not_missing() -> None:
    for name in ("nothing", "zero", "empty"):
        assert has_path(ENVELOPE, f"vars.{name}")
        assert lookup(ENVELOPE, f"vars.{name}") is not MISSING
    assert lookup(ENVELOPE, "vars.nothing") is None
    assert not has_path(ENVELOPE, "vars.absent")
    assert lookup(ENVELOPE, "vars.absent") is MISSING


def test_reading_a_forbidden_path_raises() -> None:
    with pytest.raises(PathError):
        get_path(ENVELOPE, "vars.__proto__")


def test_set_path_creates_intermediate_objects() -> None:
    data: dict[str, Any] = {"vars": {}}
    set_path(data, "vars.ticket.id", "T-1")
    set_path(data, "vars.ticket.status", "open")
    set_path(data, ("meta", "state"), "CREATED")
    assert data == {
        "vars": {"ticket": {"id": "T-1", "status": "open"}},
        "meta": {"state": "CREATED"},
    }


def test_set_path_replaces_a_non_object_in_the_way() -> None:
    data: dict[str, Any] = {"vars": {"ticket": "T-1", "items": [1, 2]}}
    set_path(data, "vars.ticket.id", "T-1")
    set_path(data, "vars.items.0", "x")  # arrays are not indexed when writing
    assert data == {"vars": {"ticket": {"id": "T-1"}, "items": {"0": "x"}}}


def test_set_path_overwrites_and_accepts_any_value() -> None:
    data: dict[str, Any] = {"vars": {"a": {"b": 1}}}
    set_path(data, "vars.a", None)
    assert data == {"vars": {"a": None}}


def test_set_path_refuses_a_path_outside_the_writable_roots() -> None:
    with pytest.raises(PathError):
        set_path({}, "run.id", "x")
