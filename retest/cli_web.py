"""Registers `retest serve` on the Typer app (see retest.cli._register_optional)."""
from __future__ import annotations

from typing import Annotated

import typer

from retest.errors import guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, SourceOpt, make_settings


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
        import uvicorn

        from agent.chat import ChatError
        from agent.services import ConfigError
        from retest.errors import err_console
        from retest.web import create_app

        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of)
        loopback = host in ("127.0.0.1", "localhost", "::1")
        if not loopback:
            err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can run re-tests "
                              "and read this conversation (there is no login)")
        try:
            app = create_app(settings, thread=thread, allowed_hosts=None if loopback else ["*"])
        except ChatError as e:
            raise ConfigError(str(e)) from None
        err_console.print(f"retest: serving conversation [bold]{thread}[/] on http://{host}:{port}/")
        uvicorn.run(app, host=host, port=port, log_level="warning")

    guarded(go)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
