"""arXiv as a SearchSource: the offline snapshot (SQLite FTS5) and the live API (polite, cached,
fault-proof), plus the source choice for a run.  See docs/arxiv.md."""
from tools.arxiv.api import DEFAULT_API_URL, ArxivApiSource, build_search_query
from tools.arxiv.select import make_source
from tools.arxiv.snapshot import SnapshotSource, default_snapshot_path

__all__ = [
    "DEFAULT_API_URL",
    "ArxivApiSource",
    "SnapshotSource",
    "build_search_query",
    "default_snapshot_path",
    "make_source",
]
