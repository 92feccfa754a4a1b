"""Redaction (SPEC §8): what stored step history and returned run data never show.

Three rules, all replacing a value by ``"[redacted]"``:

- **Key patterns** (``Redactor``): the value under any object key matching a regex
  (``password``, ``token``, ``secret``, ``authorization``, ``api_key`` … by default).
- **JSON pointers** (``Masks``): the values at RFC 6901 pointers into the run envelope
  (``/payload/card/number``, ``/vars/customer/ssn``), configured engine-wide
  (``Engine(redact_pointers=[…])``) and per workflow (definition ``settings.redact``). The
  envelope is masked at those paths; anywhere else (step inputs and outputs, the run's output
  and error) the *values* found there are masked: a whole scalar equal to one, and each
  occurrence inside a longer string of one that has at least ``MIN_EMBEDDED`` characters.
- **Secret values** (``scrub_secrets``): the executor scrubs every value it resolved for a
  call out of the handler's output and error text, before either reaches the run's state, the
  ledger or history — so a handler echoing its secret stores and returns the mask.

What a step saves under a pointer is masked by the same rule even once the run has moved on
and the envelope no longer holds it: its value is placed where the step wrote it and looked up
there. A checkpoint takes those values from the history entries it writes (``Placement``:
``saveAs``, ``captureErrorAs``, each path of a ``transform.assign``) and reads back from the
database what a person, an event or an action delivered (``Delivery``: task data, event
payloads, ledger outputs), so a value saved by an earlier claim, in any process, still counts.
The API, which shows tasks and events long after, reads them back too.

Stored history is masked when it is written; the API masks what it returns (runs, step
history, tasks, events). The run's own state keeps real values (pointers and key patterns),
since the run resumes from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowpin.definitions.models import Definition, NodeStep
from flowpin.definitions.pointers import Pointer, parse_pointers
from flowpin.definitions.walk import index_steps
from flowpin.expressions.paths import PathError, parse_path

if TYPE_CHECKING:
    from flowpin.runtime.decisions import HistoryEntry

DEFAULT_KEYS = r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|credit[_-]?card)"
MASK = "[redacted]"
MIN_EMBEDDED = 4
"""Values shorter than this are masked only where they appear whole (not inside text)."""


class Redactor:
    """Masks values under object keys matching ``pattern``."""

    def __init__(self, pattern: str | None = DEFAULT_KEYS) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self._verdicts: dict[str, bool] = {}
        """Whether a key matches, by key: payloads repeat their keys step after step."""

    def __call__(self, value: Any) -> Any:
        if self.pattern is None or not self._any_match(value):
            return value  # the common case: nothing to mask, nothing copied
        return self._walk(value)

    def _matches(self, key: Any) -> bool:
        if not isinstance(key, str):
            return False
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self.pattern.search(key) is not None  # type: ignore[union-attr]
            if len(self._verdicts) >= 10_000:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def _any_match(self, value: Any) -> bool:
        if isinstance(value, dict):
            verdicts = self._verdicts
            for key, item in value.items():
                verdict = verdicts.get(key)
                if verdict is None:
                    verdict = self._matches(key)
                if verdict or (isinstance(item, dict | list) and self._any_match(item)):
                    return True
            return False
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict | list) and self._any_match(item):
                    return True
        return False

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: MASK if self._matches(key) else self._walk(item) for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        return value

    def run(self, view: dict[str, Any], masks: Masks | None = None) -> dict[str, Any]:
        """A run view (``get_run``) with its state, output, error and history redacted; with
        ``masks``, the pointer rules of the run's workflow apply too."""
        if self.pattern is None and masks is None:
            return view
        result = dict(view)
        state = view.get("state")
        if masks is not None and isinstance(state, dict):
            state = masks(masks.envelope(state))
        result["state"] = self(state)
        for field in ("output", "error"):
            value = view.get(field)
            result[field] = self(masks(value) if masks is not None else value)
        if "history" in view:
            result["history"] = [self.step(item, masks) for item in view["history"]]
        return result

    def step(self, item: dict[str, Any], masks: Masks | None = None) -> dict[str, Any]:
        return self.fields(item, ("input", "output", "error"), masks)

    def task(self, view: dict[str, Any], masks: Masks | None = None) -> dict[str, Any]:
        """A task view (``get_task``): its data, and the title and description (rendered from
        the run), masked."""
        return self.fields(view, ("title", "description", "data"), masks)

    def event(self, item: dict[str, Any], masks: Iterable[Masks]) -> dict[str, Any]:
        """A stored event: its payload masked by the key patterns and by the pointer rules of
        every run it reached or came from."""
        payload = item.get("payload")
        for mask in masks:
            payload = mask(payload)
        return {**item, "payload": self(payload)}

    def fields(
        self, item: dict[str, Any], names: Iterable[str], masks: Masks | None = None
    ) -> dict[str, Any]:
        if self.pattern is None and masks is None:
            return item
        return {
            **item,
            **{
                f: self(masks(item.get(f)) if masks is not None else item.get(f))
                for f in names
                if f in item
            },
        }


class Masks:
    """The pointer rule for one run: its envelope's values at ``pointers``."""

    def __init__(
        self,
        pointers: Iterable[Pointer],
        envelope: dict[str, Any] | None,
        scopes: Iterable[dict[str, Any]] = (),
        earlier: Iterable[dict[str, Any] | None] = (),
    ) -> None:
        """``scopes``: the isolated ``vars`` of running forEach iterations and parallel
        branches; ``/vars/…`` pointers are looked up in each of them too. ``earlier``: other
        envelopes of the run (as it was claimed), whose values are masked as well."""
        self.pointers = tuple(pointers)
        documents = [envelope, *({"vars": scope} for scope in scopes), *earlier]
        whole: set[Any] = set()
        embedded: set[str] = set()
        for pointer in self.pointers:
            for document in documents:
                found = _resolve(document, pointer)
                if found is _MISSING:
                    continue
                for leaf in _leaves(found):
                    whole.add(_key(leaf))
                    if isinstance(leaf, str) and len(leaf) >= MIN_EMBEDDED:
                        embedded.add(leaf)
        self.whole = whole
        self.embedded = sorted(embedded, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.whole)

    def __call__(self, value: Any) -> Any:
        """``value`` with every value found at the pointers masked."""
        if not self.whole:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if value is None or isinstance(value, bool):
            return value
        if _key(value) in self.whole:
            return MASK
        if isinstance(value, str):
            for secret in self.embedded:
                if secret in value:
                    value = value.replace(secret, MASK)
        return value

    def envelope(self, state: dict[str, Any]) -> dict[str, Any]:
        """A copy of an envelope (``{payload, vars, meta}``) masked at the pointers."""
        result = state
        for pointer in self.pointers:
            result = _mask_at(result, pointer)
        return result


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a step writes the values its history entry carries, when that overlaps a
    pointer: at ``save_as`` its output (a tryCatch's ``captureErrorAs``: the caught error), at
    each of ``assigns`` (a ``transform.assign``: the path as written, and parsed) the value its
    output holds under that path."""

    save_as: tuple[str, ...] | None = None
    assigns: tuple[tuple[str, tuple[str, ...]], ...] = ()


def placements(definition: Definition, pointers: Iterable[Pointer]) -> dict[str, Placement]:
    """By step id, the steps of ``definition`` that write where one of ``pointers`` looks
    (one is a prefix of the other): only their entries can carry a value a pointer saw."""
    pointers = tuple(pointers)

    def overlaps(path: tuple[str, ...]) -> bool:
        return any(p[: len(path)] == path or path[: len(p)] == p for p in pointers)

    found: dict[str, Placement] = {}
    for entry in index_steps(definition).steps():
        node = entry.node
        assigns: list[tuple[str, tuple[str, ...]]] = []
        if isinstance(node, NodeStep):
            save_as = _path(node.config.get("saveAs"))
            assign = node.config.get("assign") if node.type == "transform.assign" else None
            if isinstance(assign, dict):
                for text in assign:
                    path = _path(text)
                    if path is not None and overlaps(path):
                        assigns.append((text, path))
        else:
            save_as = _path(
                getattr(node, "save_as", None) or getattr(node, "capture_error_as", None)
            )
        if save_as is not None and not overlaps(save_as):
            save_as = None
        if save_as is not None or assigns:
            found[node.id] = Placement(save_as, tuple(assigns))
    return found


def placed(
    entries: Sequence[HistoryEntry], steps: dict[str, Placement]
) -> Iterator[dict[str, Any]]:
    """Envelope-shaped documents holding the values ``entries`` say their steps wrote, each
    where it was written (a value overwritten before the checkpoint is still masked)."""
    for entry in entries:
        placement = steps.get(entry.step_id)
        if placement is None:
            continue
        if placement.save_as is not None:
            value = entry.error if entry.status == "caught" else entry.output
            if value is not None:
                yield place(placement.save_as, value)
        output = entry.output
        if placement.assigns and isinstance(output, dict):
            for text, path in placement.assigns:
                if text in output:
                    yield place(path, output[text])


def place(path: Sequence[str], value: Any) -> dict[str, Any]:
    """An envelope-shaped document holding ``value`` at ``path``."""
    document: Any = value
    for segment in reversed(path):
        document = {segment: document}
    return document  # type: ignore[no-any-return]


DELIVERING = ("human.task", "event.wait", "action.call")
"""Step types whose saved output comes from outside the run's state (a person, an event, an
action), recorded where it can be read again (the task, the event, the action ledger)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A step that saves a delivered value (task data, event payload, action output) where a
    pointer looks."""

    step_id: str
    step_type: str
    save_as: tuple[str, ...]
    event_name: str | None = None

    def placed(self, value: Any) -> dict[str, Any]:
        """An envelope-shaped document holding ``value`` at the step's ``saveAs``."""
        return place(self.save_as, value)


def deliveries(definition: Definition, pointers: Iterable[Pointer]) -> tuple[Delivery, ...]:
    """The delivering steps of ``definition`` whose ``saveAs`` overlaps one of ``pointers``
    (one is a prefix of the other): only their values can end up under a pointer."""
    pointers = tuple(pointers)
    found = []
    for entry in index_steps(definition).entries:
        node = entry.node
        if not isinstance(node, NodeStep) or node.type not in DELIVERING:
            continue
        path = _path(node.config.get("saveAs"))
        if path is None:
            continue
        if any(p[: len(path)] == path or path[: len(p)] == p for p in pointers):
            name = node.config.get("eventName")
            found.append(
                Delivery(node.id, node.type, path, name if isinstance(name, str) else None)
            )
    return tuple(found)


def scoped_vars(frame: Any) -> Iterable[dict[str, Any]]:
    """The ``vars`` of every iteration and branch in a run state's frame tree (the state
    format of ``flowpin.runtime.state``: ``it``/``br`` records hold ``v`` and ``c``)."""
    if not isinstance(frame, dict):
        return
    for records in (frame.get("it"), frame.get("br")):
        if isinstance(records, dict):
            for record in records.values():
                if isinstance(record, dict):
                    if isinstance(record.get("v"), dict):
                        yield record["v"]
                    yield from scoped_vars(record.get("c"))
    yield from scoped_vars(frame.get("c"))


def compile_pointers(texts: Iterable[str] | None) -> tuple[Pointer, ...]:
    """Parse configured pointers; ``ValueError`` naming the bad one."""
    return parse_pointers(tuple(texts or ()))


def scrub_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` with every occurrence of each secret value (in strings, keys included)
    replaced by the mask."""
    found = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not found:
        return value
    return _scrub(value, found)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_scrub(key, secrets): _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value


_MISSING = object()


def _path(text: Any) -> tuple[str, ...] | None:
    """A ``saveAs``-style path (``vars.a.b``) as segments; None when absent or invalid."""
    if not isinstance(text, str):
        return None
    try:
        return parse_path(text)
    except PathError:
        return None


def _resolve(document: Any, pointer: Pointer) -> Any:
    current = document
    for token in pointer:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return _MISSING
    return current


def _mask_at(document: Any, pointer: Pointer) -> Any:
    """A copy of ``document`` with the value at ``pointer`` masked (copies along the path
    only; the document itself is not changed)."""
    if not pointer:
        return MASK
    token, rest = pointer[0], pointer[1:]
    if isinstance(document, dict) and token in document:
        return {**document, token: _mask_at(document[token], rest)}
    if isinstance(document, list) and token.isdigit() and int(token) < len(document):
        copy = list(document)
        copy[int(token)] = _mask_at(document[int(token)], rest)
        return copy
    return document


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield value


def _key(value: Any) -> Any:
    """Hashable identity of a scalar: ``1`` and ``1.0`` match, ``"1"`` does not."""
    return (type(value) is str, value)
