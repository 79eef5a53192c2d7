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

__all__ = ["app", "console", "main"]


def main() -> None:
    """Run the command line; ends with SystemExit, as Click does (for callers in a process of their own)."""
    app()


def console() -> None:
    """The `retest` console script and `python -m retest.cli`: the command, then the process ends at
    once (`_exit`)."""
    try:
        app()  # Click's standalone mode ends with SystemExit, success included
    except SystemExit as e:
        _exit(e.code)
    _exit(0)


def _exit(code: object) -> None:
    """End the process without the interpreter's teardown of every module and object, which takes
    ~0.4 s after a run has loaded LangGraph, Chroma and ONNX Runtime: a command has closed its files
    and databases by the time it returns (and each is safe against a kill anyway), so what is left
    is to run the exit handlers (logging, thread pools, coverage) and flush the output, as a normal
    exit does. Where `atexit` cannot be driven, a normal exit."""
    import atexit
    import os
    import sys

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1, as Python does
        print(code, file=sys.stderr)
        status = 1
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None:  # pragma: no cover - another Python implementation
        sys.exit(status)
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`retest ... | head`): nothing more to write
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
