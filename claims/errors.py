"""retest's errors and exit statuses, in one place.

Every error a user can cause or meet is a ``RetestError``: its message is one line (what is wrong and
what to do) and its ``exit_code`` is the status the faces exit with (``retest.errors.guarded``). They
live here, in the lowest layer, so that every layer raises them and every face handles them alike.

Exit statuses (README, docs/limits.md):

==== ==========================================================================================
0    done
1    an unexpected failure (one line; RETEST_DEBUG=1 shows the traceback)
2    bad input (file:line), a bad setting, an unusable --out
3    the data directory is busy: another retest holds the evidence store or the sweep lock
4    ``retest sweep --fail-on-change`` saw a verdict change
5    a data file in RETEST_HOME is corrupt or unreadable
130  interrupted (Ctrl-C); the run resumes from its checkpoint
==== ==========================================================================================
"""
from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    DONE = 0
    UNEXPECTED = 1
    BAD_INPUT = 2
    BUSY = 3
    CHANGED = 4
    DATA_FILE = 5
    INTERRUPTED = 130


class RetestError(Exception):
    """The base of retest's errors: a one-line message and the exit status a face exits with."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def one_line(self) -> str:
        return str(self)


class UsageError(RetestError):
    """Something the user gave cannot be used (a flag value, a missing file); exit status 2."""

    exit_code = ExitCode.BAD_INPUT


class InputError(UsageError, ValueError):
    """A problem with an input file, located (path and line) and with what to do about it."""

    def __init__(self, path: str | Path, line: int | None, message: str, hint: str = ""):
        self.path = str(path)
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        hint = f" — {self.hint}" if self.hint else ""
        return f"{where}: {self.message}{hint}"


class ConfigError(UsageError):
    """A setting that cannot work (e.g. --judge llm with no model configured, a bad RETEST_* value)."""


class OutDirError(UsageError, ValueError):
    """--out (or /export) names a place where the report cannot be written."""


class BusyError(RetestError):
    """Another retest process holds what this one needs (the evidence store, the sweep lock); exit 3."""

    exit_code = ExitCode.BUSY


class DataFileError(RetestError, RuntimeError):
    """A data file (checkpoints.sqlite, the Chroma store, a chat history…) is unreadable or corrupt; exit 5."""

    exit_code = ExitCode.DATA_FILE

    def __init__(self, path: str | Path, problem: str, remedy: str):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())[:200]
        self.remedy = remedy
        super().__init__(f"{self.path}: {self.problem} — {self.remedy}")


__all__ = ["BusyError", "ConfigError", "DataFileError", "ExitCode", "InputError", "OutDirError", "RetestError",
           "UsageError"]
