"""SPEC §4.3: retry policies, never-retried categories, onError continue, stale inputs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from driver import RUN, T0, Driver, Fail, action, assign, expr, play, raises, workflow

from flowpin.definitions.models import RetryPolicy
from flowpin.runtime.decisions import ActionResult, CallAction, WaitUntil
from flowpin.runtime.interpreter import resume_timers
from flowpin.runtime.retry import backoff_ms, jitter_seed
from flowpin.types import RunStatus


def flaky(failures: int, category: str = "TransientError", **options: object):
    """Fails ``failures`` times, then returns the attempt number."""

    def stub(_args: object, call: CallAction) -> int:
        if call.attempt <= failures:
            raise Fail(category, f"attempt {call.attempt}", **options)
        return call.attempt

    return stub


def retry_delays(driver: Driver) -> list[float]:
    timers = [c for c in driver.commands if isinstance(c, WaitUntil) and c.reason == "retry"]
    return [(t.due_at - T0).total_seconds() for t in timers]


def test_retry_waits_durably_then_calls_again_with_the_same_key() -> None:
    step = action(
        "call", save_as="vars.r", retry={"maxAttempts": 3, "backoffMs": 1000, "jitter": "none"}
    )
    driver = Driver(workflow([step]), None, {"demo.act": flaky(1)})
    driver.advance()
    outcome = driver.play(fire_timers=False)
    assert outcome.status is RunStatus.WAITING
    (timer,) = outcome.commands
    assert timer == WaitUntil("call", "call", T0 + timedelta(seconds=1), "retry")
    assert resume_timers(driver.state) == ["call"]
    assert outcome.current_steps == ["call"]
    assert [e.status for e in outcome.history] == ["retrying"]
    driver.now = timer.due_at
    outcome = driver.fire("call")
    (call,) = outcome.commands
    assert isinstance(call, CallAction) and call.attempt == 2
    assert call.idempotency_key == driver.all_calls[0].idempotency_key
    assert driver.play().status is RunStatus.SUCCEEDED
    assert driver.vars == {"r": 2}
    assert driver.statuses("call") == ["retrying", "succeeded"]
    assert [e.attempt for e in driver.history] == [1, 2]
    assert all(e.input == {} for e in driver.history)


def test_exponential_backoff_capped_by_max_delay() -> None:
    policy = {
        "maxAttempts": 5,
        "backoffMs": 1000,
        "backoffMultiplier": 3,
        "maxDelayMs": 5000,
        "jitter": "none",
    }
    driver = play(workflow([action("call", retry=policy)]), None, {"demo.act": flaky(10)})
    assert driver.status is RunStatus.FAILED
    # Delays 1s, 3s, 5s (capped), 5s: due times accumulate.
    assert retry_delays(driver) == [1, 4, 9, 14]
    assert driver.outcome.error["attempt"] == 5
    assert driver.outcome.error["message"] == "attempt 5"


def test_full_jitter_is_reproducible_and_bounded() -> None:
    policy = {"maxAttempts": 4, "backoffMs": 1000}
    first = play(workflow([action("call", retry=policy)]), None, {"demo.act": flaky(10)})
    second = play(workflow([action("call", retry=policy)]), None, {"demo.act": flaky(10)})
    assert retry_delays(first) == retry_delays(second)
    model = RetryPolicy.model_validate(policy)
    expected = [backoff_ms(model, n, jitter_seed(RUN.run_id, "call", n)) for n in (1, 2, 3)]
    assert all(0 <= d < 1000 * 2 ** (n - 1) for n, d in zip((1, 2, 3), expected, strict=True))
    due = [(t.due_at - T0) for t in first.commands if isinstance(t, WaitUntil)]
    cumulative = []
    total = 0
    for delay in expected:
        total += delay
        cumulative.append(timedelta(milliseconds=total))
    assert due == cumulative
    assert len(set(expected)) > 1


def test_total_budget_stops_retries() -> None:
    policy = {"maxAttempts": 10, "backoffMs": 1000, "jitter": "none", "totalBudgetMs": 2500}
    driver = play(workflow([action("call", retry=policy)]), None, {"demo.act": flaky(10)})
    assert driver.status is RunStatus.FAILED
    assert retry_delays(driver) == [1]  # the next retry would start 3 s after the first attempt
    assert driver.outcome.error["attempt"] == 2


def test_retry_after_overrides_the_computed_delay() -> None:
    policy = {"maxAttempts": 2, "backoffMs": 10}
    driver = play(
        workflow([action("call", retry=policy)]), None, {"demo.act": flaky(1, retry_after_ms=7000)}
    )
    assert driver.status is RunStatus.SUCCEEDED
    assert retry_delays(driver) == [7]


@pytest.mark.parametrize(
    ("category", "options", "retry_on", "retried"),
    [
        ("TransientError", {}, None, True),
        ("TimeoutError", {}, None, True),
        ("TransientError", {"retryable": False}, None, False),
        ("ActionError", {}, None, False),
        ("ActionError", {"retryable": True}, None, True),
        ("ActionError", {"retryable": False}, ["ActionError"], True),
        ("TimeoutError", {}, ["TransientError"], False),
        ("ValidationError", {"retryable": True}, None, False),
        ("ValidationError", {}, ["ValidationError"], False),
        ("ExpressionError", {}, ["ExpressionError"], False),
    ],
)
def test_which_categories_are_retried(
    category: str, options: dict, retry_on: list | None, retried: bool
) -> None:
    policy: dict = {"maxAttempts": 2, "backoffMs": 0}
    if retry_on is not None:
        policy["retryOn"] = retry_on
    driver = play(
        workflow([action("call", retry=policy)]), None, {"demo.act": flaky(1, category, **options)}
    )
    assert driver.status is (RunStatus.SUCCEEDED if retried else RunStatus.FAILED)
    assert len(driver.all_calls) == (2 if retried else 1)


def test_zero_delay_retries_at_once_without_a_timer() -> None:
    policy = {"maxAttempts": 3, "backoffMs": 0}
    driver = Driver(workflow([action("call", retry=policy)]), None, {"demo.act": flaky(2)})
    driver.advance()
    call = driver.calls.pop("call")
    outcome = driver.advance([driver.answer(call)])
    assert [type(c) for c in outcome.commands] == [CallAction]
    assert outcome.commands[0].attempt == 2


def test_expression_errors_in_a_step_are_never_retried() -> None:
    step = action(
        "call",
        inputMapping={"x": expr("$bad(")},
        retry={"maxAttempts": 5, "retryOn": ["ExpressionError"]},
    )
    driver = play(workflow([step]))
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error["category"] == "ExpressionError"
    assert driver.all_calls == []


def test_action_default_retry_policy_applies_without_step_retry() -> None:
    policies = {("demo.act", 1): RetryPolicy(maxAttempts=3, backoffMs=0)}
    seen: list = []

    def lookup(action_id: str, version: int) -> RetryPolicy | None:
        seen.append((action_id, version))
        return policies.get((action_id, version))

    driver = play(workflow([action("call")]), None, {"demo.act": flaky(2)}, action_retry=lookup)
    assert driver.status is RunStatus.SUCCEEDED
    assert seen and seen[0] == ("demo.act", 1)
    as_dict = play(
        workflow([action("call")]),
        None,
        {"demo.act": flaky(1)},
        action_retry=lambda a, v: {"maxAttempts": 2, "backoffMs": 0},
    )
    assert as_dict.status is RunStatus.SUCCEEDED
    own = play(
        workflow([action("call", retry={"maxAttempts": 1})]),
        None,
        {"demo.act": flaky(1)},
        action_retry=lookup,
    )
    assert own.status is RunStatus.FAILED


def test_on_error_continue_after_retries() -> None:
    step = action(
        "call", save_as="vars.r", onError="continue", retry={"maxAttempts": 2, "backoffMs": 0}
    )
    definition = workflow(
        [
            assign("a", **{"vars.r": "kept"}),
            step,
            assign("b", **{"vars.after": expr("meta.lastError.message")}),
        ]
    )
    driver = play(definition, None, {"demo.act": raises("TransientError", "flaky")})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars == {"r": "kept", "after": "flaky"}
    assert driver.statuses("call") == ["retrying", "continued"]
    assert driver.meta["lastError"]["attempt"] == 2


def test_on_error_continue_comes_before_try_catch() -> None:
    definition = workflow(
        [
            {
                "id": "t",
                "type": "control.tryCatch",
                "try": [action("call", onError="continue")],
                "catch": [assign("c", **{"vars.caught": True})],
            }
        ]
    )
    driver = play(definition, None, {"demo.act": raises()})
    assert driver.vars == {}
    assert driver.statuses("t") == ["succeeded"]


def test_try_catch_sees_the_error_after_retries() -> None:
    definition = workflow(
        [
            {
                "id": "t",
                "type": "control.tryCatch",
                "captureErrorAs": "meta.err",
                "try": [action("call", retry={"maxAttempts": 3, "backoffMs": 0})],
                "catch": [],
            }
        ]
    )
    driver = play(definition, None, {"demo.act": raises("TransientError")})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.meta["err"]["attempt"] == 3
    assert len(driver.all_calls) == 3


def test_stale_and_duplicate_action_results_are_ignored() -> None:
    driver = Driver(
        workflow([action("a", save_as="vars.a"), action("b", save_as="vars.b")]),
        None,
        {"demo.act": 1},
    )
    driver.advance()
    first = ActionResult("a", 1, T0, output="first")
    outcome = driver.advance([first, first, ActionResult("a", 2, T0, output="wrong attempt")])
    assert [c.token for c in outcome.commands] == ["b"]
    assert driver.vars == {"a": "first"}
    for stale in (
        ActionResult("a", 1, T0, output="again"),
        ActionResult("b", 2, T0, output="wrong attempt"),
        ActionResult("zzz", 1, T0, output=1),
        ActionResult("loop[0]/b", 1, T0, output=1),
        ActionResult("b[x]/b", 1, T0, output=1),
        ActionResult("b:y/b", 1, T0, output=1),
        ActionResult("a/b/c", 1, T0, output=1),
    ):
        outcome = driver.advance([stale])
        assert outcome.commands == [] and outcome.history == []
        assert outcome.status is RunStatus.RUNNING
    done = driver.advance([ActionResult("b", 1, T0, output=2)])
    assert done.status is RunStatus.SUCCEEDED
    after = driver.advance([ActionResult("b", 1, T0, output=3)])
    assert (
        after.status is RunStatus.SUCCEEDED
        and after.history == []
        and driver.vars == {"a": "first", "b": 2}
    )


def test_a_retry_timer_after_an_old_result_is_ignored() -> None:
    step = action("call", retry={"maxAttempts": 3, "backoffMs": 1000, "jitter": "none"})
    driver = Driver(workflow([step]), None, {"demo.act": flaky(1)})
    driver.advance()
    failed = ActionResult("call", 1, T0, error={"category": "TransientError", "message": "x"})
    driver.advance([failed])
    assert driver.advance([failed]).commands == []  # redelivered failure: already retrying
    driver.now = T0 + timedelta(seconds=1)
    outcome = driver.fire("call")
    assert outcome.commands[0].attempt == 2
    assert driver.fire("call").commands == []  # the timer fired twice


def test_unknown_error_category_is_an_action_error() -> None:
    driver = play(workflow([action("call")]), None, {"demo.act": raises("Weird", "x")})
    assert driver.outcome.error["category"] == "ActionError"
    assert driver.outcome.error["message"] == "x"


def test_malformed_inputs_do_not_crash() -> None:
    from flowpin.runtime.decisions import ChildFinished, WaitResolved

    driver = Driver(workflow([action("call")]))
    driver.advance()
    outcome = driver.advance([ActionResult("call", 1, T0, error="plain text")])  # type: ignore[arg-type]
    assert outcome.status is RunStatus.FAILED
    assert outcome.error["category"] == "ActionError" and outcome.error["message"] == "plain text"

    child = Driver(workflow([{"id": "sub", "type": "control.callWorkflow", "workflowKey": "x"}]))
    child.advance()
    assert child.advance([ChildFinished("sub", T0, RunStatus.RUNNING)]).status is RunStatus.WAITING
    assert (
        child.advance([ChildFinished("sub", T0, RunStatus.FAILED, error="x")]).status
        is RunStatus.FAILED
    )  # type: ignore[arg-type]

    waiting = Driver(
        workflow(
            [{"id": "w", "type": "event.wait", "config": {"eventName": "e", "saveAs": "vars.e"}}]
        )
    )
    waiting.advance()
    assert (
        waiting.advance([WaitResolved("w", "event", T0, event=None)]).status is RunStatus.SUCCEEDED
    )
    assert waiting.vars == {"e": None}
    for token in (None, 3, "a/", "/", "[0]/w"):
        assert (
            Driver(workflow([action("call")])).advance([ActionResult(token, 1, T0)]).status
            is RunStatus.RUNNING
        )  # type: ignore[arg-type]
