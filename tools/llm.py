"""A chat model over any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's server),
answering in JSON, with one retry policy, a per-run budget and call/token counters.

- Structured output: `response_format={"type": "json_schema", ...}` first; a server that rejects it
  with a 400 naming response_format/json_schema (llama.cpp's server, older Ollama/vLLM) is switched
  to `{"type": "json_object"}` for the rest of the run, with the schema stated in the prompt.
- Retries (tenacity, the only retry policy: the openai client runs with max_retries=0): 429, 5xx,
  timeouts and connection errors, honouring Retry-After (bounded by `max_wait`), at most
  `max_attempts` tries per call.
- Budget: `calls` and `tokens` count what this model spent; a call that would start past
  `max_calls` or `max_tokens` raises `BudgetExhausted` instead of reaching the server.
- Deadline: `timeout` bounds each whole HTTP request, from connecting to the last byte of the answer
  (not each read: a server that trickles a byte every few seconds is cut off at `timeout`). A timed-out
  request is retried like any timeout, so one call takes at most about `max_attempts` × `timeout` plus
  the waits between attempts.
- A broken server never ends a run: an answer that is not JSON (or not text at all), or anything else
  the client raises, becomes an `LLMError`, which the judges turn into their offline fallback and a flag.
- Secrets: the API key (and anything shaped like a key) is redacted from every error message and from
  the model's answers before they leave this module (claims/safety.py), so a server that echoes the key
  cannot get it copied into a report, a checkpoint or the chat history.

This is a tool: it never imports `agent`.
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlparse

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from claims.safety import redact, redact_obj, register_secret

Message = dict[str, str]


class LLMError(Exception):
    """The model could not give an answer (server error after retries, timeout, refusal...)."""


class LLMOutputInvalid(LLMError):
    """The model answered, but not with one JSON object."""

    def __init__(self, message: str, raw: str = ""):
        super().__init__(message)
        self.raw = raw


class BudgetExhausted(LLMError):
    """The run's LLM budget (calls or tokens) is spent; no request was sent."""


class ToolsUnsupported(LLMError):
    """The server rejected a request carrying `tools` (HTTP 400 naming tools/functions)."""


@runtime_checkable
class ChatModel(Protocol):
    name: str
    calls: int
    tokens: int

    def complete_json(self, messages: list[Message], schema: dict, name: str) -> dict: ...


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse_json_object(text: str) -> dict:
    """The one JSON object in a model's answer (a ```json fence around it is tolerated)."""
    if text is None or not text.strip():
        raise LLMOutputInvalid("empty answer", text or "")
    t = text.strip()
    m = _FENCE.match(t)
    if m:
        t = m.group(1)
    try:
        obj = json.loads(t)
    except json.JSONDecodeError as e:
        raise LLMOutputInvalid(f"not valid JSON ({e.msg} at char {e.pos})", text) from None
    if not isinstance(obj, dict):
        raise LLMOutputInvalid(f"expected a JSON object, got {type(obj).__name__}", text)
    return obj


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(ra).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _is_transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code == 408 or exc.status_code >= 500
    return False


def _bad_request_text(exc: BaseException) -> str | None:
    """The lower-cased text of a 400/422 answer (message and body), else None."""
    import openai

    if not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return None
    text = str(exc).lower()
    try:
        text += " " + exc.response.text.lower()
    except Exception:
        pass
    return text


def _rejects_json_schema(exc: BaseException) -> bool:
    text = _bad_request_text(exc)
    return text is not None and any(w in text for w in ("response_format", "json_schema", "response format"))


def _rejects_tools(exc: BaseException) -> bool:
    text = _bad_request_text(exc)
    return text is not None and any(w in text for w in ("tool", "function"))


def _rejects_param(exc: BaseException, param: str) -> bool:
    import openai

    return isinstance(exc, openai.BadRequestError) and param in str(exc).lower()


def _first_message(resp: Any) -> tuple[Any, Any]:
    """The first choice and its message, or LLMOutputInvalid."""
    try:
        choice = resp.choices[0]
        return choice, choice.message
    except (AttributeError, IndexError, TypeError) as e:
        raise LLMOutputInvalid("the server's answer has no message", "") from e


# -- a whole-request deadline under the openai client ---------------------------------------------------
# The client's `timeout` bounds each socket read; the deadline below bounds the request. It lives in the
# network layer (httpcore2's NetworkBackend), so connecting, sending, the status line, the headers and
# every chunk of the body all count against it, and the socket is given only the time that is left.


class _Deadline(threading.local):
    at: float | None = None


def _env_proxy(base_url: str | None) -> str | None:
    """The proxy the environment names for BASE_URL (HTTPS_PROXY, ALL_PROXY, NO_PROXY …), as the SDK's
    own client would use it (a client given its own transport no longer reads them itself)."""
    url = urlparse(base_url or "https://api.openai.com/v1")
    proxies = urllib.request.getproxies()
    if not proxies or (url.hostname and urllib.request.proxy_bypass(url.hostname)):
        return None
    return proxies.get(url.scheme or "https") or proxies.get("all")


def _deadline_http_client(total: float, base_url: str | None = None) -> Any:
    """An httpx2 client for the openai SDK whose every request must finish within TOTAL seconds, or None
    where the installed transport offers no hook (then the SDK's per-read timeout is all there is)."""
    try:
        import httpcore2
        import openai
    except ImportError:
        return None
    deadline = _Deadline()

    def left(timeout: float | None, exc: type[Exception]) -> float | None:
        at = deadline.at
        if at is None:
            return timeout
        rest = at - time.monotonic()
        if rest <= 0:
            raise exc(f"the whole request took longer than {total:g}s")
        return rest if timeout is None else min(timeout, rest)

    class Stream(httpcore2.NetworkStream):
        def __init__(self, inner: Any):
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, left(timeout, httpcore2.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            return self._inner.write(buffer, left(timeout, httpcore2.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
            return Stream(self._inner.start_tls(ssl_context, server_hostname, left(timeout, httpcore2.ConnectTimeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore2.NetworkBackend):
        def __init__(self, inner: Any):
            self._inner = inner

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Any = None):
            return Stream(self._inner.connect_tcp(host, port, left(timeout, httpcore2.ConnectTimeout), local_address,
                                                  socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
            return Stream(self._inner.connect_unix_socket(path, left(timeout, httpcore2.ConnectTimeout),
                                                          socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    try:
        import httpx2

        class Transport(httpx2.HTTPTransport):
            def handle_request(self, request: Any) -> Any:
                deadline.at = time.monotonic() + total  # the body is read after this returns, same thread
                return super().handle_request(request)

        proxy = _env_proxy(base_url)
        transport = Transport(proxy=proxy) if proxy else Transport()
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if inner is None:
            return None
        pool._network_backend = Backend(inner)
        return openai.DefaultHttpx2Client(transport=transport)
    except Exception:  # another transport layout: fall back to the SDK's own client
        return None


class OpenAIChatModel:
    """`complete_json(messages, schema, name) -> dict` over /v1/chat/completions.

    Thread-safe: claims run in parallel and share one model (and so one budget)."""

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_calls: int = 100,
        max_tokens: int = 400_000,
        *,
        max_attempts: int = 4,
        max_wait: float = 30.0,
        backoff: float = 1.0,
        temperature: float | None = 0.0,
        client: Any = None,
        cooldown: float = 120.0,
    ):
        if not model:
            raise ValueError("a model name is required")
        if client is None:
            if not (api_key or base_url):
                raise ValueError("set OPENAI_API_KEY (hosted) or OPENAI_BASE_URL (a local server)")
            from openai import OpenAI

            # A local server needs no key, but the client insists on one.
            client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0,
                            http_client=_deadline_http_client(timeout, base_url))
        register_secret(api_key)
        self.client = client
        self.model = model
        self.name = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.backoff = backoff
        self.temperature = temperature
        self.mode = "json_schema"  # becomes "json_object" once the server rejects json_schema
        self.calls = 0
        self.tokens = 0
        self.requests = 0  # HTTP requests, retries included
        self.cooldown = cooldown
        self._down: tuple[float, str] | None = None  # (when, why): the server failed every attempt
        self._lock = threading.Lock()

    # -- budget ---------------------------------------------------------------------------------

    def remaining(self) -> tuple[int, int]:
        return self.max_calls - self.calls, self.max_tokens - self.tokens

    def _check_up(self) -> None:
        """A server that just failed every attempt of a call (unreachable, timing out, 5xx) is not asked
        again for `cooldown` seconds: the remaining calls fail at once, so a run against a closed port
        or a dead server pays the retries once, not once per claim."""
        down = self._down
        if down is not None and time.monotonic() - down[0] < self.cooldown:
            raise LLMError(f"{down[1]} (not asked again: it failed all attempts "
                           f"{time.monotonic() - down[0]:.0f}s ago)")

    def _mark(self, e: BaseException, err: LLMError) -> LLMError:
        with self._lock:
            self._down = (time.monotonic(), str(err)) if _is_transient(e) else None
        return err

    def _reserve_call(self) -> None:
        self._check_up()
        with self._lock:
            if self.calls >= self.max_calls:
                raise BudgetExhausted(f"LLM call budget spent ({self.calls}/{self.max_calls} calls)")
            if self.tokens >= self.max_tokens:
                raise BudgetExhausted(f"LLM token budget spent ({self.tokens}/{self.max_tokens} tokens)")
            self.calls += 1

    def _add_tokens(self, resp: Any, messages: list[Message], content: str | None) -> None:
        usage = getattr(resp, "usage", None)
        n = getattr(usage, "total_tokens", None) if usage is not None else None
        if not isinstance(n, int):  # a server that reports no usage: estimate (4 characters a token)
            n = (sum(len(m.get("content") or "") for m in messages) + len(content or "")) // 4
        with self._lock:
            self.tokens += n

    # -- requests -------------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        ra = _retry_after(exc) if exc is not None else None
        if ra is not None:
            return min(ra, self.max_wait)
        return min(self.backoff * (2 ** (state.attempt_number - 1)), self.max_wait)

    def _messages_for(self, messages: list[Message], schema: dict) -> list[Message]:
        if self.mode == "json_schema":
            return messages
        # JSON-object mode: the server only promises JSON, so the schema goes into the prompt
        # (OpenAI's json_object mode also requires the word "JSON" in the messages).
        note = ("Respond with exactly one JSON object (no prose, no code fence) that validates against "
                "this JSON Schema:\n" + json.dumps(schema, separators=(",", ":")))
        return [{"role": "system", "content": note}, *messages]

    def _response_format(self, schema: dict, name: str) -> dict:
        if self.mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        return {"type": "json_object"}

    def _send(self, messages: list[Message], schema: dict, name: str) -> Any:
        def once() -> Any:
            with self._lock:
                self.requests += 1
            kw: dict[str, Any] = {
                "model": self.model,
                "messages": self._messages_for(messages, schema),
                "response_format": self._response_format(schema, name),
                "timeout": self.timeout,
            }
            if self.temperature is not None:
                kw["temperature"] = self.temperature
            return self.client.chat.completions.create(**kw)

        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        for _ in range(3):  # further passes only after adapting to what the server rejected
            try:
                return retrying(once)
            except Exception as e:
                if self.mode == "json_schema" and _rejects_json_schema(e):
                    with self._lock:
                        self.mode = "json_object"
                    continue
                if self.temperature is not None and _rejects_param(e, "temperature"):
                    with self._lock:  # some reasoning models accept only their default temperature
                        self.temperature = None
                    continue
                raise
        raise LLMError("unreachable")  # pragma: no cover

    def _error(self, e: BaseException) -> LLMError:
        """One clear LLMError for whatever the client raised after retries (secrets redacted)."""
        import openai

        if isinstance(e, openai.APITimeoutError):
            return LLMError(f"the model did not answer within {self.timeout:g}s ({self.max_attempts} attempt(s))")
        if isinstance(e, openai.APIStatusError):
            return LLMError(f"the model server answered HTTP {e.status_code}: {_short(str(e))}")
        if isinstance(e, UnicodeDecodeError):
            return LLMError("the model server's answer is not text (binary data where JSON was expected)")
        if isinstance(e, ValueError) and not isinstance(e, openai.OpenAIError):  # JSONDecodeError and kin
            return LLMError(f"the model server's answer is not JSON ({_short(str(e), 120)})")
        return LLMError(f"{type(e).__name__}: {_short(str(e))}")

    def complete_json(self, messages: list[Message], schema: dict, name: str) -> dict:
        """One call (counted against the budget); the answer as a dict.

        Raises BudgetExhausted (nothing sent), LLMOutputInvalid (answered, but not a JSON object)
        or LLMError (no answer after retries)."""
        import openai

        self._reserve_call()
        try:
            resp = self._send(messages, schema, name)
        except (openai.OpenAIError, ValueError) as e:  # ValueError: a 200 whose body is not JSON / not text
            raise self._mark(e, self._error(e)) from None
        except LLMError:
            raise
        except Exception as e:  # whatever else a broken server makes the client raise: never a crash
            raise self._error(e) from None
        self._down = None
        choice, msg = _first_message(resp)
        content = msg.content
        if content is not None and not isinstance(content, str):
            raise LLMOutputInvalid(f"the answer's content is {type(content).__name__}, not text", "")
        content = redact(content) if content else content
        self._add_tokens(resp, messages, content)
        if getattr(msg, "refusal", None):
            raise LLMOutputInvalid(f"the model refused: {_short(msg.refusal)}", content or "")
        if getattr(choice, "finish_reason", None) == "length":
            raise LLMOutputInvalid("the answer was cut off (finish_reason=length)", content or "")
        return parse_json_object(content or "")


    # -- tool calling (the chat's LLM mode) ---------------------------------------------------------

    def complete_tools(self, messages: list[dict[str, Any]], tools: list[dict],
                       tool_choice: str | None = None) -> dict:
        """One tool-calling turn over /v1/chat/completions (counted against the same budget as
        `complete_json`, with the same retry policy).

        Returns ``{"content": str, "tool_calls": [{"id", "name", "arguments"}], "finish_reason": str,
        "message": dict}``; ``arguments`` is the raw JSON string the model wrote and ``message`` is the
        assistant message to append to the conversation before the tool results. Pass ``tools=[]`` to
        ask for a plain answer. Raises BudgetExhausted (nothing sent), ToolsUnsupported (the server
        answered 400 to ``tools``), LLMOutputInvalid (no message) or LLMError (no answer)."""
        import openai

        self._reserve_call()

        def once() -> Any:
            with self._lock:
                self.requests += 1
            kw: dict[str, Any] = {"model": self.model, "messages": messages, "timeout": self.timeout}
            if tools:
                kw["tools"] = tools
                if tool_choice is not None:
                    kw["tool_choice"] = tool_choice
            if self.temperature is not None:
                kw["temperature"] = self.temperature
            return self.client.chat.completions.create(**kw)

        retrying = Retrying(retry=retry_if_exception(_is_transient), stop=stop_after_attempt(self.max_attempts),
                            wait=self._wait, reraise=True)
        try:
            for _ in range(2):
                try:
                    resp = retrying(once)
                    break
                except Exception as e:
                    if self.temperature is not None and _rejects_param(e, "temperature"):
                        with self._lock:
                            self.temperature = None
                        continue
                    raise
            else:  # pragma: no cover
                raise LLMError("unreachable")
        except openai.OpenAIError as e:
            if tools and isinstance(e, openai.APIStatusError) and _rejects_tools(e):
                raise ToolsUnsupported(f"the model server rejected tool calls (HTTP {e.status_code}): "
                                       f"{_short(str(e))}") from None
            raise self._mark(e, self._error(e)) from None
        except LLMError:
            raise
        except Exception as e:  # a 200 whose body is not JSON, or anything else a broken server causes
            raise self._error(e) from None
        self._down = None
        choice, msg = _first_message(resp)
        content = msg.content or ""
        if not isinstance(content, str):
            raise LLMOutputInvalid(f"the answer's content is {type(content).__name__}, not text", "")
        content = redact(content)
        self._add_tokens(resp, messages, content)
        if getattr(msg, "refusal", None):
            content = content or f"(the model refused: {_short(msg.refusal)})"
        calls = []
        for tc in getattr(msg, "tool_calls", None) or []:
            fn = getattr(tc, "function", None)
            if fn is None or not getattr(fn, "name", None):
                continue
            calls.append(redact_obj({"id": getattr(tc, "id", None) or f"call_{len(calls)}", "name": str(fn.name),
                                     "arguments": str(fn.arguments or "{}")}))
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
        return {"content": content, "tool_calls": calls,
                "finish_reason": getattr(choice, "finish_reason", None) or "", "message": message}


def _short(s: str, n: int = 200) -> str:
    """One line of at most N characters, with secrets (and anything shaped like a key) redacted."""
    s = " ".join(redact(s, shapes=True).split())
    return s if len(s) <= n else s[: n - 1] + "…"
