"""The `retest` command line (Typer + Rich): one module per command (or command group), each a top-level
function decorated with ``@app.command()`` on the one app in ``retest/cli/app.py``, imported here
explicitly. Every command runs its work under ``retest.errors.guarded`` (one line and an exit status,
never a traceback); the options they share are in ``retest/options.py``.

    run · export-pairs · train-verifier · sweep · history · chat · serve · eval … · snapshot …
"""
from __future__ import annotations

# isort: off
# Importing a module registers its command; this order is the order `retest --help` lists them in.
from retest.cli import run, evaluate, export_pairs, train, sweep, history, chat, serve, snapshot  # noqa: F401
# isort: on
from retest.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
