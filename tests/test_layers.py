"""Imports flow one way: claims <- tools <- agent <- retest (the faces). Nothing lower imports higher, no
two modules import each other (directly or around a loop, at module level or lazily inside a function),
and the run path loads no training or evaluation code."""
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


def project_modules() -> dict[str, tuple]:
    """Every project module: dotted name -> (path, is a package)."""
    mods = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _type_checking_only(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_statements(body, lazy: bool):
    """The import statements that run when the module is imported (with ``lazy``, also those inside
    functions); never those under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if lazy:
                yield from _import_statements(node.body, lazy)
        elif isinstance(node, ast.If) and _type_checking_only(node):
            continue
        else:
            for name in ("body", "orelse", "finalbody", "handlers"):
                sub = getattr(node, name, None)
                if isinstance(sub, list):
                    yield from _import_statements(sub, lazy)


def import_graph(mods: dict[str, tuple], lazy: bool) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from pkg import mod`` counts as importing pkg.mod)."""
    graph = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        targets = set()
        for node in _import_statements(ast.parse(path.read_text(encoding="utf-8")).body, lazy):
            if isinstance(node, ast.Import):
                wanted = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                wanted = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in wanted:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "with-lazy-imports"])
def test_no_import_cycle_between_project_modules(lazy):
    """No module imports one that (directly or around a loop) imports it back — neither at module level
    nor through a lazy import inside a function, which only hides the cycle."""
    cycles = import_cycles(import_graph(project_modules(), lazy))
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_check_sees_a_lazy_cycle():
    graph = import_graph(project_modules(), lazy=True)
    graph["agent.graph"] = graph["agent.graph"] | {"agent.nodes"}
    graph["agent.nodes"] = graph["agent.nodes"] | {"agent.graph"}
    assert ["agent.graph", "agent.nodes"] in import_cycles(graph)


def test_agent_holds_the_reasoning_graph_only():
    """The faces' sessions (chat, sweeps, history, digests) live beside their faces in retest/."""
    names = {p.stem for p in (ROOT / "agent").glob("*.py")}
    assert not names & {"chat", "chat_llm", "sweep", "history", "digest"}, names
    assert not (ROOT / "agent" / "templates" / "digest.md.j2").exists()


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
