"""The floor plan holds: the import graph has no cycle (imports inside functions
included), no module imports from a layer below its own, every module is on the map in
``docs/architecture.md``, and the settings import nothing of taskhub's but constants."""

import re
from pathlib import Path

import pytest

from tests.import_graph import cycles, graph, imported_names, modules

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "taskhub"
MAP = ROOT / "docs" / "architecture.md"


def table(title: str) -> list[list[str]]:
    """The rows of the table under ``## title`` in the architecture page, as cells."""
    section = MAP.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def layers() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Which layer each top-level name belongs to, and what each layer may import."""
    layer_of, allowed = {}, {}
    for layer, members, may in table("Layers"):
        for member in names(members):
            layer_of[member.rstrip("/")] = layer
        allowed[layer] = {name.strip() for name in may.split(",")} | {layer}
    return layer_of, allowed


def layer(module: str, layer_of: dict[str, str]) -> str:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else parts[0]
    assert key in layer_of, f"{module} is in no layer of {MAP.name}"
    return layer_of[key]


EDGES = graph(PACKAGE)


def test_the_import_graph_has_no_cycle():
    assert cycles(EDGES) == []


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    """The check above could not fail if the walk missed imports inside functions."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.a import x\n")
    assert cycles(graph(package)) == [["pkg.a", "pkg.b"]]


def test_no_module_imports_from_a_layer_below_its_own():
    layer_of, allowed = layers()
    upward = [
        f"{module} ({layer(module, layer_of)}) imports {target} ({layer(target, layer_of)})"
        for module, targets in EDGES.items()
        for target in targets
        if "everything" not in allowed[layer(module, layer_of)]
        and layer(target, layer_of) not in allowed[layer(module, layer_of)]
    ]
    assert upward == []


def test_every_module_is_on_the_map_and_the_map_names_no_other():
    mapped = {
        "taskhub" if name == "taskhub" else f"taskhub.{name}"
        for row in table("Package map")
        for name in names(row[0])[:1]
    }
    assert mapped == set(modules(PACKAGE))


def test_the_settings_import_only_modules_that_import_nothing_of_taskhubs():
    """``settings.py`` runs before the apps are loaded: what it imports of taskhub must
    not pull in the rest (a constant's module, no more)."""
    settings = ROOT / "project" / "settings.py"
    imported = {
        name for name in imported_names("project.settings", settings) if name.startswith("taskhub")
    }
    found = modules(PACKAGE)
    imported_modules = {name for name in imported if name in found}
    assert imported_modules, "the demo's settings take LOG_FORMAT from taskhub.worker.log"
    assert {module: EDGES[module] for module in imported_modules if EDGES[module]} == {}


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("test_*.py")), ids=str)
def test_no_test_module_imports_another(path):
    """Helpers live in helper modules (``tests/image_files.py``...) or ``conftest.py``."""
    text = path.read_text()
    assert not re.search(r"^\s*(from|import) tests(\.\w+)*\.test_\w+", text, re.M)
