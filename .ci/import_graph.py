"""Print flowpin's package-to-package imports, so the layer picture in docs/architecture.md stays checkable.

Usage: python .ci/import_graph.py [--modules]  (module-level detail with --modules)
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "flowpin"


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported flowpin module, inside a function?) for each import in the file."""
    tree = ast.parse(path.read_text())
    me = module_name(path)
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, nested) for a in child.names if a.name.startswith("flowpin"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = me.split(".")
                    base = base[: len(base) - child.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("flowpin"):
                    found.append((target, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def main() -> None:
    detail = "--modules" in sys.argv
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        me = module_name(path)
        for target, nested in imports_of(path):
            a, b = package_of(me), package_of(target)
            if a != b:
                edges[(a, b)].append(f"{me} -> {target}{' (in a function)' if nested else ''}")
    for (a, b), lines in sorted(edges.items()):
        print(f"{a:12} -> {b:12} {len(lines)}")
        if detail:
            for line in sorted(set(lines)):
                print(f"    {line}")


if __name__ == "__main__":
    main()
