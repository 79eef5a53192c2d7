"""One error hierarchy, one table of exit statuses, one guard for every command, one CLI package."""
from __future__ import annotations

import ast
import re

import pytest
from typer.testing import CliRunner

from claims import errors as E
from tests.conftest import ROOT


def test_the_readme_table_lists_exactly_the_exit_codes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert documented == {int(c) for c in E.ExitCode}
    assert [int(c) for c in E.ExitCode] == [0, 1, 2, 3, 4, 5, 130]  # values users script against


def test_old_names_are_the_same_classes():
    from agent.report import OutDirError
    from agent.services import ConfigError
    from claims.readers import InputError
    from tools.datafile import DataFileError
    from tools.verifier.data import PairsFormatError

    assert InputError is E.InputError and PairsFormatError is E.InputError
    assert ConfigError is E.ConfigError and OutDirError is E.OutDirError and DataFileError is E.DataFileError
    assert issubclass(E.InputError, ValueError) and issubclass(E.OutDirError, ValueError)


def test_every_error_carries_its_exit_code():
    from retest.chat.grammar import ChatError
    from retest.sweep.run import SweepLocked
    from tools.arxiv.snapshot_import import ImportLocked, MalformedRecord, SnapshotImportError
    from tools.store import StoreCorruptError, StoreLockedError

    codes = {E.InputError: 2, E.ConfigError: 2, E.OutDirError: 2, ChatError: 2, E.BusyError: 3,
             StoreLockedError: 3, SweepLocked: 3, ImportLocked: 3, E.DataFileError: 5, StoreCorruptError: 5,
             SnapshotImportError: 1, MalformedRecord: 1}
    for cls, code in codes.items():
        assert issubclass(cls, E.RetestError), cls
        assert cls.exit_code == code, cls


@pytest.mark.parametrize(("exc", "code", "line"), [
    (E.InputError("a.md", 3, "no date", "add (YYYY)"), 2, "error: a.md:3: no date — add (YYYY)"),
    (E.ConfigError("--as-of 'x' is not a date"), 2, "error: --as-of 'x' is not a date"),
    (E.BusyError("another retest holds the store"), 3, "error: another retest holds the store"),
    (E.DataFileError("h/chat/t.json", "corrupt", "move it aside"), 5, "error: h/chat/t.json: corrupt — move it aside"),
    (RuntimeError("boom"), 1, "error: RuntimeError: boom (set RETEST_DEBUG=1 for the traceback)"),
    (KeyboardInterrupt(), 130, "interrupted — progress is checkpointed; run the same command again to resume."),
])
def test_the_guard_turns_an_error_into_one_line_and_its_status(exc, code, line, capsys, monkeypatch):
    from retest.errors import guarded

    monkeypatch.delenv("RETEST_DEBUG", raising=False)

    def go():
        raise exc

    with pytest.raises(SystemExit) as ei:
        guarded(go)
    assert ei.value.code == code
    assert capsys.readouterr().err.strip() == line


def _command_modules():
    return sorted(p.stem for p in (ROOT / "retest" / "cli").glob("*.py") if p.stem not in ("__init__", "__main__", "app"))


def test_one_cli_package_one_command_per_module():
    """Every command is a top-level decorated function in its own module, imported explicitly: no
    register() functions, no importlib discovery, no cli_*.py beside the package."""
    from retest.cli import app

    assert not list((ROOT / "retest").glob("cli_*.py")) and not (ROOT / "retest" / "cli.py").exists()
    owners = [c.callback.__module__ for c in app.registered_commands]
    owners += [g.typer_instance.registered_commands[0].callback.__module__ for g in app.registered_groups]
    assert sorted(m.rsplit(".", 1)[1] for m in owners) == _command_modules()  # one each
    for name in _command_modules():
        tree = ast.parse((ROOT / "retest" / "cli" / f"{name}.py").read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert "register" not in names, name
        assert "importlib" not in ast.unparse(tree), name


def test_eval_and_train_go_through_the_guard(tmp_path, monkeypatch):
    """An unexpected failure in `retest eval …` or `retest train-verifier` is one line and status 1, bad
    input one line and status 2 — as for every other command."""
    import tools.verifier.data as data
    from retest.cli import app

    monkeypatch.delenv("RETEST_DEBUG", raising=False)
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"claim": "c", "evidence_sentence": "e", "stance": "supports"}\n', encoding="utf-8")

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(data, "read_user_pairs", boom)
    for args in (["eval", "pairs", str(pairs)], ["train-verifier", "--pairs", str(pairs)]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert r.output.strip() == "error: RuntimeError: boom (set RETEST_DEBUG=1 for the traceback)", args
    r = CliRunner().invoke(app, ["train-verifier", "--pairs", str(tmp_path / "missing.jsonl")])
    assert r.exit_code == 2 and r.output.strip() == f"error: {tmp_path / 'missing.jsonl'}: pairs file not found — check the path"
