"""The public API is a list: adding or removing a name is a deliberate change."""

import flowpin

EXPECTED = {
    "ActionContext",
    "ActionError",
    "ConflictError",
    "DefinitionError",
    "Engine",
    "ExpressionError",
    "FlowpinError",
    "LimitError",
    "NotFoundError",
    "Registry",
    "RegistryError",
    "RetryAfter",
    "WorkerOptions",
    "__version__",
    "action",
    "schema",
}


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert set(flowpin.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(flowpin, name) is not None


def test_test_kit_is_importable_for_users_tests() -> None:
    from flowpin.testing.kit import WorkflowTestKit

    assert callable(WorkflowTestKit)
