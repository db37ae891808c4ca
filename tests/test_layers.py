"""Layers point down: nothing below the web layer (``cabos.site``) imports it, directly or through another module.

Read from the source with ``ast`` (imports inside functions count too), so the test needs no app and
sees an import even where it is only reached at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cabos

ROOT = Path(cabos.__file__).parent
BELOW_SITE = ("contacts", "content", "dashboard", "intent", "limits", "nurture", "sales", "staff", "tracking")
# Modules of the cabos package that are not part of a layer (the command, the WSGI entry point, the
# schema inventory, the doctor, migrations) may import the site; the layers below it may not.


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every cabos module a file names in an import statement (``from a import b`` names ``a`` and ``a.b``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module == "cabos" or module.startswith("cabos.")}


def _graph() -> dict[str, set[str]]:
    graph = {_module_name(path): _imports(path) for path in ROOT.rglob("*.py") if "migrations" not in path.parts}
    # ``import cabos.a.b`` runs ``cabos/a/__init__.py`` first: a module depends on its packages.
    for module in list(graph):
        parent = module.rpartition(".")[0]
        if parent and parent in graph:
            graph[module].add(parent)
    return {module: {name for name in names if name in graph} for module, names in graph.items()}


def _path_to_site(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The chain of imports from ``start`` to a module of ``cabos.site``, or None."""
    seen = {start}
    stack = [[start]]
    while stack:
        chain = stack.pop()
        for name in sorted(graph[chain[-1]]):
            if name == "cabos.site" or name.startswith("cabos.site."):
                return [*chain, name]
            if name not in seen and name != "cabos":
                seen.add(name)
                stack.append([*chain, name])
    return None


GRAPH = _graph()


@pytest.mark.parametrize("package", BELOW_SITE)
def test_a_layer_below_the_site_never_imports_it(package: str) -> None:
    modules = sorted(m for m in GRAPH if m == f"cabos.{package}" or m.startswith(f"cabos.{package}."))
    assert modules, f"no modules found for cabos.{package}"
    chains = [chain for chain in (_path_to_site(GRAPH, module) for module in modules) if chain]
    assert not chains, "imports of the web layer from below it:\n" + "\n".join(" → ".join(c) for c in chains)


def test_the_walk_sees_an_import_of_the_site(tmp_path: Path) -> None:
    """The graph is not vacuous: the modules that may import the site are seen doing so."""
    assert _path_to_site(GRAPH, "cabos.wsgi") is not None
    assert _path_to_site(GRAPH, "cabos.cli") is not None
