"""`retest serve` hardening (issue 13): a request body limit (413) and 422s that never echo the body; a
Last-Event-ID clamped to the job's events; `Host: testserver` only when a test asks for it; stored replies
rendered like live ones after a reload; bidi controls shown as markers. No claim is run: the session is
filled directly, and only /help and /why are asked."""
from __future__ import annotations

import json
from datetime import date

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from agent.configuration import Settings  # noqa: E402
from claims.models import Citation, Claim, ClaimResult, Stance, VerdictLabel  # noqa: E402

RLO = "\u202e"


def make_app(tmp_path, **kw):
    from retest.web import create_app
    from retest.web.app import LOOPBACK_HOSTS, TEST_CLIENT_HOST

    settings = Settings(home=tmp_path / "home", source="snapshot", as_of=date(2026, 11, 26), _env_file=None)
    kw.setdefault("allowed_hosts", [*LOOPBACK_HOSTS, TEST_CLIENT_HOST])
    return create_app(settings, thread="hard", **kw)


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path)) as c:
        yield c


def events(client, url: str, headers: dict | None = None) -> list[tuple[int, str, dict]]:
    out, eid, name = [], None, None
    with client.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("id: "):
                eid = int(line[4:])
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((eid, name, json.loads(line[6:])))
                if name == "done":
                    break
    return out


def finished_job(client) -> str:
    r = client.post("/api/chat", json={"message": "/help"})
    assert r.status_code == 202
    url = r.json()["events"]
    events(client, url)
    return url


def test_testserver_host_is_refused_unless_a_test_asks(tmp_path):
    app = make_app(tmp_path, allowed_hosts=None)
    with TestClient(app) as c:
        assert c.get("/").status_code == 400  # Host: testserver
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/").status_code == 200


def test_large_body_is_413_and_never_echoed(client):
    big = json.dumps({"message": "A" * 300_000})
    r = client.post("/api/chat", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 200 and "AAAA" not in r.text

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(40):
            yield b"B" * 4096

    r = client.post("/api/chat", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "BBBB" not in r.text


def test_422_names_the_problem_without_echoing_the_body(client):
    r = client.post("/api/chat", json={"message": "C" * 5000})
    assert r.status_code == 422
    assert "CCCC" not in r.text and len(r.content) < 1000
    assert "message" in r.json()["error"]
    r = client.post("/api/chat", content=b'{"message": "DDDD' + b"D" * 3000, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "DDDD" not in r.text
    assert client.post("/api/chat", json={"message": ""}).status_code == 422


@pytest.mark.parametrize("last, first", [("-5", 0), ("-1", 0), ("abc", 0), ("1", 2), ("99999999999999999999", None)])
def test_last_event_id_is_clamped(client, last, first):
    url = finished_job(client)
    all_events = events(client, url)
    n = len(all_events)
    got = events(client, url, {"Last-Event-ID": last}) if first is not None else []
    ids = [e for e, _, _ in got]
    assert ids == sorted(set(ids)), ids  # never a replay
    if first is None:
        with client.stream("GET", url, headers={"Last-Event-ID": last}) as r:
            body = "".join(r.iter_lines())
        assert "event:" not in body
    else:
        assert ids == list(range(first, n))


def stored_result(text: str = "Sparse experts saturate at a few hundred experts") -> ClaimResult:
    return ClaimResult(
        id="c1", text=text, claim_date="2022", verdict=VerdictLabel.weakened, confidence=0.7,
        rationale="A newer paper scales to a million experts.", judge="test",
        citations=[Citation(arxiv_id="2407.04153", title="Mixture of A Million Experts",
                            quote="quality keeps improving up to a million experts", stance=Stance.contradicts,
                            published=date(2024, 7, 4))])


def test_stored_replies_render_like_live_ones_after_a_reload(tmp_path):
    app = make_app(tmp_path)
    session = app.state.session
    r = stored_result()
    session.claims.append(Claim(id="c1", text=r.text, claim_date=r.claim_date))
    session.results["c1"] = r
    with TestClient(app) as c:
        live = [d for _, n, d in events(c, c.post("/api/chat", json={"message": "/why 1"}).json()["events"])
                if n == "reply"][0]
        events(c, c.post("/api/chat", json={"message": "/claims"}).json()["events"])
    assert 'class="verdict v-weakened"' in live["html"]
    # a fresh app over the same conversation: what a reload shows
    with TestClient(make_app(tmp_path)) as c:
        page = c.get("/").text
    assert 'class="verdict v-weakened"' in page
    assert 'href="https://arxiv.org/abs/2407.04153"' in page
    assert 'class="msg assistant reply kind-why"' in page and 'class="msg assistant reply kind-claims"' in page
    assert live["html"].strip() in page


def test_bidi_controls_are_markers_on_pages_and_in_events(tmp_path):
    app = make_app(tmp_path)
    session = app.state.session
    r = stored_result(f"Safety {RLO}exe.txt evaluations hold for large models")
    session.claims.append(Claim(id="c1", text=r.text, claim_date=r.claim_date))
    session.results["c1"] = r
    with TestClient(app) as c:
        evs = events(c, c.post("/api/chat", json={"message": f"/why 1 {RLO}"}).json()["events"])
        evs += events(c, c.post("/api/chat", json={"message": "/why 1"}).json()["events"])
        raw = json.dumps([d for _, _, d in evs], ensure_ascii=False)
        assert RLO not in raw and "&lt;U+202E&gt;exe.txt" in raw
        for path in ("/", "/claims"):
            page = c.get(path).text
            assert RLO not in page and "&lt;U+202E&gt;" in page
