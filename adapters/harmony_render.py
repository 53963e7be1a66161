"""The harmony prompt of a conversation: our messages as harmony messages, rendered as gpt-oss saw them.

harmony is defined by its renderer (the ``openai-harmony`` package), not by a chat template, so the
layout here is code that writes what ``render_conversation_for_completion`` writes;
``tests/adapters/test_gpt_oss_oracle.py`` compares the two token for token. Each message is::

    <|start|>{author}[ to={recipient}][<|channel|>{channel}][ {content type}]<|message|>{content}<|end|>

ending ``<|call|>`` instead when the assistant addresses a tool. The conversation opens with a
system message (identity, knowledge cutoff, optional date, ``Reasoning: low|medium|high``, the
valid channels) and a developer message (``# Instructions`` from the leading system/developer
messages, ``# Tools`` from ``harmony_ts``); ``<|start|>assistant`` is the generation prompt.

Turns map as follows (the harmony guide's conventions; vLLM's chat input conversion is the same
apart from the order of a turn's reasoning and preamble, and ``json`` instead of
``<|constrain|>json`` as content type):

- user → ``user``; a system/developer message after the first non-system one → ``developer``;
- assistant ``reasoning`` → an ``analysis`` message first; text next to tool calls → a
  ``commentary`` preamble; each call → ``commentary`` to ``functions.NAME`` with content type
  ``<|constrain|>json`` and its arguments (``{}`` when empty); text without calls → ``final``;
- tool result → author ``functions.NAME`` (the name of the call its ``tool_call_id`` answers),
  ``to=assistant`` on ``commentary``;
- earlier reasoning is dropped when a later ``final`` answer exists, as the harmony guide says:
  the reasoning of finished turns goes, the reasoning of a turn still calling tools stays (the
  package only drops analysis before the *first* final, and only when the conversation ends in
  one; vLLM drops before the last final, as here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adapters.base import Message, ToolSpec
from adapters.harmony_ts import tools_section
from adapters.render import TemplateError

MODEL_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"
CHANNELS = "# Valid channels: analysis, commentary, final. Channel must be included for every message."
FUNCTIONS_NOTE = "Calls to these tools must go to the commentary channel: 'functions'."
JSON_TYPE = "<|constrain|>json"
GENERATION_PROMPT = "<|start|>assistant"

# OpenAI's reasoning_effort values (all the chat door accepts) and the level gpt-oss knows for each:
# it has only low/medium/high, and cannot turn reasoning off, so "none"/"minimal" read as low
EFFORTS: Mapping[str, str] = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}


def effort_level(value: str) -> str:
    level = EFFORTS.get(value)
    if level is None:
        raise TemplateError(f"reasoning_effort must be one of {sorted(EFFORTS)}, not {value!r}")
    return level


@dataclass(frozen=True, slots=True)
class HarmonyMessage:
    author: str  # a role, or a tool's name for tool output
    content: str
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None

    def render(self) -> str:
        to = f" to={self.recipient}" if self.recipient is not None else ""
        channel = f"<|channel|>{self.channel}" if self.channel is not None else ""
        ctype = f" {self.content_type}" if self.content_type is not None else ""
        end = "<|call|>" if self.author == "assistant" and self.recipient is not None else "<|end|>"
        return f"<|start|>{self.author}{to}{channel}{ctype}<|message|>{self.content}{end}"


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What the system message says; ``None`` leaves a line out."""

    model_identity: str | None = MODEL_IDENTITY
    knowledge_cutoff: str | None = KNOWLEDGE_CUTOFF
    current_date: str | None = None
    reasoning_effort: str | None = "medium"

    def text(self, has_functions: bool) -> str:
        top = [
            self.model_identity,
            f"Knowledge cutoff: {self.knowledge_cutoff}" if self.knowledge_cutoff else None,
            f"Current date: {self.current_date}" if self.current_date else None,
        ]
        sections = ["\n".join(line for line in top if line)]
        if self.reasoning_effort is not None:
            sections.append(f"Reasoning: {self.reasoning_effort}")
        sections.append(CHANNELS + ("\n" + FUNCTIONS_NOTE if has_functions else ""))
        return "\n\n".join(s for s in sections if s)


def developer_text(instructions: str | None, tools: Sequence[ToolSpec]) -> str:
    sections = ["# Instructions", instructions] if instructions else []
    if tools:
        sections.append(tools_section(tools))
    return "\n\n".join(sections)


# --------------------------------------------------------------------------- turns

Convert = Callable[[Message, Mapping[str, str]], list[HarmonyMessage]]


def _user(message: Message, names: Mapping[str, str]) -> list[HarmonyMessage]:
    return [HarmonyMessage("user", message.content or "")]


def _developer(message: Message, names: Mapping[str, str]) -> list[HarmonyMessage]:
    return [HarmonyMessage("developer", message.content or "")]


def _assistant(message: Message, names: Mapping[str, str]) -> list[HarmonyMessage]:
    out = []
    if message.reasoning:
        out.append(HarmonyMessage("assistant", message.reasoning, "analysis"))
    text = message.content or ""
    if not message.tool_calls:
        return out + ([HarmonyMessage("assistant", text, "final")] if text else [])
    if text:
        out.append(HarmonyMessage("assistant", text, "commentary"))  # a preamble the user sees
    for call in message.tool_calls:
        arguments = call.arguments if call.arguments.strip() else "{}"
        out.append(HarmonyMessage("assistant", arguments, "commentary", f"functions.{call.name}", JSON_TYPE))
    return out


def _tool(message: Message, names: Mapping[str, str]) -> list[HarmonyMessage]:
    name = names.get(message.tool_call_id or "") or message.name
    if not name:
        raise TemplateError(f"tool result {message.tool_call_id!r} answers no earlier call and names no function")
    return [HarmonyMessage(f"functions.{name}", message.content or "", "commentary", "assistant")]


_CONVERT: Mapping[str, Convert] = {"user": _user, "system": _developer, "assistant": _assistant, "tool": _tool}


def _drop_finished_reasoning(messages: list[HarmonyMessage]) -> list[HarmonyMessage]:
    finals = [i for i, m in enumerate(messages) if m.author == "assistant" and m.channel == "final"]
    if not finals:
        return messages
    return [m for i, m in enumerate(messages) if not (i < finals[-1] and m.channel == "analysis")]


def conversation(messages: Sequence[Message]) -> tuple[str | None, list[HarmonyMessage]]:
    """The leading system/developer text (the developer message's instructions) and the turns."""
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    instructions = "\n\n".join(m.content for m in messages[:lead] if m.content) or None
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    turns = [h for m in messages[lead:] for h in _CONVERT[m.role](m, names)]
    return instructions, _drop_finished_reasoning(turns)


def render_prompt(
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    system: SystemInfo,
    *,
    instruction: str | None = None,
    add_generation_prompt: bool = True,
) -> str:
    """The whole prompt; ``instruction`` (a forced tool choice) ends the developer instructions."""
    instructions, turns = conversation(messages)
    if instruction:
        instructions = f"{instructions}\n\n{instruction}" if instructions else instruction
    head = [HarmonyMessage("system", system.text(bool(tools)))]
    developer = developer_text(instructions, tools)
    if developer:
        head.append(HarmonyMessage("developer", developer))
    text = "".join(m.render() for m in head + turns)
    return text + GENERATION_PROMPT if add_generation_prompt else text
