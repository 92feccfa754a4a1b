from flowpin.definitions.loader import load_definition
from flowpin.definitions.walk import index_steps, join_path, join_relative

DOC = {
    "key": "walk",
    "steps": [
        {"id": "start", "type": "state.set", "config": {"state": "S"}},
        {
            "id": "vip",
            "type": "control.if",
            "condition": {"$expr": "true"},
            "then": [{"id": "a", "type": "state.set", "config": {"state": "A"}}],
            "else": [
                {
                    "id": "route",
                    "type": "control.switch",
                    "cases": [
                        {
                            "id": "big",
                            "when": {"$expr": "true"},
                            "steps": [{"id": "b", "type": "state.set", "config": {"state": "B"}}],
                        }
                    ],
                    "default": [{"id": "c", "type": "state.set", "config": {"state": "C"}}],
                }
            ],
        },
        {
            "id": "fan",
            "type": "control.parallel",
            "branches": [
                {"id": "left", "steps": [{"id": "l1", "type": "time.wait", "config": {}}]},
            ],
        },
        {
            "id": "guard",
            "type": "control.tryCatch",
            "try": [{"id": "t1", "type": "state.set", "config": {"state": "T"}}],
            "catch": [{"id": "c1", "type": "state.set", "config": {"state": "X"}}],
        },
        {"id": "start", "type": "control.return"},
    ],
}


def test_index_has_paths_parents_pipes_and_types() -> None:
    index = index_steps(load_definition(DOC))
    rows = [(e.id, e.kind, e.type, e.path, e.parent_id, e.pipe, e.index) for e in index.entries]
    assert rows == [
        ("start", "step", "state.set", "steps[0]", None, "steps", 0),
        ("vip", "step", "control.if", "steps[1]", None, "steps", 1),
        ("a", "step", "state.set", "steps[1].then[0]", "vip", "then", 0),
        ("route", "step", "control.switch", "steps[1].else[0]", "vip", "else", 0),
        ("big", "case", "case", "steps[1].else[0].cases[0]", "route", "cases", 0),
        ("b", "step", "state.set", "steps[1].else[0].cases[0].steps[0]", "big", "steps", 0),
        ("c", "step", "state.set", "steps[1].else[0].default[0]", "route", "default", 0),
        ("fan", "step", "control.parallel", "steps[2]", None, "steps", 2),
        ("left", "branch", "branch", "steps[2].branches[0]", "fan", "branches", 0),
        ("l1", "step", "time.wait", "steps[2].branches[0].steps[0]", "left", "steps", 0),
        ("guard", "step", "control.tryCatch", "steps[3]", None, "steps", 3),
        ("t1", "step", "state.set", "steps[3].try[0]", "guard", "try", 0),
        ("c1", "step", "state.set", "steps[3].catch[0]", "guard", "catch", 0),
        ("start", "step", "control.return", "steps[4]", None, "steps", 4),
    ]
    assert index["b"].depth == len(index.ancestors("b")) == 3


def test_duplicates_are_kept_apart() -> None:
    index = index_steps(load_definition(DOC))
    assert index["start"].type == "state.set"  # the first one wins in by_id
    assert [(e.id, e.path) for e in index.duplicates] == [("start", "steps[4]")]


def test_navigation_helpers() -> None:
    index = index_steps(load_definition(DOC))
    assert [e.id for e in index.ancestors("b")] == ["big", "route", "vip"]
    assert [e.id for e in index.children("vip")] == ["a", "route"]
    assert [e.id for e in index.children("vip", "else")] == ["route"]
    assert [e.id for e in index.siblings("guard")] == ["start", "vip", "fan", "guard", "start"]
    assert "l1" in index and "zzz" not in index and index.get("zzz") is None
    assert "big" not in [e.id for e in index.steps()]


def test_paths_join_like_the_document() -> None:
    assert join_path("", "steps") == "steps"
    assert join_path("steps", 0) == "steps[0]"
    assert join_path("config.assign", "vars.x") == "config.assign['vars.x']"
    assert join_relative("steps[0].config", "inputMapping.to") == "steps[0].config.inputMapping.to"
    assert join_relative("config.assign", "['vars.x']") == "config.assign['vars.x']"
    assert join_relative("a", "") == "a"
