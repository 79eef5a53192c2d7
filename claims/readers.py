"""Input readers: the research-prompt markdown shape, and YAML/JSON claim files.

Every problem with an input raises `InputError` naming the file, the line and what to do; the
faces turn it into one line on stderr and exit status 2.

Limits (docs/limits.md): a claims file is at most `max_input_bytes` (RETEST_MAX_INPUT_BYTES), holds at
most `max_claims` claims (RETEST_MAX_CLAIMS), each at most `max_claim_chars` characters
(RETEST_MAX_CLAIM_CHARS). YAML anchors and aliases (`&a` / `*a`) are refused, so a few hundred bytes
cannot expand into gigabytes; every field must have the type docs/claims-format.md gives it (a claim's
text is a string, never a number, a list or null).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from claims.dates import CLAIM_DATE_RE, parse_claim_date
from claims.errors import InputError
from claims.models import AnchorPaper, Claim, ClaimSet, split_arxiv_id

DEFAULT_MAX_CLAIMS = 1000
DEFAULT_MAX_CLAIM_CHARS = 2000
DEFAULT_MAX_INPUT_BYTES = 1_000_000
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class InputLimits:
    """How much one claims file may hold (Settings.input_limits() builds it from the settings)."""

    max_claims: int = DEFAULT_MAX_CLAIMS
    max_claim_chars: int = DEFAULT_MAX_CLAIM_CHARS
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES

    @classmethod
    def from_env(cls) -> InputLimits:
        """The limits from RETEST_MAX_CLAIMS / RETEST_MAX_CLAIM_CHARS / RETEST_MAX_INPUT_BYTES (for callers
        without Settings). Raises ValueError naming a variable that is not a positive whole number."""
        vals: dict[str, int] = {}
        for field, var in (("max_claims", "RETEST_MAX_CLAIMS"), ("max_claim_chars", "RETEST_MAX_CLAIM_CHARS"),
                           ("max_input_bytes", "RETEST_MAX_INPUT_BYTES")):
            raw = os.environ.get(var)
            if raw is None or not raw.strip():
                continue
            try:
                vals[field] = int(raw.strip())
            except ValueError:
                raise ValueError(f"{var}={raw!r} is not a whole number") from None
            if vals[field] < 1:
                raise ValueError(f"{var}={raw!r} must be at least 1")
        return cls(**vals)


def _check_count(path: Path, n: int, limits: InputLimits, line: int | None) -> None:
    if n > limits.max_claims:
        raise InputError(path, line, f"more than {limits.max_claims} claims (the limit, RETEST_MAX_CLAIMS)",
                         "split the file, or raise RETEST_MAX_CLAIMS")


def _check_text(path: Path, idx: int, text: str, limits: InputLimits, line: int | None, what: str = "claim") -> None:
    if len(text) > limits.max_claim_chars:
        raise InputError(path, line, f"{what} {idx} is {len(text)} characters; the limit is {limits.max_claim_chars} "
                         "(RETEST_MAX_CLAIM_CHARS)", "shorten it to one sentence, or raise RETEST_MAX_CLAIM_CHARS")


# ---------------------------------------------------------------------------------------------
# Markdown (the research-prompt shape)

_CLAIMS_HEADING = re.compile(r"what .{0,40}found|dated claims|^#+\s*claims\b|^claims\s*:?\s*$", re.I)
_ANCHORS_HEADING = re.compile(r"anchor papers?|^#+\s*anchors\b|^anchors\s*:?\s*$", re.I)
_TASK_HEADING = re.compile(r"^(#+\s*)?your task\b|^(#+\s*)?tasks?\s*:?\s*$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+(?P<body>.+?)\s*$")
_TRAILING_DATE = re.compile(
    r"\(\s*(?P<date>\d{4}(?:-\d{2}(?:-\d{2})?)?)\s*\)\s*[.;,]?\s*$"
)
_ANCHOR_LINE = re.compile(
    r"^(?:arxiv\s*:\s*|https?://(?:export\.)?arxiv\.org/abs/)?(?P<id>[^\s(—–,;]+)"
    r"\s*(?:\(\s*(?P<year>\d{4})\s*\))?\s*(?:[—–:-]+\s*(?P<title>.+?))?\s*$",
    re.I,
)
_INLINE_ID = re.compile(r"arxiv\s*:\s*(\d{4}\.\d{4,5}(?:v\d+)?)", re.I)
_QUESTION = re.compile(r"the question remains open:\s*(?P<q>.+?\?)", re.I)


def _strip_md(s: str) -> str:
    return re.sub(r"[*_`]+", "", s).strip()


def read_markdown(path: Path, text: str, limits: InputLimits | None = None) -> ClaimSet:
    limits = limits or InputLimits()
    lines = text.splitlines()
    section: str | None = None
    claims: list[Claim] = []
    anchors: list[AnchorPaper] = []
    asks: list[str] = []
    question = None
    seen_anchor: set[str] = set()
    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if question is None and (m := _QUESTION.search(line)):
            question = m["q"].strip()
        bullet = _BULLET.match(raw)
        if not bullet:
            plain = _strip_md(line)
            if _ANCHORS_HEADING.search(plain):
                section = "anchors"
            elif _CLAIMS_HEADING.search(plain):
                section = "claims"
            elif _TASK_HEADING.search(plain):
                section = "task"
            elif section == "task":
                asks.append(plain)
            elif section in ("claims", "anchors") and plain.startswith("#"):
                section = None
            elif section == "anchors" and anchors:
                section = None  # prose after the anchor list ends it
            continue
        body = _strip_md(bullet["body"])
        if section == "claims":
            m = _TRAILING_DATE.search(body)
            if not m:
                raise InputError(
                    path, i, "claim has no date",
                    "end each claim with its year in parentheses, e.g. '… suffice for alignment (2024).'",
                )
            claim_text = body[: m.start()].rstrip(" .;,")
            try:
                parse_claim_date(m["date"])
            except ValueError as e:
                raise InputError(path, i, str(e), "use (YYYY), (YYYY-MM) or (YYYY-MM-DD)") from None
            _check_count(path, len(claims) + 1, limits, i)
            _check_text(path, len(claims) + 1, claim_text, limits, i)
            inline = []
            for mid in _INLINE_ID.finditer(claim_text):
                inline.append(split_arxiv_id(mid[1])[0])
            claims.append(
                Claim(id=f"c{len(claims) + 1}", text=claim_text, claim_date=m["date"], anchors=inline, line=i)
            )
        elif section == "anchors":
            m = _ANCHOR_LINE.match(body)
            if not m:
                raise InputError(path, i, f"cannot read anchor line {body!r}",
                                 "write anchors as 'arXiv:2505.22907 (2025) — Title'")
            try:
                arxiv_id = split_arxiv_id(m["id"])[0]
            except ValueError:
                raise InputError(path, i, f"malformed arXiv id {m['id']!r}",
                                 "use a new-style id like 2505.22907 or an old-style one like hep-th/9901001") from None
            if arxiv_id in seen_anchor:
                continue
            seen_anchor.add(arxiv_id)
            anchors.append(AnchorPaper(
                arxiv_id=arxiv_id,
                year=int(m["year"]) if m["year"] else None,
                title=(m["title"] or "").strip() or None,
                line=i,
            ))
        elif section == "task":
            asks.append(body)
    if not claims:
        raise InputError(
            path, None, "no claims found",
            "list claims as bullets under a heading such as 'What a curated library found — and when', "
            "each ending in '(YYYY)', or use a YAML claims file (see docs/claims-format.md)",
        )
    return ClaimSet(source=str(path), question=question, claims=claims, anchors=anchors, asks=asks)


# ---------------------------------------------------------------------------------------------
# YAML / JSON


class _Number(str):
    """A number as the file wrote it (YAML/JSON decimals): '2305.11206' stays '2305.11206', '0704.0001'
    keeps its leading zero. Where a string is wanted it is its exact text; where a list is wanted it is
    refused, with a hint to quote it."""


class _RefusedNode(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None, what: str):
        super().__init__(what)
        self.problem_mark = mark
        self.problem = what


class _ClaimsLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases (a few hundred bytes of `*a` must not expand into
    gigabytes), and with decimals kept as their text."""

    def compose_node(self, parent, index):  # type: ignore[override]
        ev = self.peek_event()
        if isinstance(ev, yaml.AliasEvent):
            raise _RefusedNode(ev.start_mark, f"YAML alias *{ev.anchor} is not allowed in a claims file")
        if getattr(ev, "anchor", None):
            raise _RefusedNode(ev.start_mark, f"YAML anchor &{ev.anchor} is not allowed in a claims file")
        return super().compose_node(parent, index)


_ClaimsLoader.add_constructor("tag:yaml.org,2002:float", lambda loader, node: _Number(node.value))


def _kind(v: Any) -> str:
    """What a value is, in the words of the file's author."""
    if v is None:
        return "empty (null)"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, _Number) or isinstance(v, int | float):
        return f"a number ({v})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, date):
        return f"a date ({v})"
    if isinstance(v, bytes):
        return "binary data"
    if isinstance(v, str):
        return "a string"
    return type(v).__name__


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and not isinstance(v, _Number)


def _node_lines(doc_node: yaml.Node | None, key: str) -> list[int]:
    """Line numbers (1-based) of each item of the top-level sequence `key`."""
    if not isinstance(doc_node, yaml.MappingNode):
        return []
    for k, v in doc_node.value:
        if getattr(k, "value", None) == key and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []


def _key_line(doc_node: yaml.Node | None, key: str) -> int | None:
    """The line (1-based) of the top-level key `key`, if the file is YAML and has it."""
    if not isinstance(doc_node, yaml.MappingNode):
        return None
    for k, _v in doc_node.value:
        if getattr(k, "value", None) == key:
            return k.start_mark.line + 1
    return None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
    return f"{loc}: {msg}" if loc else msg


def _parse(path: Path, text: str, is_json: bool) -> tuple[Any, yaml.Node | None]:
    try:
        if is_json:
            return json.loads(text, parse_float=_Number), None
        loader = _ClaimsLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        return data, node
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"broken JSON: {e.msg}", "fix the syntax at that line") from None
    except _RefusedNode as e:
        raise InputError(path, e.problem_mark.line + 1 if e.problem_mark else None, e.problem,
                         "write each value out in full") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(path, mark.line + 1 if mark else None, f"broken YAML: {problem}",
                         "fix the syntax at that line (indentation, a missing ':' or quote)") from None
    except RecursionError:
        raise InputError(path, None, "nested too deeply to be a claims file",
                         "a claims file is a mapping with a 'claims:' list (see docs/claims-format.md)") from None


def _claim_from(path: Path, idx: int, item: Any, line: int | None, limits: InputLimits) -> Claim:
    n = idx + 1
    if _is_text(item):
        m = _TRAILING_DATE.search(item)
        item = {"text": item[: m.start()].rstrip(" .") if m else item, "date": m["date"] if m else None}
    if not isinstance(item, dict):
        raise InputError(path, line, f"claim {n} is {_kind(item)}, not a mapping",
                         "give each claim 'text' and 'date' (see docs/claims-format.md)")
    text = item.get("text")
    if text is None or (_is_text(text) and not text.strip()):
        raise InputError(path, line, f"claim {n} has no text", "add 'text: …'")
    if not _is_text(text):
        raise InputError(path, line, f"claim {n}: 'text' is {_kind(text)}, not a string",
                         "write the claim as one sentence of text (quote it if YAML reads it otherwise)")
    text = text.strip()
    _check_text(path, n, text, limits, line)
    cid = item.get("id")
    if cid is None or (isinstance(cid, str) and not cid.strip()):
        cid = f"c{n}"
    elif isinstance(cid, int) and not isinstance(cid, bool):
        cid = str(cid)
    elif not isinstance(cid, str):
        raise InputError(path, line, f"claim {n}: 'id' is {_kind(cid)}, not a string", "use a short name like 'lima'")
    cid = cid.strip()
    if len(cid) > MAX_ID_CHARS:
        raise InputError(path, line, f"claim {n}: its id is {len(cid)} characters; the limit is {MAX_ID_CHARS}",
                         "use a short name like 'lima'")
    date_val = item.get("claim_date", item.get("date"))
    if date_val is None:
        raise InputError(path, line, f"claim {n} has no date", "add 'date: 2024' (a year, YYYY-MM or YYYY-MM-DD)")
    if isinstance(date_val, bool) or not isinstance(date_val, str | int | date):
        raise InputError(path, line, f"claim {n}: 'date' is {_kind(date_val)}",
                         "write 'date: 2024' (a year, YYYY-MM or YYYY-MM-DD)")
    anchors_val = item.get("anchors")
    if anchors_val is None:
        anchors_val = []
    elif _is_text(anchors_val):
        anchors_val = [anchors_val]
    elif isinstance(anchors_val, _Number) or (isinstance(anchors_val, int) and not isinstance(anchors_val, bool)):
        raise InputError(path, line, f"claim {n}: 'anchors' is {_kind(anchors_val)}, which YAML reads as a number",
                         f"write a list of quoted ids: anchors: ['{anchors_val}']")
    elif not isinstance(anchors_val, list):
        raise InputError(path, line, f"claim {n}: 'anchors' is {_kind(anchors_val)}, not a list",
                         "write a list of arXiv ids: anchors: ['2305.11206']")
    for a in anchors_val:
        if isinstance(a, bool) or not isinstance(a, str | int):
            raise InputError(path, line, f"claim {n}: an anchor is {_kind(a)}, not an arXiv id",
                             "write a list of arXiv ids: anchors: ['2305.11206']")
    try:
        return Claim(id=cid, text=text, claim_date=str(date_val), anchors=[str(a) for a in anchors_val], line=line)
    except ValidationError as e:
        raise InputError(path, line, f"claim {n}: {_first_error(e)}",
                         "dates are YYYY, YYYY-MM or YYYY-MM-DD; arXiv ids look like 2305.11206") from None


def _anchor_from(path: Path, idx: int, item: Any, line: int | None, limits: InputLimits) -> AnchorPaper:
    n = idx + 1
    if isinstance(item, str | int) and not isinstance(item, bool):
        item = {"arxiv_id": str(item)}
    if not isinstance(item, dict):
        raise InputError(path, line, f"anchor {n} is {_kind(item)}, not a mapping", "give 'id', 'title', 'year'")
    aid = item.get("arxiv_id", item.get("id"))
    if aid is None or isinstance(aid, bool) or not isinstance(aid, str | int):
        raise InputError(path, line, f"anchor {n}: 'id' is {_kind(aid)}", "give its arXiv id: id: '2305.11206'")
    title = item.get("title")
    if title is not None:
        if isinstance(title, bool) or not isinstance(title, str | int):
            raise InputError(path, line, f"anchor {n}: 'title' is {_kind(title)}, not a string", "quote the title")
        title = str(title)
        _check_text(path, n, title, limits, line, what="anchor title")
    year = item.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        if not (_is_text(year) and year.strip().isdigit() and len(year.strip()) == 4):
            raise InputError(path, line, f"anchor {n}: 'year' is {_kind(year)}, not a year", "write 'year: 2023'")
        year = int(year.strip())
    try:
        return AnchorPaper(arxiv_id=str(aid), title=title, year=year, line=line)
    except ValidationError as e:
        raise InputError(path, line, f"anchor {n}: {_first_error(e)}",
                         "use a new-style id like 2505.22907 or an old-style one like hep-th/9901001") from None


def read_structured(path: Path, text: str, limits: InputLimits | None = None) -> ClaimSet:
    limits = limits or InputLimits()
    is_json = path.suffix.lower() == ".json"
    data, node = _parse(path, text, is_json)
    claim_lines = _node_lines(node, "claims")
    anchor_lines = _node_lines(node, "anchors")
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise InputError(path, 1, "no 'claims' list found",
                         "a claims file is a mapping with a 'claims:' list (see docs/claims-format.md)")
    if not data["claims"]:
        raise InputError(path, 1, "no claims found", "add at least one item under 'claims:'")
    items = data["claims"]
    over = limits.max_claims
    _check_count(path, len(items), limits, claim_lines[over] if len(claim_lines) > over else None)
    claims = [_claim_from(path, idx, item, claim_lines[idx] if idx < len(claim_lines) else None, limits)
              for idx, item in enumerate(items)]
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        line = next((c.line for c in claims if c.id == dup and ids.count(dup) > 1), None)
        raise InputError(path, line, f"duplicate claim id {dup!r}", "give every claim a unique id")
    raw_anchors = data.get("anchors")
    if raw_anchors is None:
        raw_anchors = []
    elif _is_text(raw_anchors):
        raw_anchors = [raw_anchors]
    elif not isinstance(raw_anchors, list):
        raise InputError(path, _key_line(node, "anchors"), f"'anchors' is {_kind(raw_anchors)}, not a list",
                         "list the anchor papers: anchors: [{id: '2305.11206', title: '…', year: 2023}]")
    if len(raw_anchors) > limits.max_claims:
        raise InputError(path, _key_line(node, "anchors"),
                         f"more than {limits.max_claims} anchors (the limit, RETEST_MAX_CLAIMS)",
                         "split the file, or raise RETEST_MAX_CLAIMS")
    anchors = [_anchor_from(path, idx, item, anchor_lines[idx] if idx < len(anchor_lines) else None, limits)
               for idx, item in enumerate(raw_anchors)]
    question = data.get("question")
    if question is not None:
        if isinstance(question, bool) or not isinstance(question, str | int):
            raise InputError(path, _key_line(node, "question"), f"'question' is {_kind(question)}, not a string",
                             "write the question as one line of text")
        question = str(question).strip() or None
        if question:
            _check_text(path, 1, question, limits, _key_line(node, "question"), what="question")
    raw_asks = data.get("asks")
    if raw_asks is None:
        raw_asks = []
    elif _is_text(raw_asks):
        raw_asks = [raw_asks]
    elif not isinstance(raw_asks, list):
        raise InputError(path, _key_line(node, "asks"), f"'asks' is {_kind(raw_asks)}, not a list",
                         "list the tasks as strings: asks: ['…']")
    if len(raw_asks) > limits.max_claims:
        raise InputError(path, _key_line(node, "asks"), f"more than {limits.max_claims} asks",
                         "split the file, or raise RETEST_MAX_CLAIMS")
    asks: list[str] = []
    for i, a in enumerate(raw_asks, start=1):
        if isinstance(a, bool) or not isinstance(a, str | int):
            raise InputError(path, _key_line(node, "asks"), f"ask {i} is {_kind(a)}, not a string",
                             "list the tasks as strings: asks: ['…']")
        _check_text(path, i, str(a), limits, _key_line(node, "asks"), what="ask")
        asks.append(str(a))
    return ClaimSet(source=str(path), question=question, claims=claims, anchors=anchors, asks=asks)


def _read_text(p: Path, limits: InputLimits) -> str:
    try:
        with p.open("rb") as f:
            raw = f.read(limits.max_input_bytes + 1)
    except FileNotFoundError:
        raise InputError(p, None, "file not found", "check the path") from None
    except IsADirectoryError:
        raise InputError(p, None, "is a directory", "pass a claims file (.md, .yaml or .json)") from None
    except OSError as e:
        raise InputError(p, None, f"cannot read file ({e.strerror})", "check its permissions") from None
    if len(raw) > limits.max_input_bytes:
        raise InputError(p, None, f"larger than {limits.max_input_bytes:,} bytes (the limit, RETEST_MAX_INPUT_BYTES)",
                         "split the file, or raise RETEST_MAX_INPUT_BYTES")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(p, None, f"not UTF-8 text ({e.reason})", "save the file as UTF-8") from None

def read_claims(path: str | Path, limits: InputLimits | None = None) -> ClaimSet:
    """Read a claims file: markdown (.md/.txt) or YAML/JSON (.yaml/.yml/.json), within `limits`
    (default: InputLimits.from_env(), i.e. RETEST_MAX_* or the documented defaults)."""
    p = Path(path)
    if limits is None:
        try:
            limits = InputLimits.from_env()
        except ValueError as e:
            raise InputError(p, None, str(e), "set it to a positive whole number, or unset it") from None
    text = _read_text(p, limits)
    if p.suffix.lower() in (".yaml", ".yml", ".json"):
        return read_structured(p, text, limits)
    return read_markdown(p, text, limits)


__all__ = ["InputError", "InputLimits", "read_claims", "read_markdown", "read_structured", "CLAIM_DATE_RE"]
