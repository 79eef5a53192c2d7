"""Choosing the arXiv source for a run: `api`, `snapshot`, or `auto` (the API when it answers,
else the bundled or configured snapshot, with a run-level `offline_snapshot` flag).

Configuration arrives as arguments; reading RETEST_* environment variables is the caller's job
(agent/configuration.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from claims.models import Flag
from tools.arxiv.api import DEFAULT_API_URL, ArxivApiSource
from tools.arxiv.cache import DEFAULT_TTL_S
from tools.arxiv.snapshot import SnapshotSource, default_snapshot_path
from tools.base import SearchSource

logger = logging.getLogger(__name__)

SourceKind = Literal["api", "snapshot", "auto"]
PROBE_FILE = "probe.json"


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("retest")) / "arxiv"


def _recent_probe(cache_dir: Path, api_url: str, ttl_s: float) -> bool:
    try:
        data = json.loads((cache_dir / PROBE_FILE).read_text(encoding="utf-8"))
        return data.get("url") == api_url and time.time() - float(data["at"]) <= ttl_s
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _store_probe(cache_dir: Path, api_url: str) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / PROBE_FILE).write_text(json.dumps({"url": api_url, "at": time.time()}), encoding="utf-8")
    except OSError:
        pass


def make_source(
    kind: SourceKind = "auto",
    *,
    api_url: str = DEFAULT_API_URL,
    cache_dir: Path | None = None,
    snapshot_path: Path | None = None,
    index_path: Path | None = None,
    refresh: bool = False,
    cache_ttl: float = DEFAULT_TTL_S,
    probe_timeout: float = 5.0,
    probe_ttl: float = 900.0,
    api_options: dict[str, Any] | None = None,
) -> tuple[SearchSource, list[Flag]]:
    """The source for a run and the run-level flags its choice raised.

    `auto` probes the API once (one request, short timeout, through the process limiter); a probe
    that succeeded less than `probe_ttl` seconds ago (recorded in the cache dir) is trusted, so a
    rerun served from the cache sends no request at all.  `refresh` bypasses the response cache and
    the recorded probe.  `api_options` are passed on to ArxivApiSource (timeout, max_requests, ...).
    """
    if kind not in ("api", "snapshot", "auto"):
        raise ValueError(f"unknown arXiv source {kind!r} (use api, snapshot or auto)")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def snapshot() -> SnapshotSource:
        path = Path(snapshot_path) if snapshot_path is not None else default_snapshot_path()
        tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        return SnapshotSource(path, index_path=index_path or cache_dir / f"snapshot-{tag}.sqlite")

    if kind == "snapshot":
        return snapshot(), []
    api = ArxivApiSource(
        api_url, cache_dir / "responses", cache_ttl=cache_ttl, refresh=refresh, **(api_options or {})
    )
    if kind == "api":
        return api, []
    if not refresh and _recent_probe(cache_dir, api_url, probe_ttl):
        return api, []
    ok, why = api.probe(timeout=probe_timeout)
    if ok:
        _store_probe(cache_dir, api_url)
        return api, []
    snap = snapshot()
    detail = (
        f"The arXiv API at {api_url} did not answer ({why}); this run searched the offline snapshot "
        f"{snap.path} ({snap.size} papers), so papers newer than or missing from it were not seen."
    )
    logger.warning(detail)
    return snap, [Flag(code="offline_snapshot", detail=detail)]
