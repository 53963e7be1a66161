"""``TemplateAdapter``: the part of a family adapter that is the same for every family.

A family subclasses it, names its bundled template (``adapters/templates/<template>.jinja``),
its stop strings and its parser class, and writes ``constraint``. This base does the rendering:

- ``tool_choice: none`` declares no tools; a named choice declares only that tool;
- ``required``/named add ``choice_instruction`` to the prompt: bundled templates receive it as the
  ``tool_instruction`` variable and place it in the system turn of their layout; a model's own
  template (``chat_template=`` at construction) cannot be edited, so the instruction is appended
  to the system message (one is added when the conversation has none);
- extra template variables (``template_vars``) reach the template, e.g. ``date_string`` or a
  family's default system prompt; ``bundled_vars(declared tools)`` adds per-request ones for the
  bundled template only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.auto_gate import GateWeights
from adapters.base import Constraint, Message, Parser, ToolChoice, ToolSpec
from adapters.render import bundled_template, offered_tools, render_with_template
from adapters.schema_regex import alternation, escape, json_regex


def choice_instruction(tools: Sequence[ToolSpec], tool_choice: ToolChoice, parallel: bool) -> str | None:
    """The sentence that states a forced ``tool_choice`` in the prompt (None for auto/none)."""
    if tool_choice.mode != "required":
        return None
    if tool_choice.name is not None:
        return f"You must call the function {tool_choice.name} now, with arguments that follow its schema."
    if parallel:
        return "You must call one or more of the functions above now; do not answer in prose."
    return "You must call exactly one of the functions above now; do not answer in prose."


def _with_instruction(messages: Sequence[Message], instruction: str) -> list[Message]:
    out = list(messages)
    if out and out[0].role == "system":
        first = out[0]
        text = f"{first.content}\n\n{instruction}" if first.content else instruction
        out[0] = Message("system", text)
    else:
        out.insert(0, Message("system", instruction))
    return out


class TemplateAdapter:
    """Renders with a bundled Jinja template (or a configured one); see the module docstring."""

    name: str = ""
    stop: tuple[str, ...] = ()
    template: str = ""
    # tool_choice auto decided first by calibrated weights (hermes' auto_policy gated): its marker and weights
    call_marker: str | None = None
    auto_gate: GateWeights | None = None

    def __init__(self, *, chat_template: str | None = None, **template_vars: Any) -> None:
        self.chat_template = chat_template
        self.template_vars: Mapping[str, Any] = dict(template_vars)

    def render(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        tool_choice: ToolChoice,
        *,
        parallel_tool_calls: bool = True,
        add_generation_prompt: bool = True,
        reasoning_effort: str | None = None,
    ) -> str:
        declared = offered_tools(tools, tool_choice)
        variables = dict(self.template_vars)
        if reasoning_effort is not None:
            variables.setdefault("reasoning_effort", reasoning_effort)  # a configured value wins
        instruction = choice_instruction(declared, tool_choice, parallel_tool_calls) if declared else None
        if self.chat_template is not None:
            msgs = _with_instruction(messages, instruction) if instruction else list(messages)
            # the family's variables (enable_thinking, date_string ...) reach a model's own template
            # too, as transformers passes extra keyword arguments on to apply_chat_template
            return render_with_template(
                self.chat_template, msgs, declared, add_generation_prompt=add_generation_prompt, **variables
            )
        return render_with_template(
            bundled_template(self.template),
            messages,
            declared,
            add_generation_prompt=add_generation_prompt,
            tool_instruction=instruction,
            **self.bundled_vars(declared),
            **variables,
        )

    def bundled_vars(self, declared: Sequence[ToolSpec]) -> Mapping[str, Any]:
        """Per-request variables only the bundled template takes (mistral: the tools as its JSON)."""
        return {}

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return None

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        raise NotImplementedError  # each family returns its own parser


def forced_tools(tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> list[ToolSpec]:
    """The tools a forcing constraint must allow ([] when ``tool_choice`` does not force a call)."""
    if tool_choice.mode != "required":
        return []
    return offered_tools(tools, tool_choice)


def arguments_schema(tool: ToolSpec) -> dict[str, Any]:
    """The JSON schema of a tool's arguments; a tool declared without one takes any object."""
    return dict(tool.parameters) if tool.parameters else {"type": "object", "properties": {}}


def call_schema(tool: ToolSpec, *, name_key: str = "name", args_key: str = "arguments") -> dict[str, Any]:
    """JSON schema of one ``{"name": NAME, "arguments": {...}}`` envelope typed by the tool's schema."""
    return {
        "type": "object",
        "properties": {name_key: {"const": tool.name}, args_key: arguments_schema(tool)},
        "required": [name_key, args_key],
    }


def named_call_constraint(
    allowed: Sequence[ToolSpec], opener: str, head: Callable[[str], str], tail: str = ""
) -> Constraint:
    """Force one call in a format that writes the name outside the JSON arguments (``head(name)``
    then the object: glm4's ``name\n{…}``, deepseek's ``name<｜tool▁sep｜>{…}``, mistral's
    ``name[ARGS]{…}``), after ``opener``.

    One allowed tool: ``opener + head(name)`` is prefilled and ``{"json": its schema}`` types the
    arguments (generation ends with the object; the family's parser accepts a missing ``tail``).
    Several: a regex of ``head(name) + typed object`` alternatives, then ``tail``, so the model picks
    the tool and cannot pair one tool's name with another's arguments.
    """
    if len(allowed) == 1:
        tool = allowed[0]
        return Constraint(opener + head(tool.name), {"json": arguments_schema(tool)})
    calls = [escape(head(t.name)) + json_regex(arguments_schema(t)) for t in allowed]
    return Constraint(opener, {"regex": alternation(calls) + escape(tail)})
