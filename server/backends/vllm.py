"""Backend kind ``vllm``: toolrelay renders the prompt and parses the raw tokens itself.

For each request: the model's family adapter (built once, at start-up, on its ``Target``) renders
the conversation and tools into one prompt; ``tool_choice`` required/named adds the family's
structured-outputs constraint (its ``prefill`` is appended to the prompt and fed to the parser
first, so the parser reads the whole call); the prompt goes to vLLM's ``POST /v1/completions``
streaming, with ``skip_special_tokens: false`` so markers survive and the family's stop strings;
every text delta goes through the family parser, one parser per choice. Non-streamed requests are
the same stream, collected. Usage is vLLM's own count.

This backend only picks a replica (``ReplicaPool``) and marks one it cannot reach as down; retrying
— on another replica, since the failed one is then last in line — is the dispatcher's job.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from adapters.arg_stream import stream_first_call
from adapters.base import Adapter, Constraint, Parser
from adapters.no_calls import parser_for
from server.backends.base import Completion, Delta, Finish, StreamItem, Usage, collect, usage_from
from server.backends.discovery import replica_pool
from server.backends.http import Endpoint, Unreachable
from server.backends.normalize import client_stop, finish_reason
from server.backends.replicas import Replica
from server.backends.sse import decode_chunk, sse_events
from server.backends.vllm_gate import AutoGate
from server.config import VllmBackendConfig
from server.errors import BadGateway, InvalidRequest, UpstreamError
from server.job import Job, family_messages
from server.routing import Target
from server.transport import Connections


def _adapter(target: Target) -> Adapter:
    assert target.adapter is not None, "the config loader requires a family for vllm models"
    return target.adapter


class VllmBackend:
    def __init__(self, name: str, config: VllmBackendConfig, connections: Connections) -> None:
        self.name = name
        self.config = config
        headers = {"content-type": "application/json"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.endpoint = Endpoint(name, connections, config.timeouts, headers, config.api_key)
        # fixed urls, or replicas found by DNS (discover); probes use the pool's httpx client
        self.pool = replica_pool(name, config, connections.client)
        # tool_choice auto on a model with an auto gate: call or text is decided first (vllm_gate.py)
        self.auto_gate = AutoGate(connections.client, headers)

    # ------------------------------------------------------------------ request

    def completion_body(self, job: Job, target: Target) -> tuple[dict[str, Any], Constraint | None]:
        if job.custom_tools:
            raise InvalidRequest(
                f"custom tools cannot be served by model {job.model!r}: its local family "
                f"({target.family}) calls function tools only",
                param="tools",
            )
        adapter = _adapter(target)
        prompt = adapter.render(
            family_messages(job),
            job.tools,
            job.tool_choice,
            parallel_tool_calls=job.parallel_tool_calls,
            reasoning_effort=job.reasoning_effort,
        )
        constraint = adapter.constraint(job.tools, job.tool_choice, parallel_tool_calls=job.parallel_tool_calls)
        body: dict[str, Any] = {
            "model": target.upstream_model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "skip_special_tokens": False,
        }
        body.update(target.config.defaults)
        body.update(job.sampling())
        limit = job.max_tokens if job.max_tokens is not None else target.config.max_tokens
        if limit is not None:
            body["max_tokens"] = limit
        body["stop"] = [*adapter.stop, *job.stop]
        if constraint is not None:
            prompt += constraint.prefill
            body["structured_outputs"] = dict(constraint.structured_outputs)
        body["prompt"] = prompt
        return body, constraint

    # ------------------------------------------------------------------ answers

    async def complete(self, job: Job, target: Target) -> Completion:
        return await collect(self.stream(job, target))

    async def stream(self, job: Job, target: Target) -> AsyncGenerator[StreamItem, None]:
        body, constraint = self.completion_body(job, target)
        replica = self.pool.pick()
        replica.in_flight += 1
        try:
            constraint = await self.auto_gate.apply(
                _adapter(target), body, constraint, replica_url=replica.base_url, model=target.model,
                messages=family_messages(job), tools=job.tools, tool_choice=job.tool_choice,
                parallel_tool_calls=job.parallel_tool_calls,
            )  # fmt: skip
            body = await self._bounded(body, replica, target)
            async with self.endpoint.stream(f"{replica.base_url}/completions", body, job.request_id) as chunks:
                async for item in self._items(chunks, job, target, constraint):
                    yield item
        except Unreachable:
            self.pool.mark_down(replica)
            raise
        except UpstreamError as err:
            if err.status >= 500:
                # An engine failing its requests while /health still says 200: the dispatcher's retry
                # must go to another replica, not to this one for having the fewest in flight. The
                # next healthy probe lets it back in.
                self.pool.mark_down(replica)
            raise
        finally:
            replica.in_flight -= 1

    async def _bounded(self, body: dict[str, Any], replica: Replica, target: Target) -> dict[str, Any]:
        """Without a limit from the client or the config, ask for the replica's context length: vLLM's
        completions default is 16 tokens (a null is read as that too), and it clamps a limit to what
        the prompt leaves, so the model's ``max_model_len`` means "until the turn ends"."""
        if "max_tokens" in body:
            return body
        context = await self.pool.context_length(replica, target.upstream_model)
        return body if context is None else {**body, "max_tokens": context}

    async def _items(
        self, chunks: Any, job: Job, target: Target, constraint: Constraint | None
    ) -> AsyncGenerator[StreamItem, None]:
        adapter = _adapter(target)
        # a forced call is typed by its schema, so its arguments can stream as written (arg_stream.py)
        incremental = target.config.stream_arguments == "incremental"
        stream_forced = incremental and constraint is not None and job.tool_choice.mode == "required"
        parsers: dict[int, Parser] = {}
        finished: set[int] = set()
        usage: Usage | None = None
        async for payload in sse_events(chunks):
            chunk = decode_chunk(payload)
            if chunk.get("error") is not None and not chunk.get("choices"):
                raise UpstreamError(502, _error_message(chunk["error"]), type="upstream_error")
            for raw in chunk.get("choices") or ():
                index = int(raw.get("index") or 0)
                parser = parsers.get(index)
                if parser is None:
                    # under tool_choice none, call markup the model writes anyway is cut out (no_calls.py)
                    parser = parsers[index] = parser_for(adapter, job.tools, job.tool_choice)
                    if stream_forced:
                        parser = parsers[index] = stream_first_call(parser, adapter.name, job.tools)
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
                    calls = parser.calls_emitted > 0
                    yield Finish(index, finish_reason(reason, calls), client_stop(raw.get("stop_reason"), job.stop))
            usage = usage_from(chunk.get("usage")) or usage
        if not parsers or any(i not in finished for i in parsers):
            raise BadGateway(f"backend {self.name!r} ended the stream before it finished")
        if usage is not None:
            yield usage

    async def count_tokens(self, job: Job, target: Target) -> int:
        """The exact prompt length: vLLM's ``POST /tokenize`` (at the server root, beside ``/v1``) on
        the very prompt ``stream`` would send, prefill included, tokenized as completions does."""
        body, _ = self.completion_body(job, target)
        replica = self.pool.pick()
        url = f"{replica.base_url.removesuffix('/v1')}/tokenize"
        tokenize = {"model": target.upstream_model, "prompt": body["prompt"]}
        try:
            data = await self.endpoint.json(url, tokenize, job.request_id)
        except Unreachable:
            self.pool.mark_down(replica)
            raise
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int):
            raise BadGateway(f"backend {self.name!r} answered /tokenize without a token count")
        return count

    async def ready(self) -> bool:
        self.pool.ensure_probing()
        return await self.pool.probe_all()

    async def aclose(self) -> None:
        await self.pool.aclose()


def _error_message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or "vLLM reported an error in the stream")
    return str(err)
