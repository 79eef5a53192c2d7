"""Test helpers for the evidence store: a real `chroma run` server on a free loopback port,
and the real paper records as `Paper` models."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # the project is not necessarily installed into the venv
    sys.path.insert(0, str(_ROOT))

from claims.models import Paper  # noqa: E402

PAPERS_JSONL = _ROOT / "tools" / "arxiv" / "data" / "papers.jsonl"  # the bundled real records
FIXTURE_PAPERS = Path(__file__).parent / "fixtures" / "papers.jsonl"


def chroma_executable() -> str | None:
    """The `chroma` CLI next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / "chroma"
    if local.exists():
        return str(local)
    return shutil.which("chroma")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_heartbeat(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"chroma server exited early with code {proc.returncode}")
        for path in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
            try:
                with urllib.request.urlopen(url + path, timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception as exc:  # not up yet
                last = exc
        time.sleep(0.2)
    raise TimeoutError(f"chroma server at {url} gave no heartbeat in {timeout:g}s: {last}")


class ChromaServer:
    """`chroma run --path DIR --host 127.0.0.1 --port N` as a subprocess."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        exe = chroma_executable()
        if exe is None:
            raise FileNotFoundError("the `chroma` executable is not installed")
        self.path = path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = path.parent / f"chroma-server-{self.port}.log"
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
        self._logf = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        try:
            wait_heartbeat(self.url, proc=self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._logf.close()


class ExternalChromaServer:
    """A server someone else started (CI); never stopped by the tests."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def stop(self) -> None:
        pass


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A Chroma server for the test session: the one .ci/run started (RETEST_TEST_CHROMA_URL), else
    one started here; skipped only if the `chroma` executable is missing."""
    url = os.environ.get("RETEST_TEST_CHROMA_URL")
    if url:
        wait_heartbeat(url)
        yield ExternalChromaServer(url)
        return
    if chroma_executable() is None:
        pytest.skip("the `chroma` executable is missing (pip install chromadb provides it)")
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data")
    try:
        yield server
    finally:
        server.stop()


def load_papers(path: Path | None = None) -> list[Paper]:
    """The real paper records (the bundled snapshot, or a fixture in its shape) as `Paper`s."""
    from tools.arxiv.snapshot import iter_records

    if path is None:
        path = FIXTURE_PAPERS if FIXTURE_PAPERS.exists() else PAPERS_JSONL
    return list(iter_records(path, skipped=[]))
