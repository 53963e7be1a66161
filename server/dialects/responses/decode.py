"""Responses request → ``Job``: input items into turns, tools, tool choice, a stored conversation continued.

Decided here once: the conversation (``instructions`` first, then the stored chain of
``previous_response_id``, then this request's ``input``; assistant-side items — reasoning, a
message, calls — gather into one assistant turn), the tools (flat function tools; custom tools
for hosted APIs), the tool choice (``allowed_tools`` narrows the tools) and what the answer echoes.
Every call must have its output before the next user turn, as OpenAI requires; a request that
breaks a rule gets a 400 naming the ``param`` in the client's own body. Fields of the Responses
API with no chat counterpart are dropped; fields this door does not know go on to hosted APIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.base import ToolChoice, ToolSpec
from server.auth import client_name
from server.backends.upstream import UpstreamBackend
from server.config import Limits
from server.dialects.checks import check_limits, param_of
from server.dialects.responses import wire
from server.dialects.responses.store import ResponseStore
from server.errors import InvalidRequest, PayloadTooLarge
from server.job import Call, Job, Turn
from server.routing import Target
from server.state import AppState

M = TypeVar("M", bound=BaseModel)
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

# Fields of the Responses API that this door models or that have no chat counterpart: never
# passed on. Everything else the client sent goes to hosted APIs as it is (``Job.extra``).
_MODELLED = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
        "temperature", "top_p", "text", "reasoning", "metadata", "stream", "stream_options", "store",
        "previous_response_id", "include", "user", "truncation", "background", "conversation", "prompt",
        "max_tool_calls", "top_logprobs", "context_management", "prompt_cache_options",
    }
)  # fmt: skip

# Built-in tools of OpenAI's hosted Responses API: only the API itself can run them.
_PASSTHROUGH_HINT = "a model on a backend with `responses: passthrough` forwards them to OpenAI unchanged"


@dataclass
class Context:
    """What the answer needs from the request: the fields it echoes, the conversation to store."""

    echo: dict[str, Any] = field(default_factory=dict)
    input_items: list[dict[str, Any]] = field(default_factory=list)  # earlier turns of a chain first
    store: ResponseStore | None = None  # where the answer is kept; None: not stored
    owner: str | None = None  # the client key that may read it back
    custom_names: frozenset[str] = frozenset()
    passthrough: bool = False


def passthrough_backend(state: AppState, target: Target) -> UpstreamBackend | None:
    backend = state.backends.get(target.backend)
    if isinstance(backend, UpstreamBackend) and backend.config.responses == "passthrough":
        return backend
    return None


def _invalid(err: ValidationError, body: Any, prefix: Sequence[int | str] = ()) -> InvalidRequest:
    first = err.errors()[0]
    missing = first["type"] == "missing"
    param = param_of((*prefix, *first["loc"]), body, missing=missing)
    msg = str(first["msg"]).removeprefix("Value error, ")
    if missing:
        msg = f"missing required parameter: '{param}'"
    elif param:
        msg = f"invalid value for '{param}': {msg}"
    return InvalidRequest(msg, param=param or None, code="invalid_value")


def _validate(cls: type[M], raw: Any, body: Any, prefix: Sequence[int | str]) -> M:
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise _invalid(err, body, prefix) from None


async def decode(request: Any, body: dict[str, Any], limits: Limits) -> tuple[Job, Context]:
    state: AppState = request.app.state.toolrelay
    req = _validate(wire.ResponsesRequest, body, body, ())
    targets = state.router.route(req.model)
    if passthrough_backend(state, targets[0]) is not None:
        # forwarded as it is: the hosted API validates it, built-in tools and all
        return Job(model=req.model, messages=(), stream=bool(req.stream)), Context(passthrough=True)
    _refuse_unserved(req)
    owner = client_name(request)
    store = state.response_store
    history: list[dict[str, Any]] = []
    if req.previous_response_id is not None:
        if store is None:
            raise InvalidRequest(
                "previous_response_id needs the response store, which is off in this toolrelay's config "
                "(responses.store.enabled: false); send the whole conversation as input instead",
                param="previous_response_id",
            )
        record = await store.get(req.previous_response_id, owner)
        if record is None:
            raise InvalidRequest(
                f"Previous response with id {req.previous_response_id!r} not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = [*record.input, *record.response.get("output", [])]
    raw_items = _raw_items(req)
    items = [(_item(raw, body, i), f"input.{i}") for i, raw in enumerate(raw_items)]
    old = [(_item(raw, raw, None), "previous_response_id") for raw in history]
    if len(old) + len(items) > limits.max_messages:
        raise PayloadTooLarge(f"too many input items: {len(old) + len(items)} > {limits.max_messages}", param="input")
    if not items and not old:
        raise InvalidRequest("input is empty: send a string or at least one input item", param="input")
    _check_calls([*old, *items])
    raw_tools = req.tools or []
    check_limits(0, raw_tools, limits, "tools")
    functions, custom, echo_tools = _tools(raw_tools, body)
    choice, custom_choice, allowed = _choice(req.tool_choice, functions, custom)
    if allowed is not None:
        functions = [t for t in functions if t.name in allowed]
        custom = [t for t in custom if t["custom"]["name"] in allowed]
    turns = _turns(req.instructions, [it for it, _ in (*old, *items)])
    stored = store if req.store is not False else None
    target = targets[0]
    hosted = state.settings.backends[target.backend]
    job = Job(
        model=req.model,
        messages=turns,
        tools=tuple(functions),
        tool_choice=choice,
        parallel_tool_calls=req.parallel_tool_calls is not False,
        custom_tools=tuple(custom),
        custom_choice=custom_choice,
        stream=bool(req.stream),
        include_usage=True,
        max_tokens=req.max_output_tokens,
        # OpenAI's chat API takes this spelling for every model (o-series refuse max_tokens)
        max_tokens_key="max_completion_tokens" if getattr(hosted, "provider", None) == "openai" else "max_tokens",
        temperature=req.temperature,
        top_p=req.top_p,
        user=req.user,
        response_format=_response_format(req.text),
        reasoning_effort=req.reasoning.effort if req.reasoning is not None else None,
        extra=_extra(body, req),
    )
    context = Context(
        echo=_echo(req, echo_tools, stored is not None),
        input_items=[*history, *(it.model_dump(mode="json", exclude_none=True, by_alias=True) for it, _ in items)],
        store=stored,
        owner=owner,
        custom_names=frozenset(str(t["custom"]["name"]) for t in custom),
    )
    return job, context


def _refuse_unserved(req: wire.ResponsesRequest) -> None:
    if req.background:
        raise InvalidRequest("background responses are not supported by toolrelay", param="background")
    if req.conversation is not None:
        raise InvalidRequest(
            "conversation objects are not supported by toolrelay; continue with previous_response_id",
            param="conversation",
        )
    if req.prompt is not None:
        raise InvalidRequest(
            f"stored prompt templates are not supported by toolrelay; {_PASSTHROUGH_HINT}", param="prompt"
        )


def _raw_items(req: wire.ResponsesRequest) -> list[dict[str, Any]]:
    if isinstance(req.input, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": req.input}]}]
    return list(req.input or [])


def _item(raw: Any, body: Any, index: int | None) -> wire.Item:
    prefix: tuple[int | str, ...] = ("input", index) if index is not None else ()
    where = f"input.{index}" if index is not None else "previous_response_id"
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{where} must be an object (an input item)", param=where)
    kind = raw.get("type", "message" if "role" in raw else None)
    cls = wire.ITEMS.get(str(kind))
    if cls is None:
        if kind == "item_reference":
            raise InvalidRequest(
                "item_reference input items are not supported by toolrelay: send the item itself, or continue "
                "with previous_response_id",
                param=f"{where}.type",
            )
        raise InvalidRequest(
            f"input item type {kind!r} is not supported by toolrelay's translation (message, function_call, "
            f"function_call_output, custom_tool_call, custom_tool_call_output, reasoning); {_PASSTHROUGH_HINT}",
            param=f"{where}.type",
        )
    item = _validate(cls, raw, body, prefix)
    if isinstance(item, wire.MessageItem) and isinstance(item.content, str):
        # one shape for the store and input_items: text as a content part, as OpenAI lists it
        part = {"type": "output_text" if item.role == "assistant" else "input_text", "text": item.content}
        item = wire.MessageItem.model_validate({**item.model_dump(by_alias=True), "content": [part]})
    return item


def _check_calls(items: Sequence[tuple[wire.Item, str]]) -> None:
    """Each call answered by exactly one output, before the next user, system or developer message."""
    pending: dict[str, str] = {}
    for item, where in items:
        if isinstance(item, wire.FunctionCallItem | wire.CustomToolCallItem):
            if item.call_id in pending:
                raise InvalidRequest(f"duplicate call_id {item.call_id!r}", param=f"{where}.call_id")
            pending[item.call_id] = where
        elif isinstance(item, wire.FunctionCallOutputItem | wire.CustomToolCallOutputItem):
            if pending.pop(item.call_id, None) is None:
                raise InvalidRequest(
                    f"No tool call found for function call output with call_id {item.call_id!r}.",
                    param=f"{where}.call_id",
                )
        elif isinstance(item, wire.MessageItem) and item.role != "assistant" and pending:
            call_id, at = next(iter(pending.items()))
            raise InvalidRequest(f"No tool output found for function call {call_id!r} before {where}.", param=at)
    if pending:
        call_id, at = next(iter(pending.items()))
        raise InvalidRequest(f"No tool output found for function call {call_id!r}.", param=at)


def _text_of(parts: Sequence[Any]) -> str | None:
    """The text of parts that are all text; None when one is not (an image, a file)."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, wire.InputText | wire.OutputText):
            out.append(p.text)
        elif isinstance(p, wire.Refusal):
            out.append(p.refusal)
        else:
            return None
    return "".join(out)


def _chat_part(p: Any) -> Mapping[str, Any]:
    """A Responses content part as an OpenAI chat content part (hosted APIs take them)."""
    if isinstance(p, wire.InputText | wire.OutputText):
        return {"type": "text", "text": p.text}
    if isinstance(p, wire.Refusal):
        return {"type": "text", "text": p.refusal}
    if isinstance(p, wire.InputImage):
        url = p.image_url or p.file_id or ""
        image: dict[str, Any] = {"url": url}
        if p.detail:
            image["detail"] = p.detail
        return {"type": "image_url", "image_url": image}
    file = {k: v for k, v in (("file_data", p.file_data), ("file_id", p.file_id), ("filename", p.filename)) if v}
    return {"type": "file", "file": file}


def _content(content: str | Sequence[Any]) -> str | tuple[Mapping[str, Any], ...]:
    if isinstance(content, str):
        return content
    text = _text_of(content)
    return text if text is not None else tuple(_chat_part(p) for p in content)


class _Assistant:
    """Assistant-side items in a row (reasoning, message, calls) becoming one assistant turn."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[Call] = []
        self.at = ""  # the first item of the run

    def turn(self) -> Turn | None:
        if not self.text and not self.calls:
            return None  # reasoning alone says nothing to the next model turn
        return Turn(
            "assistant",
            "".join(self.text) if self.text else None,
            tuple(self.calls),
            reasoning="\n".join(self.reasoning) or None,
            at=self.at,
        )


def _turns(instructions: str | None, items: Sequence[wire.Item]) -> tuple[Turn, ...]:
    turns: list[Turn] = [Turn("system", instructions, at="instructions")] if instructions else []
    group = _Assistant()

    def flush() -> None:
        nonlocal group
        turn = group.turn()
        if turn is not None:
            turns.append(turn)
        group = _Assistant()

    for k, item in enumerate(items):
        at = f"input.{k}"
        if isinstance(item, wire.MessageItem) and item.role != "assistant":
            flush()
            turns.append(Turn(item.role, _content(item.content), at=at))
            continue
        if isinstance(item, wire.FunctionCallOutputItem | wire.CustomToolCallOutputItem):
            flush()
            turns.append(Turn("tool", _content(item.output), tool_call_id=item.call_id, at=at))
            continue
        group.at = group.at or at
        if isinstance(item, wire.MessageItem):
            content = _content(item.content)
            group.text.append(content if isinstance(content, str) else _text_of(item.content) or "")
        elif isinstance(item, wire.FunctionCallItem):
            group.calls.append(Call(item.call_id, item.name, item.arguments))
        elif isinstance(item, wire.CustomToolCallItem):
            group.calls.append(Call(item.call_id, item.name, item.input, custom=True))
        else:
            texts = [s.text for s in item.summary] or [c.text for c in item.content or ()]
            group.reasoning.extend(t for t in texts if t)
    flush()
    return tuple(turns)


def _tools(raw_tools: list[dict[str, Any]], body: Any) -> tuple[list[ToolSpec], list[Mapping[str, Any]], list[Any]]:
    functions: list[ToolSpec] = []
    custom: list[Mapping[str, Any]] = []
    echo: list[Any] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_tools):
        kind = raw.get("type") if isinstance(raw, dict) else None
        cls = wire.TOOLS.get(str(kind))
        if cls is None:
            raise InvalidRequest(
                f"tool type {kind!r} is not supported by toolrelay's translation (function and custom tools are); "
                f"built-in tools run only on OpenAI's own Responses API: {_PASSTHROUGH_HINT}",
                param=f"tools.{i}.type",
            )
        tool = _validate(cls, raw, body, ("tools", i))
        if tool.name in seen:
            raise InvalidRequest(f"duplicate tool name {tool.name!r}", param=f"tools.{i}.name")
        seen.add(tool.name)
        if isinstance(tool, wire.FunctionTool):
            params = tool.parameters if tool.parameters is not None else EMPTY_PARAMETERS
            functions.append(ToolSpec(tool.name, tool.description or "", params, bool(tool.strict)))
            echo.append(
                {
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": params,
                    "strict": tool.strict,
                }
            )
        else:
            decl = {k: v for k, v in (("name", tool.name), ("description", tool.description), ("format", tool.format))}
            custom.append({"type": "custom", "custom": {k: v for k, v in decl.items() if v is not None}})
            echo.append({"type": "custom", **{k: v for k, v in decl.items() if v is not None}})
    return functions, custom, echo


def _choice(
    raw: str | dict[str, Any] | None, functions: list[ToolSpec], custom: list[Mapping[str, Any]]
) -> tuple[ToolChoice, str | None, frozenset[str] | None]:
    fnames = {t.name for t in functions}
    cnames = {str(t["custom"]["name"]) for t in custom}
    offered = fnames | cnames
    if raw is None:
        return ToolChoice("auto" if offered else "none"), None, None
    if isinstance(raw, str):
        if raw == "required" and not offered:
            raise InvalidRequest("tool_choice 'required' needs at least one tool in 'tools'", param="tool_choice")
        return ToolChoice(raw if offered else "none"), None, None  # type: ignore[arg-type]
    kind = raw.get("type")
    if kind == "allowed_tools":
        allowed = _validate(wire.AllowedToolsChoice, raw, raw, ())
        names = [ref.name or "" for ref in allowed.tools]
        unknown = [n for n in names if n not in offered]
        if unknown:
            raise InvalidRequest(
                f"tool_choice.tools lists {unknown[0]!r}, which is not among the request's tools",
                param="tool_choice.tools",
            )
        return ToolChoice(allowed.mode), None, frozenset(names)
    if kind in ("function", "custom"):
        named = _validate(wire.NamedChoice, raw, raw, ())
        pool = fnames if kind == "function" else cnames
        if named.name not in pool:
            raise InvalidRequest(
                f"tool_choice names {kind} tool {named.name!r}, which is not among the request's tools",
                param="tool_choice.name",
            )
        if kind == "custom":
            return ToolChoice("required"), named.name, None
        return ToolChoice("required", named.name), None, None
    raise InvalidRequest(
        f"tool_choice type {kind!r} is not supported by toolrelay's translation (auto, none, required, function, "
        f"custom, allowed_tools); {_PASSTHROUGH_HINT}",
        param="tool_choice.type",
    )


def _response_format(text: wire.TextConfig | None) -> Mapping[str, Any] | None:
    """``text.format`` in the chat API's ``response_format`` shape (the chat path's structured output)."""
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema_ is None:
        raise InvalidRequest("text.format of type json_schema needs a 'schema'", param="text.format.schema")
    schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema_}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def _extra(body: dict[str, Any], req: wire.ResponsesRequest) -> dict[str, Any]:
    extra = {k: v for k, v in body.items() if k not in _MODELLED}
    if req.text is not None and req.text.verbosity is not None:
        extra["verbosity"] = req.text.verbosity  # the chat API's spelling
    return extra


def _echo(req: wire.ResponsesRequest, tools: list[Any], stored: bool) -> dict[str, Any]:
    text = req.text.model_dump(mode="json", exclude_none=True, by_alias=True) if req.text else {}
    text.setdefault("format", {"type": "text"})
    return {
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "metadata": req.metadata or {},
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id,
        "reasoning": {
            "effort": req.reasoning.effort if req.reasoning else None,
            "summary": req.reasoning.summary if req.reasoning else None,
        },
        "safety_identifier": req.safety_identifier,
        "store": stored,
        "temperature": req.temperature,
        "text": text,
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": tools,
        "top_logprobs": req.top_logprobs,
        "top_p": req.top_p,
        "truncation": req.truncation or "disabled",
        "user": req.user,
    }
