"""glm47 family: GLM-4.7 (``dialect="4.7"``, the default) and GLM-4.6 (``"4.6"``).

Calls are glm45's ``<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>…</tool_call>``
(``Glm45Parser`` reads them, values typed by the schema); what differs is the prompt
(``templates/glm47.jinja``). GLM-4.7 writes every tag without newlines and opens the reasoning
block at the end of the prompt, so the output starts inside it. The prompt ends::

    …<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key><arg_value>{arg-value-1}</arg_value>…</tool_call>
    <|user|>Weather in Paris?<|assistant|><think>

(one line, wrapped here) and the model writes (one line too)::

    The user wants the weather.</think>I will check.<tool_call>get_weather
    <arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>

GLM-4.6 keeps 4.5's newline layout (``<|user|>\\n…``,
``\\n<tool_call>name\\n<arg_key>…``) and thinks after a bare ``<|assistant|>``. Results come back in
one ``<|observation|>`` turn per run of tool messages (4.7: ``<tool_response>…</tool_response>``
with no newlines). Interleaved thinking: the reasoning of assistant turns after the last user
message is rendered back (``<think>…</think>``, 4.7 ``clear_thinking=False``: every turn's), the
others get an empty block. ``thinking=False`` ends the prompt with a closed think block (4.6:
``/nothink`` on user turns, as GLM's template does). The turn ends at ``<|observation|>``,
``<|user|>`` or ``<|endoftext|>`` (stop strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter
from adapters.glm45 import Glm45Parser, glm_constraint

Dialect = Literal["4.7", "4.6"]


class Glm47Adapter(TemplateAdapter):
    """The glm47 family; see the module docstring for ``dialect``, ``thinking``, ``clear_thinking``."""

    name = "glm47"
    stop: tuple[str, ...] = ("<|user|>", "<|observation|>", "<|endoftext|>")
    template = "glm47"

    def __init__(
        self,
        *,
        chat_template: str | None = None,
        dialect: Dialect = "4.7",
        thinking: bool = True,
        clear_thinking: bool = True,
    ) -> None:
        if dialect not in ("4.7", "4.6"):
            raise ValueError(f"glm47 dialect must be '4.7' or '4.6', not {dialect!r}")
        compact = dialect == "4.7"
        super().__init__(
            chat_template=chat_template, compact=compact, enable_thinking=thinking, clear_thinking=clear_thinking
        )
        self.compact = compact
        self.thinking = thinking

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        # the forced call closes the reasoning block the prompt opened (4.7) or would open (4.6)
        if self.compact:
            return glm_constraint(tools, tool_choice, "</think>" if self.thinking else "", "")
        return glm_constraint(tools, tool_choice, "\n<think></think>\n" if self.thinking else "\n", "\n")

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return Glm45Parser(tools, starts_in_reasoning=self.compact and self.thinking)
