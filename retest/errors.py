"""Turning failures into one clear line and an exit status — never a traceback (RETEST_DEBUG=1 shows it)."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console

from agent.services import ConfigError
from claims.readers import InputError

T = TypeVar("T")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_INPUT = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except InputError as e:
        err_console.print(f"[bold red]error:[/] {e.one_line()}", markup=True)
        sys.exit(EXIT_INPUT)
    except ConfigError as e:
        err_console.print(f"[bold red]error:[/] {e}")
        sys.exit(EXIT_INPUT)
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
            err_console.print(f"[bold red]error:[/] {e}")
            sys.exit(EXIT_LOCKED)
        err_console.print(f"[bold red]error:[/] {name}: {e} (set RETEST_DEBUG=1 for the traceback)")
        sys.exit(1)
