"""deepseek_v3 family: DeepSeek V3 and V3.1 (their special tokens use fullwidth ``｜`` and ``▁``).

The prompt (``templates/deepseek_v3.jinja``) joins every system message at the top, then declares
the tools the way V3.1's template does::

    Be brief.

    ## Tools
    You have access to the following tools:

    ### get_weather
    Description: Current weather for a city

    Parameters: {"type": "object", "properties": {...}}

    IMPORTANT: ALWAYS adhere to this exact format for tool use:
    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments<｜tool▁call▁end｜>{{additional_tool_calls}}<｜tool▁calls▁end｜>
    ...
    <｜User｜>Weather in Paris?<｜Assistant｜></think>

V3.1 calls (``dialect="v31"``, the default), chained without separators (one line, shown wrapped)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>
    <｜tool▁calls▁end｜>

V3 calls (``dialect="v3"``; V3's own template declares no tools, so the same block describes this
format instead)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
    ```json
    {"city": "Paris"}
    ```<｜tool▁call▁end｜>
    <｜tool▁call▁begin｜>…<｜tool▁call▁end｜><｜tool▁calls▁end｜>

Results follow the call turn directly: V3.1 ``<｜tool▁output▁begin｜>{"temp": 21}<｜tool▁output▁end｜>``
per result; V3 wraps a run of them in ``<｜tool▁outputs▁begin｜>…<｜tool▁outputs▁end｜>`` and separates
them with a newline. After results no ``<｜Assistant｜>`` is added: the model continues the turn.
The stop string is ``<｜end▁of▁sentence｜>``; the tokenizer adds the BOS token, so the prompt has none.

The parser reads both dialects whatever the rendering: a call body is ``function<｜tool▁sep｜>name``
plus an optionally fenced JSON, or ``name<｜tool▁sep｜>json``. ``<｜tool▁calls▁begin｜>`` and
``<｜tool▁calls▁end｜>`` are layout and dropped; a ``<｜tool▁call▁begin｜>`` without the section opener
is still a call. V3.1's thinking mode (``thinking=True``: the prompt ends ``<think>``) streams
reasoning until ``</think>``; an R1-style ``<think>…</think>`` at the very start is reasoning too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter, forced_tools, named_call_constraint
from adapters.parsing import BlockParser, Decoded

CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"
EOS = "<｜end▁of▁sentence｜>"

Dialect = Literal["v3", "v31"]


def decode_call(body: str) -> Decoded | None:
    """One call body of either dialect → a call; None when it has no separator or no name."""
    head, sep, rest = body.partition(SEP)
    if not sep:
        return None
    head = head.strip()
    if head == "function":  # V3: the type, then the name on the line after the separator
        name, _, rest = rest.partition("\n")
        name = name.strip()
    else:
        name = head
    if not name or any(c.isspace() for c in name):
        return None
    return Decoded(name, _unfence(rest))


def _unfence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2]
    if text.endswith("```"):
        text = text[:-3]
    elif text.endswith("`"):  # a fence cut off by max_tokens
        text = text.rstrip("`")
    return text.strip()


class DeepSeekV3Parser(BlockParser):
    """Content with calls between ``<｜tool▁call▁begin｜>`` and ``<｜tool▁call▁end｜>``; the section
    markers around them are layout (dropped), and one closes a call the model left open."""

    start = CALL_BEGIN
    ends = (CALL_END, CALL_BEGIN, CALLS_END)
    drop = (CALLS_BEGIN, CALLS_END)
    reasoning_markers = ("<think>", "</think>")

    def decode(self, body: str, complete: bool) -> Decoded | None:
        return decode_call(body)


def deepseek_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, dialect: Dialect) -> Constraint | None:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    ``name<｜tool▁sep｜>{…}`` (V3: ``name`` and a fenced object) through ``named_call_constraint``.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    opener = CALLS_BEGIN + CALL_BEGIN + ("function" + SEP if dialect == "v3" else "")

    def head(name: str) -> str:
        return name + "\n```json\n" if dialect == "v3" else name + SEP

    tail = ("\n```" if dialect == "v3" else "") + CALL_END + CALLS_END
    return named_call_constraint(allowed, opener, head, tail)


class DeepSeekV3Adapter(TemplateAdapter):
    """The deepseek_v3 family; ``dialect`` picks the rendered call format (the parser reads both)."""

    name = "deepseek_v3"
    stop: tuple[str, ...] = (EOS,)
    template = "deepseek_v3"

    def __init__(self, *, chat_template: str | None = None, dialect: Dialect = "v31", thinking: bool = False) -> None:
        if dialect not in ("v3", "v31"):
            raise ValueError(f"deepseek_v3 dialect must be 'v3' or 'v31', not {dialect!r}")
        super().__init__(chat_template=chat_template, dialect=dialect, thinking=thinking)
        self.dialect: Dialect = dialect
        self.thinking = thinking and dialect == "v31"

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        found = deepseek_constraint(tools, tool_choice, self.dialect)
        if found is None or not self.thinking:
            return found
        return Constraint("</think>" + found.prefill, found.structured_outputs)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return DeepSeekV3Parser(tools, starts_in_reasoning=self.thinking)
