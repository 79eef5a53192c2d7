"""`retest chat` driven through a pseudo-terminal (pexpect): one claim, then `/why 1`; then the
conversation resumed with --thread, and the same face on a pipe (stdin not a TTY)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date

import pytest

from retest.chat.grammar import ChatError, parse_message

pexpect = pytest.importorskip("pexpect")

PROMPT = "you›"
VERDICT = r"Verdict: (holds|weakened|superseded|unresolved)"
ARXIV = r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})"


def _env(home) -> dict:
    env = dict(os.environ, RETEST_SOURCE="snapshot", RETEST_AS_OF="2026-11-26", RETEST_HOME=str(home),
               NO_COLOR="1", TERM="dumb", COLUMNS="200", PYTHONIOENCODING="utf-8")
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


def _cmd(home, *extra) -> list[str]:
    return ["-m", "retest.cli", "chat", "--source", "snapshot", "--home", str(home), "--as-of", "2026-11-26", *extra]


def test_chat_claim_and_why_in_a_pty(tmp_path):
    home = tmp_path / "home"
    child = pexpect.spawn(sys.executable, _cmd(home, "--thread", "pty"), env=_env(home), encoding="utf-8",
                          timeout=240, dimensions=(50, 200), cwd=os.getcwd())
    try:
        child.expect(r"retest chat\s+—\s+conversation\s+pty")
        child.expect(PROMPT)
        child.sendline("LIMA: 1,000 curated examples suffice for alignment (2023)")
        child.expect("re-testing claim 1")  # streamed progress, before the verdict
        child.expect(r"c1\s+search")
        child.expect(VERDICT)
        first = child.match.group(1)
        child.expect(PROMPT)
        child.sendline("/why 1")
        child.expect(r"Claim 1 \(c1\): LIMA")
        child.expect(VERDICT)
        assert child.match.group(1) == first
        child.expect(ARXIV)
        child.expect(PROMPT)
        child.sendline("/quit")
        child.expect("--thread pty")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert (home / "chat" / "pty.json").exists()

    # resume the conversation: its claims and verdicts are still there; stdin is a pipe this time
    out = subprocess.run([sys.executable, *_cmd(home, "--thread", "pty")], input="/claims\nwhy?\n",
                         capture_output=True, text=True, env=_env(home), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "resumed conversation" in out.stdout
    assert re.search(r"LIMA: 1,000 curated examples", out.stdout)
    assert re.search(VERDICT.replace("Verdict: ", ""), out.stdout)
    assert re.search(ARXIV, out.stdout)


def test_chat_bad_thread_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, *_cmd(tmp_path, "--thread", "../x")], input="", capture_output=True,
                         text=True, env=_env(tmp_path), timeout=60)
    assert out.returncode == 2 and "thread id" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("text,kind,arg", [
    ("LIMA: 1,000 curated examples suffice for alignment (2023)", "retest", ""),
    ("LIMA's 1,000 examples are enough — 2023", "retest", ""),
    ("why was claim 3 weakened?", "why", "3"),
    ("/why c2", "why", "2"),
    ("what is new on preference data since June", "new", "preference data"),
    ("/new reward models --since 2026-06-01", "new", "reward models"),
    ("/claims", "claims", ""), ("show the report", "report", ""), ("/export out", "export", "out"),
    ("/help", "help", ""), ("hello there", "unknown", "hello there"), ("/quit", "quit", ""),
])
def test_grammar(text, kind, arg):
    i = parse_message(text, date(2026, 11, 26))
    assert i.kind == kind
    if kind == "retest":
        assert i.claim.claim_date == "2023" and i.claim.text.endswith(("alignment", "enough"))
    else:
        assert i.arg == arg
    if text.endswith("since June"):
        assert i.since == date(2026, 6, 1)


def test_grammar_errors():
    for bad in ("/why x", "/new --since 2026", "/frobnicate", "/new topic --since someday", "/retest no date"):
        with pytest.raises(ChatError):
            parse_message(bad, date(2026, 11, 26))
