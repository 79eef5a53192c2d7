"""Report rendering: the Report model to markdown (Jinja2) and JSON, and the method text; writing the
pair of files so that a reader sees one run's report.md and report.json, never a mix.

Every value that comes from the input or from papers goes through a filter in the templates:
``md`` (inline text: markdown and HTML neutralised), ``code`` (inside a code span), ``aid`` / ``aid_url``
(an arXiv id as link text / in a link target), ``md_block`` (multi-paragraph text). All of them also
neutralise bidirectional controls and redact registered secrets (claims/safety.py).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from jinja2 import BaseLoader, Environment, PackageLoader, StrictUndefined

from claims.errors import OutDirError
from claims.models import Report
from claims.safety import json_text_safe, neutralize, redact, redact_obj


def _clean(text: object) -> str:
    return neutralize(redact(text), control=True)


def _md_escape(text: object) -> str:
    """Paper and user text is untrusted: neutralise markdown/HTML that could inject links or markup."""
    s = _clean(text)
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "[]|`*_":
        s = s.replace(ch, "\\" + ch)
    return _no_block_start(" ".join(s.split()))


_BLOCK_START = re.compile(r"^(?:([#+=-])|(\d{1,9})([.)]))")


def _no_block_start(s: str) -> str:
    """Text placed at the start of a line cannot open a heading or a list."""
    return _BLOCK_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", s, count=1)


def _md_block(text: object) -> str:
    """Multi-paragraph text (the method): HTML and links neutralised, paragraphs and emphasis kept."""
    paras = re.split(r"\n\s*\n", neutralize(redact(text)))
    out = []
    for para in paras:
        p = _clean(para).replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(_no_block_start(" ".join(p.replace("[", "\\[").replace("]", "\\]").split())))
    return "\n\n".join(x for x in out if x)


def _code(text: object) -> str:
    """Text inside a `code span`: no backtick can close it early; one line."""
    return " ".join(_clean(text).replace("`", "'").split()) or " "


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-/]{0,63}")


def _aid(text: object) -> str:
    """An arXiv id as link text: ids as arXiv writes them pass unchanged; anything else is escaped."""
    s = "" if text is None else str(text)
    return s if _SAFE_ID.fullmatch(s) else _md_escape(s)


def _aid_url(text: object) -> str:
    """An arXiv id inside a link target: percent-encoded, so it cannot close the link."""
    return quote(_clean(text), safe="/.-")


def template_env(loader: BaseLoader) -> Environment:
    """A Jinja2 environment for markdown outputs (the report here; a sweep's digest in retest/sweep/), with
    the filters above every value from the input or from papers goes through."""
    env = Environment(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, autoescape=False)
    env.filters.update(md=_md_escape, md_block=_md_block, code=_code, aid=_aid, aid_url=_aid_url)
    return env


_env = template_env(PackageLoader("agent", "templates"))


def _module_doc(obj) -> str:
    mod = sys.modules.get(type(obj).__module__)
    return " ".join(((mod.__doc__ if mod else "") or "").split())


def method_text(svc) -> str:
    """How the run decided: sources, judge and planner, with their documented rules."""
    parts = [
        f"Search source: {svc.source.name}. Evidence store: sentence-level chunks of abstracts, embedded with "
        f"{svc.embedder.name}. Judge: {svc.judge.name}. Planner: {svc.planner.name}.",
        "Verification flags are computed by code after the judge: every cited id is resolved against the "
        "search source, every quote is checked to be a verbatim span of its abstract (whitespace-normalised), "
        "dates come from arXiv records, not from the judge.",
    ]
    if doc := _module_doc(svc.judge):
        parts.append("Judge rules — " + doc)
    if doc := _module_doc(svc.planner):
        parts.append("Query planning — " + doc)
    parts += svc.method_notes
    return "\n\n".join(parts)


def render_markdown(report: Report) -> str:
    return redact(_env.get_template("report.md.j2").render(r=report))


def json_text(data: object) -> str:
    """JSON as retest writes it: indented, UTF-8, secrets redacted, bidi controls as \\u escapes."""
    return json_text_safe(json.dumps(redact_obj(data), indent=2, ensure_ascii=False)) + "\n"


def render_json(report: Report) -> str:
    return json_text(report.model_dump(mode="json"))


# ---------------------------------------------------------------------------------------------
# The output directory


def check_out_dir(out_dir: Path, what: str = "--out") -> Path:
    """Raise OutDirError (one line) unless OUT_DIR is, or can be created as, a writable directory.
    Creates nothing: the nearest existing ancestor is probed with a temporary file."""
    p = Path(out_dir).expanduser()
    probe_dir = p
    while not probe_dir.exists():
        if probe_dir.is_symlink():  # a dangling link: mkdir would fail on it
            raise OutDirError(f"{what} {p}: {probe_dir} is a broken symbolic link — pass a directory")
        parent = probe_dir.parent
        if parent == probe_dir:
            break
        probe_dir = parent
    if not probe_dir.is_dir():
        where = "is a file" if probe_dir == p else f"is inside {probe_dir}, which is a file"
        raise OutDirError(f"{what} {p} {where}, not a directory — pass a directory (it is created if missing)")
    probe = probe_dir / f".retest-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as e:
        where = "" if probe_dir == p else f" (its nearest existing parent {probe_dir})"
        raise OutDirError(f"{what} {p}{where} is not writable ({e.strerror}) — pass a directory you can "
                          f"write to") from None
    else:
        os.close(fd)
        try:
            os.unlink(probe)
        except OSError:
            pass
    return p


def write_pair(out_dir: Path, files: dict[str, str], stem: str) -> list[Path]:
    """Write FILES ({name: text}) into OUT_DIR so that they are replaced together.

    Layout: the texts go into a fresh generation directory ``.STEM-<stamp>-<pid>-<hex>/``;
    ``.STEM-current`` is a symbolic link to the generation in use; each ``OUT_DIR/NAME`` is a symbolic
    link to ``.STEM-current/NAME``. Publishing a generation is one atomic rename of ``.STEM-current``, so
    a process killed at any moment leaves the previous pair or the new one, never one of each; what a
    killed write leaves behind (``*.tmp``) is removed by the next write (never what a live writer is
    still working on). The generation before the current one is kept for readers still reading it.
    Where symbolic links are unavailable the files are replaced one by one (the old behaviour)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(out_dir, stem, files)
    current = out_dir / f".{stem}-current"
    gen = _write_generation(out_dir, stem, files)
    try:
        _adopt_plain_files(out_dir, stem, files, current)
        previous = _previous(current)
        _point(current, gen.name)
        for name in files:
            link = out_dir / name
            if not (link.is_symlink() and os.readlink(link) == f"{current.name}/{name}"):
                _point(link, f"{current.name}/{name}")
    except NotImplementedError:  # no symbolic links here: one file at a time
        shutil.rmtree(gen, ignore_errors=True)
        for name, text in files.items():
            tmp = out_dir / f"{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out_dir / name)
        return [out_dir / n for n in files]
    _fsync_dir(out_dir)
    _prune_generations(out_dir, stem, keep={gen.name, *previous})
    return [out_dir / n for n in files]


_OWNER = re.compile(r"[.-](\d+)-[0-9a-f]{6,8}(?:\.tmp)?$")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}-{secrets.token_hex(3)}"


def _owner_alive(name: str) -> bool:
    """Whether the process that made NAME (``…-<pid>-<hex>[.tmp]``) is another live process."""
    m = _OWNER.search(name)
    if not m:
        return False
    pid = int(m[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _write_generation(out_dir: Path, stem: str, files: dict[str, str]) -> Path:
    name = f".{stem}-{_stamp()}"
    tmp = out_dir / f"{name}.tmp"
    tmp.mkdir()
    for fname, text in files.items():
        with open(tmp / fname, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    final = out_dir / name
    os.replace(tmp, final)
    return final


def _point(link: Path, target: str) -> None:
    """Make LINK a symbolic link to TARGET, atomically (a new link renamed over the old one)."""
    tmp = link.with_name(f"{link.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        os.symlink(target, tmp)
    except (NotImplementedError, AttributeError):
        raise NotImplementedError from None
    except OSError as e:
        if getattr(e, "winerror", None) is not None or e.errno in (1, 38, 95):  # EPERM, ENOSYS, EOPNOTSUPP
            raise NotImplementedError from None
        raise
    os.replace(tmp, link)


def _adopt_plain_files(out_dir: Path, stem: str, files: dict[str, str], current: Path) -> None:
    """Reports written by an older retest are plain files: move them into a generation of their own
    first, so that switching to links never shows a new file beside an old one."""
    plain = [n for n in files if (out_dir / n).is_file() and not (out_dir / n).is_symlink()]
    if not plain:
        return
    gen = out_dir / f".{stem}-{_stamp()}"
    tmp = out_dir / f"{gen.name}.tmp"
    tmp.mkdir()
    for n in plain:
        shutil.copy2(out_dir / n, tmp / n)
    os.replace(tmp, gen)
    _point(current, gen.name)
    for n in plain:
        _point(out_dir / n, f"{current.name}/{n}")


def _previous(current: Path) -> set[str]:
    try:
        return {os.readlink(current)}
    except OSError:
        return set()


def _sweep_leftovers(out_dir: Path, stem: str, files: dict[str, str]) -> None:
    """What a killed write left: half-written generations and links, and the old scheme's temp files.
    Whatever a live writer (another process) is still working on is left alone."""
    leftovers = list(out_dir.glob(f".{stem}-*.tmp"))
    for name in files:
        leftovers += list(out_dir.glob(f"{name}.*.tmp"))
        leftovers.append(out_dir / f"{name}.tmp")
    for p in leftovers:
        if not (p.exists() or p.is_symlink()) or _owner_alive(p.name):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _prune_generations(out_dir: Path, stem: str, keep: set[str]) -> None:
    """Delete generations older than those kept (never one a live writer has just made)."""
    oldest_kept = min(keep)
    for p in out_dir.glob(f".{stem}-*"):
        if (p.is_dir() and not p.is_symlink() and not p.name.endswith(".tmp") and p.name != f".{stem}-current"
                and p.name not in keep and p.name < oldest_kept and not _owner_alive(p.name)):
            shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_reports(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md and report.json as one pair (``write_pair``): a reader sees one run's two files,
    never one of each run."""
    md, js = write_pair(Path(out_dir), {"report.md": render_markdown(report), "report.json": render_json(report)},
                        stem="report")
    return md, js
