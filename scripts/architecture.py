"""Regenerate the graph drawing in docs/architecture.md from the code.

    python scripts/architecture.py          # rewrite the block between the markers
    python scripts/architecture.py --check  # exit 1 if the doc is stale (the tests run this)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
BEGIN, END = "<!-- graph:begin -->", "<!-- graph:end -->"


def mermaid() -> str:
    from agent.graph import build_graph

    return build_graph().get_graph(xray=True).draw_mermaid().strip()


def render(doc: str) -> str:
    block = f"{BEGIN}\n```mermaid\n{mermaid()}\n```\n{END}"
    return re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, doc, flags=re.S)


def main() -> int:
    doc = DOC.read_text()
    new = render(doc)
    if "--check" in sys.argv:
        return 0 if new == doc else 1
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
