import jsonschema
import pytest
from pydantic import BaseModel, Field

from flowpin.definitions.catalog import Catalog
from flowpin.definitions.models import ActionCallConfig, StateSetConfig
from flowpin.errors import RegistryError
from flowpin.registry import NodeTypeSpec, Registry, action, schema

BUILTINS = [
    "state.set",
    "transform.assign",
    "action.call",
    "event.wait",
    "time.wait",
    "human.task",
    "event.emit",
]


class Address(BaseModel):
    city: str


class Email(BaseModel):
    """An inbound email."""

    sender: str = Field(alias="from")
    address: Address


def test_registry_satisfies_the_catalog_protocol() -> None:
    catalog: Catalog = Registry()
    assert catalog.node_type("action.call") is not None
    assert catalog.action("x", 1) is None
    assert catalog.schema("x") is None


def test_builtin_node_types() -> None:
    registry = Registry()
    assert [spec.type_name for spec in registry.node_types()] == BUILTINS
    call = registry.node_type("action.call")
    assert call is not None and call.config_model is ActionCallConfig and call.handler is None
    assert call.builtin
    assert Registry(builtins=False).node_types() == []


def test_node_type_names_and_duplicates() -> None:
    registry = Registry()

    class SlackConfig(BaseModel):
        channel: str

    spec = NodeTypeSpec("slack.post", SlackConfig, "Post to Slack", "action")
    registry.register(spec)
    assert registry.node_type("slack.post") is spec and not spec.builtin
    with pytest.raises(RegistryError, match="already registered"):
        registry.register_node_type(NodeTypeSpec("state.set", StateSetConfig, "again", "state"))
    with pytest.raises(RegistryError, match="control"):
        NodeTypeSpec("control.loop", SlackConfig, "no", "control")
    with pytest.raises(RegistryError):
        NodeTypeSpec("nodot", SlackConfig, "no", "x")


def test_schemas_from_models_and_dicts() -> None:
    registry = Registry()
    from_model = registry.register_schema("payload.Email.v1", Email)
    assert from_model.model is Email and from_model.description == "An inbound email."
    assert registry.schema("payload.Email.v1")["required"] == ["from", "address"]  # by alias
    registry.register_schema("payload.Tag.v1", {"type": "string", "maxLength": 3})
    assert registry.schema("payload.Tag.v1") == {"type": "string", "maxLength": 3}
    with pytest.raises(RegistryError, match="already registered"):
        registry.register_schema("payload.Tag.v1", {"type": "string"})
    with pytest.raises(RegistryError, match="not a valid JSON Schema"):
        registry.register_schema("payload.Bad.v1", {"type": "strnig"})
    with pytest.raises(RegistryError, match="schema ref"):
        registry.register_schema("schema:payload.X.v1", {"type": "string"})


def test_schema_decorator_marks_the_model() -> None:
    @schema("payload.Marked.v1")
    class Marked(BaseModel):
        n: int

    registry = Registry()
    registry.register(Marked)
    assert registry.schema("payload.Marked.v1") is not None


def test_validate_value_against_a_ref() -> None:
    registry = Registry()
    registry.register_schema("payload.Email.v1", Email)
    good = {"from": "a@b.c", "address": {"city": "Berlin"}}
    assert registry.validate_value("payload.Email.v1", good) == []
    assert registry.validate_value("schema:payload.Email.v1", good) == []
    violations = registry.validate_value("payload.Email.v1", {"from": 1, "address": {}})
    assert [(v.path, v.message) for v in violations] == [
        ("/address", "'city' is a required property"),
        ("/from", "1 is not of type 'string'"),
    ]
    with pytest.raises(RegistryError, match="unknown schema"):
        registry.validate_value("payload.Nope.v1", {})


def test_schemas_may_reference_registered_schemas() -> None:
    registry = Registry()
    registry.register_schema("payload.Email.v1", Email)
    wrapper = {"type": "object", "properties": {"email": {"$ref": "schema:payload.Email.v1"}}}
    good = {"email": {"from": "x", "address": {"city": "c"}}}
    assert registry.validate_value(wrapper, good) == []
    assert registry.validate_value(wrapper, {"email": {"from": "x"}})[0].path == "/email"
    with pytest.raises(RegistryError, match="unknown schema reference"):
        registry.validate_value({"$ref": "schema:payload.Nope.v1"}, {})


def test_export_for_the_designer() -> None:
    class In(BaseModel):
        subject: str

    class Out(BaseModel):
        id: str

    registry = Registry()

    @registry.define_action("crm.create", version=2, effect="idempotent", retry={"maxAttempts": 4})
    def create(input: In) -> Out:
        """Create a record."""
        return Out(id="1")

    registry.register_schema("payload.Email.v1", Email)
    exported = registry.to_json()
    assert [n["type"] for n in exported["nodeTypes"]] == BUILTINS
    assign = exported["nodeTypes"][1]
    assert assign["configSchema"]["required"] == ["assign"]
    assert assign["category"] == "data"
    builtin = {"http.request", "email.send"}  # every Registry() has the built-in actions
    assert [a for a in exported["actions"] if a["actionId"] not in builtin] == [
        {
            "actionId": "crm.create",
            "version": 2,
            "effect": "idempotent",
            "transactional": False,
            "description": "Create a record.",
            "inputSchema": In.model_json_schema(),
            "outputSchema": Out.model_json_schema(),
            "retry": {
                "maxAttempts": 4,
                "backoffMs": 1000,
                "backoffMultiplier": 2.0,
                "jitter": "full",
            },
        }
    ]
    assert exported["schemas"][0]["ref"] == "payload.Email.v1"
    assert registry.schema_json("schema:payload.Email.v1") == exported["schemas"][0]
    # every exported config schema is itself a valid JSON Schema
    for node in exported["nodeTypes"]:
        jsonschema.Draft202012Validator.check_schema(node["configSchema"])


def test_actions_are_listed_in_order() -> None:
    class In(BaseModel):
        x: int

    registry = Registry(builtins=False)  # without http.request@1 and email.send@1
    for name, version in [("b.x", 1), ("a.x", 2), ("a.x", 1)]:

        @action(name, version=version)
        def handler(input: In) -> None: ...

        registry.register(handler)
    assert [spec.key for spec in registry.actions()] == ["a.x@1", "a.x@2", "b.x@1"]


def test_builtin_node_types_use_the_definition_models() -> None:
    from flowpin.definitions.models import BUILTIN_NODE_CONFIGS

    registry = Registry()
    assert {
        spec.type_name: spec.config_model for spec in registry.node_types()
    } == BUILTIN_NODE_CONFIGS
