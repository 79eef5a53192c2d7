"""Input readers: the research-prompt markdown shape and YAML/JSON claim files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.readers import InputError, read_claims, read_markdown

EXAMPLE = Path(__file__).resolve().parents[1] / "claims" / "examples" / "multi-dimensional-alignment.md"


def test_example_prompt_reads_five_claims_and_four_anchors():
    cs = read_claims(EXAMPLE)
    assert [c.claim_date for c in cs.claims] == ["2025", "2024", "2026", "2024", "2024"]
    assert cs.claims[3].text.startswith("LIMA: 1000 curated examples")
    assert [a.arxiv_id for a in cs.anchors] == ["2505.22907", "2510.22954", "2410.11163", "2410.08020"]
    assert cs.anchors[1].year == 2026 and cs.anchors[1].title.startswith("Artificial Hivemind")
    assert cs.question and cs.question.endswith("trade off?")
    assert any("RE-TEST" in a for a in cs.asks)


def test_claim_without_date_names_file_and_line(tmp_path):
    p = tmp_path / "c.md"
    p.write_text("intro\n\nWhat a curated library found — and when\n- A dated claim (2024).\n- An undated claim.\n")
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert ei.value.line == 5 and "no date" in ei.value.message and str(p) in ei.value.one_line()


def test_no_claims_found(tmp_path):
    p = tmp_path / "empty.md"
    p.write_text("# Nothing here\n\nJust prose.\n")
    with pytest.raises(InputError, match="no claims found"):
        read_claims(p)


def test_malformed_anchor_id(tmp_path):
    p = tmp_path / "c.md"
    p.write_text("What a curated library found:\n- X holds (2024).\n\nAnchor papers:\n- arXiv:24a1.0001 (2024) — T\n")
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert ei.value.line == 5 and "malformed arXiv id" in ei.value.message


def test_yaml_claims_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "question: Does curation beat scale?\n"
        "claims:\n"
        "  - id: lima\n    text: 1,000 curated examples suffice for alignment\n    date: 2024\n"
        "    anchors: [arXiv:2305.11206v2]\n"
        "  - text: Proxy-tuning closes most of the gap\n    date: 2024-01-16\n"
        "anchors:\n  - id: 2305.11206\n    title: 'LIMA: Less Is More for Alignment'\n    year: 2023\n"
    )
    cs = read_claims(p)
    assert [c.id for c in cs.claims] == ["lima", "c2"]
    assert cs.claims[0].anchors == ["2305.11206"] and cs.claims[1].claim_date == "2024-01-16"
    assert cs.anchors[0].year == 2023


def test_broken_yaml_reports_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("claims:\n  - text: a\n    date: 2024\n  - text: [unclosed\n")
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert "broken YAML" in ei.value.message and ei.value.line is not None


def test_yaml_bad_date_and_bad_id_report_the_claim_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("claims:\n  - text: ok\n    date: 2024\n  - text: bad\n    date: last year\n")
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert ei.value.line == 4 and "claim 2" in ei.value.message
    p.write_text("claims:\n  - text: ok\n    date: 2024\n    anchors: [not-an-id]\n")
    with pytest.raises(InputError, match="malformed arXiv id"):
        read_claims(p)


def test_json_claims_and_broken_json(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"claims": [{"text": "t", "claim_date": "2023-05"}]}))
    assert read_claims(p).claims[0].claim_date == "2023-05"
    p.write_text('{"claims": [\n  {"text": "t",}\n]}')
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert ei.value.line == 2


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_claims(tmp_path / "missing.md")
    p = tmp_path / "bin.md"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        read_claims(p)


def test_cli_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    p = tmp_path / "c.md"
    p.write_text("What a curated library found\n- no date here\n")
    r = subprocess.run([sys.executable, "-m", "retest.cli", "run", str(p), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{p}:2" in r.stderr and "no date" in r.stderr


# --- property tests -----------------------------------------------------------------------------

_words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x24F),
                 min_size=1, max_size=12)
_claim_text = st.lists(_words, min_size=1, max_size=12).map(" ".join).filter(lambda s: s.strip() == s)
_year = st.integers(min_value=1990, max_value=2099)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_claim_text, _year), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(1000, 9999), st.integers(10000, 99999), _year, _claim_text), max_size=5))
def test_markdown_round_trip(claims, anchors):
    lines = ["Some page furniture", "", "What a curated library found — and when (dated claims):",
             "Findings span many years; treat as a baseline."]
    lines += [f"- {t} ({y})." for t, y in claims]
    lines += ["", "Anchor papers (verify; mind their dates):"]
    lines += [f"- arXiv:{a:04d}.{b:05d} ({y}) — {t}" for a, b, y, t in anchors]
    lines += ["", "Your task:", "(1) re-test"]
    cs = read_markdown(Path("gen.md"), "\n".join(lines))
    assert [(c.text, int(c.claim_date)) for c in cs.claims] == [(t.rstrip(" .;,"), y) for t, y in claims]
    uniq = list(dict.fromkeys(f"{a:04d}.{b:05d}" for a, b, _, _ in anchors))
    assert [a.arxiv_id for a in cs.anchors] == uniq


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_markdown_reader_never_crashes_on_arbitrary_text(text):
    try:
        read_markdown(Path("x.md"), text)
    except InputError:
        pass
