"""Settings: CLI flags > environment (RETEST_*, OPENAI_*) > .env > defaults (pydantic-settings)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from claims.readers import DEFAULT_MAX_CLAIM_CHARS, DEFAULT_MAX_CLAIMS, DEFAULT_MAX_INPUT_BYTES, InputLimits
from claims.safety import register_secret

DEFAULT_API_URL = "https://export.arxiv.org/api/query"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETEST_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=lambda: Path(user_data_dir("retest")),
                       description="data directory (RETEST_HOME)")
    source: Literal["api", "snapshot", "auto"] = "auto"
    snapshot: Path | None = Field(default=None, description="snapshot file (RETEST_SNAPSHOT)")
    arxiv_api_url: str = DEFAULT_API_URL
    arxiv_min_interval: float = 3.0
    arxiv_timeout: float = 20.0
    arxiv_max_requests: int = 200
    arxiv_cache_ttl_hours: float = 24.0
    refresh: bool = False
    chroma_url: str | None = None
    judge: Literal["llm", "offline", "baseline", "auto"] = "auto"
    model: str | None = Field(default=None, description="LLM model name (RETEST_MODEL)")
    openai_api_key: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    llm_timeout: float = Field(default=60.0, gt=0, description="seconds for each whole request to the model "
                               "server, connect to last byte (RETEST_LLM_TIMEOUT)")
    llm_max_calls: int = 100
    llm_max_tokens: int = 400_000
    recent_months: int = 6
    as_of: date | None = Field(default=None, description="the 'today' of a run (RETEST_AS_OF)")
    search_results: int = 25
    evidence_k: int = 24
    judge_papers: int = Field(default=16, description="newer papers the offline judge reads whole, per claim")
    paper_model: Path | None = Field(default=None, description="a paper-level stance model (.onnx, its "
                                     "tokenizer.json beside it) instead of the shipped one (RETEST_PAPER_MODEL)")
    claims_dir: Path | None = Field(default=None, validation_alias=AliasChoices("RETEST_CLAIMS"))
    # limits (docs/limits.md)
    max_claims: int = Field(default=DEFAULT_MAX_CLAIMS, ge=1, description="claims per input file (RETEST_MAX_CLAIMS)")
    max_claim_chars: int = Field(default=DEFAULT_MAX_CLAIM_CHARS, ge=1,
                                 description="characters per claim (RETEST_MAX_CLAIM_CHARS)")
    max_input_bytes: int = Field(default=DEFAULT_MAX_INPUT_BYTES, ge=1,
                                 description="bytes per input file (RETEST_MAX_INPUT_BYTES)")
    store_lock_timeout: float = Field(default=30.0, ge=0, description="seconds to wait for another process "
                                      "holding the evidence store (RETEST_STORE_LOCK_TIMEOUT); chat waits at most 2")
    web_max_body_bytes: int = Field(default=65_536, ge=1024,
                                    description="largest request body `retest serve` reads (RETEST_WEB_MAX_BODY_BYTES)")

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        # the key must never be written anywhere: every writer redacts what is registered (claims/safety.py)
        register_secret(self.openai_api_key)

    def input_limits(self) -> InputLimits:
        return InputLimits(max_claims=self.max_claims, max_claim_chars=self.max_claim_chars,
                           max_input_bytes=self.max_input_bytes)

    @property
    def today(self) -> date:
        return self.as_of or date.today()

    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def resolved_judge(self) -> str:
        if self.judge == "auto":
            return "llm" if self.llm_configured() and self.model else "offline"
        return self.judge

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home
