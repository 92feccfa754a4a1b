"""The seven snapshot-isolation scenarios of "safe live editing" (seed 000, useplunk#339), as
functions over a ``World``: each starts runs, edits the workflow (publishes the edit as the
latest version and saves it as the draft), lets the runs go on, and asserts what they did.
Each assertion fails if a run read the draft or the latest version instead of its own one:
``test_pinning.py`` runs them with a deliberately broken resolver to show it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pinkit import World

from flowpin.engine import Engine
from flowpin.testing.kit import advance

GO = {"id": "go", "type": "event.wait", "config": {"eventName": "go"}}


class PinningViolated(AssertionError):
    """A run did what another version of its workflow says: it was not pinned."""


def pinned(actual: Any, expected: Any, what: str) -> None:
    """Assert what a run in flight did; a difference can only come from reading a version
    other than its own (the same scenario passes with flowpin's resolver)."""
    if actual != expected:
        raise PinningViolated(f"{what}: got {actual!r}, its own version says {expected!r}")


def _assign(step_id: str, path: str, value: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "transform.assign", "config": {"assign": {path: value}}}


def _return(output: Any) -> dict[str, Any]:
    return {"id": "done", "type": "control.return", "output": output}


def edit(engine: Engine, document: dict[str, Any]) -> int:
    """What an editor does: save the draft and publish it (it becomes the latest version)."""
    engine.save_draft(document)
    return engine.publish(document).version


def go(world: World, *subjects: str) -> None:
    for subject in subjects:
        assert world.engine.send_event("go", subject, {}).resumed, subject
    world.engine.run_worker(until_idle=True)


def ran(engine: Engine, run_id: str) -> list[str]:
    return [h["stepId"] for h in engine.history(run_id) if h["status"] == "succeeded"]


def finished(engine: Engine, run_id: str) -> tuple[str, Any]:
    run = engine.get_run(run_id)
    return run["status"], run["output"]


def start(world: World, key: str, subject: str, payload: Any = None) -> str:
    run_id = world.engine.start(key, payload or {}, subject=subject)
    world.engine.run_worker(until_idle=True)
    return run_id


# ----------------------------------------------------------------------------- 1


def config_changed_after_runs_started(world: World) -> None:
    """A step's config changes while runs wait before it: they use the old value."""
    v1 = {
        "key": "discount",
        "steps": [GO, _assign("apply", "vars.percent", 10), _return({"$expr": "vars.percent"})],
    }
    world.engine.publish(v1)
    old = start(world, "discount", "old")
    v2 = copy.deepcopy(v1)
    v2["steps"][1]["config"]["assign"]["vars.percent"] = 50
    assert edit(world.engine, v2) == 2
    new = start(world, "discount", "new")
    go(world, "old", "new")
    pinned(finished(world.engine, old), ("SUCCEEDED", 10), "value the in-flight run used")
    assert finished(world.engine, new) == ("SUCCEEDED", 50)


# ----------------------------------------------------------------------------- 2


def step_deleted(world: World) -> None:
    """A step is deleted: runs in flight still run it, new runs do not."""
    v1 = {
        "key": "onboard",
        "steps": [
            GO,
            _assign("survey", "vars.survey", "sent"),
            _return({"survey": {"$expr": "vars.survey"}}),
        ],
    }
    world.engine.publish(v1)
    old = start(world, "onboard", "old")
    v2 = copy.deepcopy(v1)
    del v2["steps"][1]
    edit(world.engine, v2)
    new = start(world, "onboard", "new")
    go(world, "old", "new")
    pinned("survey" in ran(world.engine, old), True, "the in-flight run ran the deleted step")
    pinned(finished(world.engine, old), ("SUCCEEDED", {"survey": "sent"}), "in-flight output")
    assert "survey" not in ran(world.engine, new)
    assert finished(world.engine, new) == ("SUCCEEDED", {"survey": None})


# ----------------------------------------------------------------------------- 3


def _email(world: World, subject: str, body: str) -> dict[str, Any]:
    return {
        "id": "welcome",
        "type": "action.call",
        "config": {
            "actionId": "email.send",
            "version": 1,
            "inputMapping": {
                "smtp": world.smtp.config(),
                "from": "Team <team@example.com>",
                "to": [{"$expr": "payload.email"}],
                "subject": subject,
                "textBody": body,
                "context": {"$expr": "{'name': payload.name}"},
            },
        },
    }


def email_template_changed(world: World) -> None:
    """The email template changes while a run waits before the send: the message it actually
    sends (received by a real SMTP server) has the old subject and body."""
    v1 = {
        "key": "welcome",
        "steps": [
            GO,
            _email(world, "Welcome, {{ name }}!", "Hi {{ name }}, this is the old text."),
        ],
    }
    world.engine.publish(v1)
    start(world, "welcome", "old", {"email": "ann@example.com", "name": "Ann"})
    v2 = {
        "key": "welcome",
        "steps": [GO, _email(world, "NEW subject for {{ name }}", "Hello {{ name }}: new text.")],
    }
    edit(world.engine, v2)
    start(world, "welcome", "new", {"email": "bob@example.com", "name": "Bob"})
    go(world, "old", "new")
    sent = {str(m["To"]): m for m in world.smtp.messages}
    assert set(sent) == {"ann@example.com", "bob@example.com"}
    ann = sent["ann@example.com"]
    pinned(ann["Subject"], "Welcome, Ann!", "subject the in-flight run sent")
    pinned(ann.get_content().strip(), "Hi Ann, this is the old text.", "body it sent")
    assert sent["bob@example.com"]["Subject"] == "NEW subject for Bob"
    assert sent["bob@example.com"].get_content().strip() == "Hello Bob: new text."


# ----------------------------------------------------------------------------- 4


def condition_changed_and_branch_rewired(world: World) -> None:
    """A condition changes and a branch is rewired while a run waits before them: it takes the
    branches of its own version."""
    v1 = {
        "key": "route",
        "steps": [
            GO,
            {
                "id": "score",
                "type": "control.if",
                "condition": {"field": "payload.score", "op": "greaterThan", "value": 50},
                "then": [_assign("high", "vars.lane", "high")],
                "else": [_assign("low", "vars.lane", "low")],
            },
            {
                "id": "plan",
                "type": "control.switch",
                "cases": [
                    {
                        "id": "pro",
                        "when": {"$expr": "payload.plan = 'pro'"},
                        "steps": [_assign("mug", "vars.gift", "mug")],
                    }
                ],
                "default": [_assign("hoodie", "vars.gift", "hoodie")],
            },
            _return({"lane": {"$expr": "vars.lane"}, "gift": {"$expr": "vars.gift"}}),
        ],
    }
    payload = {"score": 70, "plan": "pro"}
    world.engine.publish(v1)
    old = start(world, "route", "old", payload)
    v2 = copy.deepcopy(v1)
    v2["steps"][1]["condition"]["value"] = 90  # condition changed
    case = v2["steps"][2]["cases"][0]
    case["steps"], v2["steps"][2]["default"] = v2["steps"][2]["default"], case["steps"]  # rewired
    edit(world.engine, v2)
    new = start(world, "route", "new", payload)
    go(world, "old", "new")
    pinned(
        finished(world.engine, old),
        ("SUCCEEDED", {"lane": "high", "gift": "mug"}),
        "branches the in-flight run took",
    )
    pinned({"high", "mug"} <= set(ran(world.engine, old)), True, "steps it ran")
    assert finished(world.engine, new) == ("SUCCEEDED", {"lane": "low", "gift": "hoodie"})


# ----------------------------------------------------------------------------- 5


def delay_changed(world: World) -> None:
    """A delay changes from a day to an hour: a run parked in it wakes at its original time,
    and a run that reaches it only after the edit still waits the original day."""
    v1 = {
        "key": "nurture",
        "steps": [
            {"id": "gate", "type": "event.wait", "config": {"eventName": "go"}},
            {"id": "delay", "type": "time.wait", "config": {"durationMs": 86_400_000}},
            _return({"$expr": "$now()"}),
        ],
    }
    engine, clock = world.engine, world.clock
    engine.publish(v1)
    began = clock.now()
    parked = start(world, "nurture", "parked")
    go(world, "parked")  # now in the day-long delay
    waiting = start(world, "nurture", "waiting")  # still before it
    v2 = copy.deepcopy(v1)
    v2["steps"][1]["config"]["durationMs"] = 3_600_000
    edit(world.engine, v2)
    go(world, "waiting")  # enters the delay after the edit
    advance(engine, clock, timedelta(hours=2))
    pinned(engine.get_run(parked)["status"], "WAITING", "the parked run, 2 h in")
    pinned(engine.get_run(waiting)["status"], "WAITING", "the run that entered after the edit")
    advance(engine, clock, timedelta(days=1))
    woke = (began + timedelta(days=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    pinned(finished(engine, parked), ("SUCCEEDED", woke), "when the parked run woke")
    pinned(finished(engine, waiting), ("SUCCEEDED", woke), "when the later run woke")


# ----------------------------------------------------------------------------- 6


def step_deleted_and_readded(world: World) -> None:
    """A step is deleted (version 2) and added back with the same id but other content (version
    3): each run executes its own version's step, or none."""
    v1 = {
        "key": "notes",
        "steps": [GO, _assign("note", "vars.note", "original"), _return({"$expr": "vars.note"})],
    }
    world.engine.publish(v1)
    on_v1 = start(world, "notes", "v1")
    v2 = copy.deepcopy(v1)
    del v2["steps"][1]
    edit(world.engine, v2)
    on_v2 = start(world, "notes", "v2")
    v3 = copy.deepcopy(v1)
    v3["steps"].insert(0, v3["steps"].pop(1))  # back, first this time
    v3["steps"][0]["config"]["assign"]["vars.note"] = "re-added"
    v3["steps"][2]["output"] = {"$expr": "vars.note & ' (v3)'"}
    edit(world.engine, v3)
    on_v3 = start(world, "notes", "v3")
    go(world, "v1", "v2", "v3")
    pinned(finished(world.engine, on_v1), ("SUCCEEDED", "original"), "the run on version 1")
    pinned(finished(world.engine, on_v2), ("SUCCEEDED", None), "the run on version 2")
    pinned("note" in ran(world.engine, on_v2), False, "version 2 has no note step")
    assert finished(world.engine, on_v3) == ("SUCCEEDED", "re-added (v3)")


# ----------------------------------------------------------------------------- 7


def three_versions_with_runs_parked_on_each(world: World) -> None:
    """Runs parked on versions 1, 2 and 3 each finish with their own version's steps."""

    def version(label: str) -> dict[str, Any]:
        return {
            "key": "triple",
            "steps": [
                _assign("before", "vars.trail", [f"{label}:before"]),
                GO,
                _assign("after", "vars.trail", {"$expr": f"$append(vars.trail, '{label}:after')"}),
                _return({"$expr": "vars.trail"}),
            ],
        }

    runs = {}
    for label in ("one", "two", "three"):
        edit(world.engine, version(label))
        runs[label] = [start(world, "triple", f"{label}-{i}") for i in range(2)]
    edit(world.engine, version("four"))
    go(world, *(f"{label}-{i}" for label in runs for i in range(2)))
    for label, run_ids in runs.items():
        for run_id in run_ids:
            trail = [f"{label}:before", f"{label}:after"]
            pinned(finished(world.engine, run_id), ("SUCCEEDED", trail), f"a run on {label}")
    counts = world.engine.step_counts("triple")
    assert counts["total"]["active"] == 0 and counts["latestVersion"] == 4


SCENARIOS: dict[str, Callable[[World], None]] = {
    "config": config_changed_after_runs_started,
    "deleted": step_deleted,
    "email": email_template_changed,
    "branches": condition_changed_and_branch_rewired,
    "delay": delay_changed,
    "readded": step_deleted_and_readded,
    "versions": three_versions_with_runs_parked_on_each,
}
