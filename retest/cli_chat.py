"""Registers `retest chat` on the Typer app (see retest.cli._register_optional)."""
from __future__ import annotations

from typing import Annotated

import typer

from retest.errors import guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, SourceOpt, make_settings

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

        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of)
        try:
            run_chat(settings, thread)
        except ChatError as e:
            raise ConfigError(str(e)) from None

    guarded(go)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
