"""RETEST_PAPER_MODEL: judging with a paper-level stance model other than the shipped one."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "data" / "cases" / "context-and-reasoning"
SHIPPED = ROOT / "tools" / "verifier" / "model"
EXAMPLE = ROOT / "claims" / "examples"


def retest(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retest.cli", *args], capture_output=True, text=True,
                          timeout=600, env=subprocess_env(home, **env))


def test_a_missing_model_is_a_config_error_that_names_the_setting(tmp_path):
    missing = tmp_path / "nowhere" / "paper-stance-int8.onnx"
    example = next(EXAMPLE.glob("*.md"))
    r = retest("run", str(example), "--out", str(tmp_path / "out"), home=tmp_path / "h",
               RETEST_PAPER_MODEL=str(missing))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "RETEST_PAPER_MODEL" in r.stderr and str(missing) in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_model_named_is_the_model_used(tmp_path):
    own = tmp_path / "mine"
    own.mkdir()
    shutil.copy(SHIPPED / "tokenizer.json", own / "tokenizer.json")
    (own / "paper-stance-int8.onnx").write_bytes(b"not an onnx model")
    r = retest("eval", "papers", str(CASE), "--json", home=tmp_path / "h",
               RETEST_PAPER_MODEL=str(own / "paper-stance-int8.onnx"))
    # the shipped model would have scored the case; the one named cannot be loaded, and the error says which
    assert r.returncode != 0 and str(own / "paper-stance-int8.onnx") in r.stderr
    assert "Traceback" not in r.stderr
