"""The embedded offline claim verifier (int8 ONNX MiniLM cross-encoder); see model/MODEL_CARD.md."""

from tools.verifier.evaluate import aggregate_claim
from tools.verifier.onnx_verifier import OnnxVerifier, VerifierModelMissing, load_default_verifier

__all__ = ["OnnxVerifier", "VerifierModelMissing", "aggregate_claim", "load_default_verifier"]
