"""The outside world behind protocols: arXiv (snapshot | API), the evidence store (Chroma),
embeddings (MiniLM ONNX), the stance verifier (ONNX) and chat models (OpenAI-compatible).

Imports `claims` only; never `agent` or the faces.
"""
