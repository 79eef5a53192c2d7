"""Consoles for the terminal faces: whatever retest prints has its bidirectional controls shown as
``<U+202E>`` markers (claims/safety.py) and registered secrets redacted, so claim or paper text cannot
reorder what the terminal shows."""
from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console

from claims.safety import neutralize, redact


class SafeStream:
    """A text stream over sys.stdout / sys.stderr (looked up at each write, so test runners that swap
    them still capture) that neutralises bidi controls and redacts secrets."""

    def __init__(self, stderr: bool = False, stream: TextIO | None = None):
        self._stderr = stderr
        self._stream = stream

    @property
    def target(self) -> TextIO:
        if self._stream is not None:
            return self._stream
        return sys.stderr if self._stderr else sys.stdout

    def write(self, s: str) -> int:
        self.target.write(neutralize(redact(s)))
        return len(s)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding … as the real stream has them
        return getattr(self.target, name)


def safe_console(stderr: bool = False, **kw: Any) -> Console:
    kw.setdefault("highlight", False)
    return Console(file=SafeStream(stderr=stderr), **kw)  # type: ignore[arg-type]
