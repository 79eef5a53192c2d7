"""Registers `retest chat` on the Typer app (see retest.cli._register_optional)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retest.errors import guarded

# The same options as `retest run` (declared here: importing retest.cli at module level would be circular).
SourceOpt = Annotated[str | None, typer.Option("--source", help="api | snapshot | auto (env RETEST_SOURCE)")]
JudgeOpt = Annotated[str | None, typer.Option("--judge", help="llm | offline | baseline (default: llm when a model is configured, else offline)")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="data directory (env RETEST_HOME)")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the 'today' of the session, YYYY-MM-DD (for the recent window)")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="LLM model name (env RETEST_MODEL)")]
ThreadOpt = Annotated[str | None, typer.Option("--thread", help="conversation id to resume (default: a new one)")]


def chat(
    thread: ThreadOpt = None,
    source: SourceOpt = None,
    judge: JudgeOpt = None,
    model: ModelOpt = None,
    home: HomeOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Talk to retest: type dated claims to re-test them, ask /why N, /new TOPIC, /report (see /help)."""

    def go() -> None:
        from agent.chat import ChatError
        from agent.services import ConfigError
        from retest.chat_cli import run_chat
        from retest.cli import _as_of, make_settings

        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=_as_of(as_of))
        try:
            run_chat(settings, thread)
        except ChatError as e:
            raise ConfigError(str(e)) from None

    guarded(go)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
