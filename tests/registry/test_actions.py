import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from flowpin.definitions.models import RetryPolicy
from flowpin.errors import FlowpinError, RegistryError
from flowpin.registry import ActionContext, ActionError, Registry, RetryAfter, action
from flowpin.registry.actions import action_spec


class TicketIn(BaseModel):
    subject: str
    priority: int = 3


class TicketOut(BaseModel):
    ticket_id: str


def ctx(**changes: Any) -> ActionContext:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "step_id": "create",
        "workflow_key": "email-to-ticket",
        "version": 1,
        "attempt": 1,
        "idempotency_key": "key-1",
    }
    values.update(changes)
    return ActionContext(**values)


def test_decorator_infers_models_and_leaves_the_function_callable() -> None:
    @action("crm.create_ticket", version=1, effect="side_effect", retry={"maxAttempts": 5})
    def create_ticket(input: TicketIn, ctx: ActionContext) -> TicketOut:
        """Create a ticket in the CRM.

        Longer text that is not part of the description."""
        return TicketOut(ticket_id=f"T-{input.subject}")

    spec = action_spec(create_ticket)
    assert spec is not None
    assert (spec.action_id, spec.version) == ("crm.create_ticket", 1)
    assert spec.key == "crm.create_ticket@1"
    assert spec.input_model is TicketIn and spec.output_model is TicketOut
    assert spec.effect == "side_effect"
    assert spec.is_async is False and spec.takes_context is True
    assert spec.retry == RetryPolicy(maxAttempts=5)
    assert spec.description == "Create a ticket in the CRM."
    assert create_ticket(TicketIn(subject="a"), ctx()).ticket_id == "T-a"
    assert spec.call(TicketIn(subject="b"), ctx()) == TicketOut(ticket_id="T-b")
    assert spec.input_json_schema()["required"] == ["subject"]


def test_async_handler_without_context() -> None:
    @action("crm.lookup", version=2, effect="none")
    async def lookup(input: TicketIn) -> TicketOut:
        return TicketOut(ticket_id="T-1")

    spec = action_spec(lookup)
    assert spec is not None and spec.is_async and not spec.takes_context
    assert asyncio.run(spec.call(TicketIn(subject="x"), ctx())) == TicketOut(ticket_id="T-1")


def test_explicit_models_and_plain_output_types() -> None:
    @action("util.echo", input_model=TicketIn, output_model=dict[str, int])
    def echo(input, ctx):  # type: ignore[no-untyped-def]
        return {"n": 1}

    @action("util.fire")
    def fire(input: TicketIn) -> None:
        return None

    echo_spec, fire_spec = action_spec(echo), action_spec(fire)
    assert echo_spec is not None and fire_spec is not None
    assert echo_spec.validate_output({"n": 2}) == {"n": 2}
    assert echo_spec.output_json_schema()["type"] == "object"
    assert fire_spec.validate_output(None) is None
    assert fire_spec.version == 1  # the default


def test_an_input_is_validated_as_model_validate_validates_it() -> None:
    from pydantic import ConfigDict, Field, ValidationError, field_validator

    class In(BaseModel):
        model_config = ConfigDict(populate_by_name=True)
        subject: str = Field(alias="Subject")
        priority: int = 3

        @field_validator("subject")
        @classmethod
        def trimmed(cls, subject: str) -> str:
            return subject.strip()

    @action("util.in")
    def handler(input: In) -> None: ...

    spec = action_spec(handler)
    assert spec is not None
    for data in ({"Subject": " a "}, {"subject": "b", "priority": "4"}):
        assert spec.validate_input(data) == In.model_validate(data)
    assert isinstance(spec.validate_input({"Subject": "c"}), In)
    with pytest.raises(ValidationError):
        spec.validate_input({"priority": "high"})


def test_an_output_of_the_output_model_is_dumped_as_model_dump_dumps_it() -> None:
    """The handler's own model instance is not validated again (pydantic would not either)
    and is dumped as ``model_dump(mode="json", by_alias=True)``; a model that asks to be
    revalidated is, and a subclass's instance takes the general path."""
    from datetime import UTC, datetime

    from pydantic import ConfigDict, Field, field_validator

    class Out(BaseModel):
        model_config = ConfigDict(populate_by_name=True)
        ticket_id: str = Field(alias="ticketId")
        at: datetime
        tags: set[str] = set()

    class Stricter(BaseModel):
        model_config = ConfigDict(revalidate_instances="always")
        n: int

        @field_validator("n")
        @classmethod
        def at_most_ten(cls, n: int) -> int:
            return min(n, 10)

    class MoreOut(Out):
        extra: int = 1

    def spec_of(model: type[BaseModel]) -> Any:
        @action("util.out", output_model=model)
        def handler(input: TicketIn) -> Any: ...

        return action_spec(handler)

    out = Out(ticketId="T-1", at=datetime(2026, 1, 2, tzinfo=UTC), tags={"a"})
    dumped = spec_of(Out).validate_output(out)
    assert dumped == out.model_dump(mode="json", by_alias=True)
    assert dumped == {"ticketId": "T-1", "at": "2026-01-02T00:00:00Z", "tags": ["a"]}
    stricter = Stricter.model_construct(n=99)  # not validated when built
    assert spec_of(Stricter).validate_output(stricter) == {"n": 10}
    more = MoreOut(ticketId="T-2", at=datetime(2026, 1, 2, tzinfo=UTC))
    assert spec_of(Out).validate_output(more) == more.model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"effect": "sometimes"}, "effect"),
        ({"version": 0}, "version"),
        ({"retry": {"maxAttempts": 0}}, "retry"),
    ],
)
def test_bad_declarations_raise_registry_error(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RegistryError, match=fragment):

        @action("crm.bad", **kwargs)
        def bad(input: TicketIn) -> TicketOut: ...


def test_input_must_be_a_pydantic_model() -> None:
    with pytest.raises(RegistryError, match="pydantic model"):

        @action("crm.bad")
        def bad(input: dict) -> TicketOut: ...  # type: ignore[type-arg]

    with pytest.raises(RegistryError, match="annotate"):

        @action("crm.bad")
        def unannotated(input):  # type: ignore[no-untyped-def]
            ...

    with pytest.raises(RegistryError, match=r"\(input\) or \(input, ctx\)"):

        @action("crm.bad")
        def too_many(input: TicketIn, ctx: ActionContext, extra: int) -> None: ...


def test_bad_action_id() -> None:
    with pytest.raises(RegistryError, match="action id"):
        action("no spaces allowed")


def test_a_function_serves_one_action_version() -> None:
    with pytest.raises(RegistryError, match="already the action"):

        @action("a.b", version=2)
        @action("a.b", version=1)
        def twice(input: TicketIn) -> None: ...


def test_retryable_classification() -> None:
    @action("net.call", retryable={ConnectionError, TimeoutError})
    def by_types(input: TicketIn) -> None: ...

    @action("net.call2", retryable=lambda exc: "503" in str(exc))
    def by_predicate(input: TicketIn) -> None: ...

    @action("net.call3")
    def unclassified(input: TicketIn) -> None: ...

    types, predicate, none = (action_spec(f) for f in (by_types, by_predicate, unclassified))
    assert types and predicate and none
    assert types.is_retryable(ConnectionResetError()) and not types.is_retryable(ValueError())
    assert predicate.is_retryable(RuntimeError("HTTP 503")) and not predicate.is_retryable(
        RuntimeError("HTTP 400")
    )
    assert not none.is_retryable(ConnectionError())
    # ActionError says so itself, whatever the classification
    assert none.is_retryable(ActionError("busy", retryable=True))
    assert not types.is_retryable(ActionError("bad input"))
    assert none.is_retryable(RetryAfter(5))


def test_handler_exceptions() -> None:
    error = ActionError("mailbox full", retryable=True, data={"box": "a"})
    assert isinstance(error, FlowpinError)
    assert (error.message, error.retryable, error.data) == ("mailbox full", True, {"box": "a"})
    later = RetryAfter(1.5, "rate limited")
    assert isinstance(later, ActionError)
    assert later.seconds == 1.5 and later.retryable and str(later) == "rate limited"
    assert str(RetryAfter(30)) == "retry after 30 seconds"
    with pytest.raises(ValueError):
        RetryAfter(-1)


def test_action_context_is_frozen_and_carries_a_logger() -> None:
    context = ctx(tenant_id="acme")
    assert context.tenant_id == "acme" and context.attempt == 1
    assert context.log is context.logger
    with pytest.raises(AttributeError):
        context.attempt = 2  # type: ignore[misc]
    assert ctx() == ctx()


def test_registry_collects_marked_functions_and_refuses_duplicates() -> None:
    @action("crm.create_ticket", version=1)
    def create(input: TicketIn) -> TicketOut: ...

    @action("crm.create_ticket", version=1)
    def impostor(input: TicketIn) -> TicketOut: ...

    registry = Registry()
    registry.register(create)
    assert registry.action("crm.create_ticket", 1) is action_spec(create)
    assert registry.action("crm.create_ticket", 2) is None
    with pytest.raises(RegistryError, match=r"crm\.create_ticket@1 is already registered"):
        registry.register(impostor)
    with pytest.raises(RegistryError):
        registry.register(create)
    # a second registry is independent: no global state
    assert Registry().action("crm.create_ticket", 1) is None


def test_define_action_registers_at_once() -> None:
    registry = Registry()

    @registry.define_action("crm.note", version=3, effect="idempotent")
    def note(input: TicketIn) -> None: ...

    spec = registry.action("crm.note", 3)
    assert spec is not None and spec.effect == "idempotent" and spec.handler is note
    with pytest.raises(RegistryError):

        @registry.define_action("crm.note", version=3)
        def again(input: TicketIn) -> None: ...


def test_load_module_registers_what_the_module_defines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    registry = Registry()
    found = registry.load_module("flowpin_demo_actions")
    assert sorted(spec.key for spec in found) == ["net.ping@1", "net.ping@2"]
    assert registry.action_versions("net.ping") == [1, 2]
    assert registry.schema("payload.Ping.v1") is not None
    with pytest.raises(RegistryError, match="already registered"):
        registry.load_module("flowpin_demo_actions")


def test_load_module_reports_a_missing_module() -> None:
    with pytest.raises(RegistryError, match="cannot import"):
        Registry().load_module("no_such_module_here")


def test_register_rejects_other_things() -> None:
    with pytest.raises(RegistryError, match="cannot register"):
        Registry().register(lambda x: x)


def test_a_clashing_module_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    registry = Registry()

    @action("net.ping", version=2)
    def other(input: TicketIn) -> None: ...

    registry.register(other)
    with pytest.raises(RegistryError, match=r"net\.ping@2"):
        registry.load_module("flowpin_demo_actions")
    assert registry.action("net.ping", 1) is None
    assert registry.schema("payload.Ping.v1") is None
