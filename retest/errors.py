"""Turning failures into one clear line and an exit status — never a traceback (RETEST_DEBUG=1 shows it).

Exit statuses (docs/limits.md): 0 done · 1 an unexpected failure · 2 bad input, a bad setting or an
unusable --out · 3 the data directory is busy (another retest holds it) · 4 `retest sweep --fail-on-change`
saw a verdict change · 5 a data file in RETEST_HOME is corrupt or unreadable · 130 interrupted (Ctrl-C;
the run resumes from its checkpoint).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from agent.report import OutDirError
from agent.services import ConfigError
from claims.readers import InputError
from claims.safety import redact
from retest.terminal import safe_console
from tools.datafile import DataFileError

T = TypeVar("T")
err_console = safe_console(stderr=True, soft_wrap=True)

EXIT_INPUT = 2
EXIT_LOCKED = 3
EXIT_DATA = 5
EXIT_INTERRUPTED = 130


def _say(msg: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(' '.join(redact(msg, shapes=True).split()))}")


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except InputError as e:
        _say(e.one_line())
        sys.exit(EXIT_INPUT)
    except (ConfigError, OutDirError) as e:
        _say(str(e))
        sys.exit(EXIT_INPUT)
    except DataFileError as e:
        _say(str(e))
        sys.exit(EXIT_DATA)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] — progress is checkpointed; run the same command again to resume.")
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as e:  # the last line of defence: one line, not a traceback
        if os.environ.get("RETEST_DEBUG"):
            raise
        name = type(e).__name__
        if name == "StoreLockedError":
            _say(str(e))
            sys.exit(EXIT_LOCKED)
        _say(f"{name}: {e} (set RETEST_DEBUG=1 for the traceback)")
        sys.exit(1)
