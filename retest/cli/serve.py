"""`retest serve`: the chat in the browser (the FastAPI app is retest/web/)."""
# No `from __future__ import annotations`: Typer reads these annotations when the command registers.
from typing import Annotated

import typer

from retest.cli.app import app
from retest.errors import err_console, guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, SourceOpt, make_settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8765,
    thread: Annotated[str, typer.Option("--thread", help="the conversation the page shows and continues")] = "web",
    source: SourceOpt = None,
    judge: JudgeOpt = None,
    model: ModelOpt = None,
    home: HomeOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Serve the chat in the browser: progress over server-sent events, claims page, report download."""

    def go() -> None:
        import uvicorn  # the web stack (FastAPI, uvicorn): loaded when serving

        from retest.web import create_app

        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of)
        loopback = host in LOOPBACK
        if not loopback:
            err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can run re-tests "
                              "and read this conversation (there is no login)")
        web_app = create_app(settings, thread=thread, allowed_hosts=None if loopback else ["*"])
        err_console.print(f"retest: serving conversation [bold]{thread}[/] on http://{host}:{port}/")
        uvicorn.run(web_app, host=host, port=port, log_level="warning")

    guarded(go)
