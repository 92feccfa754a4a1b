import hashlib
import json

import pytest

from flowpin.definitions.canonical import CanonicalJSONError, canonical_json, version_hash
from flowpin.errors import DefinitionError

DOC = {
    "key": "hello",
    "steps": [{"id": "s", "type": "state.set", "config": {"state": "STARTED"}}],
    "name": "Grüße",
}


def test_bytes_are_sorted_compact_utf8() -> None:
    assert (
        canonical_json(DOC)
        == (
            '{"key":"hello","name":"Grüße","steps":'
            '[{"config":{"state":"STARTED"},"id":"s","type":"state.set"}]}'
        ).encode()
    )


def test_hash_is_sha256_hex_of_canonical_bytes() -> None:
    assert version_hash(DOC) == hashlib.sha256(canonical_json(DOC)).hexdigest()
    assert len(version_hash(DOC)) == 64


def test_key_order_and_whitespace_do_not_change_the_hash() -> None:
    text = json.dumps(DOC, indent=4)
    reordered = json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert list(reordered) != list(DOC)
    assert version_hash(reordered) == version_hash(DOC)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(name="Grüsse"),
        lambda d: d["steps"][0]["config"].update(state="STARTED "),
        lambda d: d["steps"].append({"id": "t", "type": "state.set", "config": {"state": "X"}}),
        lambda d: d.update(output=None),
        lambda d: d.update(output=1.5),
    ],
)
def test_any_semantic_change_changes_the_hash(change) -> None:
    doc = json.loads(json.dumps(DOC))
    change(doc)
    assert version_hash(doc) != version_hash(DOC)


def test_array_order_matters() -> None:
    assert version_hash({"a": [1, 2]}) != version_hash({"a": [2, 1]})


def test_integral_floats_hash_like_ints() -> None:
    assert canonical_json({"n": 1.0, "m": -0.0, "big": 1e20}) == (
        b'{"big":100000000000000000000,"m":0,"n":1}'
    )
    assert version_hash({"timeoutMs": 1000.0}) == version_hash({"timeoutMs": 1000})
    assert canonical_json({"x": 0.1, "y": 1e-07}) == b'{"x":0.1,"y":1e-07}'


def test_booleans_stay_booleans() -> None:
    assert canonical_json([True, False, 1, 0]) == b"[true,false,1,0]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        canonical_json({"a": [1, {"b": bad}]})
    assert "a[1].b" in info.value.message
    assert isinstance(info.value, DefinitionError)


def test_non_json_values_and_keys_are_refused() -> None:
    import datetime

    with pytest.raises(CanonicalJSONError):
        canonical_json({"when": datetime.date(2024, 1, 1)})
    with pytest.raises(CanonicalJSONError):
        canonical_json({1: "x"})
    with pytest.raises(CanonicalJSONError):
        canonical_json({"s": json.loads('"\\ud800"')})


def test_non_ascii_is_written_as_itself() -> None:
    assert canonical_json({"e": "é\u2028"}) == '{"e":"é\u2028"}'.encode()
