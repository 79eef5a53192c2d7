"""`retest chat`: the terminal face of the chat session (Rich rendering, a prompt loop on stdin).

Works on a terminal (line editing and input history via readline, kept in RETEST_HOME/chat/) and on a
pipe (one message a line). Leaves on /quit or end of input; the conversation stays in
RETEST_HOME/chat/<thread>.json and `retest chat --thread ID` picks it up again.
"""
from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from claims.models import ClaimResult
from claims.safety import redact
from retest.chat.grammar import Reply
from retest.chat.render import evidence_groups
from retest.chat.session import ChatSession
from retest.progress import ProgressPrinter
from retest.terminal import safe_console

_VERDICT_STYLE = {"holds": "bold green", "weakened": "bold yellow", "superseded": "bold red",
                  "unresolved": "bold magenta", "pending": "dim"}


def _setup_readline(session: ChatSession):
    if not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:  # pragma: no cover - platform without readline
        return None
    hist = session.path.parent / ".history"
    try:
        readline.read_history_file(hist)
    except OSError:
        pass
    readline.set_history_length(1000)
    return lambda: _save_history(readline, hist)


def _save_history(readline, hist) -> None:
    try:
        hist.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(hist)
    except OSError:
        pass


def render_reply(console: Console, reply: Reply) -> None:
    """Everything that came from a paper or the user is printed with markup escaped."""
    k, d = reply.kind, reply.data
    if k == "empty":
        return
    if k == "error":
        console.print(f"[bold red]![/] {escape(reply.text)}")
        return
    if k in ("result", "why"):
        _render_result(console, d["number"], d["result"])
        return
    if k == "claims" and d.get("claims"):
        t = Table(show_lines=False, title=f"{len(d['claims'])} claim(s)")
        for col in ("#", "claim", "date", "verdict", "conf.", "flags"):
            t.add_column(col, overflow="fold")
        for r in d["claims"]:
            style = _VERDICT_STYLE.get(r["verdict"], "")
            conf = "—" if r["confidence"] is None else f"{r['confidence']:.2f}"
            t.add_row(str(r["number"]), escape(r["text"]), r["claim_date"], f"[{style}]{r['verdict']}[/]", conf,
                      escape(", ".join(r["flags"]) or "—"))
        console.print(t)
        return
    if k == "new":
        console.print(escape(reply.text.splitlines()[0]))
        for p in d["papers"]:
            console.print(f"  [dim]{p['published']}[/] [cyan]arXiv:{escape(p['arxiv_id'])}[/] {escape(p['title'])}"
                          f"  [link={p['url']}]{p['url']}[/link]")
        return
    if k == "report":
        console.print(Markdown(reply.text))
        return
    if k == "help":
        console.print(Panel(escape(reply.text), title="retest chat", border_style="cyan"))
        return
    console.print(escape(reply.text))


def _render_result(console: Console, number: int, r: dict) -> None:
    v = r["verdict"]
    style = _VERDICT_STYLE.get(v, "bold")
    console.print(f"[bold]Claim {number}[/] ({r['id']}): {escape(r['text'])} ({r['claim_date']})")
    console.print(f"Verdict: [{style}]{v}[/] (confidence {r['confidence']:.2f}, {escape(r['judge'])})")
    console.print(f"[bold]Why:[/] {escape(r['rationale'])}")
    src = r.get("source")
    if src:
        url = f"https://arxiv.org/abs/{src['arxiv_id']}"
        console.print(f"Source paper: [cyan]arXiv:{escape(src['arxiv_id'])}[/] — {escape(src['title'])} "
                      f"({src.get('published') or 'date unknown'}; {escape(src.get('how') or '')}) [link={url}]{url}[/link]")
    if r.get("date_rule"):
        console.print(f"[dim]Newer means: {escape(r['date_rule'])}[/]")
    for title, cites in evidence_groups(ClaimResult.model_validate(r)):
        console.print(f"[bold]{escape(title)}:[/]")
        for c in cites:
            score = f" p={c.score:.2f}" if c.score is not None else ""
            pub = f", {c.published}" if c.published else ""
            console.print(f"  {escape('[' + c.stance.value + score + ']')} [cyan]arXiv:{escape(c.arxiv_id)}[/] — {escape(c.title)}{pub} "
                          f"[link={c.url}]{c.url}[/link]")
            if c.quote:
                console.print(f"      [italic]“{escape(c.quote)}”[/]")
    if r.get("offline_verdict"):
        o = r["offline_verdict"]
        console.print(f"[dim]Offline judge on the same evidence: {escape(o['label'])} "
                      f"(confidence {o['confidence']:.2f}, {escape(o['judge'])})[/]")
    if r.get("rejected_citations"):
        console.print("[bold]Rejected citations[/] (failed a check; not counted as evidence):")
        for x in r["rejected_citations"]:
            where = (f"[cyan]arXiv:{escape(x['arxiv_id'])}[/] — {escape(x['title'])}" if x.get("resolves")
                     else f"{escape(x['arxiv_id'])} (no such record)")
            console.print(f"  {escape('[' + x['stance'] + ', rejected: ' + ', '.join(x['reasons']) + ']')} {where}")
            console.print(f"      [italic]“{escape(x['quote'])}”[/]")
    if r.get("flags"):
        console.print("[bold]Flags:[/] " + "; ".join(f"[yellow]{escape(f['code'])}[/] — {escape(f['detail'])}"
                                                    for f in r["flags"]))


def run_chat(settings, thread: str | None = None, console: Console | None = None) -> None:
    console = console or safe_console()  # bidi controls in claim or paper text are shown, not obeyed
    session = ChatSession(settings, thread)
    save_history = _setup_readline(session)
    if session.resumed:
        console.print(f"[cyan]resumed conversation[/] [bold]{session.thread}[/] — {len(session.claims)} claim(s), "
                      f"{len(session.messages) // 2} exchange(s). Last messages:")
        for m in session.messages[-4:]:
            who = "[bold cyan]you[/]" if m["role"] == "user" else "[bold]retest[/]"
            first = (m["text"].splitlines() or [""])[0]
            console.print(f"  {who}: {escape(first[:160])}")
    else:
        console.print(f"[bold]retest chat[/] — conversation [bold]{session.thread}[/] "
                      f"(as of {settings.today}, source {settings.source}). Type a dated claim, or /help.")
    printer = ProgressPrinter(console=safe_console(stderr=True))

    def progress(ev: dict) -> None:  # event details carry claim and paper text: no Rich markup from them
        printer({**ev, "claim": escape(str(ev.get("claim") or "run")), "detail": escape(str(ev.get("detail", "")))})
    try:
        while True:
            try:
                text = console.input("[bold cyan]you›[/] ")
            except EOFError:
                console.print()
                break
            try:
                reply = session.handle(text, on_event=progress)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one line, and the conversation goes on (RETEST_DEBUG=1: the traceback)
                if os.environ.get("RETEST_DEBUG"):
                    raise
                console.print(f"[bold red]![/] {escape(' '.join(redact(f'{type(e).__name__}: {e}', shapes=True).split())[:300])}"
                              " — the conversation goes on; try again or type /help")
                continue
            if reply.kind == "quit":
                console.print(f"[dim]{escape(reply.text)}[/]")
                break
            render_reply(console, reply)
    finally:
        if save_history:
            save_history()
