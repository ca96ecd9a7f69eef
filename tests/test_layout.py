"""The package's layers: a module never imports a package above its own layer.

core -> engines -> io -> estimators, functions -> teach -> plots, playground -> workflows -> cli
(each may import the ones before it; two packages of one layer do not import each other).
Checked on the source text (``import`` statements anywhere in a module, lazy ones included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "gdlab"
LAYERS = {
    "core": 0,
    "engines": 1,
    "io": 2,
    "estimators": 3,
    "functions": 3,
    "teach": 4,
    "plots": 5,
    "playground": 5,
    "workflows": 6,
    "cli": 7,
}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gdlab" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            if node.module == "gdlab":
                out += [(node.lineno, f"gdlab.{a.name}") for a in node.names]
    return out


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == [], f"modules outside a layer: {loose}"


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_from_a_higher_layer(path: Path) -> None:
    own = path.relative_to(ROOT).parts[0]
    if own not in LAYERS:
        return  # gdlab/__init__.py: the public names, imported lazily
    bad = []
    for line, module in _imports(path):
        other = _package(module)
        if other is None or other == own or other not in LAYERS:
            continue
        if LAYERS[other] >= LAYERS[own]:
            bad.append(f"line {line}: {module}")
    assert not bad, f"{path.relative_to(ROOT)} imports from its own layer or above: {bad}"
