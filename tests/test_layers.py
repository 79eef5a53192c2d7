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


def test_the_run_path_loads_no_training_or_evaluation_code():
    """Importing the graph (and building the offline judge's model) loads neither torch nor the
    training / evaluation modules."""
    import subprocess
    import sys

    code = ("import sys, agent.graph, agent.judges.paper, tools.verifier.paper_model, tools.verifier.onnx_verifier\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'transformers', "
            "'tools.verifier.training', 'tools.verifier.train', 'tools.verifier.evaluate', 'tools.verifier.data'))]\n"
            "print(','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "", r.stdout
