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

This is a tool: it never imports `agent`.
"""
from __future__ import annotations

import json
import re
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

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
    ):
        if not model:
            raise ValueError("a model name is required")
        if client is None:
            if not (api_key or base_url):
                raise ValueError("set OPENAI_API_KEY (hosted) or OPENAI_BASE_URL (a local server)")
            from openai import OpenAI

            # A local server needs no key, but the client insists on one.
            client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)
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
        self._lock = threading.Lock()

    # -- budget ---------------------------------------------------------------------------------

    def remaining(self) -> tuple[int, int]:
        return self.max_calls - self.calls, self.max_tokens - self.tokens

    def _reserve_call(self) -> None:
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
        """One clear LLMError for whatever the client raised after retries."""
        import openai

        if isinstance(e, openai.APITimeoutError):
            return LLMError(f"the model did not answer within {self.timeout:g}s ({self.max_attempts} attempt(s))")
        if isinstance(e, openai.APIStatusError):
            return LLMError(f"the model server answered HTTP {e.status_code}: {_short(str(e))}")
        return LLMError(f"{type(e).__name__}: {_short(str(e))}")

    def complete_json(self, messages: list[Message], schema: dict, name: str) -> dict:
        """One call (counted against the budget); the answer as a dict.

        Raises BudgetExhausted (nothing sent), LLMOutputInvalid (answered, but not a JSON object)
        or LLMError (no answer after retries)."""
        import openai

        self._reserve_call()
        try:
            resp = self._send(messages, schema, name)
        except openai.OpenAIError as e:
            raise self._error(e) from e
        choice, msg = _first_message(resp)
        content = msg.content
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
                                       f"{_short(str(e))}") from e
            raise self._error(e) from e
        choice, msg = _first_message(resp)
        content = msg.content or ""
        self._add_tokens(resp, messages, content)
        if getattr(msg, "refusal", None):
            content = content or f"(the model refused: {_short(msg.refusal)})"
        calls = []
        for tc in getattr(msg, "tool_calls", None) or []:
            fn = getattr(tc, "function", None)
            if fn is None or not getattr(fn, "name", None):
                continue
            calls.append({"id": getattr(tc, "id", None) or f"call_{len(calls)}", "name": fn.name,
                          "arguments": fn.arguments or "{}"})
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
        return {"content": content, "tool_calls": calls,
                "finish_reason": getattr(choice, "finish_reason", None) or "", "message": message}


def _short(s: str, n: int = 200) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"
