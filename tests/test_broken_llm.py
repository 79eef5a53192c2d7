"""Broken model servers (issue 13), against the loopback fake server (tests/fake_openai.py) — no network.

A 200 whose body is not JSON, or not text at all, is an LLM failure (the offline fallback and a flag), not
a crash; RETEST_LLM_TIMEOUT bounds the whole request, so a server trickling a byte every few seconds is
cut off; a server that echoes the API key gets it copied nowhere (report.json, report.md, the checkpoint,
the chat history); a broken server in the chat's LLM mode prints no traceback."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.configuration import Settings
from claims.models import Claim, EvidenceChunk, Paper
from tests.conftest import ROOT, subprocess_env
from tests.fake_openai import Reply, format_name
from tools.llm import LLMError, OpenAIChatModel

KEY = "sk-test-SECRET0123456789abcdefXYZ"
NOT_JSON = [
    Reply.raw(b"<html><body>502 Bad Gateway</body></html>"),
    Reply.raw(b"\xff\xfe\x00\x01" + bytes(range(256)) * 8),
    Reply.raw(b"\x89PNG\r\n\x1a\n" + bytes(200), content_type="application/octet-stream"),
    Reply.raw(b"plain words, no JSON", content_type="text/plain"),
    Reply.raw(b'{"choices": "not a list"}'),
]
MSGS = [{"role": "user", "content": "hello"}]


def model(srv, **kw) -> OpenAIChatModel:
    opts = {"timeout": 5.0, "max_calls": 50, "max_tokens": 100_000, "backoff": 0.01, "max_attempts": 2}
    opts.update(kw)
    return OpenAIChatModel("fake", base_url=srv.url, **opts)


# ------------------------------------------------------------------------------------------------
# non-JSON and binary bodies


@pytest.mark.parametrize("reply", NOT_JSON, ids=["html", "binary", "png", "text", "wrong-shape"])
def test_a_200_that_is_not_json_is_an_llm_error(fake_openai, reply):
    m = model(fake_openai)
    fake_openai.push(reply)
    with pytest.raises(LLMError):
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    fake_openai.push(reply)
    with pytest.raises(LLMError):
        m.complete_tools(MSGS, [])


def test_judge_falls_back_with_a_flag_on_a_non_json_body(fake_openai):
    from agent.judges.base import JudgeInput
    from agent.judges.baseline import BaselineJudge
    from agent.judges.llm import LlmJudge

    newer = Paper(arxiv_id="2403.00002", title="Million-Expert Routing", published=date(2024, 3, 1),
                  abstract="Quality keeps improving up to one million experts.")
    inp = JudgeInput(
        claim=Claim(id="c1", text="Sparse experts saturate at a few hundred experts.", claim_date="2022"),
        cutoff=date(2022, 12, 31), newer=[EvidenceChunk(arxiv_id=newer.arxiv_id, sentence_index=0, text=newer.abstract,
                                                        title=newer.title, published=newer.published, score=0.7)],
        as_of=date(2026, 11, 26), recent_from=date(2026, 5, 26))
    fake_openai.handler = lambda body: NOT_JSON[1]
    v = LlmJudge(model(fake_openai), BaselineJudge()).judge(inp)
    assert "llm_unavailable" in {f.code for f in v.flags}


# ------------------------------------------------------------------------------------------------
# the whole-request deadline


def test_trickling_server_is_cut_off_at_the_timeout(fake_openai):
    m = model(fake_openai, timeout=1.5, max_attempts=1)
    fake_openai.push(Reply.json({"label": "holds"}, trickle=0.3))  # the whole answer would take minutes
    t0 = time.monotonic()
    with pytest.raises(LLMError, match="within 1.5s"):
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    assert time.monotonic() - t0 < 4


def test_the_deadline_comes_from_retest_llm_timeout_and_bounds_each_attempt(fake_openai, tmp_path, monkeypatch):
    from retest.chat.llm import build_chat_model

    monkeypatch.setenv("RETEST_LLM_TIMEOUT", "1")
    s = Settings(model="fake", openai_base_url=fake_openai.url, home=tmp_path, _env_file=None)
    m = build_chat_model(s)
    m.backoff = 0.01
    m.max_attempts = 2
    fake_openai.push(Reply.json({}, trickle=0.25), Reply.json({}, trickle=0.25))
    t0 = time.monotonic()
    with pytest.raises(LLMError):
        m.complete_tools(MSGS, [])
    assert time.monotonic() - t0 < 2 * 1 + 2
    assert len(fake_openai.requests) == 2  # a timed-out request is retried like any timeout


def test_a_slow_but_steady_answer_within_the_deadline_still_arrives(fake_openai):
    m = model(fake_openai, timeout=5.0, max_attempts=1)
    fake_openai.push(Reply.json({"ok": True}, trickle=0.0005))
    assert m.complete_json(MSGS, {"type": "object"}, "verdict") == {"ok": True}


# ------------------------------------------------------------------------------------------------
# secrets


def test_an_echoed_key_is_redacted_from_errors_and_answers(fake_openai):
    m = OpenAIChatModel("fake", api_key=KEY, base_url=fake_openai.url, timeout=5, backoff=0.01, max_attempts=1)
    fake_openai.push(Reply.error(401, f"Incorrect API key provided: {KEY}. Find your key at …"))
    with pytest.raises(LLMError) as ei:
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    assert KEY not in str(ei.value) and "[redacted]" in str(ei.value)
    fake_openai.push(Reply.json({"rationale": f"your key is {KEY}"}))
    assert KEY not in json.dumps(m.complete_json(MSGS, {"type": "object"}, "verdict"))


def key_echo_handler(body: dict) -> Reply:
    """Plans: a 200 whose body is HTML; verdicts: a 401 that quotes the key."""
    if format_name(body) == "plan" or "plan literature searches" in json.dumps(body):
        return NOT_JSON[0]
    return Reply.error(401, f"Incorrect API key provided: {KEY}")


def _files_text(home: Path, out: Path) -> dict[str, bytes]:
    files = {p: p.read_bytes() for p in [*home.rglob("*"), *out.rglob("*")] if p.is_file()}
    return {str(p): b for p, b in files.items()}


def test_llm_run_against_a_broken_server_writes_a_report_without_the_key(fake_openai, tmp_path, monkeypatch):
    """The issue's run: `retest run --judge llm` against a server answering HTML and echoing the key. It
    finishes (exit 0) with both reports and the fallback flag, and the key is in no file it wrote."""
    from retest.cli import app

    monkeypatch.chdir(tmp_path)
    claims = tmp_path / "c.yaml"
    claims.write_text("claims:\n  - text: Direct preference optimisation matches RLHF on dialogue\n"
                      "    date: 2024\n", encoding="utf-8")
    fake_openai.handler = key_echo_handler
    home, out = tmp_path / "home", tmp_path / "out"
    env = {"OPENAI_BASE_URL": fake_openai.url, "OPENAI_API_KEY": KEY, "RETEST_MODEL": "fake",
           "RETEST_HOME": str(home)}
    r = CliRunner().invoke(app, ["run", str(claims), "--judge", "llm", "--source", "snapshot", "--out", str(out),
                                 "-q"], env=env)
    assert r.exit_code == 0, r.output
    assert len(fake_openai.requests) >= 2
    rep = json.loads((out / "report.json").read_text())
    codes = {f["code"] for c in rep["claims"] for f in c["flags"]}
    assert "llm_unavailable" in codes, codes
    written = _files_text(home, out)
    assert any(p.endswith("checkpoints.sqlite") for p in written)
    leaked = [p for p, b in written.items() if KEY.encode() in b]
    assert not leaked, leaked
    assert KEY not in r.output
    assert "[redacted]" in (out / "report.json").read_text() + (out / "report.md").read_text()


def test_chat_history_never_holds_the_key(fake_openai, tmp_path):
    from retest.chat.session import ChatSession

    s = Settings(home=tmp_path / "home", source="snapshot", judge="baseline", model="fake",
                 openai_api_key=KEY, openai_base_url=fake_openai.url, as_of=date(2026, 11, 26), _env_file=None)
    session = ChatSession(s, "keyed", chat_model=OpenAIChatModel("fake", api_key=KEY, base_url=fake_openai.url,
                                                                 timeout=5, backoff=0.01, max_attempts=1))
    fake_openai.push(Reply.error(401, f"Incorrect API key provided: {KEY}"))
    reply = session.handle(f"what do you make of my key {KEY} and of alignment research")
    assert reply.kind == "help" and KEY not in reply.text
    stored = session.path.read_text(encoding="utf-8")
    assert KEY not in stored and "[redacted]" in stored


# ------------------------------------------------------------------------------------------------
# chat LLM mode: no traceback


@pytest.mark.parametrize("reply", [NOT_JSON[0], NOT_JSON[1], Reply.error(500, "boom")], ids=["html", "binary", "500"])
def test_chat_llm_mode_with_a_broken_server_prints_no_traceback(fake_openai, tmp_path, reply):
    fake_openai.handler = lambda body: reply
    env = subprocess_env(tmp_path / "home", OPENAI_BASE_URL=fake_openai.url, RETEST_MODEL="fake",
                         RETEST_LLM_TIMEOUT="5")
    env.pop("RETEST_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "retest.cli", "chat", "--thread", "broken"], cwd=ROOT, env=env,
                       input="tell me something about alignment research\n/claims\n/quit\n", capture_output=True,
                       text=True, timeout=240)
    both = r.stdout + r.stderr
    assert r.returncode == 0, both[-3000:]
    assert "Traceback" not in both, both[-3000:]
    assert "the model could not answer" in r.stdout
    assert "No claims yet" in r.stdout  # the session went on after the failure
    assert fake_openai.requests, "the free-text message should have gone to the model"


# ------------------------------------------------------------------------------------------------
# a dead server is asked once per cooldown, not once per claim


def test_a_server_that_failed_every_attempt_is_not_asked_again_at_once(fake_openai):
    m = model(fake_openai, max_attempts=2, cooldown=60)
    fake_openai.push(*[Reply.error(500, "down")] * 6)
    with pytest.raises(LLMError, match="HTTP 500"):
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    assert len(fake_openai.requests) == 2
    with pytest.raises(LLMError, match="not asked again"):
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    with pytest.raises(LLMError, match="not asked again"):
        m.complete_tools(MSGS, [])
    assert len(fake_openai.requests) == 2  # nothing sent while the server is marked down


def test_after_the_cooldown_the_server_is_asked_again(fake_openai):
    m = model(fake_openai, max_attempts=1, cooldown=0)
    fake_openai.push(Reply.error(503, "busy"), Reply.json({"ok": True}))
    with pytest.raises(LLMError):
        m.complete_json(MSGS, {"type": "object"}, "verdict")
    assert m.complete_json(MSGS, {"type": "object"}, "verdict") == {"ok": True}
