"""minimax_m2 family: MiniMax-M2 (and M2.1/M2.5, which keep its tool-call syntax).

The prompt is MiniMax-M2's chat template layout (``templates/minimax_m2.jinja``)::

    ]~!b[]~b]system
    You are a helpful assistant.

    # Tools
    You may call one or more tools to assist with the user query.
    Here are the tools available in JSONSchema format:

    <tools>
    <tool>{"name": "get_weather", "parameters": {...}}</tool>
    </tools>

    When making tool calls, use XML format to invoke tools and pass parameters: …[e~[
    ]~b]user
    Weather in Paris?[e~[
    ]~b]ai
    <think>

The prompt opens the reasoning block, so the output starts inside it (``reasoning_in_prompt``)::

    The user wants the weather.
    </think>

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    </invoke>
    </minimax:tool_call>

and the turn ends with ``[e~[`` (the stop string). Several ``<invoke>`` blocks in one section are
parallel calls. Results come back as one ``]~b]tool`` turn per run of tool messages, each result as
``\\n<response>…</response>``. Earlier turns' reasoning is rendered back for the assistant turns
after the last user message (interleaved thinking: a tool loop keeps its chain of thought).

Values are text typed by the tool's JSON schema (``xmlcalls.typed_value``); a key the schema does
not describe stays text, as vLLM's minimax_m2 parser keeps it. ``<invoke name=…>`` is the call; the
``<minimax:tool_call>`` section tags are layout (dropped), so an ``</invoke>`` the model forgot is
implied by the next call or the section's end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter, forced_tools
from adapters.xmlcalls import InvokeParser, strip_newline, tag_call_constraint

INVOKE = "<invoke name="
SECTION_OPEN = "<minimax:tool_call>"
SECTION_CLOSE = "</minimax:tool_call>"
EOS = "[e~["


class MiniMaxM2Parser(InvokeParser):
    """``<invoke name="NAME">`` blocks with ``<parameter name="KEY">`` values after reasoning."""

    start = INVOKE
    ends = ("</invoke>", INVOKE, SECTION_CLOSE)
    drop = (SECTION_OPEN, SECTION_CLOSE)
    reasoning_markers = ("<think>", "</think>")
    head = re.compile(r"""\s*["']?([^"'<>\n]*)["']?\s*>""")
    param = re.compile(
        r"""<parameter name=["']?([^"'>\n]*)["']?\s*>(.*?)(?:</parameter>|(?=<parameter name=)|\Z)""", re.DOTALL
    )
    untyped = "text"

    def value(self, raw: str) -> str:
        return strip_newline(raw)


def minimax_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, thinking: bool) -> Constraint | None:
    """One forced call in the family's own section; when the prompt opened a think block the
    prefill closes it first (a forced call does not think)."""
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    opening = ("</think>\n\n" if thinking else "") + SECTION_OPEN + "\n" + INVOKE + '"'
    return tag_call_constraint(
        allowed,
        opening,
        lambda name: name + '">\n',
        r'<parameter name="{key}">{value}</parameter>\n',
        "</parameter>",
        "</invoke>\n" + SECTION_CLOSE,
    )


class MiniMaxM2Adapter(TemplateAdapter):
    """The minimax_m2 family. ``reasoning_in_prompt=False`` for a configured template whose prompt
    does not end inside ``<think>`` (the output may then still open with a think block)."""

    name = "minimax_m2"
    stop: tuple[str, ...] = (EOS,)
    template = "minimax_m2"

    def __init__(self, *, chat_template: str | None = None, reasoning_in_prompt: bool = True) -> None:
        super().__init__(chat_template=chat_template)
        self.reasoning_in_prompt = reasoning_in_prompt

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return minimax_constraint(tools, tool_choice, self.reasoning_in_prompt)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return MiniMaxM2Parser(tools, starts_in_reasoning=self.reasoning_in_prompt)
