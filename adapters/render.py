"""Prompt rendering shared by the families: the Jinja2 environment, bundled templates, and the
conversion of our message/tool types into the dict shapes Hugging Face chat templates expect.

Bundled templates live in ``adapters/templates/<name>.jinja`` and see the same variables as a
model's own template (transformers style): ``messages``, ``tools``, ``add_generation_prompt``, plus
whatever keyword arguments the family passes (``tool_instruction`` for required/named choices).
``render_with_template`` renders a model's own chat template text instead, for models configured
to use it; it uses the same sandboxed environment, ``tojson`` filter (``ensure_ascii=False``) and
``raise_exception``/``strftime_now`` helpers that transformers provides.

``bos_token`` and ``eos_token`` render empty: the prompt goes to vLLM's ``/v1/completions``, whose
tokenizer adds the model's BOS itself (``add_special_tokens`` defaults to true there), and a
template that printed it too would give Llama models two.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from adapters.base import Message, ToolChoice, ToolSpec

_TEMPLATES = Path(__file__).parent / "templates"


class TemplateError(ValueError):
    """A chat template failed to render (its own ``raise_exception``, or a Jinja error)."""


def _raise(message: str) -> None:
    raise TemplateError(message)


def _tojson(
    value: Any,
    indent: int | None = None,
    ensure_ascii: bool = False,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
) -> str:
    # transformers' signature: vendor templates pass separators=(',', ':') for compact JSON (Kimi)
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, sort_keys=sort_keys, separators=separators)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@functools.cache
def _environment() -> jinja2.Environment:
    # loopcontrols as in transformers: vendor templates use {% break %} (Kimi K2-Thinking)
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.filters["pyrepr"] = repr  # Python literal of a JSON value (pythonic call arguments)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env


@functools.cache
def _compiled(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def check_template(source: str) -> None:
    """Compile a chat template now (at start-up), so a syntax error never waits for a request."""
    try:
        _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"not a valid Jinja template (line {exc.lineno}): {exc.message}") from exc


@functools.cache
def bundled_template(name: str) -> str:
    """The text of ``adapters/templates/<name>.jinja``."""
    return (_TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


def tool_dict(tool: ToolSpec) -> dict[str, Any]:
    """An OpenAI ``tools[]`` entry, as chat templates receive it."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters:  # a client that sent no parameters gets none rendered, as vLLM passes tools verbatim
        function["parameters"] = dict(tool.parameters)
    return {"type": "function", "function": function}


def _arguments(text: str) -> Any:
    # Templates print arguments with ``tojson``, so they want the object (vLLM parses them too).
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return text


def message_dict(message: Message) -> dict[str, Any]:
    """A transformers-style message dict (tool-call arguments as objects)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c.arguments)},
            }
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.reasoning:
        # both spellings: vendors' templates read reasoning_content (GLM, Kimi, MiniMax) or reasoning
        out["reasoning_content"] = out["reasoning"] = message.reasoning
    return out


def offered_tools(tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> list[ToolSpec]:
    """The tools a prompt declares: none for ``tool_choice: none``, only the named one when forced."""
    if tool_choice.mode == "none":
        return []
    if tool_choice.name is not None:
        return [t for t in tools if t.name == tool_choice.name]
    return list(tools)


def render_with_template(
    template_text: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    add_generation_prompt: bool = True,
    **extra: Any,
) -> str:
    """Render ``messages`` with a chat template's text (a model's own, or a bundled one)."""
    context: dict[str, Any] = {
        "messages": [message_dict(m) for m in messages],
        "tools": [tool_dict(t) for t in tools] or None,
        "add_generation_prompt": add_generation_prompt,
        "bos_token": "",
        "eos_token": "",
    }
    context.update(extra)
    try:
        return _compiled(template_text).render(**context)
    except TemplateError:
        raise
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        # A model's own template may assume things ours never promised (content never None, one
        # call per turn ...): whatever it trips on is reported as one error type.
        raise TemplateError(f"chat template failed: {type(exc).__name__}: {exc}") from exc
