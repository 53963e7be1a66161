"""glm45 family: GLM-4.5 / GLM-4.6 (and 4.7, which drops the newlines between the tags).

Tools are declared in a system turn before the conversation (``templates/glm45.jinja``)::

    [gMASK]<sop><|system|>
    # Tools

    You may call one or more functions to assist with the user query.

    You are provided with function signatures within <tools></tools> XML tags:
    <tools>
    {"type": "function", "function": {"name": "get_weather", "parameters": {...}}}
    </tools>

    For each function call, output the function name and arguments within the following XML format:
    <tool_call>{function-name}
    <arg_key>{arg-key-1}</arg_key>
    <arg_value>{arg-value-1}</arg_value>
    ...
    </tool_call><|user|>
    Weather in Paris?<|assistant|>

The assistant thinks first (reasoning, never parsed for calls), then may write text and calls::

    <think>The user wants the weather.</think>
    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    <arg_key>days</arg_key>
    <arg_value>3</arg_value>
    </tool_call>

and ends its turn with ``<|observation|>`` (a stop string, as are ``<|user|>`` and
``<|endoftext|>``). Results come back in one ``<|observation|>`` turn per run of tool messages::

    <|observation|>
    <tool_response>
    {"temp": 21}
    </tool_response>

Values are text, typed by the tool's JSON schema: a property whose schema allows a string keeps
its text verbatim; any other value is read as JSON (``3`` → 3, ``{"a": 1}`` → an object) and stays a
string when it is not JSON (schema coercion then gets its chance, e.g. ``" 3 "`` → 3). Without a
schema for the key the value is read as JSON when it is JSON. Past assistant turns render their
arguments the same way (strings raw, everything else as JSON), so the prompt and the parser agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter, forced_tools
from adapters.parsing import BlockParser, Decoded
from adapters.schema_regex import escape
from adapters.xmlcalls import NAME, properties, tag_call_constraint, typed_value

__all__ = ["Glm45Adapter", "Glm45Parser", "decode_block", "glm_constraint", "typed_value"]

_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)
_OPEN_VALUE = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*)\Z", re.DOTALL)
_NAME_END = re.compile(r"<arg_key>|\n")


def decode_block(body: str, complete: bool, tool: ToolSpec | None) -> Decoded | None:
    """``name`` then ``<arg_key>/<arg_value>`` pairs → a call; None when there is no name."""
    m = _NAME_END.search(body)
    name = (body[: m.start()] if m else body).rstrip()
    if not NAME.fullmatch(name):  # the template writes the name right after the tag
        return None
    rest = body[m.start() :] if m else ""
    props, _ = properties(tool.parameters if tool is not None else None)
    args: dict[str, Any] = {}
    end = 0
    for pair in _PAIR.finditer(rest):
        key = pair.group(1).strip()
        args[key] = typed_value(pair.group(2), props.get(key))
        end = pair.end()
    repaired = False
    if not complete:
        # cut off by max_tokens: keep a value that had started, and say the call was mended
        repaired = True
        tail = _OPEN_VALUE.search(rest, end)
        if tail is not None:
            key = tail.group(1).strip()
            args[key] = typed_value(tail.group(2), props.get(key))
    return Decoded(name, args, repaired)


class Glm45Parser(BlockParser):
    """``<tool_call>name<arg_key>…</tool_call>`` blocks after an optional ``<think>`` section."""

    start = "<tool_call>"
    ends = ("</tool_call>",)
    reasoning_markers = ("<think>", "</think>")

    def decode(self, body: str, complete: bool) -> Decoded | None:
        m = _NAME_END.search(body)
        name = (body[: m.start()] if m else body).strip()
        return decode_block(body, complete, self.tools.get(name))


def glm_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, opening: str, nl: str) -> Constraint | None:
    """One forced call in GLM's tags (``xmlcalls.tag_call_constraint``).

    ``opening`` is prefilled before ``<tool_call>`` (an empty think block where the model would
    think first: a forced call does not think); ``nl`` is the layout between tags (``\n`` for
    4.5/4.6, nothing for 4.7).
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    line = "<arg_key>{key}</arg_key>" + escape(nl) + "<arg_value>{value}</arg_value>" + escape(nl)
    return tag_call_constraint(
        allowed, opening + "<tool_call>", lambda name: name + nl, line, "</arg_value>", "</tool_call>"
    )


class Glm45Adapter(TemplateAdapter):
    """The glm45 family. ``thinking=False`` ends the prompt with an empty think block (no reasoning)."""

    name = "glm45"
    stop: tuple[str, ...] = ("<|user|>", "<|observation|>", "<|endoftext|>")
    template = "glm45"

    def __init__(self, *, chat_template: str | None = None, thinking: bool = True) -> None:
        super().__init__(chat_template=chat_template, thinking=thinking)
        self.thinking = thinking

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return glm_constraint(tools, tool_choice, "\n<think></think>\n" if self.thinking else "\n", "\n")

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return Glm45Parser(tools)
