"""Progress lines on stderr for graph events (Rich)."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from retest.terminal import safe_console

_STYLE = {"verdict": "bold green", "resume": "yellow", "search": "cyan"}


class ProgressPrinter:
    def __init__(self, console: Console | None = None, quiet: bool = False):
        if console is None:
            console = safe_console(stderr=True)
        self.console = console
        self.quiet = quiet

    def __call__(self, ev: dict) -> None:
        if self.quiet:
            return
        who = escape(str(ev.get("claim") or "run"))
        step = escape(str(ev.get("step", "")))
        style = _STYLE.get(step, "")
        detail = escape(str(ev.get("detail", "")))  # paper and user text is untrusted
        self.console.print(f"[dim]{who:>6}[/] [{style}]{step:<9}[/] {detail}" if style else
                           f"[dim]{who:>6}[/] {step:<9} {detail}")
