"""The sweep history: every sweep and every verdict, in SQLite in the data directory.

Tables
  sweeps(id, started, finished, status, window_from, window_to, as_of, judge, paths, stats, error)
      status: running | finished. A killed sweep stays `running` and the next sweep resumes it.
  sweep_files(sweep_id, path, thread_id, status, claims)  one row per claims file a sweep finished
  verdicts(sweep_id, claim_id, claim_uid, claim_text, claim_date, verdict, confidence, evidence_ids,
           judge, cache_key, cached, verdict_json, result_json, at)
      claim_id is `<file>#<id>`; claim_uid adds a hash of the text and date, so a changed text is a
      new claim (new evidence history, no cached verdict).
  evidence(claim_uid, claim_id, arxiv_id, first_seen_sweep, title, published)
  sources(claim_uid, ref_json, paper_json, sweep_id)  the source paper linked by the first sweep

Every write is one transaction; the database is in WAL mode so readers never block a sweep.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps(
    id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    window_from TEXT, window_to TEXT NOT NULL, as_of TEXT, judge TEXT, paths TEXT, stats TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS sweep_files(
    sweep_id INTEGER NOT NULL, path TEXT NOT NULL, thread_id TEXT, status TEXT NOT NULL, claims INTEGER,
    PRIMARY KEY(sweep_id, path));
CREATE TABLE IF NOT EXISTS verdicts(
    sweep_id INTEGER NOT NULL, claim_id TEXT NOT NULL, claim_uid TEXT NOT NULL, claim_text TEXT NOT NULL,
    claim_date TEXT NOT NULL, verdict TEXT NOT NULL, confidence REAL, evidence_ids TEXT, judge TEXT,
    cache_key TEXT, cached INTEGER, verdict_json TEXT, result_json TEXT, at TEXT NOT NULL,
    PRIMARY KEY(sweep_id, claim_uid));
CREATE INDEX IF NOT EXISTS verdicts_claim ON verdicts(claim_uid, sweep_id);
CREATE INDEX IF NOT EXISTS verdicts_claim_id ON verdicts(claim_id, sweep_id);
CREATE TABLE IF NOT EXISTS evidence(
    claim_uid TEXT NOT NULL, claim_id TEXT NOT NULL, arxiv_id TEXT NOT NULL, first_seen_sweep INTEGER NOT NULL,
    title TEXT, published TEXT, PRIMARY KEY(claim_uid, arxiv_id));
CREATE TABLE IF NOT EXISTS sources(
    claim_uid TEXT PRIMARY KEY, ref_json TEXT, paper_json TEXT, sweep_id INTEGER);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def claim_uid(claim_id: str, text: str, claim_date: str) -> str:
    h = hashlib.sha256(json.dumps([text, claim_date]).encode()).hexdigest()[:12]
    return f"{claim_id}@{h}"


@dataclass
class Sweep:
    id: int
    started: str
    finished: str | None
    status: str
    window_from: str | None
    window_to: str
    as_of: str | None
    judge: str | None
    paths: list[str]
    stats: dict[str, Any]
    error: str | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Sweep:
        return cls(id=r["id"], started=r["started"], finished=r["finished"], status=r["status"],
                   window_from=r["window_from"], window_to=r["window_to"], as_of=r["as_of"], judge=r["judge"],
                   paths=json.loads(r["paths"] or "[]"), stats=json.loads(r["stats"] or "{}"), error=r["error"])


class History:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.conn:
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sweeps ------------------------------------------------------------------------------------
    def running(self) -> Sweep | None:
        r = self.conn.execute("SELECT * FROM sweeps WHERE status='running' ORDER BY id DESC LIMIT 1").fetchone()
        return Sweep.from_row(r) if r else None

    def last_finished(self) -> Sweep | None:
        r = self.conn.execute("SELECT * FROM sweeps WHERE status='finished' ORDER BY id DESC LIMIT 1").fetchone()
        return Sweep.from_row(r) if r else None

    def sweep(self, sweep_id: int) -> Sweep | None:
        r = self.conn.execute("SELECT * FROM sweeps WHERE id=?", (sweep_id,)).fetchone()
        return Sweep.from_row(r) if r else None

    def sweeps(self) -> list[Sweep]:
        return [Sweep.from_row(r) for r in self.conn.execute("SELECT * FROM sweeps ORDER BY id")]

    def start(self, window_from: str | None, window_to: str, as_of: str | None, judge: str,
              paths: list[str]) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO sweeps(started, status, window_from, window_to, as_of, judge, paths) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (now_iso(), window_from, window_to, as_of, judge, json.dumps(paths)))
        return int(cur.lastrowid)

    def set_error(self, sweep_id: int, error: str | None) -> None:
        with self.conn:
            self.conn.execute("UPDATE sweeps SET error=? WHERE id=?", (error, sweep_id))

    def finish(self, sweep_id: int, stats: dict[str, Any], error: str | None = None) -> None:
        with self.conn:
            self.conn.execute("UPDATE sweeps SET status='finished', finished=?, stats=?, error=? WHERE id=?",
                              (now_iso(), json.dumps(stats), error, sweep_id))

    # -- files -------------------------------------------------------------------------------------
    def file_done(self, sweep_id: int, path: str) -> bool:
        r = self.conn.execute("SELECT 1 FROM sweep_files WHERE sweep_id=? AND path=? AND status='done'",
                              (sweep_id, path)).fetchone()
        return r is not None

    def files(self, sweep_id: int) -> list[sqlite3.Row]:
        return list(self.conn.execute("SELECT * FROM sweep_files WHERE sweep_id=? ORDER BY path", (sweep_id,)))

    # -- what earlier sweeps know about a claim ----------------------------------------------------
    def last_verdict(self, uid: str, before_sweep: int) -> sqlite3.Row | None:
        """The claim's latest verdict from a finished sweep before `before_sweep`."""
        return self.conn.execute(
            "SELECT v.*, s.window_to AS window_to FROM verdicts v JOIN sweeps s ON s.id = v.sweep_id "
            "WHERE v.claim_uid=? AND v.sweep_id < ? AND s.status='finished' ORDER BY v.sweep_id DESC LIMIT 1",
            (uid, before_sweep)).fetchone()

    def known_evidence(self, uid: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT arxiv_id FROM evidence WHERE claim_uid=? ORDER BY first_seen_sweep, arxiv_id", (uid,))]

    def known_source(self, uid: str) -> tuple[bool, dict[str, Any] | None]:
        r = self.conn.execute("SELECT ref_json, paper_json FROM sources WHERE claim_uid=?", (uid,)).fetchone()
        if r is None:
            return False, None
        if r["ref_json"] is None:
            return True, None
        return True, {"ref": json.loads(r["ref_json"]), "paper": json.loads(r["paper_json"])}

    # -- recording one file's results (one transaction) --------------------------------------------
    def record_file(self, sweep_id: int, path: str, thread_id: str, rows: list[dict[str, Any]]) -> None:
        """rows: one per claim with keys claim_id, uid, text, date, verdict, confidence, evidence_ids,
        judge, cache_key, cached, verdict_json, result_json, found [(arxiv_id, title, published)],
        source (None | {"ref", "paper"}) and has_source_row."""
        at = now_iso()
        with self.conn:
            for r in rows:
                self.conn.execute(
                    "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (sweep_id, r["claim_id"], r["uid"], r["text"], r["date"], r["verdict"], r["confidence"],
                     json.dumps(r["evidence_ids"]), r["judge"], r["cache_key"], int(bool(r["cached"])),
                     json.dumps(r["verdict_json"]), json.dumps(r["result_json"]), at))
                for aid, title, published in r["found"]:
                    self.conn.execute("INSERT OR IGNORE INTO evidence VALUES (?,?,?,?,?,?)",
                                      (r["uid"], r["claim_id"], aid, sweep_id, title, published))
                if "source" in r:
                    src = r["source"]
                    self.conn.execute(
                        "INSERT OR IGNORE INTO sources VALUES (?,?,?,?)",
                        (r["uid"], json.dumps(src["ref"]) if src else None,
                         json.dumps(src["paper"]) if src else None, sweep_id))
            self.conn.execute("INSERT OR REPLACE INTO sweep_files VALUES (?,?,?,'done',?)",
                              (sweep_id, path, thread_id, len(rows)))

    # -- reading -----------------------------------------------------------------------------------
    def verdicts(self, sweep_id: int) -> list[sqlite3.Row]:
        return list(self.conn.execute("SELECT * FROM verdicts WHERE sweep_id=? ORDER BY claim_id", (sweep_id,)))

    def new_evidence(self, uid: str, sweep_id: int) -> list[sqlite3.Row]:
        return list(self.conn.execute(
            "SELECT * FROM evidence WHERE claim_uid=? AND first_seen_sweep=? ORDER BY arxiv_id", (uid, sweep_id)))

    def timeline(self, claim: str | None = None) -> list[sqlite3.Row]:
        """Verdict rows (with each sweep's window), for claim ids equal to or ending with `claim`."""
        sql = ("SELECT v.*, s.window_from, s.window_to, s.status AS sweep_status FROM verdicts v "
               "JOIN sweeps s ON s.id = v.sweep_id")
        args: tuple = ()
        if claim:
            sql += " WHERE v.claim_id = ? OR v.claim_id LIKE ? ESCAPE '\\' OR v.claim_uid = ?"
            esc = claim.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args = (claim, f"%{esc}" if "#" in claim else f"%#{esc}", claim)
        sql += " ORDER BY v.claim_id, v.sweep_id"
        return list(self.conn.execute(sql, args))
