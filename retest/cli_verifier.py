"""CLI commands for the offline verifier: ``retest eval scifact|pairs`` and ``retest train-verifier``.

``register(app)`` adds them to the main Typer app. Bad input (a missing file, a bad JSON line, a missing
model) exits with status 2 and one line on stderr naming the file, the line and what to do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _need_file(path: Path | None, what: str) -> None:
    if path is None or not Path(path).is_file():
        _fail(f"{path}: {what} not found — check the path")


def _load_verifier() -> Any:
    from tools.verifier.onnx_verifier import VerifierModelMissing, load_default_verifier

    try:
        return load_default_verifier()
    except VerifierModelMissing as e:
        _fail(str(e))


def _read_ids(path: Path) -> list[int]:
    _need_file(path, "ids file")
    try:
        obj = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        _fail(
            f'{path}:{e.lineno}: not valid JSON ({e.msg}) — give a JSON list of claim ids or {{"claim_ids": [...]}}'
        )
    ids = obj.get("claim_ids") if isinstance(obj, dict) else obj
    if not isinstance(ids, list):
        _fail(f'{path}: expected a JSON list of claim ids or {{"claim_ids": [...]}}')
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        _fail(f"{path}: claim ids must be integers")
    return []


def _print(rep: dict[str, Any], as_json: bool, title: str) -> None:
    from tools.verifier.evaluate import public

    rep = public(rep)
    if as_json:
        sys.stdout.write(json.dumps(rep) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

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
    from rich.console import Console
    from rich.table import Table

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


def _train_paper(pairs: list[Path] | None, out: Path | None, work: Path, epochs: float, stage1_epochs: int,
                 seed: int, max_minutes: float | None) -> None:
    from tools.verifier.paper_model import MODEL_DIR
    from tools.verifier.training.paper_data import PaperPairsError, user_paper_examples

    for p in pairs or []:
        _need_file(p, "pairs file")
        try:
            user_paper_examples(p)
        except PaperPairsError as e:
            if "no paper" not in str(e):  # a paper_id is checked against the snapshot when training
                _fail(str(e))
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        _fail("training needs the 'train' extra — pip install -e '.[train]' (CPU torch==2.13.0)")
    from tools.verifier.training.paper_train import train_recipe

    try:
        meta = train_recipe(out or MODEL_DIR, work, epochs=epochs, stage1_epochs=stage1_epochs,
                            user_pairs=list(pairs or []),
                            max_minutes=max_minutes, seed=seed)
    except PaperPairsError as e:
        _fail(str(e))
    typer.echo(f"trained in {meta['train_seconds'] / 60:.1f} min; model in {out or MODEL_DIR}")


def register(app: typer.Typer) -> None:
    """Add ``eval`` (group: ``scifact``, ``pairs``) and ``train-verifier`` to ``app``."""
    eval_app = typer.Typer(help="Evaluate the offline claim verifier.", no_args_is_help=True)

    @eval_app.command("pairs")
    def eval_pairs_cmd(
        file: Path = typer.Argument(..., help='JSONL of {"claim", "evidence_sentence", "stance"}'),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Sentence-level accuracy / macro-F1 of the verifier on a pairs file."""
        from tools.verifier.data import PairsFormatError
        from tools.verifier.evaluate import eval_pairs

        _need_file(file, "pairs file")
        try:
            from tools.verifier.data import read_user_pairs

            read_user_pairs(file)  # validate before loading the model
            rep = eval_pairs(_load_verifier(), file)
        except PairsFormatError as e:
            _fail(str(e))
        _print(rep, as_json, f"pairs {file}")

    @eval_app.command("scifact")
    def eval_scifact_cmd(
        claims: Path = typer.Option(..., "--claims", help="SciFact claims JSONL"),
        corpus: Path = typer.Option(..., "--corpus", help="SciFact corpus JSONL"),
        setting: str = typer.Option("oracle", "--setting", help="oracle | open"),
        ids: Path | None = typer.Option(
            None, "--ids", help="JSON list of claim ids to keep (e.g. scifact_val_ids.json)"
        ),
        k: int = typer.Option(3, "--k", help="abstracts retrieved per claim (open)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Claim-level SciFact metrics (SUPPORT / CONTRADICT / NOT ENOUGH INFO)."""
        from tools.verifier.data import PairsFormatError, load_scifact_claims, load_scifact_corpus
        from tools.verifier.evaluate import eval_scifact

        if setting not in ("oracle", "open"):
            _fail(f"--setting {setting!r}: use oracle or open")
        _need_file(claims, "claims file")
        _need_file(corpus, "corpus file")
        keep = _read_ids(ids) if ids else None
        try:
            load_scifact_claims(claims)
            load_scifact_corpus(corpus)
            rep = eval_scifact(_load_verifier(), claims, corpus, setting=setting, ids=keep, k=k)
        except PairsFormatError as e:
            _fail(str(e))
        except (KeyError, TypeError, ValueError) as e:
            _fail(f"{claims}: unexpected SciFact record ({e}) — pass SciFact's claims and corpus JSONL")
        _print(rep, as_json, f"SciFact {setting}")

    @eval_app.command("claims")
    def eval_claims_cmd(
        file: Path = typer.Argument(..., help="a dated-claims case's claims file (claims.md)"),
        labels: Path = typer.Option(..., "--labels", help="its labels.json (expected verdicts, against/supporting)"),
        paper_labels: Path | None = typer.Option(
            None, "--paper-labels", help="its (finding, paper) labels (default: paper_labels.jsonl beside --labels)"),
        snapshot: Path | None = typer.Option(
            None, "--snapshot", help="the corpus to search (default: papers.jsonl beside FILE)"),
        judge: str = typer.Option("offline", "--judge", help="llm | offline | baseline"),
        as_of: str | None = typer.Option(None, "--as-of", help="the 'today' of the run, YYYY-MM-DD"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Score a judge on dated claims with known fates: verdict agreement, stance-citation precision,
        contradicting-work recall (runs the whole graph over the case's own corpus)."""
        from retest.eval_claims import EvalInputError, read_labels, read_paper_labels, run_case
        from retest.options import parse_as_of

        _need_file(file, "claims file")
        _need_file(labels, "labels file")
        snap = snapshot or file.with_name("papers.jsonl")
        _need_file(snap, "snapshot (papers.jsonl)")
        if judge not in ("llm", "offline", "baseline"):
            _fail(f"--judge {judge!r}: use llm, offline or baseline")
        try:  # bad labels: one line, before any work
            read_labels(labels)
            read_paper_labels(paper_labels or labels.with_name("paper_labels.jsonl"))
        except EvalInputError as e:
            _fail(str(e))

        def go() -> dict:
            return run_case(file, labels, paper_labels, snapshot=snap, judge=judge, as_of=parse_as_of(as_of))

        from retest.errors import guarded

        try:
            rep = guarded(go)
        except EvalInputError as e:
            _fail(str(e))
        if as_json:
            sys.stdout.write(json.dumps(rep) + "\n")
            return
        _print_claims(rep)

    @eval_app.command("papers")
    def eval_papers_cmd(
        cases: list[Path] = typer.Argument(..., help="case folders (claims.md + papers.jsonl + paper_labels.jsonl)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Paper-level stance figures of the offline model on (claim, whole abstract) labels."""
        from tools.verifier.paper_model import PaperModelMissing, load_default_paper_verifier
        from tools.verifier.training.paper_data import case_examples
        from tools.verifier.training.paper_eval import evaluate, predict_examples

        for c in cases:
            for f in ("claims.md", "papers.jsonl", "paper_labels.jsonl"):
                _need_file(c / f, f"case file {f}")
        try:
            model = load_default_paper_verifier()
        except PaperModelMissing as e:
            _fail(str(e))
        ex = [e for c in cases for e in case_examples(c)]
        from agent.judges import paper as pj

        rep = evaluate(ex, predict_examples(model, ex), pj.CONTRA_T, pj.MARGIN)
        rep["labels"] = ["supports", "contradicts", "neither"]
        _print(rep, as_json, f"paper-level stance ({rep['rule']})")

    app.add_typer(eval_app, name="eval")

    @app.command("export-pairs")
    def export_pairs_cmd(
        report: Path = typer.Argument(..., help="a report.json (e.g. from a run with --judge llm)"),
        out: Path = typer.Option(..., "--out", help="JSONL of paper-level pairs to write"),
        home: Path | None = typer.Option(None, "--home", help="data directory (env RETEST_HOME)"),
    ) -> None:
        """Turn a report's verified stance citations into paper-level training pairs (claim, title, abstract,
        label, rationale) for `retest train-verifier --paper --pairs FILE`: distil an LLM judge's reading."""
        from claims.models import Report
        from retest.options import make_settings

        _need_file(report, "report")
        try:
            rep = Report.model_validate_json(report.read_text(encoding="utf-8"))
        except Exception as e:
            _fail(f"{report}: not a retest report.json ({str(e).splitlines()[0]}) — pass a report written by retest run")
        ids = sorted({c.arxiv_id for r in rep.claims for c in r.citations if c.stance.value != "neither"})
        from agent.services import build_source

        kind = "snapshot" if "snapshot" in (rep.stats.source or "") else None
        source, _ = build_source(make_settings(home=home, source=kind))
        papers = source.lookup(ids) if ids else {}
        n = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            for r in rep.claims:
                for c in r.citations:
                    p = papers.get(c.arxiv_id)
                    if p is None or c.stance.value == "neither":
                        continue
                    f.write(json.dumps({"claim": r.text, "paper_id": p.arxiv_id, "title": p.title,
                                        "abstract": p.abstract, "label": c.stance.value, "rationale": c.quote,
                                        "judge": r.judge}, ensure_ascii=False) + "\n")
                    n += 1
        typer.echo(f"wrote {n} pairs to {out}")

    @app.command("train-verifier")
    def train_verifier_cmd(
        pairs: list[Path] = typer.Option(
            None, "--pairs", help='extra {"claim", "evidence_sentence", "stance"} JSONL (repeatable)'
        ),
        out: Path = typer.Option(None, "--out", help="output dir (default: the shipped model dir)"),
        epochs: int = typer.Option(2, "--epochs"),
        seed: int = typer.Option(13, "--seed"),
        data_dir: Path = typer.Option(
            None, "--data-dir", help="dir with ml-stance/, scifact/, climate-fever/"
        ),
        max_minutes: float = typer.Option(None, "--max-minutes", help="stop training after this long"),
        paper: bool = typer.Option(False, "--paper", help="train the paper-level stance model the offline judge "
                                                          "uses (the shipped recipe; --pairs then takes "
                                                          "paper-level pairs)"),
        work: Path = typer.Option(Path("training-runs/paper"), "--work", help="working dir (--paper)"),
        paper_epochs: float = typer.Option(2.0, "--paper-epochs", help="epochs of the paper-level stage (--paper)"),
    ) -> None:
        """Retrain the verifier (needs the 'train' extra), export ONNX and quantize to int8."""
        if paper:
            _train_paper(pairs, out, work, paper_epochs, epochs, seed, max_minutes)
            return
        from tools.verifier.data import DEFAULT_DATA_DIR, MODEL_DIR, PairsFormatError, read_user_pairs

        for p in pairs or []:
            _need_file(p, "pairs file")
            try:
                read_user_pairs(p)
            except PairsFormatError as e:
                _fail(str(e))
        dd = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
        for sub in (
            "ml-stance/pairs.jsonl",
            "scifact/claims_train.jsonl",
            "scifact/corpus.jsonl",
            "climate-fever/climate-fever.jsonl",
        ):
            if not (dd / sub).is_file():
                _fail(f"{dd / sub}: training data not found — pass --data-dir pointing at the shared data")
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            _fail("training needs the 'train' extra — pip install -e '.[train]' (CPU torch==2.13.0)")
        from tools.verifier.train import train

        try:
            meta = train(
                out or MODEL_DIR,
                list(pairs) if pairs else None,
                seed=seed,
                epochs=epochs,
                data_dir=dd,
                max_minutes=max_minutes,
            )
        except PairsFormatError as e:
            _fail(str(e))
        typer.echo(f"trained in {meta['train_seconds'] / 60:.1f} min; model in {out or MODEL_DIR}")
