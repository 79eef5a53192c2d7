"""A loopback OpenAI-compatible server for tests: POST /v1/chat/completions, scripted, recording.

    with FakeOpenAI() as srv:              # or the `fake_openai` fixture in the tests
        srv.push(Reply.json({...}))        # answered in order; then `srv.handler(body)` if set
        srv.push(Reply.error(429, headers={"Retry-After": "1"}), Reply.text("{not json"))
        srv.url                            # http://127.0.0.1:PORT/v1 — for OPENAI_BASE_URL
        srv.requests                       # every request's parsed JSON body, in arrival order

`reject_json_schema = True` makes it answer a json_schema response format with a 400 the way
llama.cpp's server does, so a client must fall back to {"type": "json_object"}.

Broken servers: `Reply.raw(b"<html>…", content_type="application/json")` answers that body as is (not
JSON, or not even text); `Reply(..., trickle=2.0)` sends the whole response (status line, headers and
body) one byte every 2 s, for clients whose timeout bounds each read but not the request.
Nothing here reaches the network: it binds 127.0.0.1 on a free port.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message's content, for a 200
    body: dict | None = None  # a whole response body (overrides content)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (a timeout, from the client's side)
    usage: tuple[int, int] = (120, 40)  # prompt, completion tokens
    finish_reason: str = "stop"
    raw_body: bytes | None = None  # sent as is (overrides body and content)
    content_type: str = "application/json"
    trickle: float = 0.0  # seconds between single bytes of the whole response

    @classmethod
    def raw(cls, data: bytes, status: int = 200, content_type: str = "application/json", **kw) -> Reply:
        return cls(status=status, raw_body=data, content_type=content_type, **kw)

    @classmethod
    def json(cls, obj: Any, **kw) -> Reply:
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def text(cls, text: str, **kw) -> Reply:
        return cls(content=text, **kw)

    @classmethod
    def error(cls, status: int, message: str = "error", headers: dict[str, str] | None = None, **kw) -> Reply:
        return cls(status=status, body={"error": {"message": message, "type": "fake_error", "code": status}},
                   headers=headers or {}, **kw)


def completion(content: str, model: str = "fake", usage: tuple[int, int] = (120, 40),
               finish_reason: str = "stop") -> dict:
    p, c = usage
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
    }


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[Reply] = deque()
        self.handler: Callable[[dict], Reply] | None = None
        self.reject_json_schema = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._make_handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.script.clear()
            self.handler = None
            self.reject_json_schema = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _next(self, body: dict) -> Reply:
        rf = body.get("response_format") or {}
        if self.reject_json_schema and rf.get("type") == "json_schema":
            return Reply.error(400, "response_format type must be one of \"text\" or \"json_object\", "
                                    "but got: json_schema")
        with self._lock:
            if self.script:
                return self.script.popleft()
        if self.handler is not None:
            return self.handler(body)
        return Reply.error(500, "fake server: no scripted reply left")

    # -- serving -----------------------------------------------------------------------------------

    def _make_handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _trickle(self, status: int, data: bytes, content_type: str, every: float) -> None:
                head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                        f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
                        "Connection: close\r\n\r\n").encode()
                self.close_connection = True
                try:
                    for i in range(len(head + data)):
                        self.wfile.write((head + data)[i:i + 1])
                        self.wfile.flush()
                        time.sleep(every)
                except (BrokenPipeError, ConnectionResetError, OSError):  # the client gave up: good
                    pass

            def _send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None,
                      content_type: str = "application/json") -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                with srv._lock:
                    srv.requests.append(body)
                    srv.headers.append({k.lower(): v for k, v in self.headers.items()})
                try:
                    reply = srv._next(body)
                except Exception as e:  # a broken test handler: say so rather than hang
                    reply = Reply.error(500, f"fake server handler failed: {e!r}")
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw_body is not None:
                    payload: dict | bytes = reply.raw_body
                elif reply.body is not None:
                    payload = reply.body
                else:
                    payload = completion(reply.content or "", model=body.get("model", "fake"),
                                         usage=reply.usage, finish_reason=reply.finish_reason)
                if reply.trickle:
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    self._trickle(reply.status, data, reply.content_type, reply.trickle)
                    return
                self._send(reply.status, payload, reply.headers, reply.content_type)

        return Handler

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- helpers for tests that read what the client sent --------------------------------------------

def user_text(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")


def system_text(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system")


def format_name(body: dict) -> str | None:
    """The json_schema name ("plan" / "verdict"), or None in JSON-object mode."""
    rf = body.get("response_format") or {}
    return (rf.get("json_schema") or {}).get("name") if rf.get("type") == "json_schema" else None

