"""One politeness limiter for the whole process: arXiv asks for at most one request every 3 s.

The `arxiv` package spaces requests per `Client` instance only; retest sends every arXiv request
through `process_limiter()` instead, whichever source or thread sends it.  Spacing is measured from
the *end* of the previous request (its response, error or timeout) to the start of the next, so the
server never sees two requests closer than `min_interval`, whatever the network latency.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ARXIV_MIN_INTERVAL = 3.0


class RateLimiter:
    """Serialises requests and spaces them `min_interval` seconds apart (end to start).

    `clock` and `sleep` are injectable so the spacing logic can be tested without waiting.
    `defer(seconds)` pushes the next slot back (Retry-After, backoff) for every user of the limiter.
    """

    def __init__(
        self,
        min_interval: float = ARXIV_MIN_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = float(min_interval)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # held for the whole slot: one request in flight at a time
        self._state = threading.Lock()
        self._next_at: float | None = None
        self.slots = 0
        self.waited_s = 0.0

    def wait_time(self) -> float:
        with self._state:
            return 0.0 if self._next_at is None else max(0.0, self._next_at - self._clock())

    def defer(self, seconds: float) -> None:
        """No request through this limiter before `seconds` from now (and min_interval after the last)."""
        with self._state:
            until = self._clock() + max(0.0, seconds)
            self._next_at = until if self._next_at is None else max(self._next_at, until)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Block until a request may start; the request runs inside the `with` block."""
        with self._lock:
            while True:
                wait = self.wait_time()
                if wait <= 0:
                    break
                self.waited_s += wait
                self._sleep(wait)
            self.slots += 1
            try:
                yield
            finally:
                with self._state:
                    end = self._clock() + self.min_interval
                    self._next_at = end if self._next_at is None else max(self._next_at, end)


_PROCESS_LIMITER: RateLimiter | None = None
_PROCESS_LOCK = threading.Lock()


def process_limiter(min_interval: float = ARXIV_MIN_INTERVAL) -> RateLimiter:
    """The process-wide arXiv limiter. Asking with a longer interval lengthens it; never shortens."""
    global _PROCESS_LIMITER
    with _PROCESS_LOCK:
        if _PROCESS_LIMITER is None:
            _PROCESS_LIMITER = RateLimiter(max(min_interval, ARXIV_MIN_INTERVAL))
        elif min_interval > _PROCESS_LIMITER.min_interval:
            _PROCESS_LIMITER.min_interval = min_interval
        return _PROCESS_LIMITER
