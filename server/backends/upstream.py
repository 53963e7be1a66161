"""Backend kind ``upstream``: any OpenAI-compatible hosted API, over the one shared httpx client.

This module owns the connection side (URL, key, headers, timeouts, error translation); the
provider profile owns the format quirks and ``normalize`` reads the answers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx
import orjson

from server.backends.base import Choice, Completion, Delta, Finish, StreamItem, Usage, replay, usage_from
from server.backends.normalize import ChoiceNormalizer, finish_reason, message_from_upstream
from server.backends.providers import PROFILES, NameMap, Profile, provider_call_id
from server.backends.sse import decode_chunk, sse_events
from server.config import UpstreamBackendConfig
from server.errors import BadGateway, GatewayTimeout, ProxyError, UpstreamError
from server.prepare import ChatJob, tool_choice_json
from server.resilience import timed_chunks
from server.routing import Target

_MAX_ERROR_BODY = 64 * 1024


class UpstreamBackend:
    def __init__(self, name: str, config: UpstreamBackendConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.config = config
        self.profile: Profile = PROFILES[config.provider]
        self._client = client
        self._url = f"{config.base_url}/chat/completions"
        self._url_obj = httpx.URL(self._url)
        t = config.timeouts
        self._timeout = httpx.Timeout(
            connect=t.connect, read=max(t.first_byte, t.idle), write=t.connect, pool=t.connect
        )
        self._extensions = {"timeout": self._timeout.as_dict()}
        self._headers = {"content-type": "application/json", "user-agent": "toolrelay/0.1", **config.headers}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"

    # ------------------------------------------------------------------ request

    def build_body(self, job: ChatJob, target: Target, *, stream: bool) -> tuple[dict[str, Any], NameMap]:
        body = dict(job.body)
        for key, value in target.config.defaults.items():
            body.setdefault(key, value)
        if target.config.max_tokens and "max_tokens" not in body and "max_completion_tokens" not in body:
            body["max_tokens"] = target.config.max_tokens
        body["model"] = target.upstream_model
        body["stream"] = stream
        if stream and self.profile.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            body.pop("stream_options", None)
        names = NameMap(self.profile, [t.name for t in job.tools])
        if job.tools:
            body["tools"] = [
                {**t, "function": {**t["function"], "name": names.out(t["function"]["name"])}} for t in body["tools"]
            ]
            if "tool_choice" in body:
                choice = job.tool_choice
                if choice.name is not None:
                    body["tool_choice"] = {"type": "function", "function": {"name": names.out(choice.name)}}
                elif choice.mode == "required":
                    body["tool_choice"] = self._required(target)
                else:
                    body["tool_choice"] = tool_choice_json(choice)
        else:
            body.pop("parallel_tool_calls", None)  # OpenAI rejects it without tools
        if not names.identity or self.profile.call_id_len is not None:
            body["messages"] = [self._map_message(m, names) for m in body["messages"]]
        return body, names

    def _required(self, target: Target) -> str:
        rule = self.profile.no_required
        if rule is not None and rule.search(target.upstream_model):
            return "auto"
        return self.profile.required_alias

    def _map_message(self, msg: dict[str, Any], names: NameMap) -> dict[str, Any]:
        calls = msg.get("tool_calls")
        if calls:
            msg = dict(msg)
            msg["tool_calls"] = [
                {
                    **c,
                    "id": provider_call_id(self.profile, c["id"]),
                    "function": {**c["function"], "name": names.out(c["function"]["name"])},
                }
                for c in calls
            ]
        elif msg.get("role") == "tool":
            msg = {**msg, "tool_call_id": provider_call_id(self.profile, msg["tool_call_id"])}
            if "name" in msg:
                msg["name"] = names.out(msg["name"])
        return msg

    def _request(self, body: Mapping[str, Any], request_id: str | None) -> httpx.Request:
        headers = self._headers if request_id is None else {**self._headers, "x-request-id": request_id}
        # Built directly rather than through client.build_request: the URL is parsed once, and the
        # client's merging of defaults (cookies, params, base URL) has nothing to add here.
        return httpx.Request(
            "POST", self._url_obj, content=orjson.dumps(body), headers=headers, extensions=self._extensions
        )

    async def _send(self, body: Mapping[str, Any], request_id: str | None) -> httpx.Response:
        """The response head, within ``first_byte`` seconds (connecting included)."""
        try:
            async with asyncio.timeout(self.config.timeouts.first_byte):
                response = await self._client.send(self._request(body, request_id), stream=True)
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc) from None
        except TimeoutError:
            raise GatewayTimeout(
                f"backend {self.name!r} sent no response within {self.config.timeouts.first_byte:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise BadGateway(f"cannot reach backend {self.name!r}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            try:
                raise await self._error_from(response)
            finally:
                await response.aclose()
        return response

    def _timeout_error(self, exc: httpx.TimeoutException) -> ProxyError:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return BadGateway(f"cannot connect to backend {self.name!r}: connect timed out")
        return GatewayTimeout(f"backend {self.name!r} did not answer in time")

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "***") if key else text

    async def _error_from(self, response: httpx.Response) -> ProxyError:
        raw = b""
        try:
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > _MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass
        headers = {}
        if "retry-after" in response.headers:
            headers["retry-after"] = response.headers["retry-after"]
        status = response.status_code
        try:
            err = orjson.loads(raw).get("error")
        except (orjson.JSONDecodeError, AttributeError):
            err = None
        if isinstance(err, dict):
            return UpstreamError(
                status,
                self._redact(str(err.get("message") or f"backend {self.name!r} answered {status}")),
                type=self._redact(str(err["type"])) if err.get("type") else None,
                param=self._redact(str(err["param"])) if err.get("param") else None,
                code=self._redact(str(err["code"])) if err.get("code") is not None else None,
                headers=headers,
            )
        if isinstance(err, str):
            return UpstreamError(status, self._redact(err), headers=headers)
        return UpstreamError(
            status if status < 500 else 502,
            f"backend {self.name!r} answered HTTP {status} with a body that is not an OpenAI error",
            type="upstream_error",
            headers=headers,
        )

    # ------------------------------------------------------------------ answers

    async def complete(self, job: ChatJob, target: Target) -> Completion:
        body, names = self.build_body(job, target, stream=False)
        deadline = time.monotonic() + self.config.timeouts.total
        response = await self._send(body, job.request_id)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                raw = await response.aread()
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc) from None
        except TimeoutError:
            raise GatewayTimeout(f"backend {self.name!r} ran past its total time limit") from None
        except httpx.HTTPError as exc:
            raise BadGateway(f"backend {self.name!r} broke the connection: {type(exc).__name__}") from None
        finally:
            await response.aclose()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadGateway(f"backend {self.name!r} answered with a body that is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise BadGateway(f"backend {self.name!r} answered without 'choices'")
        try:
            return self._completion(data, job, names)
        except (TypeError, ValueError, AttributeError, KeyError):
            raise BadGateway(f"backend {self.name!r} answered with a malformed completion") from None

    def _completion(self, data: dict[str, Any], job: ChatJob, names: NameMap) -> Completion:
        completion = Completion()
        for raw_choice in data["choices"]:
            message = message_from_upstream(raw_choice.get("message") or {}, job.tool_by_name, names.back)
            reason = finish_reason(raw_choice.get("finish_reason"), bool(message.tool_calls))
            completion.choices.append(Choice(message, reason))
        completion.usage = usage_from(data.get("usage"))
        return completion

    async def stream(self, job: ChatJob, target: Target) -> AsyncGenerator[StreamItem, None]:
        if job.tools and not (
            self.config.stream_tools if self.config.stream_tools is not None else self.profile.stream_tools
        ):
            for item in replay(await self.complete(job, target)):
                yield item
            return
        body, names = self.build_body(job, target, stream=True)
        response, chunks = await self._open_stream(body, job.request_id)
        normalizers: dict[int, ChoiceNormalizer] = {}
        finished: set[int] = set()
        usage: Usage | None = None
        try:
            async for payload in sse_events(chunks):
                chunk = decode_chunk(payload)
                if "error" in chunk and not chunk.get("choices"):
                    raise self._stream_error(chunk["error"])
                for raw_choice in chunk.get("choices") or ():
                    index = int(raw_choice.get("index") or 0)
                    norm = normalizers.get(index)
                    if norm is None:
                        norm = normalizers[index] = ChoiceNormalizer(job.tool_by_name, names.back)
                    for event in norm.delta(raw_choice.get("delta") or {}):
                        yield Delta(index, event)
                    reason = raw_choice.get("finish_reason")
                    if reason is not None and index not in finished:
                        finished.add(index)
                        for event in norm.finish():
                            yield Delta(index, event)
                        yield Finish(index, finish_reason(reason, norm.emitted_calls > 0))
                usage = usage_from(chunk.get("usage")) or usage
            await _drain(chunks)
        except (TypeError, ValueError, AttributeError, KeyError):
            raise BadGateway(f"backend {self.name!r} sent a malformed stream chunk") from None
        except httpx.TimeoutException:
            raise GatewayTimeout(f"backend {self.name!r} stalled in the middle of the stream") from None
        except httpx.HTTPError as exc:
            raise BadGateway(f"backend {self.name!r} broke the stream: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()
        if not normalizers or any(i not in finished for i in normalizers):
            raise BadGateway(f"backend {self.name!r} ended the stream before it finished")
        if usage is not None:
            yield usage

    async def _open_stream(
        self, body: Mapping[str, Any], request_id: str | None
    ) -> tuple[httpx.Response, AsyncIterator[bytes]]:
        """The response head of a stream, and its body bytes under the first-byte, idle and total limits."""
        t = self.config.timeouts
        sent = time.monotonic()
        response = await self._send(body, request_id)
        try:
            self._expect_event_stream(response)
        except ProxyError:
            await response.aclose()
            raise
        first = max(t.first_byte - (time.monotonic() - sent), 0.0)
        return response, timed_chunks(
            response.aiter_raw(), self.name, first=first, idle=t.idle, deadline=sent + t.total
        )

    def _expect_event_stream(self, response: httpx.Response) -> None:
        kind = response.headers.get("content-type", "")
        if "text/event-stream" not in kind:
            # An HTML page or a JSON body with status 200 where a stream was asked for: not the protocol.
            shown = self._redact(kind.split(";")[0].strip()[:60]) or "no content type"
            raise BadGateway(f"backend {self.name!r} answered a stream request with {shown}, not an event stream")

    def _stream_error(self, err: Any) -> ProxyError:
        if isinstance(err, dict):
            return UpstreamError(
                502,
                self._redact(str(err.get("message") or "upstream error")),
                type=self._redact(str(err.get("type") or "upstream_error")),
            )
        return UpstreamError(502, self._redact(str(err)), type="upstream_error")

    async def ready(self) -> bool:
        return True  # hosted APIs are not probed: a probe would cost the user money or quota

    async def aclose(self) -> None:
        return None


async def _drain(chunks: AsyncIterator[bytes], limit: int = 64 * 1024) -> None:
    """Read what follows ``[DONE]`` (usually only the body's terminator) so the connection goes back
    to the pool instead of being closed: a new connection per stream costs a TLS handshake."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            return


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic`` instant on the running loop's clock (``asyncio.timeout_at`` uses the latter)."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
