"""A claim rests on a paper written before it: source linking respects dates and the names a claim uses."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.configuration import Settings
from agent.runner import open_services, run_claims
from claims.readers import read_claims

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "cases" / "scaling-and-emergence" / "papers.jsonl"


def link(d: Path, claims_yaml: str, corpus: Path):
    """Run the graph (baseline judge) on a claims file over a corpus; the report."""
    f = d / "claims.yaml"
    f.write_text(claims_yaml)
    settings = Settings(home=d / "home", source="snapshot", snapshot=corpus, judge="baseline")
    with open_services(settings) as svc:
        return run_claims(read_claims(f), settings, svc, resume=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return link(
        tmp_path_factory.mktemp("linking"),
        "claims:\n"
        "  - text: Kaplan-style scaling laws say compute-efficient training should put most of a growing budget"
        " into model size and stop well before convergence\n"
        "    date: 2020\n"
        "  - text: Compute-optimal training scales parameters and tokens equally, about 20 tokens per parameter\n"
        "    date: 2022\n"
        "anchors:\n"
        "  - id: 2203.15556\n"
        "    title: Training Compute-Optimal Large Language Models\n"
        "    year: 2022\n",
        CORPUS)


def test_a_2020_claim_is_not_linked_to_a_2022_anchor_when_the_2020_paper_exists(report):
    kaplan = report.claims[0]
    assert kaplan.source is not None and kaplan.source.arxiv_id == "2001.08361", kaplan.source
    assert "source_date_mismatch" not in {f.code for f in kaplan.flags}


def test_the_anchor_still_serves_the_claim_it_fits(report):
    chinchilla = report.claims[1]
    assert chinchilla.source is not None and chinchilla.source.arxiv_id == "2203.15556"


def test_a_method_named_only_in_its_papers_abstract_links_that_paper(tmp_path):
    """"LTSF-Linear" is named in the abstract of the paper that introduces it, not in its title; a topical
    anchor whose title shares more of the claim's words ("Transformer … Time-Series Forecasting") must
    not take its place."""
    rep = link(
        tmp_path,
        "claims:\n"
        "  - text: Embarrassingly simple one-layer linear models (LTSF-Linear) outperform the sophisticated"
        " Transformer-based long-term time-series forecasting models on nine real-life datasets\n"
        "    date: 2022\n"
        "anchors:\n"
        "  - id: 2012.07436\n"
        "    title: 'Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting'\n"
        "    year: 2020\n"
        "  - id: 2205.13504\n"
        "    title: Are Transformers Effective for Time Series Forecasting?\n"
        "    year: 2022\n",
        ROOT / "data" / "cases" / "time-series-forecasting" / "papers.jsonl")
    src = rep.claims[0].source
    assert src is not None and src.arxiv_id == "2205.13504", src
    informer = next(a for a in rep.anchors if a.arxiv_id == "2012.07436")
    assert "anchor_unused" in {fl.code for fl in informer.flags}
