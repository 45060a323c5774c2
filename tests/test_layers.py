"""The house reads top-down: the package's import graph has no cycle, and no stage imports
a higher one (sources/lines/prefix/payload -> entries -> events -> records/formats -> sinks
-> cli). Every import counts, including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pgaudit_parse"

#: Layer of each module or subpackage (first matching dotted prefix wins); a module may
#: import only modules of its own layer or lower ones.
LAYERS: list[tuple[str, int]] = [
    ("pgaudit_parse.cli", 90),
    ("pgaudit_parse.__init__", 95),
    ("pgaudit_parse.__main__", 95),
    ("pgaudit_parse.aws_lambda", 80),
    ("pgaudit_parse.spark", 80),
    ("pgaudit_parse.ops", 70),
    ("pgaudit_parse.aws", 60),
    ("pgaudit_parse.pump", 55),
    ("pgaudit_parse.parallel", 55),
    ("pgaudit_parse.sinks", 50),
    ("pgaudit_parse.parquet", 50),
    ("pgaudit_parse.formats", 40),
    # the SQL stage runs on events (events -> sql -> records); the rest of sql/ is text only
    ("pgaudit_parse.sql.stage", 25),
    ("pgaudit_parse.sql", 5),
    ("pgaudit_parse.parser", 30),
    ("pgaudit_parse.events", 20),
    ("pgaudit_parse.sessions", 15),
    ("pgaudit_parse.structured", 12),
    ("pgaudit_parse.entries", 10),
    ("pgaudit_parse.sources", 5),
    ("pgaudit_parse.lines", 0),
    ("pgaudit_parse.prefix", 0),
    ("pgaudit_parse.payload", 0),
    ("pgaudit_parse.timestamps", 0),
    ("pgaudit_parse.jsonenc", 0),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 2:
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Modules of the package that ``path`` imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    if name == "pgaudit_parse.__init__":
        base = ["pgaudit_parse"]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pgaudit_parse"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("pgaudit_parse"):
                continue
            found.add(module)
            for alias in node.names:  # `from . import x` imports the submodule x
                candidate = f"{module}.{alias.name}"
                if _exists(candidate):
                    found.add(candidate)
    found.discard(name)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        graph[name] = {m for m in _imports(path, name) if m != "pgaudit_parse"}
    return graph


def _layer(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} has no layer in tests/test_layers.py: add it to LAYERS")


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_stage_imports_a_higher_one() -> None:
    wrong = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """A mutation check: an import of the CLI from a stage is seen (the test can fail)."""
    path = PACKAGE / "events.py"
    imports = _imports(path, "pgaudit_parse.events")
    assert "pgaudit_parse.cli" not in imports
    fake = tmp_path / "events.py"
    fake.write_text(path.read_text(encoding="utf-8") + "\ndef _f():\n    from .cli import main\n",
                    encoding="utf-8")
    assert "pgaudit_parse.cli" in _imports(fake, "pgaudit_parse.events")
