"""The options the commands share, defined once, and Settings built from them (flags > env > .env >
defaults)."""
# No `from __future__ import annotations`: Typer reads these annotations when commands register.
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from claims.errors import ConfigError

SourceOpt = Annotated[str | None, typer.Option("--source", help="api | snapshot | auto (env RETEST_SOURCE)")]
JudgeOpt = Annotated[str | None, typer.Option(
    "--judge", help="llm | offline | baseline (default: llm when a model is configured, else offline)")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="LLM model name (env RETEST_MODEL)")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="data directory (env RETEST_HOME)")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="the 'today' of the run, YYYY-MM-DD (the recent window; a sweep's window end)")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress on stderr")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def parse_as_of(v: str | None) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ConfigError(f"--as-of {v!r} is not a date: use YYYY-MM-DD") from None


_ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL", "claims_dir": "RETEST_CLAIMS"}


def settings_error(e, flags: frozenset[str] = frozenset()) -> str:
    """One line for a pydantic ValidationError raised while building Settings: which setting, the value
    (never a key's), what is wrong and where to fix it."""
    err = e.errors()[0]
    field = str(err["loc"][0]) if err.get("loc") else "settings"
    env = _ENV_NAMES.get(field, f"RETEST_{field.upper()}")
    where = f"--{field.replace('_', '-')} or {env}" if field in flags else env
    value = err.get("input")
    shown = "" if "key" in field or isinstance(value, dict | list) or value is None else f" = {str(value)[:80]!r}"
    msg = " ".join(str(err.get("msg", "invalid")).removeprefix("Value error, ").split())
    return f"setting {field}{shown}: {msg} — fix {where}"


def make_settings(as_of: str | date | None = None, **overrides):
    """Settings from env/.env with the given flags (those not None) on top. A bad value (a flag, an
    environment variable or .env) raises ConfigError: one line, exit status 2."""
    from agent.configuration import Settings  # pydantic-settings: loaded when a command runs, not for --help

    if isinstance(as_of, str):
        as_of = parse_as_of(as_of)
    given = {k: v for k, v in {**overrides, "as_of": as_of}.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as e:
        raise ConfigError(settings_error(e, frozenset(given))) from None
