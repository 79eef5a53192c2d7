"""The one graph every face drives: `build_graph()` compiles it; `graph` is what LangGraph Server loads."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from agent import nodes
from agent.services import Services
from agent.state import ClaimOutput, ClaimState, RunState

RECURSION_LIMIT = 100


def claim_graph():
    g = StateGraph(ClaimState, context_schema=Services, output_schema=ClaimOutput)
    steps = ["plan", "search", "ingest", "retrieve", "judge", "verify"]
    for s in steps:
        g.add_node(s, getattr(nodes, s))
    g.add_edge(START, steps[0])
    for a, b in zip(steps, steps[1:], strict=False):
        g.add_edge(a, b)
    g.add_edge(steps[-1], END)
    return g.compile()


def fan_out(state: RunState) -> list[Send]:
    papers = state.get("papers") or {}
    sources = state.get("sources") or {}
    prior = state.get("prior")  # a sweep: claims it knows are searched only since their last sweep
    sends = []
    for c in state["claim_set"]["claims"]:
        ref = sources.get(c["id"])
        src = papers.get(ref["arxiv_id"]) if ref else None
        arg = {"claim": c, "source": src, "source_how": ref["how"] if ref else None}
        if src is None and any(f.get("claim_id") == c["id"] and f.get("code") == "search_incomplete"
                               for f in state.get("flags") or []):
            arg["source_search_failed"] = True
        if prior is None:
            if state.get("since"):
                arg["since"] = state["since"]
        elif c["id"] in prior:
            arg["prior"] = prior[c["id"]]
            arg["since"] = (state.get("claim_since") or {}).get(c["id"]) or state.get("since")
        if state.get("until"):
            arg["until"] = state["until"]
        if (cached := (state.get("verdict_cache") or {}).get(c["id"])) is not None:
            arg["cached"] = cached
        if (ahead := (state.get("prefetched") or {}).get(c["id"])) is not None:
            arg["prefetched"] = ahead
        sends.append(Send("retest_claim", arg))
    return sends or [Send("assemble_report", state)]


def build_graph(checkpointer=None):
    g = StateGraph(RunState, context_schema=Services)
    g.add_node("load_claims", nodes.load_claims)
    g.add_node("resolve_anchors", nodes.resolve_anchors)
    g.add_node("link_sources", nodes.link_sources)
    g.add_node("retest_claim", claim_graph())
    g.add_node("assemble_report", nodes.assemble_report)
    g.add_edge(START, "load_claims")
    g.add_edge("load_claims", "resolve_anchors")
    g.add_edge("resolve_anchors", "link_sources")
    g.add_conditional_edges("link_sources", fan_out, ["retest_claim", "assemble_report"])
    g.add_edge("retest_claim", "assemble_report")
    g.add_edge("assemble_report", END)
    return g.compile(checkpointer=checkpointer)


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    return SqliteSaver(conn)


# LangGraph Server (langgraph.json) loads this: no checkpointer (the server brings its own) and
# services built from the environment on first use.
graph = build_graph()
