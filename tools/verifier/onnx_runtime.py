"""What both shipped ONNX models share: one CPU session recipe and the softmax over their logits."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def verifier_threads(intra_op_threads: int | None = None) -> int:
    """The onnxruntime intra-op threads: the argument, else RETEST_VERIFIER_THREADS, else 0 (its default)."""
    if intra_op_threads is not None:
        return intra_op_threads
    return int(os.environ.get("RETEST_VERIFIER_THREADS", "0") or 0)


def cpu_session(model_path: Path | str, threads: int = 0) -> Any:
    """An onnxruntime CPU session with full graph optimisation and one inter-op thread."""
    import onnxruntime as ort  # loaded when a model is, never on import

    so = ort.SessionOptions()
    if threads > 0:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), sess_options=so, providers=["CPUExecutionProvider"])
