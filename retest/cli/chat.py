"""`retest chat`: talk to retest in the terminal (the prompt loop is retest/chat/terminal.py)."""
# No `from __future__ import annotations`: Typer reads these annotations when the command registers.
from typing import Annotated

import typer

from retest.cli.app import app
from retest.errors import guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, SourceOpt, make_settings

ThreadOpt = Annotated[str | None, typer.Option("--thread", help="conversation id to resume (default: a new one)")]


@app.command()
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
        from retest.chat.terminal import run_chat  # the session and its tools: loaded when a chat starts

        run_chat(make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of), thread)

    guarded(go)
