"""LLM verdicts stand only on verified evidence; rejected citations are listed apart (end to end, with
the scripted fake OpenAI server on loopback), and the offline verdict is kept beside the model's."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from datetime import date

import pytest

from agent.verification import ground_verdict, opposite_verdicts, partition_citations
from claims.models import Citation, Claim, Paper, SecondOpinion, Stance, Verdict, VerdictLabel
from tests.conftest import EXAMPLE, subprocess_env
from tests.fake_openai import Reply, format_name, system_text, user_text

_CLAIM_RE = re.compile(r"^Claim \([^)]*\): (.*)$", re.M)
_PAPER_RE = re.compile(r"^\[(P\d+)\] arXiv:(\S+) · (\S+) · ([^·]+?) · ", re.M)


def sentences(text: str) -> dict[str, str]:
    out = dict(re.findall(r"^\[(S\d+)\] [^\n]*\n([^\n]*)$", text, flags=re.M))
    out.update(re.findall(r"^\[(P\d+\.\d+)\] ([^\n]*)$", text, flags=re.M))
    return out


def plan(body) -> Reply:
    words = re.findall(r"[A-Za-z][A-Za-z\-]{3,}", _CLAIM_RE.search(user_text(body)).group(1))
    return Reply.json({"queries": [{"text": " ".join(words[:6]), "field": "all", "newer_only": True}]})


def answer(label: str, cites: list[dict]) -> Reply:
    return Reply.json({"label": label, "confidence": 0.9, "rationale": "As cited.", "citations": cites,
                       "durable_question": "Q?", "perishable_limitation": "L.",
                       "follow_up_questions": ["A?", "B?"]})


def fabricating(body) -> Reply:
    """Cites one unknown key and one real key with a sentence its paper never wrote."""
    if (format_name(body) or ("plan" if "plan literature" in system_text(body) else "verdict")) == "plan":
        return plan(body)
    ks = sentences(user_text(body))
    real = next(iter(ks), "S1")
    return answer("holds", [{"key": "E999", "quote": "A result no paper reports.", "stance": "supports"},
                            {"key": real, "quote": "This paper proves the claim beyond doubt.", "stance": "supports"}])


def faithful(body) -> Reply:
    """Cites the first newer paper's first sentence, verbatim, as contradicting: a grounded `weakened`."""
    if (format_name(body) or ("plan" if "plan literature" in system_text(body) else "verdict")) == "plan":
        return plan(body)
    text = user_text(body)
    ks = sentences(text)
    newer = [k for k, _, _, rel in _PAPER_RE.findall(text) if rel.startswith("NEWER")]
    if not newer:
        return answer("unresolved", [])
    k = f"{newer[0]}.1"
    return answer("weakened", [{"key": k, "quote": ks[k], "stance": "contradicts"}])


def run_example(home, out, url: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = subprocess_env(home, OPENAI_BASE_URL=url, RETEST_MODEL="fake", RETEST_LLM_TIMEOUT="5")
    return subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--judge", "llm", "--out",
                           str(out), "-q"], capture_output=True, text=True, timeout=timeout, env=env)


def test_a_fabricating_model_grounds_no_verdict(fake_openai, tmp_path):
    fake_openai.handler = fabricating
    r = run_example(tmp_path / "home", tmp_path / "out", fake_openai.url)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    md = (tmp_path / "out" / "report.md").read_text()
    for c in rep["claims"]:
        codes = [f["code"] for f in c["flags"]]
        assert "verdict_ungrounded" in codes, c["id"]
        assert "said holds" in next(f["detail"] for f in c["flags"] if f["code"] == "verdict_ungrounded")
        quotes = {x["quote"] for x in c["citations"] + c["supporting"] + c["contradicting_newer"]}
        assert "A result no paper reports." not in quotes and "This paper proves the claim beyond doubt." not in quotes
        rej = {x["quote"]: x for x in c["rejected_citations"]}
        assert rej["A result no paper reports."]["reasons"] == ["citation_not_found"]
        assert rej["A result no paper reports."]["resolves"] is False
        assert "quote_not_in_source" in rej["This paper proves the claim beyond doubt."]["reasons"]
        # the verdict is the offline judge's (kept beside it) or unresolved, never the model's unbacked `holds`
        assert c["offline_verdict"] is not None
        assert c["verdict"] in (c["offline_verdict"]["label"], "unresolved")
        assert c["confidence"] <= c["offline_verdict"]["confidence"] + 1e-9
    assert "### Rejected citations" in md
    assert "https://arxiv.org/abs/unknown-key" not in md and "(no such record)" in md


def test_a_faithful_model_passes_through_unchanged(fake_openai, tmp_path):
    fake_openai.handler = faithful
    r = run_example(tmp_path / "home", tmp_path / "out", fake_openai.url)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    for c in rep["claims"]:
        codes = {f["code"] for f in c["flags"]}
        assert not codes & {"verdict_ungrounded", "citation_not_found", "quote_not_in_source"}, (c["id"], codes)
        assert c["rejected_citations"] == []
        if c["citations"]:
            assert c["verdict"] == "weakened" and c["confidence"] == 0.9
            assert c["contradicting_newer"] and c["judge"].startswith("llm")
    # the model's verified stances become paper-level training pairs (distillation)
    pairs = tmp_path / "pairs.jsonl"
    e = subprocess.run([sys.executable, "-m", "retest.cli", "export-pairs", str(tmp_path / "out" / "report.json"),
                        "--out", str(pairs)], capture_output=True, text=True, timeout=300,
                       env=subprocess_env(tmp_path / "home"))
    assert e.returncode == 0, e.stderr[-2000:]
    rows = [json.loads(x) for x in pairs.read_text().splitlines()]
    assert len(rows) == sum(1 for c in rep["claims"] for x in c["citations"] if x["stance"] != "neither")
    assert all(r["label"] == "contradicts" and " ".join(r["rationale"].split()) in " ".join(r["abstract"].split())
               for r in rows)


def test_a_closed_port_finishes_with_offline_verdicts(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = run_example(tmp_path / "home", tmp_path / "out", f"http://127.0.0.1:{port}/v1", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    for c in rep["claims"]:
        assert "llm_unavailable" in {f["code"] for f in c["flags"]}
        assert "fallback" in c["judge"]


# ------------------------------------------------------------------------------------------------ unit


CLAIM = Claim(id="c1", text="Experts saturate at 256.", claim_date="2022-06")
NEW = Paper(arxiv_id="2403.00002", title="Million experts", abstract="Quality keeps improving to a million experts.",
            published=date(2024, 3, 1))
OLD = Paper(arxiv_id="2101.00004", title="Switch", abstract="We route each token to one expert.",
            published=date(2021, 1, 11))
PAPERS = {p.arxiv_id: p for p in (NEW, OLD)}


def cite(p: Paper, stance: Stance, quote: str | None = None) -> Citation:
    return Citation(arxiv_id=p.arxiv_id, title=p.title, quote=quote or p.abstract, stance=stance)


def gate(label: VerdictLabel, cites: list[Citation], fallback: SecondOpinion | None = None):
    ok, rej, _ = partition_citations(CLAIM, cites, PAPERS, date(2022, 6, 1))
    return ground_verdict(CLAIM, label, 0.9, "llm", ok, rej, date(2022, 6, 1), None, fallback, PAPERS)


def test_weakened_needs_newer_verified_contradiction():
    assert gate(VerdictLabel.weakened, [cite(NEW, Stance.contradicts)])[0] is VerdictLabel.weakened
    # real and verbatim, but older than the claim: not evidence against it
    label, conf, _, flags = gate(VerdictLabel.weakened, [cite(OLD, Stance.contradicts)])
    assert label is VerdictLabel.unresolved and conf == 0.0 and flags[0].code == "verdict_ungrounded"
    fb = SecondOpinion(label=VerdictLabel.weakened, confidence=0.6, judge="offline",
                       citations=[cite(NEW, Stance.contradicts)])
    label, conf, cites, _ = gate(VerdictLabel.superseded, [cite(OLD, Stance.contradicts, "Invented.")], fb)
    assert label is VerdictLabel.weakened and conf == 0.6 and [c.arxiv_id for c in cites] == [NEW.arxiv_id]


def test_opposite_sides_raise_judge_disagreement_with_both_verdicts():
    v = Verdict(label=VerdictLabel.holds, confidence=0.8, rationale="r", judge="llm v2 (m)",
                second_opinion=SecondOpinion(label=VerdictLabel.weakened, confidence=0.7, judge="offline"))
    (f,) = opposite_verdicts(CLAIM, v)
    assert f.code == "judge_disagreement" and "holds" in f.detail and "weakened" in f.detail
    same = v.model_copy(update={"label": VerdictLabel.superseded})
    assert opposite_verdicts(CLAIM, same) == []


@pytest.mark.parametrize("label", [VerdictLabel.unresolved])
def test_unresolved_needs_nothing(label):
    assert gate(label, [])[3] == []
