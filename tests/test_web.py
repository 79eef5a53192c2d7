"""API tests for `retest serve` (FastAPI TestClient): a claim posted, its progress consumed over SSE,
the verdict with arXiv links on /claims, escaping of user and paper text, report download."""
from __future__ import annotations

import json
import re
from datetime import date

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from agent.configuration import Settings  # noqa: E402
from claims.models import Citation, Claim, ClaimResult, Report, Stance, VerdictLabel  # noqa: E402

XSS = "<script>alert(1)</script>"
CLAIM = f"LIMA {XSS}: 1,000 curated examples suffice for alignment (2023)"
VERDICTS = {v.value for v in VerdictLabel}
ARXIV_HREF = re.compile(r'href="https://arxiv\.org/abs/(\d{4}\.\d{4,5})"')


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from retest.web import create_app
    from retest.web.app import LOOPBACK_HOSTS, TEST_CLIENT_HOST

    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, source="snapshot", as_of=date(2026, 11, 26), _env_file=None)
    app = create_app(settings, thread="webtest", allowed_hosts=[*LOOPBACK_HOSTS, TEST_CLIENT_HOST])
    with TestClient(app) as c:
        yield c


def post(client, message: str) -> str:
    r = client.post("/api/chat", json={"message": message})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["events"] == f"/api/events/{body['job']}"
    return body["events"]


def consume(client, url: str) -> list[tuple[str, dict]]:
    """Read the SSE stream until its `done` event."""
    events: list[tuple[str, dict]] = []
    name = None
    with client.stream("GET", url) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
                if name == "done":
                    break
    return events


def ask(client, message: str) -> dict:
    events = consume(client, post(client, message))
    replies = [d for n, d in events if n == "reply"]
    assert len(replies) == 1, events
    return replies[0]


@pytest.fixture(scope="module")
def claim_run(client):
    url = post(client, CLAIM)
    busy = client.post("/api/chat", json={"message": "/claims"})  # one run at a time
    events = consume(client, url)
    return busy, events


def test_claim_streams_progress_then_verdict(claim_run):
    busy, events = claim_run
    assert busy.status_code == 409 and "in progress" in busy.json()["error"]
    names = [n for n, _ in events]
    assert names[-1] == "done" and "failed" not in names
    progress = [d for n, d in events if n == "progress"]
    steps = {d["step"] for d in progress}
    assert {"start", "search", "verdict"} <= steps, steps
    assert names.index("progress") < names.index("reply")
    reply = next(d for n, d in events if n == "reply")
    assert reply["kind"] == "result"
    assert re.search(r"Verdict: ({})".format("|".join(VERDICTS)), reply["text"])
    assert ARXIV_HREF.search(reply["html"]), reply["html"][:500]
    assert "2305.11206" in reply["html"]  # LIMA found as the source paper
    # the claim text came back escaped, never as markup
    assert XSS not in reply["html"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in reply["html"]


def test_claims_page_shows_verdict_and_links(client, claim_run):
    page = client.get("/claims")
    assert page.status_code == 200
    html = page.text
    assert any(f"v-{v}" in html for v in VERDICTS)
    assert len(ARXIV_HREF.findall(html)) >= 2
    assert XSS not in html and "&lt;script&gt;" in html
    data = client.get("/api/claims").json()
    assert data["claims"][0]["result"]["verdict"] in VERDICTS
    assert data["claims"][0]["text"].startswith("LIMA <script>")  # JSON keeps the text as typed


def test_why_claims_new_commands(client, claim_run):
    why = ask(client, "why was claim 1 unresolved?")
    assert why["kind"] == "why" and ARXIV_HREF.search(why["html"])
    assert "<blockquote>" in why["html"] or "Source paper" in why["html"]
    claims = ask(client, "/claims")
    assert claims["kind"] == "claims" and "<table" in claims["html"]
    new = ask(client, "/new instruction tuning data --since 2026-06")
    assert new["kind"] == "new" and "since 2026-06-01" in new["text"]
    for aid in ARXIV_HREF.findall(new["html"]):
        assert aid >= "2606"
    none = ask(client, "/why 7")
    assert none["kind"] == "error" and "no claim 7" in none["text"]
    exp = ask(client, "/export /tmp/should-not-write")
    assert exp["kind"] == "error" and "download" in exp["text"]


def test_report_download(client, claim_run):
    md = client.get("/report.md")
    assert md.status_code == 200 and "attachment" in md.headers["content-disposition"]
    assert md.text.startswith("# retest report") and "https://arxiv.org/abs/" in md.text
    assert XSS not in md.text  # the markdown renderer neutralises markup too
    js = client.get("/report.json")
    assert js.status_code == 200
    rep = Report.model_validate_json(js.text)
    assert rep.claims and rep.claims[0].verdict.value in VERDICTS
    assert ask(client, "/report")["kind"] == "report"


def test_user_and_paper_text_is_escaped(client, claim_run):
    bad = ask(client, f"/{XSS}")
    assert bad["kind"] == "error"
    assert XSS not in bad["html"] and "&lt;script&gt;" in bad["html"]
    page = client.get("/").text
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # paper text (titles, quotes) is as untrusted as user text: plant a hostile stored result
    session = client.app.state.session
    evil = '"><img src=x onerror=alert(2)>'
    claim = Claim(id="c99", text=f"planted {evil}", claim_date="2024")
    session.claims.append(claim)
    session.results["c99"] = ClaimResult(
        id="c99", text=claim.text, claim_date="2024", verdict=VerdictLabel.weakened, confidence=0.5,
        rationale=f"because {XSS}", judge="test",
        citations=[Citation(arxiv_id="2401.00001", title=f"T {evil}", quote=f"Q {XSS}", stance=Stance.contradicts)])
    try:
        html = client.get("/claims").text
        assert "<img src=x" not in html and XSS not in html
        assert "&lt;img src=x onerror=alert(2)&gt;" in html
        why = ask(client, f"/why {len(session.claims)}")
        assert "<img src=x" not in why["html"] and XSS not in why["html"]
    finally:
        session.claims.remove(claim)
        session.results.pop("c99")
        session.save()


def test_security_headers_and_host_guard(client):
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.post("/api/chat", json={"message": ""}).status_code == 422
    assert client.get("/api/events/nope").status_code == 404
