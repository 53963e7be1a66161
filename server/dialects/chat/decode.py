"""Chat completions request → ``Job``: validation, legacy translation and the semantic checks.

Decided here once: the tools (legacy ``functions`` become tools, an ``allowed_tools`` choice
narrows them), the tool choice, the conversation with ``role: function`` turns turned into
``role: tool`` turns with ids, and the fields passed through untouched. Requests that would make
a backend fail in a confusing way (a named tool that is not offered, a broken tool-call
history, …) are rejected with a 400 that names the offending ``param``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.base import ToolChoice, ToolSpec
from server.config import Limits
from server.dialects.chat import wire
from server.dialects.chat.spec import check_fields
from server.dialects.checks import check_history, check_limits, invalid_from
from server.errors import InvalidRequest
from server.job import Call, Job, Turn

EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

# Fields the Job models; every other top-level field is passed through to hosted APIs.
_MODELLED = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "presence_penalty", "frequency_penalty", "stop", "seed", "user", "response_format", "reasoning_effort",
        "logit_bias",
    }
)  # fmt: skip


def validate(body: dict[str, Any]) -> wire.ChatRequest:
    try:
        req = wire.ChatRequest.model_validate(body)
    except ValidationError as err:
        raise invalid_from(err, body) from None
    check_fields(body)
    return req


def _tool_spec(fn: wire.FunctionDef) -> ToolSpec:
    return ToolSpec(
        name=fn.name,
        description=fn.description or "",
        parameters=fn.parameters if fn.parameters is not None else EMPTY_PARAMETERS,
        strict=bool(fn.strict),
    )


def _tools(req: wire.ChatRequest) -> tuple[tuple[ToolSpec, ...], tuple[Mapping[str, Any], ...]]:
    if req.tools is not None and req.functions is not None:
        raise InvalidRequest("use either 'tools' or the legacy 'functions', not both", param="functions")
    param = "tools" if req.tools is not None else "functions"
    functions: list[ToolSpec] = []
    custom: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(req.tools if req.tools is not None else req.functions or []):
        if isinstance(tool, wire.CustomToolDef):
            name, where = tool.custom.name, f"{param}.{i}.custom.name"
            custom.append(tool.model_dump(exclude_none=True))
        else:
            fn = tool.function if isinstance(tool, wire.ToolDef) else tool
            name, where = fn.name, f"{param}.{i}.function.name" if param == "tools" else f"{param}.{i}.name"
            functions.append(_tool_spec(fn))
        if name in seen:
            raise InvalidRequest(f"duplicate tool name {name!r}", param=where)
        seen.add(name)
    return tuple(functions), tuple(custom)


class _Choice:
    """The decoded choice: the function-tool choice, a forced custom tool, and the allowed subset."""

    def __init__(self, mode: ToolChoice, custom: str | None = None, allowed: frozenset[str] | None = None) -> None:
        self.mode = mode
        self.custom = custom
        self.allowed = allowed


def _choice(req: wire.ChatRequest, functions: set[str], customs: set[str]) -> _Choice:
    if req.tool_choice is not None and req.function_call is not None:
        raise InvalidRequest("use either 'tool_choice' or the legacy 'function_call'", param="function_call")
    choice = req.tool_choice if req.tool_choice is not None else req.function_call
    param = "tool_choice" if req.tool_choice is not None else "function_call"
    offered = functions | customs
    if choice is None:
        return _Choice(ToolChoice("auto" if offered else "none"))
    if isinstance(choice, str):
        if choice == "required" and not offered:
            raise InvalidRequest("tool_choice 'required' needs at least one tool in 'tools'", param=param)
        return _Choice(ToolChoice(choice if offered else "none"))
    if isinstance(choice, wire.AllowedToolsChoice):
        names = [ref.name for ref in choice.allowed_tools.tools]
        unknown = [n for n in names if n not in offered]
        if unknown:
            raise InvalidRequest(
                f"tool_choice.allowed_tools lists {unknown[0]!r}, which is not among the request's tools",
                param="tool_choice.allowed_tools.tools",
            )
        return _Choice(ToolChoice(choice.allowed_tools.mode), allowed=frozenset(names))
    if isinstance(choice, wire.NamedCustomChoice):
        if choice.custom.name not in customs:
            raise InvalidRequest(
                f"tool_choice names custom tool {choice.custom.name!r}, which is not among the request's tools",
                param="tool_choice",
            )
        return _Choice(ToolChoice("required"), custom=choice.custom.name)
    name = choice.function.name if isinstance(choice, wire.NamedToolChoice) else choice.name
    if name not in functions:
        raise InvalidRequest(
            f"{param} names function {name!r}, which is not among the request's "
            f"{'tools' if param == 'tool_choice' else 'functions'}",
            param=param,
        )
    return _Choice(ToolChoice("required", name))


def _arguments(args: str | dict[str, Any]) -> str:
    # tolerate an object; every backend wants the string
    return args if isinstance(args, str) else orjson.dumps(args).decode()


def _content(content: wire.Content | None) -> str | tuple[Mapping[str, Any], ...] | None:
    if content is None or isinstance(content, str):
        return content
    return tuple(part.model_dump(exclude_none=True) for part in content)


def _turns(messages: Sequence[wire.Message]) -> tuple[Turn, ...]:
    """Legacy turns translated: assistant ``function_call`` → a call with an id derived from its
    position; ``role: function`` → ``role: tool`` answering the latest unanswered call of that name."""
    out: list[Turn] = []
    pending: list[tuple[str, str]] = []  # (name, id) of legacy calls not yet answered
    for i, m in enumerate(messages):
        if isinstance(m, wire.SystemMessage):
            out.append(Turn(m.role, _content(m.content), name=m.name))
        elif isinstance(m, wire.UserMessage):
            out.append(Turn("user", _content(m.content), name=m.name))
        elif isinstance(m, wire.ToolMessage):
            out.append(Turn("tool", _content(m.content), tool_call_id=m.tool_call_id))
        elif isinstance(m, wire.AssistantMessage):
            calls = tuple(
                Call(c.id, c.custom.name, c.custom.input, custom=True)
                if isinstance(c, wire.CustomCallWire)
                else Call(c.id, c.function.name, _arguments(c.function.arguments))
                for c in m.tool_calls or ()
            )
            if not calls and m.function_call is not None:
                calls = (Call(f"call_legacy_{i}", m.function_call.name, _arguments(m.function_call.arguments)),)
                pending.append((m.function_call.name, calls[0].id))
            reasoning = m.reasoning_content or _str(getattr(m, "reasoning", None))
            out.append(Turn("assistant", _content(m.content), calls, name=m.name, reasoning=reasoning))
        else:
            match = next((p for p in reversed(pending) if p[0] == m.name), None)
            if match is None:
                raise InvalidRequest(
                    f"messages[{i}] is a function result for {m.name!r}, but no assistant function_call "
                    "for it precedes it",
                    param=f"messages.{i}",
                )
            pending.remove(match)
            out.append(Turn("tool", _content(m.content) or "", tool_call_id=match[1], name=m.name))
    return tuple(out)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def decode(body: dict[str, Any], limits: Limits) -> Job:
    req = validate(body)
    param = "tools" if body.get("tools") else "functions"
    raw_tools = body.get(param) or []
    check_limits(len(req.messages), raw_tools if isinstance(raw_tools, list) else [], limits, param)
    functions, custom = _tools(req)
    choice = _choice(req, {t.name for t in functions}, {str(t["custom"]["name"]) for t in custom})
    if choice.allowed is not None:
        functions = tuple(t for t in functions if t.name in choice.allowed)
        custom = tuple(t for t in custom if t["custom"]["name"] in choice.allowed)
    legacy = req.functions is not None or req.function_call is not None
    turns = _turns(req.messages)
    check_history(turns)
    limit = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    return Job(
        model=req.model,
        messages=turns,
        tools=functions,
        tool_choice=choice.mode,
        # function_call carries one call only
        parallel_tool_calls=req.parallel_tool_calls is not False and not legacy,
        custom_tools=custom,
        custom_choice=choice.custom,
        stream=bool(req.stream),
        include_usage=bool(req.stream and req.stream_options and req.stream_options.include_usage),
        max_tokens=limit,
        max_tokens_key="max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens",
        temperature=req.temperature,
        top_p=req.top_p,
        n=req.n,
        seed=req.seed,
        stop=(req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ()),
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        logit_bias=body.get("logit_bias") if isinstance(body.get("logit_bias"), dict) else None,
        user=req.user,
        response_format=req.response_format,
        reasoning_effort=req.reasoning_effort,
        extra={k: v for k, v in body.items() if k not in _MODELLED},
        legacy=legacy,
    )
