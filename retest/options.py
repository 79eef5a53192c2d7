"""The options every command shares, and Settings built from them (flags > env > .env > defaults)."""
# No `from __future__ import annotations`: Typer reads these annotations when commands register.
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

SourceOpt = Annotated[str | None, typer.Option("--source", help="api | snapshot | auto (env RETEST_SOURCE)")]
JudgeOpt = Annotated[str | None, typer.Option(
    "--judge", help="llm | offline | baseline (default: llm when a model is configured, else offline)")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="LLM model name (env RETEST_MODEL)")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="data directory (env RETEST_HOME)")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="the 'today' of the run, YYYY-MM-DD (the recent window; a sweep's window end)")]


def parse_as_of(v: str | None) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        from agent.services import ConfigError

        raise ConfigError(f"--as-of {v!r} is not a date: use YYYY-MM-DD") from None


def make_settings(as_of: str | date | None = None, **overrides):
    """Settings from env/.env with the given flags (those not None) on top."""
    from agent.configuration import Settings

    if isinstance(as_of, str):
        as_of = parse_as_of(as_of)
    return Settings(**{k: v for k, v in {**overrides, "as_of": as_of}.items() if v is not None})
