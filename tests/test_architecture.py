"""The package's shape: imports point down the pipeline, with no cycles.

Every ``import`` statement in ``src/carepaths`` counts, wherever it is: at the top of a
module, inside a function, or under ``if TYPE_CHECKING``. The layers are the ones
``docs/architecture.md`` draws; a module may import from its own layer or a lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "carepaths"

#: Bottom to top. A module's layer is that of the longest prefix listed here.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("carepaths.exceptions", "carepaths.intervals", "carepaths.files", "carepaths._messages"),
    ("carepaths.figures", "carepaths.results"),
    ("carepaths.spec", "carepaths.prior_rules"),
    ("carepaths.data", "carepaths.missingness", "carepaths.timeline"),
    ("carepaths.causal",),
    ("carepaths.structural",),
    ("carepaths.counterfactual", "carepaths.checks"),
    ("carepaths.model",),
    ("carepaths.simulation", "carepaths.longitudinal"),
    ("carepaths.studies",),
    ("carepaths.integrations",),
    ("carepaths.report",),
    ("carepaths.cli", "carepaths.__main__"),
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """carepaths modules that ``name`` imports, resolved to modules that exist."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        edges = _imports(name, path, known)
        if path.name == "__init__.py":  # a package may re-export its own modules
            edges = {e for e in edges if not e.startswith(name + ".")}
        graph[name] = edges
    return graph


def _layer(module: str) -> int:
    best, depth = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = i, len(prefix)
    return best


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _modules() if m != "carepaths" and _layer(m) < 0)
    assert not unplaced, f"modules outside every layer of LAYERS (add them): {unplaced}"


def test_no_import_cycles():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_pipeline():
    graph = _graph()
    upward = []
    for module, targets in graph.items():
        if module == "carepaths":
            continue  # the public API re-exports from every layer
        for target in targets:
            if target == "carepaths":
                upward.append(f"{module} imports the package root (import from the defining module)")
            elif _layer(target) > _layer(module):
                upward.append(f"{module} (layer {_layer(module)}) -> {target} (layer {_layer(target)})")
    assert not upward, "imports that point up the pipeline:\n" + "\n".join(sorted(upward))


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    """The parser counts an import inside a function (guards the test itself)."""
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from carepaths.model import fit\n    return fit\n")
    assert _imports("carepaths.x", mod, {"carepaths.model", "carepaths.model.fit"}) == {
        "carepaths.model", "carepaths.model.fit"
    }


@pytest.mark.parametrize("module", sorted(m for m in _modules() if ".\u005f" in m))
def test_private_modules_are_not_imported_from_other_packages(module):
    """A ``_private`` module is used only inside its own package."""
    package = module.rsplit(".", 1)[0]
    users = sorted(
        name for name, targets in _graph().items()
        if module in targets and not (name == package or name.startswith(package + "."))
    )
    assert not users, f"{module} is private to {package} but imported by {users}"
