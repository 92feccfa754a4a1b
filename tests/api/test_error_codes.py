"""Every error code the source can raise has a row in the API's status table
(``flowpin.api.errors.STATUS``) and an entry in docs/errors.md that gives the same status.

The codes are read from the source itself: the ``code`` of every FlowpinError subclass, and every
``code="…"`` passed to one where it is raised (found in the syntax tree of src/flowpin)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import flowpin
from flowpin.api.errors import STATUS
from flowpin.errors import FlowpinError

SOURCE = Path(flowpin.__file__).parent
DOC = SOURCE.parents[1] / "docs" / "errors.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| (\d{3}) \|", re.MULTILINE)


def _error_classes() -> set[type[FlowpinError]]:
    for module in pkgutil.walk_packages(flowpin.__path__, "flowpin."):
        if ".migrations" not in module.name:  # Alembic's env.py runs when imported
            importlib.import_module(module.name)
    found: set[type[FlowpinError]] = set()
    pending = [FlowpinError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("flowpin."):  # not the examples' own errors, if loaded
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _raised_codes() -> tuple[dict[str, str], list[str]]:
    """Each code with where it comes from; and the places that pass a code that is not a literal
    (which no table or document could list)."""
    classes = _error_classes()
    names = {cls.__name__ for cls in classes}
    codes = {cls.code: f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
    dynamic = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name not in names:
                continue
            where = f"{path.relative_to(SOURCE)}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg != "code":
                    continue
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    codes.setdefault(keyword.value.value, where)
                else:
                    dynamic.append(where)
    return codes, dynamic


def _documented() -> dict[str, int]:
    return {code: int(status) for code, status in ROW.findall(DOC.read_text())}


def test_the_scan_finds_the_codes_it_should() -> None:
    codes, _ = _raised_codes()
    assert {"run.not_found", "input.invalid_value", "input.too_long", "auth.missing"} <= set(codes)


def test_every_code_is_a_literal() -> None:
    _, dynamic = _raised_codes()
    assert not dynamic, f"pass error codes as literals so they can be documented: {dynamic}"


def test_every_raised_code_has_a_row_in_the_status_table() -> None:
    codes, _ = _raised_codes()
    missing = {code: where for code, where in codes.items() if code not in STATUS}
    assert not missing, f"add these codes to STATUS in src/flowpin/api/errors.py: {missing}"


def test_every_raised_code_is_documented_with_its_status() -> None:
    codes, _ = _raised_codes()
    documented = _documented()
    missing = {code: where for code, where in codes.items() if code not in documented}
    assert not missing, f"document these codes in docs/errors.md: {missing}"
    wrong = {
        code: (documented[code], STATUS[code])
        for code in codes
        if code in STATUS and documented[code] != STATUS[code]
    }
    assert not wrong, f"docs/errors.md and STATUS disagree (doc, table): {wrong}"


def test_every_row_of_the_table_is_documented() -> None:
    documented = _documented()
    rows = {code: status for code, status in STATUS.items() if isinstance(code, str)}
    assert {code: documented.get(code) for code in rows} == rows
