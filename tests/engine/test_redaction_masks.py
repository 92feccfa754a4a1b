"""The redaction rules as functions: pointer parsing (RFC 6901), masking of the values found
at pointers, secret scrubbing."""

from __future__ import annotations

import pytest

from flowpin.definitions.pointers import parse_pointer
from flowpin.engine.redaction import MASK, Masks, compile_pointers, scoped_vars, scrub_secrets


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
