"""Imports flow one way: claims <- tools <- agent <- retest (the faces). Nothing lower imports higher."""
from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

LAYERS = ["claims", "tools", "agent", "retest"]


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_higher_one(layer):
    higher = set(LAYERS[LAYERS.index(layer) + 1:])
    bad = []
    for path in (ROOT / layer).rglob("*.py"):
        for mod in _imports(path):
            if mod in higher:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, bad
