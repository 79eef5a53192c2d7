"""Shared fixtures. Every test runs offline: the bundled snapshot, a temporary RETEST_HOME."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"
AS_OF = "2026-11-26"


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """No test may reach a real service or the user's data dir."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RETEST_MODEL", "RETEST_CHROMA_URL", "RETEST_ARXIV_API_URL",
                "RETEST_SNAPSHOT", "RETEST_JUDGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RETEST_SOURCE", "snapshot")
    monkeypatch.setenv("RETEST_AS_OF", AS_OF)
    monkeypatch.setenv("RETEST_HOME", str(tmp_path / "retest-home"))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def example_path() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory) -> Path:
    """A data directory shared by the slower end-to-end tests (its store fills once)."""
    return tmp_path_factory.mktemp("shared-home")


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "RETEST_"))}
    env.update({"RETEST_HOME": str(home), "RETEST_SOURCE": "snapshot", "RETEST_AS_OF": AS_OF,
                "ANONYMIZED_TELEMETRY": "False", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def server():
    """A fake OpenAI-compatible server on loopback (tests/fake_openai.py), one per test module."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def fake_openai(server):
    server.reset()
    yield server
    server.reset()
