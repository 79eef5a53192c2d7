"""On-disk cache of arXiv API responses, keyed by the request URL, with a TTL.

Only good responses (HTTP 200, a well-formed Atom feed, not an error or unexpectedly empty page)
are stored, so a rerun or a sweep asks arXiv nothing it already has.  Writes are atomic
(temporary file + rename), so concurrent runs sharing a cache never read half a file.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from tools.datafile import atomic_write

DEFAULT_TTL_S = 7 * 24 * 3600.0


class ResponseCache:
    def __init__(
        self, directory: Path, ttl_s: float = DEFAULT_TTL_S, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self._clock = clock
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(request: str) -> str:
        return hashlib.sha256(request.encode("utf-8")).hexdigest()

    def _paths(self, request: str) -> tuple[Path, Path]:
        k = self.key(request)
        sub = self.directory / k[:2]
        return sub / f"{k}.xml", sub / f"{k}.json"

    def get(self, request: str) -> bytes | None:
        body_path, meta_path = self._paths(request)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("request") != request or self._clock() - float(meta["stored_at"]) > self.ttl_s:
                self.misses += 1
                return None
            body = body_path.read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
            self.misses += 1
            return None
        self.hits += 1
        return body

    def put(self, request: str, body: bytes) -> None:
        body_path, meta_path = self._paths(request)
        try:
            body_path.parent.mkdir(parents=True, exist_ok=True)
            meta = {"request": request, "stored_at": self._clock(), "sha256": hashlib.sha256(body).hexdigest()}
            for path, data in ((body_path, body), (meta_path, json.dumps(meta).encode())):
                atomic_write(path, data)
        except OSError:  # a cache that cannot be written must not fail a search
            pass

    def clear(self) -> int:
        n = 0
        for p in self.directory.glob("*/*.json"):
            p.unlink(missing_ok=True)
            p.with_suffix(".xml").unlink(missing_ok=True)
            n += 1
        return n
