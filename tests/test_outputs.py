"""Outputs and faces (issue 13): --out checked before any work; report.md and report.json replaced as a
pair; every markdown output escapes what comes from input or papers; the terminal chat keeps its session
on a busy store, a huge /why number and a bad /export path; a corrupt data file gets one line naming it."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from agent.configuration import Settings
from agent.report import render_markdown, write_reports
from claims.models import Claim, ClaimResult, Report, VerdictLabel
from tests.conftest import ROOT

RLO = "\u202e"
XSS_ID = "<img src=x onerror=alert(1)>"
HOSTILE = (f"{XSS_ID}](javascript:alert(2)) [x](https://evil.example) `code` *b* _i_ | pipe &#x202E; "
           f"{RLO}gnp.exe\n\n# injected heading\n<script>alert(3)</script>")


def run_cli(args: list[str], env: dict[str, str] | None = None, input: str | None = None):
    from retest.cli import app

    return CliRunner().invoke(app, args, env=env, input=input)


def one_error_line(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "Traceback" not in r.output
    return lines[0]


def small_claims(tmp_path: Path) -> Path:
    p = tmp_path / "claims.yaml"
    p.write_text("claims:\n  - text: Direct preference optimisation matches RLHF on dialogue\n    date: 2024\n",
                 encoding="utf-8")
    return p


# ------------------------------------------------------------------------------------------------
# --out is checked first


def test_out_that_is_a_file_exits_2_before_any_work(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a directory")
    home = tmp_path / "home"
    r = run_cli(["run", str(small_claims(tmp_path)), "--out", str(out), "--home", str(home)])
    assert r.exit_code == 2
    line = one_error_line(r)
    assert str(out) in line and "not a directory" in line
    assert not (home / "checkpoints.sqlite").exists()  # nothing was run
    assert out.read_text() == "not a directory"


def test_out_inside_a_file_exits_2(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run_cli(["run", str(small_claims(tmp_path)), "--out", str(f / "sub" / "dir")])
    assert r.exit_code == 2 and "which is a file" in one_error_line(r)


def _unwritable_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d
    d = Path("/sys/kernel")  # root writes anywhere on a normal file system; sysfs refuses even root
    if not d.is_dir():
        pytest.skip("running as root without sysfs: no read-only directory to test with")
    return d


def test_out_in_a_read_only_directory_exits_2_before_any_work(tmp_path):
    ro = _unwritable_dir(tmp_path)
    home = tmp_path / "home"
    for out in (ro, ro / "new-subdir"):
        r = run_cli(["run", str(small_claims(tmp_path)), "--out", str(out), "--home", str(home)])
        assert r.exit_code == 2, r.output
        assert "not writable" in one_error_line(r)
    assert not (home / "checkpoints.sqlite").exists()


# ------------------------------------------------------------------------------------------------
# report.md and report.json replaced as a pair


def report(tag: str, n: int = 1) -> Report:
    claims = [ClaimResult(id=f"c{i}", text=f"claim {i} of run {tag}", claim_date="2024", verdict=VerdictLabel.holds,
                          confidence=0.5, rationale=f"run {tag}", judge="test") for i in range(1, n + 1)]
    return Report(generated_at=datetime.now(UTC), input=f"run-{tag}.yaml", claims=claims, as_of=date(2026, 11, 26))


def pair_tag(out: Path) -> tuple[str | None, str | None]:
    """Which run each file of the pair belongs to (None: missing)."""
    md = out / "report.md"
    js = out / "report.json"
    m = re.search(r"Input: `run-(\w+)\.yaml`", md.read_text()) if md.exists() else None
    j = json.loads(js.read_text())["input"][4:-5] if js.exists() else None
    return (m[1] if m else None), j


def test_reports_are_links_into_one_generation(tmp_path):
    out = tmp_path / "out"
    md, js = write_reports(report("A"), out)
    assert md.read_text().startswith("# retest report") and json.loads(js.read_text())["input"] == "run-A.yaml"
    assert md.is_symlink() and js.is_symlink()
    cur = (out / ".report-current").resolve()
    assert md.resolve().parent == cur == js.resolve().parent
    gen_a = os.readlink(out / ".report-current")
    write_reports(report("B"), out)
    assert pair_tag(out) == ("B", "B")
    gen_b = os.readlink(out / ".report-current")
    gens = {p.name for p in out.iterdir() if p.name.startswith(".report-") and p.name != ".report-current"}
    assert gens == {gen_a, gen_b}  # the current generation and the one before it, for readers still on it
    write_reports(report("C"), out)
    assert {p.name for p in out.iterdir() if p.name.startswith(".report-2")} == {gen_b, os.readlink(
        out / ".report-current")}
    assert pair_tag(out) == ("C", "C")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_a_crash_at_any_step_leaves_one_run_or_the_other(tmp_path, monkeypatch):
    """Kill the second write at each of its file-system steps in turn: the pair is always the old run or
    the new one, and the next write cleans up what the crash left."""
    import agent.report as rep

    class Killed(BaseException):
        pass

    steps = 0
    while True:
        out = tmp_path / f"out{steps}"
        write_reports(report("A"), out)
        calls = {"n": 0}
        real = {"replace": os.replace, "symlink": os.symlink, "mkdir": Path.mkdir}

        def counted(name, calls=calls, real=real, at=steps + 1):
            def f(*a, **kw):
                calls["n"] += 1
                if calls["n"] == at:
                    raise Killed(name)
                return real[name](*a, **kw)
            return f

        monkeypatch.setattr(rep.os, "replace", counted("replace"))
        monkeypatch.setattr(rep.os, "symlink", counted("symlink"))
        try:
            write_reports(report("B"), out)
            finished = True
        except Killed:
            finished = False
        finally:
            monkeypatch.setattr(rep.os, "replace", real["replace"])
            monkeypatch.setattr(rep.os, "symlink", real["symlink"])
        md_tag, js_tag = pair_tag(out)
        assert md_tag == js_tag and md_tag in ("A", "B"), (steps, md_tag, js_tag)
        write_reports(report("C"), out)
        assert pair_tag(out) == ("C", "C")
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], list(out.iterdir())
        if finished:
            break
        steps += 1
    assert steps >= 2


WRITER = """
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from agent.report import write_reports
from claims.models import ClaimResult, Report, VerdictLabel
out = Path(sys.argv[1])
i = 0
while True:
    tag = "A" if i % 2 == 0 else "B"
    claims = [ClaimResult(id=f"c{k}", text="x " * 2000, claim_date="2024", verdict=VerdictLabel.holds,
                          confidence=0.5, rationale=tag, judge="t") for k in range(30)]
    write_reports(Report(generated_at=datetime.now(UTC), input=f"run-{tag}.yaml", claims=claims,
                         as_of=date(2026, 11, 26)), out)
    i += 1
    if i == 2:
        print("ready", flush=True)
"""


def test_killed_writer_never_leaves_a_mixed_pair(tmp_path):
    out = tmp_path / "out"
    for k in range(6):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "ready"
            time.sleep(0.05 + 0.07 * k)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        md_tag, js_tag = pair_tag(out)
        assert md_tag == js_tag and md_tag in ("A", "B"), (k, md_tag, js_tag)
    write_reports(report("C"), out)
    assert pair_tag(out) == ("C", "C")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_leftovers_of_dead_writers_go_and_work_of_live_ones_stays(tmp_path):
    out = tmp_path / "out"
    write_reports(report("A"), out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = out / ".report-20000101T000000000000Z-1-abcdef.tmp"  # pid 1 is always alive
    gone = out / f".report-20000101T000000000000Z-{dead_pid}-abcdef.tmp"
    for d in (live, gone):
        d.mkdir()
        (d / "report.md").write_text("half")
    write_reports(report("B"), out)
    assert live.exists() and not gone.exists()
    assert pair_tag(out) == ("B", "B")


def test_plain_files_from_an_older_retest_are_adopted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("Input: `run-OLD.yaml`\n")
    (out / "report.json").write_text(json.dumps({"input": "run-OLD.yaml"}))
    (out / "report.md.tmp").write_text("a stray temp file of the old scheme")
    write_reports(report("N"), out)
    assert pair_tag(out) == ("N", "N")
    assert not (out / "report.md.tmp").exists()


# ------------------------------------------------------------------------------------------------
# every markdown output escapes input and paper text


def fill(tp, variant: int = 0):
    """An instance of TP with every string field HOSTILE (lists hold two variants)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return fill(args[0], variant)
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    if origin is list:
        (inner,) = typing.get_args(tp)
        return [fill(inner, 0), fill(inner, 1)]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.model_validate({name: fill(f.annotation, variant) for name, f in tp.model_fields.items()})
    if isinstance(tp, type) and issubclass(tp, Enum):
        members = list(tp)
        return members[variant % len(members)]
    if tp is str:
        return HOSTILE
    if tp is bool:
        return variant == 0
    if tp is int:
        return 3
    if tp is float:
        return 0.5
    if tp is datetime:
        return datetime(2026, 11, 26, tzinfo=UTC)
    if tp is date:
        return date(2024, 1, 2)
    raise TypeError(tp)


ALLOWED_TAGS = re.compile(r"</?details>|<summary>|</summary>")
LINK = re.compile(r"(?<!\\)\]\(([^)\s]*)\)")
CODE_SPAN = re.compile(r"(?<!\\)`[^`\n]*`")  # literal text in markdown: no tags, links or entities inside


def assert_inert(md: str) -> None:
    for span in CODE_SPAN.findall(md):
        assert RLO not in span and "\n" not in span
    md = CODE_SPAN.sub("`…`", md)
    assert "<" not in ALLOWED_TAGS.sub("", md), [ln for ln in md.splitlines() if "<" in ALLOWED_TAGS.sub("", ln)][:5]
    assert RLO not in md
    assert "&#x202E;" not in md  # an entity would render the control
    for target in LINK.findall(md):
        assert re.fullmatch(r"https://arxiv\.org/abs/[A-Za-z0-9./%_~\-]*", target), target
    assert not re.search(r"^#+ injected", md, re.M)
    assert not re.search(r"(?<!\\)\[x\]\(", md)


def test_report_markdown_escapes_every_field_from_input_and_papers():
    md = render_markdown(fill(Report))
    assert_inert(md)
    lines = md.splitlines()
    for header in ("| # | Claim |", "| arXiv id | Title given |"):  # pipes in cell text cannot add cells
        i = next(k for k, ln in enumerate(lines) if ln.startswith(header))
        cells = len(re.findall(r"(?<!\\)\|", lines[i]))
        rows = [ln for ln in lines[i + 2:i + 4] if ln.startswith("|")]
        assert len(rows) == 2 and all(len(re.findall(r"(?<!\\)\|", row)) == cells for row in rows), rows


def test_claim_id_from_yaml_is_escaped_in_the_report(tmp_path):
    r = report("X")
    r.claims[0].id = XSS_ID
    md, _ = write_reports(r, tmp_path / "out")
    text = md.read_text()
    assert XSS_ID not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_digest_markdown_escapes_every_field():
    from retest.sweep.digest import render_markdown as render_digest

    paper = {"arxiv_id": HOSTILE, "url": f"javascript:alert(1) {HOSTILE}", "title": HOSTILE, "published": HOSTILE,
             "stance": HOSTILE, "quote": HOSTILE, "cited": True, "short_id": HOSTILE}
    d = {"sweep_id": 3, "window": {"from": HOSTILE, "to": HOSTILE}, "status": HOSTILE,
         "stats": {"claims": 1, "judge_calls": 1, "embedded_chunks": 0, "arxiv_requests": 0, "elapsed_s": 1.0, "resumed": False,
                   "judge": HOSTILE, "source": HOSTILE},
         "changes": [{"short_id": HOSTILE, "old": HOSTILE, "new": HOSTILE, "text": HOSTILE, "old_confidence": 0.1,
                      "new_confidence": 0.9, "since_sweep": HOSTILE, "rationale": HOSTILE, "papers": [paper]}],
         "new_papers": [paper], "new_claims": [{"short_id": HOSTILE, "verdict": HOSTILE, "papers_found": 1,
                                                "text": HOSTILE}],
         "errors": [{"file": HOSTILE, "error": HOSTILE}],
         "flags": [{"code": HOSTILE, "short_id": HOSTILE, "detail": HOSTILE}],
         "claims": [{"short_id": HOSTILE, "verdict": HOSTILE, "previous": HOSTILE, "confidence": 0.5,
                     "judged_again": True}]}
    md = render_digest(d)
    assert_inert(md)
    assert "javascript:" not in md.replace("javascript:alert(2)", "")  # only as escaped text, never a target


# ------------------------------------------------------------------------------------------------
# the terminal chat keeps its session


def stored_session(home: Path, thread: str = "t1"):
    from retest.chat.session import ChatSession

    s = Settings(home=home, source="snapshot", as_of=date(2026, 11, 26), judge="baseline", _env_file=None)
    session = ChatSession(s, thread)
    r = report("S").claims[0]
    session.claims.append(Claim(id=r.id, text=r.text, claim_date=r.claim_date))
    session.results[r.id] = r
    session.save()
    return session


def chat(home: Path, lines: list[str], thread: str = "t1", **env):
    return run_cli(["chat", "--thread", thread, "--home", str(home)], input="\n".join(lines) + "\n",
                   env={"RETEST_HOME": str(home), **env})


def test_huge_why_number_and_bad_export_paths_answer_one_line_and_keep_the_session(tmp_path):
    home = tmp_path / "home"
    stored_session(home)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    odd = tmp_path / "odd"
    (odd / "report.md").mkdir(parents=True)  # a directory where the report goes
    lines = ["/why " + "9" * 5000, f"/export {a_file}", f"/export {a_file}/sub", "/export ~no_such_user_xyz/x",
             f"/export {odd}", "/claims", "/quit"]
    r = chat(home, lines)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert "there is no such claim" in r.output
    assert r.output.count("/export") >= 3
    assert "claim 1 of run S" in r.output  # /claims ran after all of them
    assert not (tmp_path / "sub").exists()


def test_export_into_an_unwritable_directory_is_one_line(tmp_path):
    session = stored_session(tmp_path / "home")
    reply = session.handle(f"/export {_unwritable_dir(tmp_path)}")
    assert reply.kind == "error" and "not writable" in reply.text and "\n" not in reply.text
    ok = session.handle(f"/export {tmp_path / 'fine'}")
    assert ok.kind == "export" and (tmp_path / "fine" / "report.md").exists()


HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_new_while_another_process_holds_the_store_says_busy_and_keeps_the_session(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home / "chroma.lock")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        r = chat(home, ["/new preference data --since 2026-06", "/claims", "/quit"])
        took = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert r.exit_code == 0, r.output
    assert "busy" in r.output and "try again" in r.output
    assert "No claims yet" in r.output  # the session went on
    assert took < 25


# ------------------------------------------------------------------------------------------------
# corrupt data files: one line naming the file and what to do


def test_corrupt_chat_history_names_the_file(tmp_path):
    home = tmp_path / "home"
    (home / "chat").mkdir(parents=True)
    bad = home / "chat" / "t1.json"
    bad.write_bytes(b"{\"claims\": [1, 2, \x00 garbage")
    r = chat(home, ["/claims"])
    assert r.exit_code == 5, r.output
    line = one_error_line(r)
    assert str(bad) in line and "corrupt" in line and "move it aside" in line


def test_corrupt_checkpoints_name_the_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "checkpoints.sqlite").write_bytes(b"this is not a database " * 200)
    r = run_cli(["run", str(small_claims(tmp_path)), "--out", str(tmp_path / "out"), "--home", str(home),
                 "--judge", "baseline", "-q"])
    assert r.exit_code == 5, r.output
    line = one_error_line(r)
    assert str(home / "checkpoints.sqlite") in line and "move it aside" in line


def test_corrupt_chroma_store_names_it_in_run_and_in_chat(tmp_path):
    home = tmp_path / "home"
    (home / "chroma").mkdir(parents=True)
    (home / "chroma" / "chroma.sqlite3").write_bytes(b"garbage " * 500)
    r = run_cli(["run", str(small_claims(tmp_path)), "--out", str(tmp_path / "out"), "--home", str(home),
                 "--judge", "baseline", "-q"])
    assert r.exit_code == 5, r.output
    line = one_error_line(r)
    assert str(home / "chroma") in line and "corrupt" in line and "move it aside" in line
    r = chat(home, ["/new preference data", "/claims", "/quit"])
    assert r.exit_code == 0 and str(home / "chroma") in r.output and "No claims yet" in r.output


def test_sweep_out_that_is_a_file_exits_2_before_any_work(tmp_path):
    out = tmp_path / "digest"
    out.write_text("x")
    home = tmp_path / "home"
    r = run_cli(["sweep", str(small_claims(tmp_path)), "--out", str(out), "--home", str(home)])
    assert r.exit_code == 2 and "not a directory" in one_error_line(r)
    assert not (home / "history.sqlite").exists()
