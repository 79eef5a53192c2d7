"""Errors about the files retest keeps in its data directory (RETEST_HOME): which file, what is wrong with
it, and what to do. The faces print them as one line and exit with status 5 (docs/limits.md)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from claims.errors import DataFileError

__all__ = ["DataFileError", "aside_hint"]


def aside_hint(path: str | Path, what: str) -> str:
    """'move it aside (mv P P.corrupt) …' for a file or directory P."""
    p = str(path)
    return f"move it aside (mv '{p}' '{p}.corrupt') and run again; {what}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write DATA to PATH through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
