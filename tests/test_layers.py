"""The import graph of ``flows/`` runs one way — cli → orchestration → engine → llm → datasets →
models/store → settings/text/lifetime — with no circle inside a package either, and ``parsers/`` and
``solvers/`` never import ``flows`` or Prefect. Read from the source (``ast``), so a lazy import
inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = {"cli": 6, "orchestration": 5, "engine": 4, "llm": 3, "datasets": 2, "json_depth": 1, "models": 1, "store": 1,
        "settings": 0, "text": 0, "lifetime": 0, "flows": 0}
"""A module may import modules of a lower rank (its package's own modules too, without a circle)."""


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    mods = _modules("flows")
    return {m: {n for n in _imports(p) if n in mods and n != m} for m, p in mods.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "flows"


def test_every_import_goes_down_a_layer():
    wrong = [f"{a} -> {b}" for a, bs in _graph().items() for b in bs
             if _layer(a) != _layer(b) and RANK[_layer(a)] <= RANK[_layer(b)]]
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_module_imports_itself_round_a_circle():
    graph = _graph()
    assert set(map(_layer, graph)) <= set(RANK), "a new flows/ module needs a rank: " + str(set(map(_layer, graph)) - set(RANK))
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state[n] == 1:
                return path[path.index(n):] + [n]
            if state[n] == 0 and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if state[m] == 0:
            circle = visit(m)
            assert circle is None, "import circle: " + " -> ".join(circle)


def test_parsers_and_solvers_are_a_plain_library():
    for package in ("parsers", "solvers"):
        for module, path in _modules(package).items():
            bad = {n for n in _imports(path) if n.split(".")[0] in ("flows", "prefect", "litellm")}
            assert not bad, f"{module} imports {sorted(bad)}"
