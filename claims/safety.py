"""Text that leaves retest: bidirectional controls neutralised, secrets redacted.

- ``neutralize(text)``: every bidi control (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) becomes
  a visible ``<U+202E>`` marker, so text from a claims file or a paper cannot reorder what a reader sees
  (a filename that reads ``txt.exe`` as ``exe.txt``). ``control=True`` also marks the other C0/C1 control
  characters (tab and newline stay), for single-line terminal output.
- ``json_text_safe(s)``: a JSON document's raw bidi characters as ``\\u202e`` escapes: the same data once
  parsed, harmless in a terminal or an editor.
- ``register_secret(value)`` / ``redact(text)`` / ``redact_obj(obj)``: the values registered (the
  configured API key, at least 12 characters) become ``[redacted]`` wherever retest writes text — error
  messages, reports, the chat history — so a server that echoes the key cannot get it copied to disk.

Nothing here changes what retest decides: it is applied to what is written and shown, never to the
evidence a judge reads.
"""
from __future__ import annotations

import re
import threading
from typing import Any

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")

REDACTED = "[redacted]"
MIN_SECRET_LEN = 12
_PLACEHOLDERS = {"not-needed", "none", "null", "dummy", "changeme"}
# shapes of credentials worth hiding even when nobody registered them (error messages only)
_KEY_SHAPES = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}|\b(Bearer)\s+[A-Za-z0-9._\-]{16,}", re.I)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _marker(m: re.Match) -> str:
    return f"<U+{ord(m[0]):04X}>"


def neutralize(text: object, control: bool = False) -> str:
    """TEXT with bidi controls (and, with ``control``, other control characters) shown as ``<U+XXXX>``."""
    s = "" if text is None else str(text)
    return (_CONTROL_RE if control else _BIDI_RE).sub(_marker, s)


def has_bidi(text: str) -> bool:
    return bool(_BIDI_RE.search(text))


def json_text_safe(doc: str) -> str:
    """A serialised JSON document with raw bidi characters written as ``\\uXXXX`` escapes (inside a JSON
    document they can only occur in strings, where the escape means the same character)."""
    return _BIDI_RE.sub(lambda m: f"\\u{ord(m[0]):04x}", doc)


def register_secret(value: str | None) -> None:
    """Remember VALUE (an API key) so that ``redact`` hides it. Short or placeholder values are ignored."""
    if not value:
        return
    v = str(value).strip()
    if len(v) < MIN_SECRET_LEN or v.lower() in _PLACEHOLDERS:
        return
    with _secrets_lock:
        _secrets.add(v)


def secrets_registered() -> bool:
    return bool(_secrets)


def redact(text: object, shapes: bool = False) -> str:
    """TEXT with every registered secret replaced by ``[redacted]``; with ``shapes``, also anything that
    looks like a credential (``sk-…``, ``Bearer …``) — for error messages, not for evidence."""
    s = "" if text is None else str(text)
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for v in known:
        if v in s:
            s = s.replace(v, REDACTED)
    if shapes:
        s = _KEY_SHAPES.sub(lambda m: f"{m[1]} {REDACTED}" if m[1] else REDACTED, s)
    return s


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-ready structure with every string passed through ``redact``."""
    if not _secrets:
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


def safe_for_output(text: object) -> str:
    """The one pass for free text shown to a person: secrets redacted, bidi controls neutralised."""
    return neutralize(redact(text))


__all__ = ["BIDI_CONTROLS", "REDACTED", "has_bidi", "json_text_safe", "neutralize", "redact", "redact_obj",
           "register_secret", "safe_for_output", "secrets_registered"]
