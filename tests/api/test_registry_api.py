"""Registry and expression checking through HTTP."""

from __future__ import annotations

from apikit import Client, error_code
from pydantic import BaseModel

from flowpin import Engine, action


class Contact(BaseModel):
    email: str


@action("crm.lookup", version=1)
def lookup(data: Contact) -> Contact:
    return data


def test_registry_lists(client: Client, engine: Engine) -> None:
    engine.register(lookup)
    nodes = client.get("/api/registry/nodes").json()["items"]
    assert {"action.call", "event.wait"} <= {n.get("type") or n.get("id") for n in nodes}
    actions = client.get("/api/registry/actions").json()["items"]
    assert any("crm.lookup" in str(a) for a in actions)
    missing = client.get("/api/registry/schemas/nope")
    assert missing.status_code == 404 and error_code(missing) == "schema.not_found"


def test_registry_schema(client: Client, engine: Engine) -> None:
    engine.registry.register_schema("contact", Contact)
    found = client.get("/api/registry/schemas/contact")
    assert found.status_code == 200, found.text
    assert "email" in str(found.json())
    assert client.get("/api/registry/schemas/schema:contact").status_code == 200


def test_expression_validation(client: Client) -> None:
    ok = client.post("/api/expressions/validate", json={"expression": "payload.a + 1"}).json()
    assert ok == {"valid": True, "errors": []}
    bad = client.post("/api/expressions/validate", json={"expression": "payload.a +"}).json()
    assert bad["valid"] is False and isinstance(bad["errors"][0]["position"], int)
    valued = client.post(
        "/api/expressions/validate",
        json={"expression": "payload.a + 1", "sampleEnvelope": {"payload": {"a": 41}}},
    ).json()
    assert valued == {"valid": True, "errors": [], "value": 42}
    failing = client.post(
        "/api/expressions/validate",
        json={"expression": "$number('x') + 1", "sampleEnvelope": {}},
    ).json()
    assert failing["valid"] is False and failing["errors"]
