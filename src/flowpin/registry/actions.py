"""Actions: named, versioned operations applications register in Python (SPEC §1, §7).

    from pydantic import BaseModel
    from flowpin import action, ActionContext

    class TicketIn(BaseModel):
        subject: str

    class TicketOut(BaseModel):
        ticket_id: str

    @action("crm.create_ticket", version=1, effect="side_effect", retry={"maxAttempts": 3})
    async def create_ticket(input: TicketIn, ctx: ActionContext) -> TicketOut:
        ...

``@action`` builds an ``ActionSpec`` and *marks* the function with it (``fn.__flowpin_action__``);
it registers nothing. A ``Registry`` collects marked functions (``registry.register(fn)``,
``registry.register(module)``, ``registry.load_module("pkg.actions")``), so every ``Engine``
owns its registry and two engines can share a process (no process-global state). The function
is returned unchanged and stays callable in unit tests. ``registry.define_action(...)`` marks
and registers in one go.

The handler takes ``(input)`` or ``(input, ctx)``, sync or async. The input model comes from the
first parameter's annotation (or ``input_model=``) and must be a pydantic model. The output comes
from the return annotation (or ``output_model=``): a pydantic model, ``None`` (no output) or any
type pydantic can validate (``dict[str, Any]``), which is wrapped in a ``RootModel``.

``transactional=True`` is for a handler whose effect lives in flowpin's own database (a ticket
row, a contact update): it runs inside a write transaction of that database, reached as
``ctx.connection`` (SQLAlchemy), which also marks its ledger entry succeeded. Its writes and the
record that it ran commit together or not at all, so even a worker killed mid-call never
repeats it: exactly once, not at least once. It must be sync and quick (it holds the writer).
"""

from __future__ import annotations

import inspect
import logging
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, RootModel, ValidationError

from flowpin.definitions.models import RetryPolicy
from flowpin.errors import RegistryError
from flowpin.registry.errors import ActionError, RetryAfter

__all__ = [
    "ACTION_ATTRIBUTE",
    "EFFECTS",
    "ActionContext",
    "ActionError",
    "ActionSpec",
    "Effect",
    "RetryAfter",
    "Retryable",
    "action",
    "action_spec",
    "make_action_spec",
]

Effect = Literal["none", "idempotent", "side_effect"]
EFFECTS: tuple[Effect, ...] = ("none", "idempotent", "side_effect")
"""``none``: reads only, safe to repeat; ``idempotent``: changes something, but repeating it
with the same input (and idempotency key) changes nothing more; ``side_effect``: repeating it
repeats the effect (an email sent twice). Retry-from-step and migration show the last kind."""

Retryable = Callable[[BaseException], bool] | frozenset[type[BaseException]] | None
"""Which exceptions (other than ``ActionError``, which says so itself) are worth retrying."""

ACTION_ATTRIBUTE = "__flowpin_action__"
ACTION_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What a handler knows about the call it serves. Built by the worker; in unit tests build
    one directly (``ActionContext(run_id="r", step_id="s", workflow_key="w", version=1,
    attempt=1, idempotency_key="k")``)."""

    run_id: str
    step_id: str
    workflow_key: str
    version: int
    """The workflow version the run is pinned to."""
    attempt: int
    """1 for the first attempt of this step, 2 for the first retry, …"""
    idempotency_key: str
    """Stable across retries of this call; forward it to the remote system when it can dedupe
    (e.g. as an ``Idempotency-Key`` header)."""
    tenant_id: str = "default"
    fence: int | None = None
    """The claim of the run this call is made under (the run's claim count, which grows by one
    each time a worker claims the run): a fencing token. A remote system that remembers the
    highest fence it saw for a run can refuse a call bearing a lower one, from a worker that
    lost the run. ``None`` outside a worker (a handler called directly)."""
    connection: Any = field(default=None, compare=False, repr=False)
    """A transactional action's database connection (SQLAlchemy), inside the transaction that
    records the call; ``None`` for other actions."""
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = field(
        default=None, compare=False, repr=False
    )
    """A logger whose records carry the run, step and attempt; one is made when not given."""
    traceparent: str | None = None
    """The W3C ``traceparent`` of this call's span when OpenTelemetry traces are on (the
    ``otel`` extra): send it with outgoing requests to continue the run's trace."""

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the run, step and attempt (made on first use: most
        handlers never log, and a context is built for every call)."""
        if self.logger is None:
            adapter = logging.LoggerAdapter(
                logging.getLogger("flowpin.action"),
                {
                    "run_id": self.run_id,
                    "step_id": self.step_id,
                    "workflow_key": self.workflow_key,
                    "workflow_version": self.version,
                    "attempt": self.attempt,
                    "tenant_id": self.tenant_id,
                },
            )
            object.__setattr__(self, "logger", adapter)
        assert self.logger is not None
        return self.logger


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """Everything the engine knows about one registered action version."""

    action_id: str
    version: int
    effect: Effect
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    """A pydantic model; a ``RootModel`` when the handler returns a plain type or ``None``."""
    handler: Callable[..., Any]
    is_async: bool
    takes_context: bool
    """Whether the handler takes ``(input, ctx)`` rather than ``(input)``."""
    retry: RetryPolicy | None = None
    """The default retry policy of ``action.call`` steps that have none of their own."""
    retryable: Retryable = None
    description: str | None = None
    transactional: bool = False
    """The handler runs inside the database transaction that records it (exactly once)."""

    @property
    def key(self) -> str:
        """``"crm.create_ticket@1"``."""
        return f"{self.action_id}@{self.version}"

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a failure raised by the handler is worth retrying."""
        if isinstance(exc, ActionError):
            return exc.retryable
        if self.retryable is None:
            return False
        if isinstance(self.retryable, frozenset):
            return isinstance(exc, tuple(self.retryable))
        return bool(self.retryable(exc))

    def input_json_schema(self) -> dict[str, Any]:
        return _json_schema(self.input_model)

    def output_json_schema(self) -> dict[str, Any]:
        return _json_schema(self.output_model)

    def validate_input(self, data: Any) -> BaseModel:
        """The input model instance for ``data``; raises pydantic's ValidationError.
        (``model_validate`` with no options is this call behind ~0.6 µs of argument handling
        in Python; every action call validates its input.)"""
        model: BaseModel = self.input_model.__pydantic_validator__.validate_python(data)
        return model

    def validate_output(self, value: Any) -> Any:
        """Check a handler's return value against the output model; its JSON form."""
        model = self.output_model
        if type(value) is model and model.model_config.get("revalidate_instances") != "always":
            # What ``model_validate`` gives for its own model's instance (that instance, not
            # validated again), dumped as ``model_dump`` dumps it, without their argument
            # handling in Python: ~1 µs of every call of a handler returning its model.
            return model.__pydantic_serializer__.to_python(value, mode="json", by_alias=True)
        if isinstance(value, BaseModel) and not isinstance(value, model):
            value = value.model_dump(mode="json", by_alias=True)
        # ``model_validate`` and ``model_dump``, less their argument handling in Python.
        validated = model.__pydantic_validator__.validate_python(value)
        return type(validated).__pydantic_serializer__.to_python(
            validated, mode="json", by_alias=True
        )

    def call(self, input: BaseModel, ctx: ActionContext) -> Any:
        """Call the handler (``(input, ctx)`` or ``(input)``); an awaitable when it is async."""
        return self.handler(input, ctx) if self.takes_context else self.handler(input)

    def to_json(self) -> dict[str, Any]:
        """The designer's view: id, version, effect, input/output JSON Schema, default retry."""
        return {
            "actionId": self.action_id,
            "version": self.version,
            "effect": self.effect,
            "transactional": self.transactional,
            "description": self.description,
            "inputSchema": self.input_json_schema(),
            "outputSchema": self.output_json_schema(),
            "retry": (
                self.retry.model_dump(mode="json", by_alias=True, exclude_none=True)
                if self.retry is not None
                else None
            ),
        }


@lru_cache(maxsize=1024)
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)


def action(
    action_id: str,
    *,
    version: int = 1,
    effect: Effect = "side_effect",
    retry: RetryPolicy | dict[str, Any] | None = None,
    retryable: Callable[[BaseException], bool] | Iterable[type[BaseException]] | None = None,
    input_model: type[BaseModel] | None = None,
    output_model: Any = None,
    description: str | None = None,
    transactional: bool = False,
) -> Callable[[F], F]:
    """Mark a function as the handler of ``action_id@version`` (see the module docstring).

    ``effect`` defaults to ``side_effect``, the cautious choice. ``retry`` is the action's
    default policy (a ``RetryPolicy`` or its JSON form, ``{"maxAttempts": 3}``). ``retryable``
    classifies other exceptions: a set of exception types or a predicate. ``description``
    defaults to the function's docstring. Raises RegistryError for a malformed declaration."""
    _check_declaration(action_id, version, effect)
    policy = _retry_policy(retry, f"action {action_id}@{version}")

    def decorate(fn: F) -> F:
        if hasattr(fn, ACTION_ATTRIBUTE):
            raise RegistryError(
                f"{getattr(fn, '__qualname__', fn)!r} is already the action "
                f"{getattr(fn, ACTION_ATTRIBUTE).key}; a function can serve one action version"
            )
        spec = make_action_spec(
            fn,
            action_id,
            version=version,
            effect=effect,
            retry=policy,
            retryable=retryable,
            input_model=input_model,
            output_model=output_model,
            description=description,
            transactional=transactional,
        )
        try:
            setattr(fn, ACTION_ATTRIBUTE, spec)
        except AttributeError:  # a builtin or a slotted callable
            raise RegistryError(f"cannot mark {fn!r} as an action") from None
        return fn

    return decorate


def action_spec(obj: Any) -> ActionSpec | None:
    """The spec ``@action`` attached to ``obj`` (``None`` when it is not an action)."""
    spec = getattr(obj, ACTION_ATTRIBUTE, None)
    return spec if isinstance(spec, ActionSpec) else None


def make_action_spec(
    fn: Callable[..., Any],
    action_id: str,
    *,
    version: int = 1,
    effect: Effect = "side_effect",
    retry: RetryPolicy | dict[str, Any] | None = None,
    retryable: Callable[[BaseException], bool] | Iterable[type[BaseException]] | None = None,
    input_model: type[BaseModel] | None = None,
    output_model: Any = None,
    description: str | None = None,
    transactional: bool = False,
) -> ActionSpec:
    """Build (and check) the spec of a handler without marking it."""
    where = _check_declaration(action_id, version, effect)
    if not callable(fn):
        raise RegistryError(f"{where}: handler {fn!r} is not callable")

    takes_context, first_param = _arity(fn, where)
    hints = _type_hints(fn, where, need=input_model is None or output_model is None)
    if input_model is None:
        annotation = hints.get(first_param)
        if annotation is None:
            raise RegistryError(
                f"{where}: annotate the handler's first parameter with a pydantic model, "
                "or pass input_model="
            )
        input_model = annotation
    if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
        raise RegistryError(f"{where}: the input must be a pydantic model, not {input_model!r}")
    output = _output_model(
        output_model if output_model is not None else hints.get("return", Any), where
    )
    if transactional and (_is_async(fn) or not takes_context):
        raise RegistryError(
            f"{where}: a transactional handler must be sync and take (input, ctx) "
            "(it writes through ctx.connection, inside the transaction that records it)"
        )
    return ActionSpec(
        action_id=action_id,
        version=version,
        effect=effect,
        input_model=input_model,
        output_model=output,
        handler=fn,
        is_async=_is_async(fn),
        takes_context=takes_context,
        retry=_retry_policy(retry, where),
        retryable=_retryable(retryable, where),
        description=description if description is not None else _doc(fn),
        transactional=transactional,
    )


def _check_declaration(action_id: str, version: int, effect: str) -> str:
    if not isinstance(action_id, str) or not ACTION_ID_PATTERN.match(action_id):
        raise RegistryError(
            f"action id {action_id!r} must be dotted names of letters, digits, '_' and '-' "
            "(e.g. 'crm.create_ticket')"
        )
    if len(action_id) > 128:
        raise RegistryError(f"action id {action_id!r} is longer than 128 characters")
    where = f"action {action_id}@{version}"
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(f"{where}: version must be an integer >= 1")
    if effect not in EFFECTS:
        raise RegistryError(f"{where}: effect must be one of {', '.join(EFFECTS)}")
    return where


def _arity(fn: Callable[..., Any], where: str) -> tuple[bool, str]:
    """(takes a context, name of the input parameter)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{where}: cannot read the handler's signature: {exc}") from None
    positional = [
        param
        for param in signature.parameters.values()
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
    ]
    required_keywords = [
        param.name
        for param in signature.parameters.values()
        if param.kind == param.KEYWORD_ONLY and param.default is param.empty
    ]
    if (
        required_keywords
        or not positional
        or len([p for p in positional if p.default is p.empty]) > 2
    ):
        raise RegistryError(f"{where}: the handler must take (input) or (input, ctx)")
    return len(positional) >= 2, positional[0].name


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # a callable object with ``async def __call__``
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def _type_hints(fn: Callable[..., Any], where: str, *, need: bool) -> dict[str, Any]:
    if not need:
        return {}
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        return typing.get_type_hints(target)
    except Exception as exc:  # a forward reference that does not resolve
        raise RegistryError(
            f"{where}: cannot resolve the handler's annotations ({exc}); "
            "pass input_model= and output_model="
        ) from None


def _output_model(annotation: Any, where: str) -> type[BaseModel]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if annotation is None or annotation is type(None):
        return _root_model(None)
    try:
        return _root_model(annotation)
    except Exception as exc:
        raise RegistryError(
            f"{where}: the output type {annotation!r} is not one pydantic can validate ({exc})"
        ) from None


@lru_cache(maxsize=256)
def _root_model(annotation: Any) -> type[BaseModel]:
    return RootModel[annotation]  # type: ignore[valid-type]


def _retry_policy(retry: RetryPolicy | dict[str, Any] | None, where: str) -> RetryPolicy | None:
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    try:
        return RetryPolicy.model_validate(retry)
    except ValidationError as exc:
        raise RegistryError(f"{where}: invalid retry policy: {exc}") from None


def _retryable(
    retryable: Callable[[BaseException], bool] | Iterable[type[BaseException]] | None, where: str
) -> Retryable:
    if retryable is None:
        return None
    if isinstance(retryable, type) and issubclass(retryable, BaseException):
        return frozenset({retryable})
    if callable(retryable):
        return retryable
    types = frozenset(retryable)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise RegistryError(f"{where}: retryable must be exception types or a predicate")
    return types


def _doc(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    if not doc or (not inspect.isfunction(fn) and not inspect.ismethod(fn)):
        return None
    return doc.split("\n\n", 1)[0].strip() or None
