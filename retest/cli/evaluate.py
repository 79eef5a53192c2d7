"""`retest eval …` (a command group): measure the judges and the verifiers — `claims` (a judge on a
dated-claims case, through the whole graph), `papers` (the paper-level stance model), `scifact` and
`pairs` (the sentence-level verifier). Bad input exits with status 2 and one line naming the file, the
line and what to do."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from claims.errors import InputError
from retest.cli.app import app
from retest.errors import fail, guarded, need_file
from retest.options import JsonOpt, parse_as_of

evaluate = typer.Typer(help="Evaluate the offline claim verifier.", no_args_is_help=True)
app.add_typer(evaluate, name="eval")


@evaluate.command("pairs")
def eval_pairs_cmd(
    file: Path = typer.Argument(..., help='JSONL of {"claim", "evidence_sentence", "stance"}'),
    as_json: JsonOpt = False,
) -> None:
    """Sentence-level accuracy / macro-F1 of the verifier on a pairs file."""

    def go() -> None:
        from tools.verifier.data import read_user_pairs
        from tools.verifier.evaluate import eval_pairs

        need_file(file, "pairs file")
        read_user_pairs(file)  # validate before loading the model (a bad line: InputError, exit 2)
        _print(eval_pairs(_load_verifier(), file), as_json, f"pairs {file}")

    guarded(go)


@evaluate.command("scifact")
def eval_scifact_cmd(
    claims: Path = typer.Option(..., "--claims", help="SciFact claims JSONL"),
    corpus: Path = typer.Option(..., "--corpus", help="SciFact corpus JSONL"),
    setting: str = typer.Option("oracle", "--setting", help="oracle | open"),
    ids: Path | None = typer.Option(
        None, "--ids", help="JSON list of claim ids to keep (e.g. scifact_val_ids.json)"
    ),
    k: int = typer.Option(3, "--k", help="abstracts retrieved per claim (open)"),
    as_json: JsonOpt = False,
) -> None:
    """Claim-level SciFact metrics (SUPPORT / CONTRADICT / NOT ENOUGH INFO)."""

    def go() -> None:
        from tools.verifier.data import load_scifact_claims, load_scifact_corpus
        from tools.verifier.evaluate import eval_scifact

        if setting not in ("oracle", "open"):
            fail(f"--setting {setting!r}: use oracle or open")
        need_file(claims, "claims file")
        need_file(corpus, "corpus file")
        keep = _read_ids(ids) if ids else None
        try:
            load_scifact_claims(claims)
            load_scifact_corpus(corpus)
            rep = eval_scifact(_load_verifier(), claims, corpus, setting=setting, ids=keep, k=k)
        except InputError:  # a bad line: its own file:line message (exit 2)
            raise
        except (KeyError, TypeError, ValueError) as e:
            fail(f"{claims}: unexpected SciFact record ({e}) — pass SciFact's claims and corpus JSONL")
        _print(rep, as_json, f"SciFact {setting}")

    guarded(go)


@evaluate.command("claims")
def eval_claims_cmd(
    file: Path = typer.Argument(..., help="a dated-claims case's claims file (claims.md)"),
    labels: Path = typer.Option(..., "--labels", help="its labels.json (expected verdicts, against/supporting)"),
    paper_labels: Path | None = typer.Option(
        None, "--paper-labels", help="its (finding, paper) labels (default: paper_labels.jsonl beside --labels)"),
    snapshot: Path | None = typer.Option(
        None, "--snapshot", help="the corpus to search (default: papers.jsonl beside FILE)"),
    judge: str = typer.Option("offline", "--judge", help="llm | offline | baseline"),
    as_of: str | None = typer.Option(None, "--as-of", help="the 'today' of the run, YYYY-MM-DD"),
    as_json: JsonOpt = False,
) -> None:
    """Score a judge on dated claims with known fates: verdict agreement, stance-citation precision,
    contradicting-work recall (runs the whole graph over the case's own corpus)."""

    def go() -> None:
        from retest.eval_claims import EvalInputError, read_labels, read_paper_labels, run_case

        need_file(file, "claims file")
        need_file(labels, "labels file")
        snap = snapshot or file.with_name("papers.jsonl")
        need_file(snap, "snapshot (papers.jsonl)")
        if judge not in ("llm", "offline", "baseline"):
            fail(f"--judge {judge!r}: use llm, offline or baseline")
        try:  # bad labels: one line, before any work
            read_labels(labels)
            read_paper_labels(paper_labels or labels.with_name("paper_labels.jsonl"))
            rep = run_case(file, labels, paper_labels, snapshot=snap, judge=judge, as_of=parse_as_of(as_of))
        except EvalInputError as e:
            fail(str(e))
        if as_json:
            sys.stdout.write(json.dumps(rep) + "\n")
            return
        _print_claims(rep)

    guarded(go)


@evaluate.command("papers")
def eval_papers_cmd(
    cases: list[Path] = typer.Argument(..., help="case folders (claims.md + papers.jsonl + paper_labels.jsonl)"),
    as_json: JsonOpt = False,
) -> None:
    """Paper-level stance figures of the offline model on (claim, whole abstract) labels."""

    def go() -> None:
        from agent.judges import paper as pj
        from tools.verifier.paper_model import PaperModelError, PaperModelMissing, load_default_paper_verifier
        from tools.verifier.training.paper_data import case_examples
        from tools.verifier.training.paper_eval import evaluate, predict_examples

        for c in cases:
            for f in ("claims.md", "papers.jsonl", "paper_labels.jsonl"):
                need_file(c / f, f"case file {f}")
        try:
            from agent.configuration import Settings

            model = load_default_paper_verifier(model_path=Settings().paper_model)
        except (PaperModelMissing, PaperModelError) as e:
            fail(str(e))
        ex = [e for c in cases for e in case_examples(c)]
        rep = evaluate(ex, predict_examples(model, ex), pj.CONTRA_T, pj.MARGIN)
        rep["labels"] = ["supports", "contradicts", "neither"]
        _print(rep, as_json, f"paper-level stance ({rep['rule']})")

    guarded(go)


def _load_verifier() -> Any:
    from tools.verifier.onnx_verifier import VerifierModelMissing, load_default_verifier

    try:
        return load_default_verifier()
    except VerifierModelMissing as e:
        fail(str(e))


def _read_ids(path: Path) -> list[int]:
    need_file(path, "ids file")
    try:
        obj = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        fail(f'{path}:{e.lineno}: not valid JSON ({e.msg}) — give a JSON list of claim ids or {{"claim_ids": [...]}}')
    ids = obj.get("claim_ids") if isinstance(obj, dict) else obj
    if not isinstance(ids, list):
        fail(f'{path}: expected a JSON list of claim ids or {{"claim_ids": [...]}}')
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        fail(f"{path}: claim ids must be integers")


def _print(rep: dict[str, Any], as_json: bool, title: str) -> None:
    from tools.verifier.evaluate import public

    rep = public(rep)
    if as_json:
        sys.stdout.write(json.dumps(rep) + "\n")
        return
    con = Console()
    t = Table(title=f"{title} — n={rep['n']}  accuracy={rep['accuracy']:.3f}  macro-F1={rep['macro_f1']:.3f}")
    for col in ("label", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lab, v in rep["per_label"].items():
        t.add_row(lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]))
    con.print(t)
    c = Table(title="confusion (rows: gold, columns: predicted)")
    c.add_column("gold \\ pred")
    for lab in rep["labels"]:
        c.add_column(lab, justify="right")
    for lab, row in zip(rep["labels"], rep["confusion"], strict=True):
        c.add_row(lab, *[str(x) for x in row])
    con.print(c)
    if "recall_at_k" in rep:
        con.print(f"retrieval: {rep.get('retrieval')}  recall@{rep.get('k')}={rep['recall_at_k']:.3f}")


def _print_claims(rep: dict[str, Any]) -> None:
    con = Console()
    t = Table(title=f"{rep['case']} — judge: {rep['judge']}")
    for col in ("#", "verdict", "expected", "ok", "stance cites right", "contradicting found"):
        t.add_column(col)
    for r in rep["per_claim"]:
        t.add_row(str(r["n"]), r["verdict"], "/".join(r["acceptable"]),
                  "yes" if r["agrees"] else ("acceptable" if r["acceptable_ok"] else "no"),
                  f"{r['stance_citations_right']}/{r['stance_citations']}",
                  "—" if r["contradicting_found"] is None else ("yes" if r["contradicting_found"] else "no"))
    con.print(t)

    def f(x):
        return "—" if x is None else f"{x:.2f}"

    con.print(f"verdicts as expected {f(rep['verdict_agreement'])} (acceptable {f(rep['verdict_acceptable'])}) · "
              f"stance-citation precision {f(rep['stance_citation_precision'])} of {rep['stance_citations']} · "
              f"contradicting work found {f(rep['contradicting_recall'])} of {rep['claims_with_contradicting_work']} · "
              f"anchors right {rep['anchors_right']}")
