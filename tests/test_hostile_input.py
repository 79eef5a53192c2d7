"""Input that used to take the process down (issue 13): a YAML alias bomb, wrong YAML types, no limits on
claim count or length, bad settings, bidi controls in claim text. Each is refused at read time with exit
status 2 and one line naming the file (and line), or — for bidi controls — neutralised in every output."""
from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claims.readers import InputError, InputLimits, read_claims

RLO = "\u202e"

# nine levels of [*a, *a, ...]: 378 bytes that expand to 9^9 strings
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    + ["claims:", "  - text: *i", "    date: 2024"]) + "\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def run_cli(args: list[str], env: dict[str, str] | None = None):
    from retest.cli import app

    return CliRunner().invoke(app, args, env=env)


def one_error_line(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "Traceback" not in r.output
    return lines[0]


# ------------------------------------------------------------------------------------------------
# the alias bomb


def test_alias_bomb_is_refused_at_once_with_its_line(tmp_path):
    assert len(BOMB.encode()) < 500
    p = write(tmp_path, "bomb.yaml", BOMB)
    t0 = time.perf_counter()
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert time.perf_counter() - t0 < 2
    assert ei.value.line == 1 and "anchor &a" in ei.value.message


def test_alias_without_anchor_definition_first_is_refused_too(tmp_path):
    p = write(tmp_path, "alias.yaml", "x: &t some text\nclaims:\n  - text: *t\n    date: 2024\n")
    with pytest.raises(InputError, match="not allowed"):
        read_claims(p)


def test_cli_alias_bomb_exits_2_with_one_line(tmp_path):
    p = write(tmp_path, "bomb.yaml", BOMB)
    r = run_cli(["run", str(p), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    line = one_error_line(r)
    assert f"{p}:1:" in line and "not allowed" in line
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# wrong YAML types


@pytest.mark.parametrize("body, line, words", [
    ("claims:\n  - text: null\n    date: 2024\n", 2, "no text"),
    ("claims:\n  - text: {a: 1}\n    date: 2024\n", 2, "'text' is a mapping"),
    ("claims:\n  - text: [one, two]\n    date: 2024\n", 2, "'text' is a list"),
    ("claims:\n  - text: 3.14\n    date: 2024\n", 2, "'text' is a number"),
    ("claims:\n  - text: a real claim here\n    date: 2024\n    anchors: 2305.11206\n", 2, "anchors' is a number"),
    ("claims:\n  - text: a real claim here\n    date: 2024\n    anchors: {x: 1}\n", 2, "not a list"),
    ("claims:\n  - text: a real claim here\n    date: [2024]\n", 2, "'date' is a list"),
    ("claims:\n  - text: a real claim here\n    id: {x: 1}\n    date: 2024\n", 2, "'id' is a mapping"),
    ("question: [a, b]\nclaims:\n  - text: a real claim here\n    date: 2024\n", 1, "'question' is a list"),
    ("claims:\n  - text: a real claim here\n    date: 2024\nasks: 5\n", 4, "'asks' is a number"),
    ("claims:\n  - text: a real claim here\n    date: 2024\nanchors: 2305.11206\n", 4, "'anchors' is a number"),
    ("claims:\n  - text: a real claim here\n    date: 2024\nanchors:\n  - {id: 2305.11206, year: [1]}\n", 5,
     "'year' is a list"),
    ("claims:\n  - 42\n", 2, "claim 1 is a number"),
])
def test_wrong_yaml_types_are_one_located_input_error(tmp_path, body, line, words):
    p = write(tmp_path, "c.yaml", body)
    with pytest.raises(InputError) as ei:
        read_claims(p)
    assert ei.value.line == line, ei.value.one_line()
    assert words in ei.value.message, ei.value.one_line()
    assert "\n" not in ei.value.one_line()


@pytest.mark.parametrize("body", [
    "claims:\n  - text: null\n    date: 2024\n",
    "claims:\n  - text: {a: 1}\n    date: 2024\n",
    "question: [a, b]\nclaims:\n  - text: a real claim here\n    date: 2024\n",
    "claims:\n  - text: a real claim here\n    date: 2024\nasks: 5\n",
    "claims:\n  - text: a real claim here\n    date: 2024\n    anchors: 2305.11206\n",
    "claims:\n  - text: a real claim here\n    date: 2024\nanchors: 2305.11206\n",
])
def test_cli_wrong_types_exit_2_with_file_and_line(tmp_path, body):
    p = write(tmp_path, "c.yaml", body)
    r = run_cli(["run", str(p), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert f"{p}:" in line and line.split(f"{p}:")[1].split(":")[0].isdigit()


def test_json_wrong_types_too(tmp_path):
    p = write(tmp_path, "c.json", json.dumps({"claims": [{"text": None, "date": "2024"}]}))
    with pytest.raises(InputError, match="no text"):
        read_claims(p)
    p = write(tmp_path, "d.json", json.dumps({"claims": [{"text": {"a": 1}, "date": "2024"}]}))
    with pytest.raises(InputError, match="'text' is a mapping"):
        read_claims(p)


def test_documented_shapes_still_read_and_ids_keep_their_digits(tmp_path):
    p = write(tmp_path, "c.yaml",
              "question: Does curation beat scale?\n"
              "claims:\n  - id: lima\n    text: 1,000 curated examples suffice for alignment\n    date: 2024\n"
              "    anchors: [2305.11206]\n"
              "  - text: An old-style anchor keeps its leading zero\n    date: 2008\n    anchors: [0704.0001]\n"
              "  - \"Proxy-tuning closes most of the alignment gap (2024)\"\n"
              "anchors:\n  - id: 2305.11206\n    title: 'LIMA: Less Is More for Alignment'\n    year: 2023\n"
              "  - 2310.01000\n"
              "asks: one task as a single string\n")
    cs = read_claims(p)
    assert [c.anchors for c in cs.claims] == [["2305.11206"], ["0704.0001"], []]
    assert [a.arxiv_id for a in cs.anchors] == ["2305.11206", "2310.01000"]
    assert cs.asks == ["one task as a single string"]
    assert cs.claims[2].text == "Proxy-tuning closes most of the alignment gap"


def test_deep_nesting_is_an_input_error(tmp_path):
    p = write(tmp_path, "deep.yaml", "claims: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(InputError):
        read_claims(p)
    p = write(tmp_path, "deep.json", '{"claims": ' + "[" * 3000 + "]" * 3000 + "}")
    with pytest.raises(InputError):
        read_claims(p)


# ------------------------------------------------------------------------------------------------
# bad settings


@pytest.mark.parametrize("args, env, names", [
    (["--source", "bogus"], {}, ("--source", "RETEST_SOURCE")),
    ([], {"RETEST_LLM_TIMEOUT": "abc"}, ("RETEST_LLM_TIMEOUT",)),
    ([], {"RETEST_MAX_CLAIMS": "0"}, ("RETEST_MAX_CLAIMS",)),
    (["--judge", "oracle"], {}, ("--judge", "RETEST_JUDGE")),
])
def test_bad_settings_exit_2_with_one_line(tmp_path, example_path, args, env, names):
    r = run_cli(["run", str(example_path), "--out", str(tmp_path / "out"), *args], env=env)
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert all(n in line for n in names), line
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# limits


def many_claims_yaml(n: int) -> str:
    return "claims:\n" + "".join(f"  - text: claim number {i} holds for large models\n    date: 2024\n"
                                 for i in range(n))


def test_too_many_claims_is_refused_at_read_time(tmp_path, monkeypatch):
    p = write(tmp_path, "many.yaml", many_claims_yaml(12))
    with pytest.raises(InputError) as ei:
        read_claims(p, InputLimits(max_claims=10))
    assert "RETEST_MAX_CLAIMS" in ei.value.message and ei.value.line == 2 + 2 * 10
    monkeypatch.setenv("RETEST_MAX_CLAIMS", "10")
    with pytest.raises(InputError, match="more than 10 claims"):
        read_claims(p)
    monkeypatch.setenv("RETEST_MAX_CLAIMS", "12")
    assert len(read_claims(p).claims) == 12


def test_markdown_claim_count_and_length_limits(tmp_path):
    body = "What a curated library found — and when\n" + "".join(
        f"- Claim {i} about alignment data (2024).\n" for i in range(5))
    p = write(tmp_path, "c.md", body)
    with pytest.raises(InputError) as ei:
        read_claims(p, InputLimits(max_claims=3))
    assert ei.value.line == 5
    long = write(tmp_path, "long.md", "What a curated library found — and when\n- " + "word " * 600 + "(2024).\n")
    with pytest.raises(InputError, match="RETEST_MAX_CLAIM_CHARS") as ei:
        read_claims(long)
    assert ei.value.line == 2


def test_claim_length_limit_yaml_and_env_override(tmp_path, monkeypatch):
    p = write(tmp_path, "c.yaml", f"claims:\n  - text: {'x' * 2500}\n    date: 2024\n")
    with pytest.raises(InputError, match="2500 characters; the limit is 2000"):
        read_claims(p)
    monkeypatch.setenv("RETEST_MAX_CLAIM_CHARS", "3000")
    assert len(read_claims(p).claims[0].text) == 2500


def test_five_megabyte_file_is_refused_in_a_moment(tmp_path):
    p = write(tmp_path, "huge.yaml", many_claims_yaml(57_737))
    assert p.stat().st_size > 2_000_000
    t0 = time.perf_counter()
    r = run_cli(["run", str(p), "--out", str(tmp_path / "out")])
    assert time.perf_counter() - t0 < 10
    assert r.exit_code == 2
    line = one_error_line(r)
    assert "RETEST_MAX_INPUT_BYTES" in line and str(p) in line


def test_input_from_a_device_reads_only_up_to_the_limit(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(InputError, match="RETEST_MAX_INPUT_BYTES"):
        read_claims("/dev/zero", InputLimits(max_input_bytes=1000))


def test_cli_limit_from_environment(tmp_path):
    p = write(tmp_path, "many.yaml", many_claims_yaml(4))
    r = run_cli(["run", str(p), "--out", str(tmp_path / "out")], env={"RETEST_MAX_CLAIMS": "3"})
    assert r.exit_code == 2
    assert "more than 3 claims" in one_error_line(r)


# ------------------------------------------------------------------------------------------------
# bidi controls: kept as data, neutralised wherever shown


def bidi_report():
    from claims.models import ClaimResult, Report, VerdictLabel

    text = f"Safety {RLO}exe.txt{RLO} evaluations hold"
    r = ClaimResult(id=f"c{RLO}1", text=text, claim_date="2024", verdict=VerdictLabel.holds, confidence=0.6,
                    rationale=f"because {RLO}reasons", judge="test")
    return Report(generated_at=datetime.now(UTC), input=f"in{RLO}put.yaml", claims=[r], as_of=date(2026, 11, 26))


def test_bidi_controls_are_read_as_data(tmp_path):
    p = write(tmp_path, "c.yaml", f"claims:\n  - text: \"Safety {RLO}exe.txt evaluations hold\"\n    date: 2024\n")
    assert RLO in read_claims(p).claims[0].text  # the claim is what the file says; outputs neutralise it


def test_bidi_controls_never_reach_report_files_or_the_terminal(tmp_path, capsys):
    from agent.report import write_reports
    from retest.cli.run import _summary

    md, js = write_reports(bidi_report(), tmp_path / "out")
    md_text, js_text = md.read_text(encoding="utf-8"), js.read_text(encoding="utf-8")
    assert RLO not in md_text and "U+202E" in md_text
    assert RLO not in js_text and "\\u202e" in js_text
    assert RLO in json.loads(js_text)["claims"][0]["text"]  # the data is kept exactly
    capsys.readouterr()
    _summary(bidi_report())
    shown = capsys.readouterr().out
    assert RLO not in shown and "<U+202E>" in shown


def test_bidi_controls_neutralised_in_terminal_chat(tmp_path):
    from rich.console import Console

    from retest.chat.grammar import Reply
    from retest.chat.render import explain_text
    from retest.chat.terminal import render_reply
    from retest.terminal import SafeStream

    r = bidi_report().claims[0]
    out = SafeStream(stream=(buf := __import__("io").StringIO()))
    console = Console(file=out, highlight=False, width=200)
    render_reply(console, Reply("why", explain_text(r, 1), {"number": 1, "result": r.model_dump(mode="json")}))
    render_reply(console, Reply("text", r.text))
    shown = buf.getvalue()
    assert RLO not in shown and "<U+202E>exe.txt" in shown


def test_cli_run_with_a_bidi_claim_neutralises_report_and_terminal(tmp_path):
    p = write(tmp_path, "c.yaml", f"claims:\n  - id: rlo\n    text: \"Preference data {RLO}exe.txt beats scale for "
                                  "alignment\"\n    date: 2024\n")
    out = tmp_path / "out"
    r = run_cli(["run", str(p), "--out", str(out), "--judge", "baseline", "--home", str(tmp_path / "home")])
    assert r.exit_code == 0, r.output
    shown = r.output + (r.stderr if r.stderr_bytes is not None else "")
    assert "exe.txt" in shown and RLO not in shown
    md = (out / "report.md").read_text(encoding="utf-8")
    assert RLO not in md and "U+202E" in md
    assert RLO in json.loads((out / "report.json").read_text(encoding="utf-8"))["claims"][0]["text"]
