"""qwen3_coder family: Qwen3-Coder (30B-A3B, 480B-A35B, Next) and Qwen3.5-style XML tool calls.

The prompt is Qwen3-Coder's chat template layout (``templates/qwen3_coder.jinja``): ChatML turns, the
tools as XML in the system turn (a default system prompt when the conversation has none)::

    <|im_start|>system
    You are Qwen, a helpful AI assistant that can interact with a computer to solve tasks.

    # Tools

    You have access to the following tools:

    <tools>
    <function>
    <name>get_weather</name>
    <description>Weather for a city.</description>
    <parameters>
    <parameter>
    <name>city</name>
    <type>string</type>
    </parameter>
    <required>["city"]</required>
    </parameters>
    </function>
    </tools>

    If you choose to call a tool ONLY reply in the following format with NO suffix: …<|im_end|>

The assistant calls, after optional prose, one block per call::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    <parameter=days>
    3
    </parameter>
    </function>
    </tool_call>

Results come back as hermes does it: one ``user`` turn per run of tool messages, each result in
``<tool_response>\\n…\\n</tool_response>``. The turn ends with ``<|im_end|>``.

Values are text typed by the tool's JSON schema (``xmlcalls.typed_value``): one newline each side
of a value is layout; a string-typed value stays text even when it looks like a number; a key the
schema does not describe stays text. The template writes earlier calls' values the same way
(objects and lists as JSON, other values with Python's ``str``: ``True``, ``None``), and the
parser reads those back. ``<function=…>`` is the call; ``<tool_call>`` and ``</tool_call>`` around
it are layout (special tokens of Qwen's vocabulary) and dropped wherever they appear, so a call
whose wrapper the model forgot is still a call, several ``<function=`` in one wrapper are several
calls, and a ``</function>`` the model forgot is implied by ``</tool_call>`` or the next call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter, forced_tools
from adapters.xmlcalls import InvokeParser, strip_newline, tag_call_constraint

FUNCTION = "<function="
SECTION_OPEN = "<tool_call>"
SECTION_CLOSE = "</tool_call>"


class Qwen3CoderParser(InvokeParser):
    """``<function=NAME>`` blocks with ``<parameter=KEY>`` values; the wrapper tags are layout."""

    start = FUNCTION
    ends = ("</function>", FUNCTION, SECTION_CLOSE)
    drop = (SECTION_OPEN, SECTION_CLOSE)
    # a value whose </parameter> is missing ends where the next parameter starts
    param = re.compile(r"<parameter=([^>\n]*)>(.*?)(?:</parameter>|(?=<parameter=)|\Z)", re.DOTALL)
    untyped = "text"

    def value(self, raw: str) -> str:
        return strip_newline(raw)


def qwen3_coder_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> Constraint | None:
    """One forced call in the family's own block: the prefill opens ``<tool_call>\\n<function=``
    (and names a single allowed tool), a regex types each ``<parameter=…>`` by its schema."""
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    return tag_call_constraint(
        allowed,
        SECTION_OPEN + "\n" + FUNCTION,
        lambda name: name + ">\n",
        r"<parameter={key}>\n{value}\n</parameter>\n",
        "</parameter>",
        "</function>\n" + SECTION_CLOSE,
    )


class Qwen3CoderAdapter(TemplateAdapter):
    name = "qwen3_coder"
    stop: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")
    template = "qwen3_coder"

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return qwen3_coder_constraint(tools, tool_choice)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return Qwen3CoderParser(tools)
