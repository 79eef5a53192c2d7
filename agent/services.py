"""The tools a run uses, built once from Settings and handed to the graph as its runtime context."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from agent.configuration import Settings
from agent.judges.base import Judge, Planner
from claims.errors import ConfigError
from claims.models import ClaimSet, Flag
from tools.base import Embedder, EvidenceStore, SearchSource

__all__ = ["ConfigError", "Services", "build_services", "default_services", "start_source"]


@dataclass
class Services:
    settings: Settings
    source: SearchSource
    store: EvidenceStore
    embedder: Embedder
    judge: Judge
    planner: Planner
    verifier: Any = None
    run_flags: list[Flag] = field(default_factory=list)
    method_notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        for obj in (self.store, self.source):
            close = getattr(obj, "close", None)
            if callable(close):
                close()


def check_settings(settings: Settings) -> None:
    """Refuse, before any work, settings a run cannot go on with (ConfigError, exit status 2)."""
    if settings.judge == "llm" and not settings.llm_configured():
        raise ConfigError("--judge llm needs a model: set OPENAI_API_KEY (hosted) or OPENAI_BASE_URL "
                          "(a local OpenAI-compatible server) and RETEST_MODEL")
    if settings.judge == "llm" and not settings.model:
        raise ConfigError("--judge llm needs RETEST_MODEL (or --model), e.g. gpt-4o-mini or llama3.1")
    if settings.paper_model is not None and settings.resolved_judge() in ("offline", "llm"):
        pm = settings.paper_model
        if not pm.is_file() or not (pm.parent / "tokenizer.json").is_file():
            raise ConfigError(f"RETEST_PAPER_MODEL={pm}: {'no such file' if not pm.is_file() else 'no tokenizer.json beside it'}"
                              " — point it at the .onnx that `retest train-verifier --paper --out DIR` wrote, "
                              "or unset it to use the shipped model")


def build_source(settings: Settings) -> tuple[SearchSource, list[Flag]]:
    from tools.arxiv.select import make_source

    home = settings.ensure_home()
    return make_source(
        settings.source,
        api_url=settings.arxiv_api_url,
        cache_dir=home / "cache" / "arxiv",
        snapshot_path=settings.snapshot,
        index_path=home / "snapshot.sqlite",
        refresh=settings.refresh,
        cache_ttl=settings.arxiv_cache_ttl_hours * 3600,
        api_options={"min_interval": settings.arxiv_min_interval, "timeout": settings.arxiv_timeout,
                     "max_requests": settings.arxiv_max_requests},
    )


def start_source(settings: Settings, claim_set: ClaimSet) -> tuple[SearchSource, list[Flag]]:
    """The run's source, built before the rest of the services (and the graph) load: where it sends
    requests (the live API), the anchors' lookup starts at once in the background, so the first
    request goes out while the heavy imports load, and the graph's `resolve_anchors` takes its result.
    Pass what this returns to `build_services(settings, source=...)`."""
    check_settings(settings)
    source, flags = build_source(settings)
    start = getattr(source, "start_lookup", None)
    ids = claim_set.anchor_ids()
    if callable(start) and ids:
        start(ids)
    return source, flags


def build_store(settings: Settings, embedder: Embedder, query_embedder: Embedder | None = None) -> EvidenceStore:
    from tools.store import ChromaEvidenceStore

    return ChromaEvidenceStore(home=settings.ensure_home(), url=settings.chroma_url, embedder=embedder,
                               query_embedder=query_embedder, lock_timeout=settings.store_lock_timeout)


def build_judge(settings: Settings, embedder: Embedder) -> tuple[Judge, Planner, Any, list[str]]:
    from agent.planning import KeywordPlanner

    planner: Planner = KeywordPlanner(max_results=settings.search_results)
    kind = settings.resolved_judge()
    notes: list[str] = []
    verifier = None
    if kind in ("offline", "llm"):
        try:
            from tools.result_cache import STANCE_DIR, CachedPaperVerifier
            from tools.verifier.paper_model import load_default_paper_verifier

            # loaded on its first reading: a rerun whose readings are all cached never loads the model
            verifier = CachedPaperVerifier(load_default_paper_verifier(lazy=True, model_path=settings.paper_model),
                                           settings.ensure_home() / "cache" / STANCE_DIR)
        except Exception as e:  # the model file missing is survivable: fall back and say so
            if kind == "offline":
                notes.append(f"The trained stance model could not be loaded ({e}); the baseline judge ran instead.")
                kind = "baseline"
    if kind == "llm":
        from agent.judges.llm import build_llm_judge

        judge, planner = build_llm_judge(settings, verifier=verifier, fallback_planner=planner)
        return judge, planner, verifier, notes
    if kind == "baseline":
        from agent.judges.baseline import BaselineJudge

        return BaselineJudge(), planner, None, notes
    from agent.judges.paper import PaperJudge

    return PaperJudge(verifier), planner, verifier, notes


def build_services(settings: Settings, source: tuple[SearchSource, list[Flag]] | None = None) -> Services:
    """Every service a run uses; `source`: the (source, flags) `start_source` built already."""
    from tools.embeddings import shared_embedder

    check_settings(settings)
    from tools.result_cache import EMBEDDINGS_DIR, CachedEmbedder

    raw = shared_embedder()
    # Query-side texts (claims, clauses, the link step's candidates) recur on every rerun: their vectors
    # are kept under RETEST_HOME/cache; the store embeds its sentences with the raw embedder.
    embedder = CachedEmbedder(raw, settings.ensure_home() / "cache" / EMBEDDINGS_DIR)
    source_, flags = source if source is not None else build_source(settings)
    store = build_store(settings, raw, query_embedder=embedder)
    judge, planner, verifier, notes = build_judge(settings, embedder)
    return Services(settings=settings, source=source_, store=store, embedder=embedder, judge=judge,
                    planner=planner, verifier=verifier, run_flags=flags, method_notes=notes)


@functools.cache
def default_services() -> Services:
    """The services LangGraph Server (or a bare invoke with no context) runs with: built from the
    environment once, on first use."""
    return build_services(Settings())
