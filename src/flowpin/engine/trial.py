"""Try a draft without publishing it (the designer's "try the draft"; Step Functions' test
state): the draft runs to its end, or to the first wait nobody answered, in a throwaway
in-process engine on a temporary SQLite file.

Nothing reaches the caller's database (no run, event, task or ledger row), and no side effect
leaves the process: an action whose effect is ``none`` runs for real (that is its contract);
every other action answers with the sample output given for it (``outputs["id@version"]``), and
without one the trial stops there and says which output it needs. Waits are answered from
``answers[stepId]`` (an event's payload, a task's data); timers are skipped through on a fake
clock. Secrets are not available to a trial.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flowpin.clock import FakeClock
from flowpin.registry import ActionError
from flowpin.registry.catalog import Registry

MAX_ROUNDS = 200
"""Answers given in one trial at most (a loop waiting on every item counts each)."""

MAX_STEPS = 2_000
"""History steps a trial run may take before it fails (``limit.steps``)."""


@dataclass(slots=True)
class _Stubs:
    """Sample outputs by ``actionId@version``; remembers the first call that had none."""

    outputs: dict[str, Any]
    missing: dict[str, Any] | None = None
    calls: list[str] = field(default_factory=list)

    def for_action(self, key: str) -> Any:
        def answer(_input: Any, ctx: Any) -> Any:
            self.calls.append(key)
            if key in self.outputs:
                return self.outputs[key]
            action_id, _, version = key.rpartition("@")
            if self.missing is None:
                self.missing = {
                    "stepId": ctx.step_id,
                    "actionId": action_id,
                    "version": int(version),
                }
            raise ActionError(
                f"no sample output for {key}: it has side effects, so a trial does not call it",
                data={"code": "trial.needs_output", "action": key},
            )

        return answer


def _no_secrets(_tenant: str, name: str) -> str:
    raise KeyError(name)


def try_definition(
    registry: Registry,
    document: dict[str, Any],
    payload: Any,
    *,
    outputs: dict[str, Any] | None = None,
    answers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``document`` on ``payload`` in a sandbox; the trial's report (see module doc)."""
    from flowpin.engine.facade import Engine

    stubs = _Stubs(dict(outputs or {}))
    side_effects = {
        f"{spec['actionId']}@{spec['version']}": stubs.for_action(
            f"{spec['actionId']}@{spec['version']}"
        )
        for spec in registry.actions_json()
        if spec.get("effect") != "none"
    }
    folder = Path(tempfile.mkdtemp(prefix="flowpin-trial-"))
    clock = FakeClock()
    engine = Engine(
        f"sqlite:///{folder / 'trial.db'}",
        registry=registry,
        clock=clock,
        stubs=side_effects,
        secrets=_no_secrets,
        max_steps_per_run=MAX_STEPS,
        redact_keys=None,
    )
    try:
        key = engine.publish(document).workflow
        run_id = engine.start(key, payload)
        return _drive(engine, clock, run_id, dict(answers or {}), stubs)
    finally:
        engine.close()
        shutil.rmtree(folder, ignore_errors=True)


def _drive(
    engine: Any, clock: FakeClock, run_id: str, answers: dict[str, Any], stubs: _Stubs
) -> dict[str, Any]:
    waiting_at: dict[str, Any] | None = None
    for _ in range(MAX_ROUNDS):
        engine.run_worker(until_idle=True)
        run = engine.get_run(run_id)
        if run["status"] != "WAITING":
            break
        waiting_at = _answer(engine, clock, run, answers)
        if waiting_at is not None:
            break
    run = engine.get_run(run_id)
    steps = [
        {
            "stepId": item["stepId"],
            "type": item["type"],
            "status": str(item["status"]).upper(),
            "input": item.get("input"),
            "output": item.get("output"),
            "error": item.get("error"),
        }
        for item in engine.history(run_id)
    ]
    return {
        "status": run["status"],
        "steps": steps,
        "waitingAt": waiting_at if run["status"] == "WAITING" else None,
        "needsOutput": stubs.missing if run["status"] == "FAILED" else None,
        "output": run.get("output"),
        "error": run.get("error"),
        "vars": (run.get("state") or {}).get("vars"),
    }


def _answer(
    engine: Any, clock: FakeClock, run: dict[str, Any], answers: dict[str, Any]
) -> dict[str, Any] | None:
    """Answer what the run waits for: events and tasks from ``answers``, timers by moving the
    clock to their due time. What is left unanswered, or ``None`` when the run can go on."""
    unanswered: dict[str, Any] | None = None
    timers: list[datetime] = []
    progressed = False
    for wait in run.get("waitingFor") or []:
        step_id, kind = wait.get("stepId"), wait.get("kind")
        if kind == "event" and step_id in answers:
            sent = engine.send_event(
                wait["eventName"], wait.get("correlationKey"), answers[step_id]
            )
            if run["runId"] in sent.resumed:
                progressed = True
            elif unanswered is None:  # the wait's filter refused the answer: ask for another
                unanswered = {**_describe(engine, wait), "answerRefused": True}
        elif kind == "task" and step_id in answers:
            engine.complete_task(wait["taskId"], answers[step_id])
            progressed = True
        elif kind == "timer" and wait.get("dueAt"):
            timers.append(datetime.fromisoformat(wait["dueAt"].replace("Z", "+00:00")))
        elif unanswered is None:
            unanswered = _describe(engine, wait)
    if progressed:
        return None
    if unanswered is not None:
        return unanswered
    if timers:
        clock.set(max(min(timers), clock.now()))
        return None
    return {"stepId": run.get("currentStep"), "kind": "unknown"}


def _describe(engine: Any, wait: dict[str, Any]) -> dict[str, Any]:
    found = {"stepId": wait.get("stepId"), "kind": wait.get("kind")}
    if wait.get("kind") == "event":
        found["eventName"] = wait.get("eventName")
    if wait.get("kind") == "task":
        task = engine.get_task(wait["taskId"])
        found.update(title=task.get("title"), formSchema=task.get("formSchema"))
    return found
