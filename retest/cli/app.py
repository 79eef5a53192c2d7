"""The root of the `retest` command line: the Typer app every command module adds its command to."""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Re-test dated research claims against the arXiv literature.")


@app.callback()
def _root() -> None:
    """Re-test dated research claims against the arXiv literature."""
