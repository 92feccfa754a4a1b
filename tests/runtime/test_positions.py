"""Where a run stands, from its state alone (what runs.positions stores for the counts)."""

from __future__ import annotations

from flowpin.runtime.positions import decode, encode, positions


def test_one_leaf_many_leaves_failed_and_finished() -> None:
    assert positions({"status": "RUNNING", "root": {"s": "first", "st": "new"}}) == [
        ("first", "running")
    ]
    assert positions({"status": "WAITING", "root": {"s": "wait", "st": "retry", "n": 2}}) == [
        ("wait", "retry")
    ]
    fan = {
        "s": "fan",
        "br": {
            "a": {"v": {}, "c": {"s": "ask", "st": "task"}},
            "b": {"v": {}, "c": {"s": "kid", "st": "child"}},
            "done": {"v": {}},
        },
    }
    loop = {
        "s": "each",
        "it": {
            "0": {"v": {}, "c": {"s": "send", "st": "call"}},
            "1": {"v": {}, "c": {"s": "send", "st": "call"}},
        },
    }
    state = {"status": "WAITING", "root": {"s": "outer", "b": "then", "c": fan}}
    assert positions(state) == [("ask", "task"), ("kid", "child")]
    assert positions({"status": "RUNNING", "root": loop}) == [("send", "running")]  # once
    failed = {"status": "FAILED", "root": {"s": "pay"}, "failed": {"token": "pay", "stepId": "pay"}}
    assert positions(failed) == [("pay", "failed")]
    assert positions({"status": "SUCCEEDED", "root": None}) == []
    assert decode(encode(state)) == positions(state)
    assert encode({"status": "WAITING", "root": {"s": "w", "st": "event"}}) == '[["w","event"]]'
