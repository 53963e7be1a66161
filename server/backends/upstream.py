"""Backend kind ``upstream``: any OpenAI-compatible hosted API, over the one shared connection pool.

A ``Job`` is written out as a chat completions body (``chat_body``, with the provider profile's
quirks); the connection (URL, key, timeouts, errors) is the shared ``Endpoint``; ``normalize``
reads the answers back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from adapters.base import ToolSpec
from server.backends.base import Choice, Completion, Delta, Finish, StreamItem, Usage, replay, usage_from
from server.backends.http import Endpoint, drain
from server.backends.normalize import ChoiceNormalizer, client_stop, finish_reason, message_from_upstream
from server.backends.providers import PROFILES, NameMap, Profile, provider_call_id
from server.backends.sse import decode_chunk, sse_events
from server.config import UpstreamBackendConfig
from server.errors import BadGateway, ProxyError, UpstreamError
from server.job import Job, Turn
from server.routing import Target
from server.transport import Connections

READY_TTL = 5.0  # seconds a readiness probe's answer is reused


def _function(t: ToolSpec, name: str) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": name, "parameters": dict(t.parameters)}
    if t.description:
        fn["description"] = t.description
    if t.strict:
        fn["strict"] = True
    return {"type": "function", "function": fn}


class UpstreamBackend:
    def __init__(self, name: str, config: UpstreamBackendConfig, connections: Connections) -> None:
        self.name = name
        self.config = config
        self.profile: Profile = PROFILES[config.provider]
        headers = {"content-type": "application/json", "user-agent": "toolrelay/0.1", **config.headers}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.endpoint = Endpoint(name, connections, config.timeouts, headers, config.api_key)
        self._url = f"{config.base_url}/chat/completions"
        self._ready: tuple[float, bool] = (-READY_TTL, False)

    # ------------------------------------------------------------------ request

    def chat_body(self, job: Job, target: Target, *, stream: bool) -> tuple[dict[str, Any], NameMap]:
        names = NameMap(self.profile, [t.name for t in job.tools])
        body: dict[str, Any] = {**job.extra}
        for key, value in target.config.defaults.items():
            body.setdefault(key, value)
        body.update(job.sampling())
        body["model"] = target.upstream_model
        body["messages"] = [self._message(t, names) for t in job.messages]
        limit = job.max_tokens if job.max_tokens is not None else target.config.max_tokens
        if limit is not None:
            body[job.max_tokens_key] = limit
        if job.stop:
            body["stop"] = list(job.stop)
        if job.response_format is not None:
            body["response_format"] = job.response_format
        if job.reasoning_effort is not None:
            body["reasoning_effort"] = job.reasoning_effort
        body["stream"] = stream
        if stream and self.profile.stream_usage:
            body["stream_options"] = {"include_usage": True}
        tools = [_function(t, names.out(t.name)) for t in job.tools] + [dict(t) for t in job.custom_tools]
        if tools:
            body["tools"] = tools
            if job.tool_choice.mode != "auto":  # auto: every provider's default; older ones reject the field
                body["tool_choice"] = self._tool_choice(job, target, names)
            if not job.parallel_tool_calls:
                body["parallel_tool_calls"] = False
        return body, names

    def _tool_choice(self, job: Job, target: Target, names: NameMap) -> str | dict[str, Any]:
        choice = job.tool_choice
        if job.custom_choice is not None:
            return {"type": "custom", "custom": {"name": job.custom_choice}}
        if choice.name is not None:
            return {"type": "function", "function": {"name": names.out(choice.name)}}
        if choice.mode == "required":
            rule = self.profile.no_required
            return "auto" if rule is not None and rule.search(target.upstream_model) else self.profile.required_alias
        return choice.mode

    def _message(self, turn: Turn, names: NameMap) -> dict[str, Any]:
        content: Any = list(turn.content) if isinstance(turn.content, tuple) else turn.content
        msg: dict[str, Any] = {"role": turn.role, "content": content}
        if turn.name is not None and turn.role != "tool":
            msg["name"] = turn.name
        if turn.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": provider_call_id(self.profile, c.id),
                    "type": "custom",
                    "custom": {"name": c.name, "input": c.arguments},
                }
                if c.custom
                else {
                    "id": provider_call_id(self.profile, c.id),
                    "type": "function",
                    "function": {"name": names.out(c.name), "arguments": c.arguments},
                }
                for c in turn.tool_calls
            ]
        if turn.reasoning:
            msg["reasoning_content"] = turn.reasoning
        if turn.tool_call_id is not None:
            msg["tool_call_id"] = provider_call_id(self.profile, turn.tool_call_id)
        return msg

    # ------------------------------------------------------------------ answers

    async def complete(self, job: Job, target: Target) -> Completion:
        body, names = self.chat_body(job, target, stream=False)
        data = await self.endpoint.json(self._url, body, job.request_id)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise BadGateway(f"backend {self.name!r} answered without 'choices'")
        try:
            return self._completion(data, job, names)
        except (TypeError, ValueError, AttributeError, KeyError):
            raise BadGateway(f"backend {self.name!r} answered with a malformed completion") from None

    def _completion(self, data: dict[str, Any], job: Job, names: NameMap) -> Completion:
        completion = Completion()
        for raw_choice in data["choices"]:
            message = message_from_upstream(raw_choice.get("message") or {}, job.tool_by_name, names.back)
            reason = finish_reason(raw_choice.get("finish_reason"), bool(message.tool_calls))
            completion.choices.append(Choice(message, reason, client_stop(raw_choice.get("stop_reason"), job.stop)))
        completion.usage = usage_from(data.get("usage"))
        return completion

    def _streams_tools(self) -> bool:
        configured = self.config.stream_tools
        return configured if configured is not None else self.profile.stream_tools

    async def stream(self, job: Job, target: Target) -> AsyncGenerator[StreamItem, None]:
        if (job.tools or job.custom_tools) and not self._streams_tools():
            for item in replay(await self.complete(job, target)):
                yield item
            return
        body, names = self.chat_body(job, target, stream=True)
        normalizers: dict[int, ChoiceNormalizer] = {}
        finished: set[int] = set()
        usage: Usage | None = None
        async with self.endpoint.stream(self._url, body, job.request_id) as chunks:
            try:
                async for payload in sse_events(chunks):
                    chunk = decode_chunk(payload)
                    if "error" in chunk and not chunk.get("choices"):
                        raise self._stream_error(chunk["error"])
                    for raw_choice in chunk.get("choices") or ():
                        index = int(raw_choice.get("index") or 0)
                        norm = normalizers.get(index)
                        if norm is None:
                            incremental = target.config.stream_arguments == "incremental"
                            norm = ChoiceNormalizer(job.tool_by_name, names.back, incremental=incremental)
                            normalizers[index] = norm
                        for event in norm.delta(raw_choice.get("delta") or {}):
                            yield Delta(index, event)
                        reason = raw_choice.get("finish_reason")
                        if reason is not None and index not in finished:
                            finished.add(index)
                            for event in norm.finish():
                                yield Delta(index, event)
                            mapped = finish_reason(reason, norm.calls_emitted > 0)
                            yield Finish(index, mapped, client_stop(raw_choice.get("stop_reason"), job.stop))
                    usage = usage_from(chunk.get("usage")) or usage
            except (TypeError, ValueError, AttributeError, KeyError):
                raise BadGateway(f"backend {self.name!r} sent a malformed stream chunk") from None
            await drain(chunks)
        if not normalizers or any(i not in finished for i in normalizers):
            raise BadGateway(f"backend {self.name!r} ended the stream before it finished")
        if usage is not None:
            yield usage

    def _stream_error(self, err: Any) -> ProxyError:
        redact = self.endpoint.redact
        if isinstance(err, dict):
            message = redact(str(err.get("message") or "upstream error"))
            return UpstreamError(502, message, type=redact(str(err.get("type") or "upstream_error")))
        return UpstreamError(502, redact(str(err)), type="upstream_error")

    # ------------------------------------------------------------------ readiness

    async def ready(self) -> bool:
        """Is the API reachable with our key? ``GET /models`` costs no tokens; the answer is kept
        for ``READY_TTL`` seconds so that a busy probe schedule sends few requests."""
        at, ok = self._ready
        now = time.monotonic()
        if now - at < READY_TTL:
            return ok
        headers = {k: v for k, v in self.endpoint.headers.items() if k != "content-type"}
        try:
            response = await self.endpoint.connections.client.get(
                f"{self.config.base_url}/models", headers=headers, timeout=self.config.timeouts.connect
            )
            # Any answer but a refused key or a server error means requests can get through; some
            # OpenAI-compatible servers have no /models (404) and still serve chat.
            ok = response.status_code < 500 and response.status_code not in (401, 403)
        except httpx.HTTPError:
            ok = False
        self._ready = (now, ok)
        return ok

    async def aclose(self) -> None:
        return None
