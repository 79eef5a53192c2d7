"""`retest train-verifier`: retrain the paper-level stance model (``--paper``, the shipped recipe) or the
sentence-level verifier; needs the 'train' extra (torch, transformers), loaded only here."""
from __future__ import annotations

from pathlib import Path

import typer

from retest.cli.app import app
from retest.errors import fail, guarded, need_file

TRAIN_EXTRA = "training needs the 'train' extra — pip install -e '.[train]' (CPU torch==2.13.0)"


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
        guarded(lambda: _train_paper(pairs, out, work, paper_epochs, epochs, seed, max_minutes))
    else:
        guarded(lambda: _train_sentence(pairs, out, epochs, seed, data_dir, max_minutes))


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        fail(TRAIN_EXTRA)


def _train_paper(pairs: list[Path] | None, out: Path | None, work: Path, epochs: float, stage1_epochs: int,
                 seed: int, max_minutes: float | None) -> None:
    from tools.verifier.paper_model import MODEL_DIR
    from tools.verifier.training.paper_data import PaperPairsError, user_paper_examples

    for p in pairs or []:
        need_file(p, "pairs file")
        try:
            user_paper_examples(p)
        except PaperPairsError as e:
            if "no paper" not in str(e):  # a paper_id is checked against the snapshot when training
                fail(str(e))
    _need_torch()
    from tools.verifier.training.paper_train import train_recipe

    try:
        meta = train_recipe(out or MODEL_DIR, work, epochs=epochs, stage1_epochs=stage1_epochs,
                            user_pairs=list(pairs or []), max_minutes=max_minutes, seed=seed)
    except PaperPairsError as e:
        fail(str(e))
    typer.echo(f"trained in {meta['train_seconds'] / 60:.1f} min; model in {out or MODEL_DIR}")


def _train_sentence(pairs: list[Path] | None, out: Path | None, epochs: int, seed: int, data_dir: Path | None,
                    max_minutes: float | None) -> None:
    from tools.verifier.data import DEFAULT_DATA_DIR, MODEL_DIR, read_user_pairs

    for p in pairs or []:
        need_file(p, "pairs file")
        read_user_pairs(p)  # a bad line: InputError (file:line), exit 2
    dd = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    for sub in ("ml-stance/pairs.jsonl", "scifact/claims_train.jsonl", "scifact/corpus.jsonl",
                "climate-fever/climate-fever.jsonl"):
        if not (dd / sub).is_file():
            fail(f"{dd / sub}: training data not found — pass --data-dir pointing at the shared data")
    _need_torch()
    from tools.verifier.train import train

    meta = train(out or MODEL_DIR, list(pairs) if pairs else None, seed=seed, epochs=epochs, data_dir=dd,
                 max_minutes=max_minutes)
    typer.echo(f"trained in {meta['train_seconds'] / 60:.1f} min; model in {out or MODEL_DIR}")
