"""The embedded offline stance models (int8 ONNX, onnxruntime only): the paper-level model the offline
judge uses (``paper_model``) and the sentence-level verifier (``onnx_verifier``). Training, data
loading and evaluation live in ``tools.verifier.training`` and the modules it names, which the run path
never imports."""
