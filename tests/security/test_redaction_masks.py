"""The redaction rules as functions: pointer parsing (RFC 6901), masking of the values found
at pointers, secret scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowpin.definitions.models import Definition
from flowpin.definitions.pointers import parse_pointer
from flowpin.runtime.decisions import HistoryEntry
from flowpin.security.redaction import (
    MASK,
    Masks,
    compile_pointers,
    placed,
    placements,
    scoped_vars,
    scrub_secrets,
)


def test_pointers_follow_rfc_6901() -> None:
    assert parse_pointer("/payload/card/number") == ("payload", "card", "number")
    assert parse_pointer("/vars/a~1b/c~0d") == ("vars", "a/b", "c~d")
    assert parse_pointer("/payload/items/0") == ("payload", "items", "0")
    assert parse_pointer("/meta/") == ("meta", "")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("payload/x", "must start with '/'"),
        ("", "must start with '/'"),
        ("/payload/a~2", "'~' must be followed by 0 or 1"),
        ("/payload/a~", "'~' must be followed by 0 or 1"),
        ("/payload", "inside the run envelope"),
        ("/error/message", "inside the run envelope"),
    ],
)
def test_bad_pointers_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_pointer(text)


ENVELOPE = {
    "payload": {"card": {"number": "4111111111111111", "cvc": 123}, "items": [{"id": "a"}]},
    "vars": {"customer": {"ssn": "078-05-1120", "pin": "42", "name": "Ann"}},
    "meta": {},
}


def _masks(*texts: str) -> Masks:
    return Masks(compile_pointers(texts), ENVELOPE)


def test_the_envelope_is_masked_at_the_pointers_and_not_changed() -> None:
    masks = _masks("/payload/card/number", "/vars/customer", "/payload/items/0/id", "/vars/gone")
    masked = masks.envelope(ENVELOPE)
    assert masked["payload"]["card"] == {"number": MASK, "cvc": 123}
    assert masked["payload"]["items"] == [{"id": MASK}]
    assert masked["vars"]["customer"] == MASK
    assert ENVELOPE["vars"]["customer"]["name"] == "Ann"  # the original is untouched


def test_values_found_at_the_pointers_are_masked_anywhere() -> None:
    masks = _masks("/payload/card", "/vars/customer/pin")
    value = {
        "to": "4111111111111111",
        "note": "card 4111111111111111 charged",
        "code": 123,
        "same": 123.0,
        "text": "123",  # a number's value, but as text: not the same value
        "pin": "42",
        "answer": "The answer is 42",  # too short to be masked inside text
        "flag": True,
        "none": None,
    }
    assert masks(value) == {
        "to": MASK,
        "note": f"card {MASK} charged",
        "code": MASK,
        "same": MASK,
        "text": "123",
        "pin": MASK,
        "answer": "The answer is 42",
        "flag": True,
        "none": None,
    }


def test_no_pointer_matching_means_no_masks() -> None:
    masks = _masks("/vars/nothing/here")
    assert not masks
    assert masks({"a": "4111111111111111"}) == {"a": "4111111111111111"}


def test_vars_of_running_iterations_are_looked_up_too() -> None:
    root = {
        "s": "each",
        "it": {"0": {"v": {"item": {"ssn": "111-22-3333"}}, "c": {"s": "call"}}},
        "c": {"s": "x", "br": {"left": {"v": {"item": {"ssn": "444-55-6666"}}}}},
    }
    masks = Masks(compile_pointers(["/vars/item/ssn"]), ENVELOPE, scoped_vars(root))
    assert masks(["111-22-3333", "444-55-6666", "078-05-1120"]) == [MASK, MASK, "078-05-1120"]


def test_secret_values_are_scrubbed_from_text_and_keys() -> None:
    value = {"echo": "got hunter2!", "hunter2": ["hunter2", 1], "other": "hunter"}
    assert scrub_secrets(value, ["hunter2", ""]) == {
        "echo": f"got {MASK}!",
        MASK: [MASK, 1],
        "other": "hunter",
    }
    assert scrub_secrets(value, []) is value


def test_history_entries_place_their_values_where_their_steps_wrote_them() -> None:
    """Stored history is masked with the values a write's entries carry, placed where their
    steps saved them; steps writing elsewhere are not looked at."""
    definition = Definition.model_validate(
        {
            "key": "kyc",
            "steps": [
                {
                    "id": "ask",
                    "type": "event.wait",
                    "config": {"eventName": "a", "saveAs": "vars.a"},
                },
                {
                    "id": "note",
                    "type": "event.wait",
                    "config": {"eventName": "n", "saveAs": "vars.n"},
                },
                {
                    "id": "set",
                    "type": "transform.assign",
                    "config": {"assign": {"vars.a.pin": "1", "vars.n": "2"}},
                },
                {
                    "id": "guard",
                    "type": "control.tryCatch",
                    "captureErrorAs": "vars.a.error",
                    "try": [],
                    "catch": [],
                },
            ],
        }
    )
    pointers = compile_pointers(["/vars/a/ssn", "/vars/a/pin", "/vars/a/error/data"])
    steps = placements(definition, pointers)
    assert sorted(steps) == ["ask", "guard", "set"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        HistoryEntry("ask", "ask", "event.wait", 1, "succeeded", at, output={"ssn": "111-22-3333"}),
        HistoryEntry("note", "note", "event.wait", 1, "succeeded", at, output={"x": "public"}),
        HistoryEntry(
            "set",
            "set",
            "transform.assign",
            1,
            "succeeded",
            at,
            output={"vars.a.pin": "9876", "vars.n": "keep"},
        ),
        HistoryEntry(
            "guard",
            "guard",
            "control.tryCatch",
            1,
            "caught",
            at,
            error={"message": "no", "data": "secret-data"},
        ),
    ]
    masks = Masks(pointers, {"vars": {}}, earlier=placed(entries, steps))
    assert masks(["111-22-3333", "9876", "secret-data", "public", "keep"]) == [
        MASK,
        MASK,
        MASK,
        "public",
        "keep",
    ]
