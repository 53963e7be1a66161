"""hermes family: Qwen2.5, Hermes 2 Pro / 3, QwQ, and the tool emulation format for plain ChatML
models (SmolLM2). The prompt is Qwen2.5's chat template layout (``templates/hermes.jinja``).

Tools are declared in the system turn, one JSON object per line::

    <|im_start|>system
    You are Qwen, created by Alibaba Cloud. You are a helpful assistant.

    # Tools

    You may call one or more functions to assist with the user query.

    You are provided with function signatures within <tools></tools> XML tags:
    <tools>
    {"type": "function", "function": {"name": "get_weather", "parameters": {...}}}
    </tools>

    For each function call, return a json object with function name and arguments within <tool_call>…
    <tool_call>
    {"name": <function-name>, "arguments": <args-json-object>}
    </tool_call><|im_end|>

The assistant calls (one block per call; text may precede them)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Results come back in one ``user`` turn per run of tool messages::

    <|im_start|>user
    <tool_response>
    {"temp": 21}
    </tool_response><|im_end|>

The turn ends with ``<|im_end|>`` (the stop string). A block body is parsed as JSON (repaired with
json-repair when broken or cut off); ``parameters`` is accepted for ``arguments``. A block that is
not a ``{"name": ...}`` object, or names a tool that was not offered, stays content. ``</tool_call>``
written inside a JSON string argument does not end the block; a block the model forgot to close is
ended by the next ``<tool_call>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from adapters.auto_gate import GateWeights
from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.calls import load_object
from adapters.family import TemplateAdapter, call_schema, forced_tools
from adapters.parsing import BlockParser, Decoded
from adapters.schema_regex import alternation, escape, object_regex

QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def decode_envelope(body: str, complete: bool) -> Decoded | None:
    """``{"name": ..., "arguments": ...}`` (or ``parameters``) → a call; None if not that shape.

    ``complete`` is False when the block was cut off; strict-valid JSON still counts as parsed then
    (a forced call ends right after its object), anything mended counts as repaired.
    """
    obj, repaired = load_object(body)
    if obj is None or not isinstance(obj.get("name"), str):
        return None
    args_key = "arguments" if "arguments" in obj else "parameters" if "parameters" in obj else None
    if args_key is None:
        if repaired:
            return None  # cut off before its arguments began: not a usable call
        return Decoded(obj["name"], None)
    arguments: Any = obj[args_key]
    if not isinstance(arguments, dict | str) and arguments is not None:
        arguments = json.dumps(arguments)  # a list or number: finalize_arguments reports it invalid
    return Decoded(obj["name"], arguments, repaired)


class HermesParser(BlockParser):
    """``<tool_call>…</tool_call>`` blocks; everything else is content."""

    start = "<tool_call>"
    ends = ("</tool_call>", "<tool_call>")  # a missing end tag is closed by the next call
    json_strings = True  # "</tool_call>" inside a string argument does not end the call

    def decode(self, body: str, complete: bool) -> Decoded | None:
        return decode_envelope(body, complete)


BLOCK_OPEN = "<tool_call>\n"
BLOCK_CLOSE = "\n</tool_call>"

# What ``tool_choice: auto`` constrains (a model's ``family_options: {auto_policy: ...}``):
# ``free``: nothing, the model's own text is parsed as it comes; ``triggered``: free text until the
# model writes ``<tool_call>``, from there one schema-typed call per block (vLLM structural tag);
# ``gated``: the backend first decides call-or-text (``adapters/auto_gate.py``, weights in
# ``auto_gate``); a call is then made as under ``required``, text is constrained as ``triggered``.
AutoPolicy = Literal["free", "triggered", "gated"]
AUTO_POLICIES: tuple[str, ...] = get_args(AutoPolicy)

# How one forced call is constrained: ``json``, vLLM's JSON-schema mode (any whitespace between
# tokens); ``regex``, the same envelope in ``json.dumps`` layout (``schema_regex``), which leaves a
# weak model no room for runs of whitespace (measured on SmolLM2: docs/accuracy.md).
CallFormat = Literal["json", "regex"]
CALL_FORMATS: tuple[str, ...] = get_args(CallFormat)


def hermes_constraint(
    tools: Sequence[ToolSpec],
    tool_choice: ToolChoice,
    parallel_tool_calls: bool,
    max_calls: int = 1,
    auto_policy: AutoPolicy = "free",
    call_format: CallFormat = "json",
) -> Constraint | None:
    """Force schema-typed calls in the family's own blocks; the prefill opens the first block.

    ``max_calls == 1`` (the default) or ``parallel_tool_calls`` false: exactly one call, as a
    ``{"json": {"anyOf": [envelope per tool]}}`` constraint after the prefill ``<tool_call>\n``
    (``call_format="regex"``: the regex of one typed envelope below instead).
    Measured on a weak model, a constraint that allows repeated blocks makes it repeat calls (see
    DESIGN §4), so one call is the default. ``max_calls > 1`` with parallel calls allowed: a regex
    for 1..``max_calls`` blocks, each an envelope typed by its tool's schema (``schema_regex``).
    """
    if tool_choice.mode == "auto" and auto_policy in ("triggered", "gated") and tools:
        return triggered_constraint(tools, parallel_tool_calls)
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    one = max_calls <= 1 or not parallel_tool_calls
    if one and call_format == "json":
        schema = {"anyOf": [call_schema(t) for t in allowed]}
        return Constraint(prefill=BLOCK_OPEN, structured_outputs={"json": schema})
    envelope = alternation([_envelope_regex(t) for t in allowed])
    close = escape(BLOCK_CLOSE)
    if one:
        return Constraint(prefill=BLOCK_OPEN, structured_outputs={"regex": envelope + close})
    more = "(" + escape("\n" + BLOCK_OPEN) + envelope + close + "){0," + str(max_calls - 1) + "}"
    return Constraint(prefill=BLOCK_OPEN, structured_outputs={"regex": envelope + close + more})


def triggered_constraint(tools: Sequence[ToolSpec], parallel_tool_calls: bool) -> Constraint:
    """``auto``: free text until the model writes ``<tool_call>``; the block that follows is one
    envelope typed by the named tool's schema, then text again (one block at most without parallel
    calls). An xgrammar ``triggered_tags`` structural tag, which vLLM accepts as ``structural_tag``."""
    tags = []
    for tool in tools:
        params = dict(tool.parameters) if tool.parameters else {"type": "object", "properties": {}}
        head = json.dumps({"name": tool.name}, ensure_ascii=False)[:-1] + ', "arguments": '
        tags.append(
            {
                "begin": BLOCK_OPEN + head,
                "content": {"type": "json_schema", "json_schema": params},
                "end": "}" + BLOCK_CLOSE,
            }
        )
    tag = {
        "type": "structural_tag",
        "format": {
            "type": "triggered_tags",
            "triggers": ["<tool_call>"],
            "tags": tags,
            "at_least_one": False,
            "stop_after_first": not parallel_tool_calls,
        },
    }
    return Constraint(prefill="", structured_outputs={"structural_tag": json.dumps(tag, ensure_ascii=False)})


def _envelope_regex(tool: ToolSpec) -> str:
    params = tool.parameters if tool.parameters else {"type": "object", "properties": {}}
    head = escape(json.dumps({"name": tool.name}, ensure_ascii=False)[:-1] + ', "arguments": ')
    return head + object_regex(params) + escape("}")


class HermesAdapter(TemplateAdapter):
    """The hermes family. ``default_system`` replaces Qwen2.5's default system prompt (None: none);
    ``max_parallel_calls`` > 1 lets a forced ``tool_choice`` produce that many calls (see
    ``hermes_constraint``); ``call_format`` says how a single forced call is typed (``json`` or
    ``regex``); ``auto_policy`` is what ``tool_choice: auto`` constrains (``free`` by default, as
    every family; ``triggered`` keeps text free and makes a started call well-formed; ``gated`` decides
    with the ``auto_gate`` weights, see ``adapters/auto_gate.py``)."""

    name = "hermes"
    stop: tuple[str, ...] = ("<|im_end|>",)
    template = "hermes"
    call_marker: str | None = "<tool_call>"  # what the ``auto`` gate scores at the start of the assistant turn

    def __init__(
        self,
        *,
        chat_template: str | None = None,
        default_system: str | None = QWEN25_DEFAULT_SYSTEM,
        max_parallel_calls: int = 1,
        auto_policy: AutoPolicy = "free",
        call_format: CallFormat = "json",
        auto_gate: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(chat_template=chat_template, default_system=default_system)
        if auto_policy not in AUTO_POLICIES:
            raise ValueError(f"auto_policy must be one of {AUTO_POLICIES}, not {auto_policy!r}")
        if max_parallel_calls < 1:
            raise ValueError("max_parallel_calls must be at least 1")
        self.max_parallel_calls = max_parallel_calls
        if call_format not in CALL_FORMATS:
            raise ValueError(f"call_format must be one of {CALL_FORMATS}, not {call_format!r}")
        self.auto_policy: AutoPolicy = auto_policy
        self.call_format: CallFormat = call_format
        if (auto_policy == "gated") != (auto_gate is not None):
            raise ValueError("auto_policy gated and auto_gate (its calibrated weights) go together")
        self.auto_gate = GateWeights.from_options(auto_gate) if auto_gate is not None else None

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return hermes_constraint(
            tools, tool_choice, parallel_tool_calls, self.max_parallel_calls, self.auto_policy, self.call_format
        )

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return HermesParser(tools)
