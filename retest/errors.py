"""The one guard every command runs under: a failure becomes one clear line on stderr and an exit
status — never a traceback (RETEST_DEBUG=1 shows it).

The statuses are defined once, in ``claims.errors.ExitCode`` (the table is in the README): a
``RetestError`` exits with its ``exit_code``; Ctrl-C with 130; anything else with 1.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from click.exceptions import Exit as ClickExit
from rich.markup import escape

from claims.errors import ExitCode, RetestError, UsageError
from claims.safety import redact
from retest.terminal import safe_console

T = TypeVar("T")
err_console = safe_console(stderr=True, soft_wrap=True)

__all__ = ["ExitCode", "err_console", "fail", "guarded", "need_file", "say"]


def say(msg: str) -> None:
    """One line on stderr: 'error: MSG' (secrets redacted, markup shown as text)."""
    err_console.print(f"[bold red]error:[/] {escape(' '.join(redact(msg, shapes=True).split()))}")


def fail(msg: str) -> NoReturn:
    """Refuse what the user gave: 'error: MSG' and exit status 2 (through ``guarded``)."""
    raise UsageError(msg)


def need_file(path: Path | None, what: str) -> None:
    """Refuse (exit status 2) unless PATH is an existing file: 'PATH: WHAT not found — check the path'."""
    if path is None or not Path(path).is_file():
        fail(f"{path}: {what} not found — check the path")


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except RetestError as e:
        say(e.one_line())
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] — progress is checkpointed; run the same command again to resume.")
        sys.exit(int(ExitCode.INTERRUPTED))
    except (SystemExit, ClickExit):
        raise
    except Exception as e:  # the last line of defence: one line, not a traceback
        if os.environ.get("RETEST_DEBUG"):
            raise
        say(f"{type(e).__name__}: {e} (set RETEST_DEBUG=1 for the traceback)")
        sys.exit(int(ExitCode.UNEXPECTED))
