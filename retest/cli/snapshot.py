"""`retest snapshot import` and `retest snapshot info` (a command group): the whole arXiv metadata dump as
the offline corpus (tools/arxiv/snapshot_import.py writes the index; tools/arxiv/snapshot.py searches it)."""
# No `from __future__ import annotations`: Typer reads these annotations when the commands register.
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from claims.errors import ExitCode, UsageError
from retest.cli.app import app
from retest.errors import err_console, guarded
from retest.options import HomeOpt, make_settings
from retest.terminal import safe_console

MAX_SHOWN_SKIPS = 20


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else (f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s")


def _ymd(d: int | None) -> str:
    return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}" if d else "—"


def _categories(value: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.strip() for v in value or [] for c in v.split(",") if c.strip()))


console = safe_console(soft_wrap=True)
snapshot = typer.Typer(no_args_is_help=True, help="The offline arXiv snapshot: import the metadata dump, "
                       "see what the index holds.")
app.add_typer(snapshot, name="snapshot")


@snapshot.command("import")
def import_(
    file: Annotated[Path, typer.Argument(
        help="JSON lines (optionally .gz): the arXiv metadata dump, or retest's record shape")],
    since: Annotated[str | None, typer.Option(
        "--since", help="keep papers whose v1 date is in this month or later (YYYY-MM)")] = None,
    category: Annotated[list[str] | None, typer.Option(
        "--category", help="keep papers in this category (repeatable; 'cs' keeps every cs.*)")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help=f"stop at the first malformed record (exit {ExitCode.BAD_INPUT:d}, naming FILE:LINE)")] = False,
    index: Annotated[Path | None, typer.Option(
        "--index", help="write the index here (default HOME/snapshots/NAME-HASH.sqlite)")] = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="start over instead of resuming an interrupted import")] = False,
    home: HomeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    batch: Annotated[int | None, typer.Option("--batch", min=1, hidden=True,
                                              help="records per transaction (memory vs. work redone on "
                                                   "resume; default the importer's)")] = None,
) -> None:
    """Import a metadata file into a searchable index: streaming, resumable (rerun to continue)."""

    def go() -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from tools.arxiv.snapshot_import import (
            BATCH_RECORDS,
            Filters,
            MalformedRecord,
            default_import_path,
            import_snapshot,
            read_meta,
            shard_files,
        )

        settings = make_settings(home=home)
        try:
            filters = Filters(since=since, categories=_categories(category))
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        target = index or default_import_path(file, settings.home / "snapshots")
        shown = 0

        live = err_console.is_terminal and not quiet  # else (a log, a pipe) a plain line every 10 s
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[records]:>11,} records"), TextColumn("{task.fields[rate]:>7,.0f} rec/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=err_console, disable=not live, transient=False,
        )
        total = file.stat().st_size
        task = progress.add_task("importing", total=total, records=0, rate=0.0)
        last_line = time.monotonic()

        def on_skip(path: Path, line: int, reason: str) -> None:
            nonlocal shown
            shown += 1
            if shown <= MAX_SHOWN_SKIPS:
                progress.console.print(f"[yellow]warning:[/] {escape(f'{path}:{line}: {reason}')} — skipped")
            if shown == MAX_SHOWN_SKIPS:
                progress.console.print("[yellow]warning:[/] further malformed records are skipped and counted, "
                                       "not shown (`retest snapshot info` lists the first ones)")

        def on_progress(p: Any) -> None:
            nonlocal last_line
            progress.update(task, completed=p.bytes_done, records=p.imported, rate=p.rate)
            if not live and not quiet and time.monotonic() - last_line >= 10:
                last_line = time.monotonic()
                left = (total - p.bytes_done) / (p.bytes_done / p.seconds_this_run) if p.bytes_done else 0
                err_console.print(f"importing: {p.bytes_done / max(1, total):.0%} · {p.imported:,} records · "
                                  f"{p.rate:,.0f} rec/s · ETA {_duration(left)}")

        def on_phase(phase: str, detail: dict[str, Any]) -> None:
            if phase == "start":
                if detail.get("restarted_because"):
                    progress.console.print(f"starting over: {escape(detail['restarted_because'])}")
                if detail.get("resumed_at_line"):
                    progress.console.print(
                        f"resuming the interrupted import at line {detail['resumed_at_line']:,} "
                        f"({detail['imported']:,} records already in)")
            elif phase == "finishing":
                progress.update(task, completed=total, description="finishing")
                if not quiet:
                    progress.console.print("finishing: counting terms")

        try:
            with progress:
                res = import_snapshot(file, target, filters, strict=strict, restart=restart, on_skip=on_skip,
                                      on_progress=on_progress, on_phase=on_phase, batch_records=batch or BATCH_RECORDS)
        except MalformedRecord as e:  # exit 2; ImportLocked (3) and other SnapshotImportErrors (1): guarded
            raise UsageError(f"{e} (malformed record; the records before it are imported; rerun without "
                             "--strict to skip it, or fix the line and rerun)") from None
        s = res.stats
        if res.up_to_date:
            console.print(f"{escape(str(file))} is already imported ({s['records']:,} records) into "
                          f"{escape(str(res.index))}; --restart imports it again")
        else:
            rate = res.records_this_run / res.seconds if res.seconds else 0
            console.print(
                f"imported {s['records']:,} records from {escape(str(file))} "
                f"({res.records_this_run:,} in this run, {_duration(res.seconds)}, {rate:,.0f} records/s); "
                f"{s['skipped']:,} malformed skipped, {s['filtered']:,} filtered out, "
                f"{s['replaced']:,} duplicate ids replaced")
        files = [res.index, *shard_files(res.index, read_meta(res.index))]
        size = sum(f.stat().st_size for f in files if f.exists())
        also = f"; with {', '.join(escape(f.name) for f in files[1:])} beside it — move or copy them together" \
            if len(files) > 1 else ""
        console.print(f"index: {escape(str(res.index))} ({_size(size)}, "
                      f"{_size(size / max(1, s['records']))} a record{also})")
        if index is None:
            console.print(f"`retest run` searches it when RETEST_SNAPSHOT={escape(str(file.resolve()))} "
                          f"(with this RETEST_HOME), or RETEST_SNAPSHOT={escape(str(res.index))} anywhere")
        else:
            console.print(f"`retest run` searches it when RETEST_SNAPSHOT={escape(str(res.index))}")

    guarded(go)

@snapshot.command("info")
def info(
    target: Annotated[Path | None, typer.Argument(
        help="a snapshot file or an index (default: what `retest run` searches: RETEST_SNAPSHOT or the "
             "bundled snapshot)")] = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the description as JSON")] = False,
    all_categories: Annotated[bool, typer.Option("--all-categories", help="list every category")] = False,
) -> None:
    """Show what the snapshot index holds: records, dates, categories, size on disk, source file."""

    def go() -> None:
        from tools.arxiv.snapshot import SnapshotIndexError, describe_snapshot

        settings = make_settings(home=home)
        path = target or settings.snapshot
        try:
            d = describe_snapshot(path, index_path=settings.home / "snapshot.sqlite",
                                  imports_dir=settings.home / "snapshots")
        except (FileNotFoundError, SnapshotIndexError) as e:
            raise UsageError(str(e)) from None
        if as_json:
            console.print_json(json.dumps(d))
            return
        _print_info(console, d, all_categories)
        if d["status"] in ("not indexed", "unfinished"):
            sys.exit(int(ExitCode.UNEXPECTED))

    guarded(go)


def _print_info(console: Any, d: dict[str, Any], all_categories: bool) -> None:
    def row(label: str, value: str) -> None:
        console.print(f"[bold]{label:<11}[/] {value}")

    src = d.get("source") or {}
    if d["status"] == "not indexed":
        row("snapshot", escape(d["snapshot"]) + f" ({_size(src.get('size', 0))})")
        row("index", f"none yet: run `retest snapshot import {escape(d['snapshot'])}`")
        return
    if d["status"] == "unfinished":
        st = d["state"]
        row("index", f"{escape(d['index'])} (unfinished import)")
        row("source", escape(str(src.get("path"))))
        row("so far", f"{st.get('imported', 0):,} records, up to line {st.get('line', 0):,} "
                      f"({_size(st.get('offset', 0))} of {_size(src.get('size', 0))})")
        row("next", f"run `retest snapshot import {escape(str(src.get('path')))}` to finish it")
        return
    s = d["stats"]
    kind = "imported" if d["kind"] == "import" else "indexed on first use"
    row("index", f"{escape(d['index'])} ({kind})")
    state = "changed since it was imported: import it again" if d["status"] == "stale" else "unchanged"
    src_size = f", {_size(src['size'])}" if src.get("size") else ""
    row("source", f"{escape(str(src.get('path', d['snapshot'])))} ({state}{src_size})")
    row("records", f"{s['records']:,} (from {s['lines']:,} lines: {s['skipped']:,} malformed, "
                   f"{s['filtered']:,} filtered out, {s['replaced']:,} duplicate ids replaced)")
    f = d.get("filters") or {}
    filt = " · ".join(([f"since {f['since']}"] if f.get("since") else [])
                      + (["categories " + ", ".join(f["categories"])] if f.get("categories") else []))
    row("filters", escape(filt) or "none")
    est = f"; {s['estimated']:,} dated from their id" if s.get("estimated") else ""
    undated = f"; {s['undated']:,} undated" if s.get("undated") else ""
    row("dates", f"{_ymd(s.get('d_min'))} … {_ymd(s.get('d_max'))} (v1{est}{undated})")
    cats = sorted(s.get("cats", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    shown = cats if all_categories else cats[:10]
    more = "" if all_categories or len(cats) <= 10 else f" · … ({len(cats) - 10} more; --all-categories)"
    row("categories", f"{len(cats):,}: " + " · ".join(f"{escape(c)} {n:,}" for c, n in shown) + more)
    size = d["size_bytes"]
    row("size", f"{_size(size)} on disk ({_size(size / max(1, s['records']))} a record)")
    if d.get("shards"):
        row("shards", " · ".join(escape(Path(f).name) for f in d["shards"])
                      + " beside the index — move or copy them with it")
    if d["kind"] == "import":
        rate = s["records"] / s["elapsed_s"] if s.get("elapsed_s") else 0
        row("imported", f"{s.get('finished', '?')} in {_duration(s.get('elapsed_s', 0))} "
                        f"over {s.get('runs', 1)} run(s) ({rate:,.0f} records/s)")
    for m in d.get("skipped_examples") or []:
        row("malformed", escape(m))
