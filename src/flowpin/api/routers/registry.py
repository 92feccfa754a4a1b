"""The registry as JSON Schema (node types, actions, schemas) and expression checking."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowpin.api.auth import Viewer
from flowpin.api.schemas import ExpressionCheck
from flowpin.errors import ExpressionError, NotFoundError
from flowpin.expressions.jsonata import check_syntax, compile_expression

router = APIRouter(tags=["registry"])


@router.get("/registry/nodes")
def nodes(who: Viewer) -> dict[str, Any]:
    return {"items": who.engine.registry.node_types_json()}


@router.get("/registry/actions")
def actions(who: Viewer) -> dict[str, Any]:
    return {"items": who.engine.registry.actions_json()}


@router.get("/registry/schemas/{ref:path}")
def schema(who: Viewer, ref: str) -> dict[str, Any]:
    found = who.engine.registry.schema_json(ref)
    if found is None:
        raise NotFoundError(f"schema {ref!r} not found", code="schema.not_found")
    return found


def _problem(exc: ExpressionError) -> dict[str, Any]:
    return {
        "message": exc.reason,
        "position": exc.position,
        "code": exc.jsonata_code,
        "token": exc.token,
    }


@router.post("/expressions/validate")
def validate_expression(_who: Viewer, body: ExpressionCheck) -> dict[str, Any]:
    """Syntax errors with their positions; with ``sampleEnvelope``, also the value (or the
    evaluation error)."""
    error = check_syntax(body.expression)
    if error is not None:
        return {"valid": False, "errors": [_problem(error)]}
    result: dict[str, Any] = {"valid": True, "errors": []}
    if "sampleEnvelope" in body.model_fields_set:
        try:
            result["value"] = compile_expression(body.expression).evaluate(body.sampleEnvelope)
        except ExpressionError as exc:
            result["valid"] = False
            result["errors"] = [_problem(exc)]
    return result
