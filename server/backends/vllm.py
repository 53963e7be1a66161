"""Backend kind ``vllm``: toolrelay renders the prompt and parses the raw tokens itself.

For each request: the model's family adapter renders the conversation and tools into one prompt;
``tool_choice`` required/named adds the family's structured-outputs constraint (its ``prefill`` is
appended to the prompt and fed to the parser first, so the parser reads the whole call); the prompt
goes to vLLM's ``POST /v1/completions`` streaming, with ``skip_special_tokens: false`` so markers
survive and the family's stop strings; every text delta goes through the family parser, one parser
per choice. Non-streamed requests are the same stream, collected. Usage is vLLM's own count.

Connection concerns (replica choice, retry on another replica before the first byte, closing the
vLLM request when the client goes away) live here; the format lives in ``adapters/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson

from adapters import REGISTRY
from adapters.base import Adapter, Constraint, Parser
from server.backends.base import Completion, Delta, Finish, StreamItem, Usage, collect, usage_from
from server.backends.normalize import finish_reason
from server.backends.replicas import Replica, ReplicaPool
from server.backends.sse import decode_chunk, sse_events
from server.config import VllmBackendConfig
from server.errors import BadGateway, GatewayTimeout, ProxyError, ServiceUnavailable, UpstreamError
from server.prepare import ChatJob, adapter_messages
from server.routing import Target

# Sampling fields passed through to vLLM as the client sent them.
_PASSTHROUGH = ("temperature", "top_p", "n", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "user")
_MAX_ERROR_BODY = 64 * 1024


class _Retry(Exception):
    """The replica failed before anything reached the client: try another one."""

    def __init__(self, error: ProxyError, *, down: bool) -> None:
        self.error = error
        self.down = down


class VllmBackend:
    def __init__(self, name: str, config: VllmBackendConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.config = config
        self._client = client
        t = config.timeouts
        self._timeout = httpx.Timeout(
            connect=t.connect, read=max(t.first_byte, t.idle), write=t.connect, pool=t.connect
        )
        self._headers = {"content-type": "application/json"}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"
        self.pool = ReplicaPool(config.urls, client, interval=config.health_interval, timeout=t.connect)
        self._adapters: dict[str, Adapter] = {}

    # ------------------------------------------------------------------ request

    def adapter(self, target: Target) -> Adapter:
        """The family adapter; a model with its own chat template or ``family_options`` (e.g. the
        hermes ``auto_policy``) gets its own instance."""
        found = self._adapters.get(target.model)
        if found is None:
            family = target.family or ""
            base = REGISTRY[family]  # the config loader guarantees the family exists
            options: dict[str, Any] = dict(target.config.family_options)
            path = target.config.chat_template
            if path is not None:
                # Every family adapter takes the model's own template text as ``chat_template``.
                options["chat_template"] = Path(path).read_text(encoding="utf-8")
            # The config loader already built the family with these options once, so they are valid.
            found = type(base)(**options) if options else base
            self._adapters[target.model] = found
        return found

    def build_body(self, job: ChatJob, target: Target) -> tuple[dict[str, Any], Constraint | None]:
        adapter = self.adapter(target)
        prompt = adapter.render(
            adapter_messages(job), job.tools, job.tool_choice, parallel_tool_calls=job.parallel_tool_calls
        )
        constraint = adapter.constraint(job.tools, job.tool_choice, parallel_tool_calls=job.parallel_tool_calls)
        body: dict[str, Any] = {
            "model": target.upstream_model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "skip_special_tokens": False,
        }
        body.update(target.config.defaults)
        sent = job.body
        for key in _PASSTHROUGH:
            if sent.get(key) is not None:
                body[key] = sent[key]
        limit = sent.get("max_completion_tokens") or sent.get("max_tokens") or target.config.max_tokens
        if limit is not None:
            body["max_tokens"] = limit
        client_stop = sent.get("stop") or []
        body["stop"] = [*adapter.stop, *([client_stop] if isinstance(client_stop, str) else client_stop)]
        if constraint is not None:
            prompt += constraint.prefill
            body["structured_outputs"] = dict(constraint.structured_outputs)
        body["prompt"] = prompt
        return body, constraint

    # ------------------------------------------------------------------ answers

    async def complete(self, job: ChatJob, target: Target) -> Completion:
        return await collect(self.stream(job, target))

    async def stream(self, job: ChatJob, target: Target) -> AsyncGenerator[StreamItem, None]:
        body, constraint = self.build_body(job, target)
        headers = self._headers if job.request_id is None else {**self._headers, "x-request-id": job.request_id}
        if self.config.max_in_flight is not None and self.pool.in_flight >= self.config.max_in_flight:
            raise ServiceUnavailable(f"backend {self.name!r} has {self.pool.in_flight} requests in flight already")
        last: ProxyError | None = None
        for replica in self.pool.order():
            replica.in_flight += 1
            response: httpx.Response | None = None
            started = False
            try:
                content = orjson.dumps(await self._bounded(body, replica, target))
                response = await self._open(replica, content, headers)
                async with contextlib.aclosing(self._items(response, job, target, constraint)) as items:
                    async for item in items:
                        started = True
                        yield item
                return
            except _Retry as retry:
                if retry.down:
                    self.pool.mark_down(replica)
                if started:
                    raise retry.error from None
                last = retry.error
            finally:
                replica.in_flight -= 1
                if response is not None:
                    # Closing mid-stream drops the connection, which makes vLLM abort the request.
                    with contextlib.suppress(Exception):
                        await response.aclose()
        assert last is not None
        raise last

    async def _bounded(self, body: dict[str, Any], replica: Replica, target: Target) -> dict[str, Any]:
        """Without a limit from the client or the config, ask for the replica's context length: vLLM's
        completions default is 16 tokens (a null is read as that too), and it clamps a limit to what
        the prompt leaves, so the model's ``max_model_len`` means "until the turn ends"."""
        if "max_tokens" in body:
            return body
        context = await self.pool.context_length(replica, target.upstream_model)
        return body if context is None else {**body, "max_tokens": context}

    async def _open(self, replica: Replica, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        request = self._client.build_request(
            "POST", f"{replica.base_url}/completions", content=content, headers=headers, timeout=self._timeout
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise _Retry(BadGateway(f"cannot connect to backend {self.name!r}: timed out"), down=True) from None
            raise _Retry(GatewayTimeout(f"backend {self.name!r} did not answer in time"), down=False) from None
        except httpx.HTTPError as exc:
            raise _Retry(BadGateway(f"cannot reach backend {self.name!r}: {type(exc).__name__}"), down=True) from None
        if response.status_code >= 400:
            try:
                error = await self._error_from(response)
            finally:
                await response.aclose()
            if response.status_code >= 500:
                raise _Retry(error, down=False)
            raise error
        return response

    async def _items(
        self, response: httpx.Response, job: ChatJob, target: Target, constraint: Constraint | None
    ) -> AsyncGenerator[StreamItem, None]:
        adapter = self.adapter(target)
        tools = job.tools if job.tool_choice.mode != "none" else ()
        parsers: dict[int, Parser] = {}
        finished: set[int] = set()
        usage: Usage | None = None
        try:
            async for payload in sse_events(response.aiter_raw()):
                chunk = decode_chunk(payload)
                if chunk.get("error") is not None and not chunk.get("choices"):
                    raise UpstreamError(502, _error_message(chunk["error"]), type="upstream_error")
                for raw in chunk.get("choices") or ():
                    index = int(raw.get("index") or 0)
                    parser = parsers.get(index)
                    if parser is None:
                        parser = parsers[index] = adapter.parser(tools)
                        if constraint is not None:
                            for event in parser.feed(constraint.prefill):
                                yield Delta(index, event)
                    text = raw.get("text")
                    if text:
                        for event in parser.feed(text):
                            yield Delta(index, event)
                    reason = raw.get("finish_reason")
                    if reason is not None and index not in finished:
                        finished.add(index)
                        for event in parser.finish():
                            yield Delta(index, event)
                        calls = getattr(parser, "calls_emitted", 0)
                        yield Finish(index, finish_reason(reason, bool(calls)))
                usage = usage_from(chunk.get("usage")) or usage
        except httpx.TimeoutException:
            raise _Retry(
                GatewayTimeout(f"backend {self.name!r} stalled in the middle of the stream"), down=False
            ) from None
        except httpx.HTTPError as exc:
            raise _Retry(
                BadGateway(f"backend {self.name!r} broke the stream: {type(exc).__name__}"), down=True
            ) from None
        if not parsers or any(i not in finished for i in parsers):
            raise BadGateway(f"backend {self.name!r} ended the stream before it finished")
        if usage is not None:
            yield usage

    async def _error_from(self, response: httpx.Response) -> ProxyError:
        raw = b""
        with contextlib.suppress(httpx.HTTPError):
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > _MAX_ERROR_BODY:
                    break
        status = response.status_code
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        # vLLM answers {"error": {...}} (recent) or a flat {"object": "error", "message": ...} (older).
        err = data.get("error", data) if isinstance(data, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return UpstreamError(status, str(err["message"]), type="invalid_request_error" if status < 500 else None)
        return UpstreamError(status if status < 500 else 502, f"backend {self.name!r} answered HTTP {status}")

    async def ready(self) -> bool:
        self.pool.ensure_probing()
        return await self.pool.probe_all()

    async def aclose(self) -> None:
        await self.pool.aclose()


def _error_message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or "vLLM reported an error in the stream")
    return str(err)
