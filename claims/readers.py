"""Input readers: the research-prompt markdown shape, and YAML/JSON claim files.

Every problem with an input raises `InputError` naming the file, the line and what to do; the
faces turn it into one line on stderr and exit status 2.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from claims.dates import CLAIM_DATE_RE, parse_claim_date
from claims.models import AnchorPaper, Claim, ClaimSet, split_arxiv_id


class InputError(Exception):
    """A problem with an input file, located (path and line) and with what to do about it."""

    def __init__(self, path: str | Path, line: int | None, message: str, hint: str = ""):
        self.path = str(path)
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        hint = f" — {self.hint}" if self.hint else ""
        return f"{where}: {self.message}{hint}"


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


def read_markdown(path: Path, text: str) -> ClaimSet:
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

def _node_lines(doc_node: yaml.Node | None, key: str) -> list[int]:
    """Line numbers (1-based) of each item of the top-level sequence `key`."""
    if not isinstance(doc_node, yaml.MappingNode):
        return []
    for k, v in doc_node.value:
        if getattr(k, "value", None) == key and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def read_structured(path: Path, text: str) -> ClaimSet:
    is_json = path.suffix.lower() == ".json"
    claim_lines: list[int] = []
    anchor_lines: list[int] = []
    try:
        if is_json:
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
            node = yaml.compose(text)
            claim_lines = _node_lines(node, "claims")
            anchor_lines = _node_lines(node, "anchors")
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"broken JSON: {e.msg}", "fix the syntax at that line") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(path, mark.line + 1 if mark else None, f"broken YAML: {problem}",
                         "fix the syntax at that line (indentation, a missing ':' or quote)") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise InputError(path, 1, "no 'claims' list found",
                         "a claims file is a mapping with a 'claims:' list (see docs/claims-format.md)")
    if not data["claims"]:
        raise InputError(path, 1, "no claims found", "add at least one item under 'claims:'")
    claims: list[Claim] = []
    for idx, item in enumerate(data["claims"]):
        line = claim_lines[idx] if idx < len(claim_lines) else None
        if isinstance(item, str):
            m = _TRAILING_DATE.search(item)
            item = {"text": item[: m.start()].rstrip(" .") if m else item, "date": m["date"] if m else None}
        if not isinstance(item, dict):
            raise InputError(path, line, f"claim {idx + 1} is not a mapping", "give each claim 'text' and 'date'")
        date_val = item.get("claim_date", item.get("date"))
        if date_val is None:
            raise InputError(path, line, f"claim {idx + 1} has no date",
                             "add 'date: 2024' (a year, YYYY-MM or YYYY-MM-DD)")
        anchors_val = item.get("anchors", [])
        if isinstance(anchors_val, str):
            anchors_val = [anchors_val]
        try:
            claims.append(Claim(
                id=str(item.get("id") or f"c{idx + 1}"),
                text=str(item.get("text", "")).strip(),
                claim_date=str(date_val),
                anchors=[str(a) for a in anchors_val],
                line=line,
            ))
        except ValidationError as e:
            raise InputError(path, line, f"claim {idx + 1}: {_first_error(e)}",
                             "dates are YYYY, YYYY-MM or YYYY-MM-DD; arXiv ids look like 2305.11206") from None
        if not claims[-1].text:
            raise InputError(path, line, f"claim {idx + 1} has no text", "add 'text: …'")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(path, None, f"duplicate claim id {dup!r}", "give every claim a unique id")
    anchors: list[AnchorPaper] = []
    for idx, item in enumerate(data.get("anchors") or []):
        line = anchor_lines[idx] if idx < len(anchor_lines) else None
        if isinstance(item, str | int | float):
            item = {"arxiv_id": str(item)}
        if not isinstance(item, dict):
            raise InputError(path, line, f"anchor {idx + 1} is not a mapping", "give 'id', 'title', 'year'")
        try:
            anchors.append(AnchorPaper(
                arxiv_id=str(item.get("arxiv_id", item.get("id", ""))),
                title=item.get("title"),
                year=item.get("year"),
                line=line,
            ))
        except ValidationError as e:
            raise InputError(path, line, f"anchor {idx + 1}: {_first_error(e)}",
                             "use a new-style id like 2505.22907 or an old-style one like hep-th/9901001") from None
    asks = [str(a) for a in data.get("asks") or []]
    return ClaimSet(source=str(path), question=data.get("question"), claims=claims, anchors=anchors, asks=asks)


def read_claims(path: str | Path) -> ClaimSet:
    """Read a claims file: markdown (.md/.txt) or YAML/JSON (.yaml/.yml/.json)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(p, None, "file not found", "check the path") from None
    except IsADirectoryError:
        raise InputError(p, None, "is a directory", "pass a claims file (.md, .yaml or .json)") from None
    except UnicodeDecodeError as e:
        raise InputError(p, None, f"not UTF-8 text ({e.reason})", "save the file as UTF-8") from None
    except OSError as e:
        raise InputError(p, None, f"cannot read file ({e.strerror})", "check its permissions") from None
    if p.suffix.lower() in (".yaml", ".yml", ".json"):
        return read_structured(p, text)
    return read_markdown(p, text)


__all__ = ["InputError", "read_claims", "read_markdown", "read_structured", "CLAIM_DATE_RE"]
