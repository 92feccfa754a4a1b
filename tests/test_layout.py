"""``tests/`` stays a map of ``src/flowpin/`` (tests/README.md): every folder of tests mirrors a
package or is one of the cross-cutting folders the README lists, and no two test modules share
a base name (pytest imports them by it: the second one fails to collect)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src" / "flowpin"
CROSS_CUTTING = {"web", "pinning", "examples", "readme"}
"""Folders that test what crosses packages (tests/README.md says what each covers)."""


def _folders() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("*")
        if path.is_dir()
        and path.name != "__pycache__"
        and not any(part.startswith(".") for part in path.parts)
        and any(path.glob("test_*.py"))
    )


def test_every_folder_of_tests_mirrors_a_package_or_is_listed() -> None:
    strays = []
    for folder in _folders():
        relative = folder.relative_to(TESTS)
        if relative.parts[0] in CROSS_CUTTING:
            continue
        if not (SRC / relative).is_dir():
            strays.append(str(relative))
    assert strays == [], f"test folders with no package of that path in src/flowpin: {strays}"


def test_every_folder_is_in_the_readme_map() -> None:
    readme = (TESTS / "README.md").read_text()
    top = {folder.relative_to(TESTS).parts[0] for folder in _folders()}
    missing = sorted(name for name in top if f"`{name}/`" not in readme)
    assert missing == [], f"tests/README.md does not list {missing}"


def test_module_names_are_unique() -> None:
    names = Counter(
        path.name
        for path in TESTS.rglob("*.py")
        if path.name != "conftest.py" and "__pycache__" not in path.parts
    )
    assert [name for name, count in names.items() if count > 1] == []
