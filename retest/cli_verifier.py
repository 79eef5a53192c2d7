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

    app.add_typer(eval_app, name="eval")

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
    ) -> None:
        """Retrain the verifier (needs the 'train' extra), export ONNX and quantize to int8."""
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
