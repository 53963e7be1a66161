"""deepseek_v32 family: DeepSeek V3.2 and its DSML tool calls (``deepseek_v3`` keeps V3 and V3.1).

V3.2 ships no chat template: DeepSeek's ``encoding/encoding_dsv32.py`` writes the prompt, and
``templates/deepseek_v32.jinja`` writes the same text. The tools follow the first system message
(an empty one when the conversation has none, as vLLM does), then each turn (one line each where
shown joined)::

    Be brief.

    ## Tools

    You have access to a set of tools you can use to answer the user's question.
    ... (the DSML format, then the schemas as JSON lines inside <functions></functions>)
    <｜User｜>Weather in Paris?<｜Assistant｜></think>

A user turn ends ``</think>`` in chat mode (``thinking=False``, the default) and ``<think>`` when it
is the last user turn in thinking mode. The assistant writes text, then its calls::

    Let me check.

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

and ends with ``<｜end▁of▁sentence｜>`` (the stop string). Results follow as one block per call turn;
after the last one the model continues the same turn (thinking again in thinking mode)::

    <function_results>
    <result>{"temp": 21}</result>
    </function_results>

    </think>

Reasoning (``Message.reasoning``) is written back, ``reasoning</think>``, for the assistant turns
after the last user message in thinking mode (the current tool loop); earlier turns drop it, as the
encoding does. The tokenizer adds BOS, so the prompt has none.

Values: ``string="true"`` is the text verbatim (then schema coercion, e.g. ``"42"`` for an integer);
``string="false"`` is JSON, kept as text when it is not JSON or when the schema wants only a string
(``null`` for a string property stays ``"null"``). An invoke holding a JSON object instead of
parameters (a form SGLang accepts) is read as the arguments. ``<｜DSML｜function_calls>`` and its
end tag are layout; an invoke that is not closed is ended by the next one or by the section end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.calls import loads_strict
from adapters.family import TemplateAdapter, arguments_schema, forced_tools
from adapters.parsing import BlockParser, Decoded
from adapters.schema_regex import alternation, escape
from adapters.xmlcalls import properties, value_regex, value_types

DSML = "｜DSML｜"
CALLS_BEGIN = f"<{DSML}function_calls>"
CALLS_END = f"</{DSML}function_calls>"
INVOKE = f"<{DSML}invoke"
INVOKE_END = f"</{DSML}invoke>"
PARAM_END = f"</{DSML}parameter>"
EOS = "<｜end▁of▁sentence｜>"

_NAME = re.compile(r'\s*name\s*=\s*"([^"]*)"\s*>', re.DOTALL)
_PARAM_HEAD = rf'<{DSML}parameter\s+name\s*=\s*"([^"]*)"(?:\s+string\s*=\s*"(true|false)")?\s*>'
_PARAM = re.compile(_PARAM_HEAD + "(.*?)" + re.escape(PARAM_END), re.DOTALL)
_OPEN_PARAM = re.compile(_PARAM_HEAD + r"(.*)\Z", re.DOTALL)


def typed_value(text: str, string: str | None, schema: Any) -> Any:
    """One parameter value (see the module docstring)."""
    if string == "true":
        return text
    if value_types(schema) == {"string"}:
        return text
    try:
        return loads_strict(text)
    except ValueError:
        return text


def decode_invoke(body: str, complete: bool, tools: Mapping[str, ToolSpec]) -> Decoded | None:
    """`` name="f">`` then parameters (or one JSON object) → a call; None without a name."""
    head = _NAME.match(body)
    if head is None or not head.group(1).strip():
        return None
    name = head.group(1).strip()
    rest = body[head.end() :]
    if rest.strip().startswith("{") and f"<{DSML}parameter" not in rest:
        return Decoded(name, rest.strip())
    tool = tools.get(name)
    props = tool.parameters.get("properties") if tool is not None else None
    props = props if isinstance(props, Mapping) else {}
    args: dict[str, Any] = {}
    end = 0
    for m in _PARAM.finditer(rest):
        args[m.group(1)] = typed_value(m.group(3), m.group(2), props.get(m.group(1)))
        end = m.end()
    if complete:
        return Decoded(name, args)
    # cut off by max_tokens: keep a value that had started, and say the call was mended
    tail = _OPEN_PARAM.search(rest, end)
    if tail is not None:
        args[tail.group(1)] = typed_value(tail.group(3), tail.group(2), props.get(tail.group(1)))
    return Decoded(name, args, repaired=True)


class DeepSeekV32Parser(BlockParser):
    """One ``<｜DSML｜invoke …>…</｜DSML｜invoke>`` block per call; the section tags are layout."""

    start = INVOKE
    ends = (INVOKE_END, INVOKE, CALLS_END)
    drop = (CALLS_BEGIN, CALLS_END)
    reasoning_markers = ("<think>", "</think>")

    def decode(self, body: str, complete: bool) -> Decoded | None:
        return decode_invoke(body, complete, self.tools)


# --------------------------------------------------------------------------- constraint


def _string_attribute(schema: Any) -> str:
    """``string="true"`` where the schema lets the value be a string (or does not say), as the
    encoding writes every string value; ``false`` for numbers, booleans, arrays, objects."""
    types = value_types(schema)
    return "true" if "string" in types or not types else "false"


def _parameters_regex(tool: ToolSpec) -> str:
    """The parameter lines of one invoke: required keys always, the others optional, schema order;
    each value typed by its schema (``xmlcalls.value_regex``: a string may hold anything but the
    parameter's end tag)."""
    props, required = properties(arguments_schema(tool))
    lines = []
    for key, sub in props.items():
        head = f'<{DSML}parameter name="{key}" string="{_string_attribute(sub)}">'
        line = escape(head) + value_regex(sub, PARAM_END) + escape(PARAM_END + "\n")
        lines.append(line if key in required else f"({line})?")
    # the encoding writes the lines joined by newlines between the name line and the end tag, so
    # an invoke without parameters has an empty line there
    return "".join(lines) + ("" if required & set(props) else r"(\n)?")


def dsml_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, thinking: bool) -> Constraint | None:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    The prefill closes the think block in thinking mode (a forced call does not think), opens the
    section and the invoke up to its name; a single allowed tool has its name prefilled too. The
    regex types every parameter by the tool's schema, with the ``string`` attribute to match.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    prefill = ("</think>" if thinking else "") + "\n\n" + CALLS_BEGIN + "\n" + INVOKE + ' name="'
    tail = escape(INVOKE_END + "\n" + CALLS_END)
    if len(allowed) == 1:
        tool = allowed[0]
        return Constraint(prefill + tool.name + '">\n', {"regex": _parameters_regex(tool) + tail})
    calls = [escape(t.name + '">\n') + _parameters_regex(t) for t in allowed]
    return Constraint(prefill, {"regex": alternation(calls) + tail})


class DeepSeekV32Adapter(TemplateAdapter):
    """The deepseek_v32 family; ``thinking=True`` is V3.2's thinking mode (the prompt ends ``<think>``)."""

    name = "deepseek_v32"
    stop: tuple[str, ...] = (EOS,)
    template = "deepseek_v32"

    def __init__(self, *, chat_template: str | None = None, thinking: bool = False) -> None:
        super().__init__(chat_template=chat_template, thinking=thinking)
        self.thinking = thinking

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return dsml_constraint(tools, tool_choice, self.thinking)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return DeepSeekV32Parser(tools, starts_in_reasoning=self.thinking)
