"""mistral family: Mistral 7B v0.3, Mixtral 8x22B, Nemo, Small, Large, Magistral, Devstral.

The layout depends on the tokenizer generation (``mistral-common``'s ``v3``/``v7``/``v11``/``v13``);
``MistralAdapter(dialect=...)`` picks one of ``DIALECTS`` and the default is ``v3`` (7B v0.3). The
prompt (``templates/mistral.jinja``) has no generation marker: the model answers after ``[/INST]``
or ``[/TOOL_RESULTS]``. Tools sit before the last ``[INST]`` (``v13``: the first one)::

    [AVAILABLE_TOOLS] [{"type": "function", "function": {"name": "get_weather", "description": "…",
    "parameters": {…}}}][/AVAILABLE_TOOLS][INST] Be brief.

    Weather in Paris?[/INST]

Before ``v7`` the system text joins the last user turn as above; from ``v7`` it is a block of its
own, ``[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT]``, where the system message sits. Sentencepiece
tokenizers (``v3``, ``v7_spm``) start every text segment with a space after its control token;
tekken ones (``v3_tekken``, ``v7``, ``v11``, ``v13``) do not.

Calls before ``v11``, one JSON array::

    [TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]</s>

``v11`` and later, one ``[TOOL_CALLS]`` per call (``v11`` also writes the id)::

    [TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]{"city": "Paris"}</s>
    [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}</s>

Results, one block per tool message: ``[TOOL_RESULTS] {"content": {"temp": 21}, "call_id":
"a1B2c3D4e"}[/TOOL_RESULTS]`` (``v3``: the content is parsed as JSON when it is JSON),
``[TOOL_RESULTS]a1B2c3D4e[TOOL_CONTENT]{"temp": 21}[/TOOL_RESULTS]`` (``v7``, ``v11``),
``[TOOL_RESULTS]{"temp": 21}[/TOOL_RESULTS]`` (``v13``). The stop string is ``</s>``; the tokenizer
adds the ``<s>`` BOS, so the prompt has none.

Call ids are exactly 9 characters ``[A-Za-z0-9]``: the parser makes such ids, and an id from
elsewhere in the history (an OpenAI ``call_…``) is rendered as a stable 9-character digest of itself,
so a call and its result still match.

The parser reads every generation's calls whatever the rendering: ``[TOOL_CALLS]`` followed by a
JSON array (or a single object) of ``{"name", "arguments"}``, or by ``name``, an optional
``[CALL_ID]id``, an optional ``[ARGS]`` (vLLM may drop that special token) and a JSON object.
Magistral's ``[THINK]…[/THINK]`` at the very start is reasoning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import json_repair

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.calls import loads_strict, new_call_id, stable_id
from adapters.family import TemplateAdapter, call_schema, forced_tools, named_call_constraint
from adapters.parsing import Decoded, StreamParser
from adapters.scan import Balanced, MarkerSet

TOOL_CALLS = "[TOOL_CALLS]"
ARGS = "[ARGS]"
CALL_ID = "[CALL_ID]"
_ID = re.compile(r"[A-Za-z0-9]{9}")
_MAX_HEAD = 256  # a function name (plus call id) longer than this is not a call


@dataclass(frozen=True, slots=True)
class MistralDialect:
    """The switches that tell one tokenizer generation's layout from another."""

    spaced: bool  # sentencepiece: a space opens each text segment after a control token
    system_block: bool  # [SYSTEM_PROMPT]…[/SYSTEM_PROMPT] instead of joining the last user turn
    tools_first: bool  # [AVAILABLE_TOOLS] before the first [INST] instead of the last
    call_style: Literal["array", "args_id", "args"]
    result_style: Literal["json", "tool_content", "plain"]


DIALECTS: dict[str, MistralDialect] = {
    # Mistral 7B Instruct v0.3, Mixtral 8x22B Instruct (sentencepiece v3)
    "v3": MistralDialect(True, False, False, "array", "json"),
    # Mistral Nemo 2407 (tekken v3)
    "v3_tekken": MistralDialect(False, False, False, "array", "json"),
    # Mistral Large 2411 (sentencepiece v7)
    "v7_spm": MistralDialect(True, True, False, "array", "tool_content"),
    # Mistral Small 3 / 3.1 (tekken v7)
    "v7": MistralDialect(False, True, False, "array", "tool_content"),
    # Mistral Small 3.2, Devstral Small 1.1 (tekken v11)
    "v11": MistralDialect(False, True, False, "args_id", "tool_content"),
    # Magistral 1.2, Devstral 2 and later (tekken v13+)
    "v13": MistralDialect(False, True, True, "args", "plain"),
}


def mistral_call_id(given: str | None) -> str:
    """``given`` when it is already a Mistral id, else a stable 9-character digest of it."""
    if given and _ID.fullmatch(given):
        return given
    return stable_id(given or "", 9)


def new_mistral_id() -> str:
    return new_call_id(9, "")


# --------------------------------------------------------------------------- rendering helpers


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _maybe_json(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return text or ""


def _tools_json(tools: Sequence[ToolSpec]) -> str:
    # mistral-common always writes description and parameters, empty or not
    return _dumps(
        [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in tools
        ]
    )


def _calls_json(tool_calls: Sequence[dict[str, Any]]) -> str:
    return _dumps(
        [
            {
                "name": tc["function"]["name"],
                "arguments": tc["function"]["arguments"],
                "id": mistral_call_id(tc.get("id")),
            }
            for tc in tool_calls
        ]
    )


def _args_json(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else _dumps(arguments)


def _result_json(content: str | None, call_id: str | None) -> str:
    return _dumps({"content": _maybe_json(content), "call_id": mistral_call_id(call_id)})


# --------------------------------------------------------------------------- parser


def _decode_list(text: str, complete: bool) -> tuple[list[Any] | None, bool]:
    """The JSON after ``[TOOL_CALLS]`` as a list of call objects, and whether it was mended."""
    try:
        value = loads_strict(text)
        repaired = False
    except ValueError:
        try:
            value = json_repair.loads(text)
        except Exception:  # json_repair is best effort: its own failure means "cannot mend"
            return None, False
        repaired = True
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None, False
    return value, repaired or not complete


def _envelope(item: Any, repaired: bool) -> Decoded | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    args = item.get("arguments", item.get("parameters"))
    if args is not None and not isinstance(args, dict | str):
        args = _dumps(args)  # a list or number: finalize_arguments reports it invalid
    return Decoded(item["name"], args, repaired)


class MistralParser(StreamParser):
    """``[TOOL_CALLS]`` in either generation's shape; everything else is content."""

    reasoning_markers = ("[THINK]", "[/THINK]")

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        kwargs.setdefault("id_factory", new_mistral_id)
        super().__init__(tools, **kwargs)
        self._starts = MarkerSet([TOOL_CALLS], self.meter)
        self._head_markers = MarkerSet([ARGS, CALL_ID, "{"], self.meter)
        self._state = "text"  # text | head | name | call_id | args | json
        self._buf = ""
        self._name = ""
        self._raw = ""  # the text consumed since [TOOL_CALLS], returned as content if no call
        self._json: Balanced | None = None

    def _consume(self, delta: str) -> None:
        while delta:
            buf, self._buf = self._buf + delta, ""
            delta = getattr(self, "_in_" + self._state)(buf)

    # Each state handler takes the pending text and returns what it did not consume; a handler
    # that needs more text before it can decide keeps it in ``self._buf``.

    def _in_text(self, buf: str) -> str:
        before, marker, after = self._starts.cut(buf)
        self._text(before)
        if marker is None:
            self._buf = after
            return ""
        self._state, self._raw, self._name = "head", "", ""
        return after

    def _in_head(self, buf: str) -> str:
        stripped = buf.lstrip()
        self._raw += buf[: len(buf) - len(stripped)]  # whitespace is layout, unless no call follows
        if not stripped:
            return ""
        self._state = "json" if stripped[0] in "[{" else "name"
        if self._state == "json":
            self._json = Balanced("{}[]", '"', self.meter)
        return stripped

    def _word(self, buf: str) -> tuple[str, str] | str | None:
        """A name or call id up to its marker: ``(word, marker)``; the rest of ``buf`` after a
        rejection; or None while undecided. Whitespace, or more than ``_MAX_HEAD`` characters,
        before the marker means this is not a call; the cut is at a fixed place so every chunking
        agrees."""
        hit = self._head_markers.search(buf)
        end = hit[0] if hit is not None else len(buf)
        cut = next((k for k in range(min(end, _MAX_HEAD + 1)) if buf[k].isspace()), None)
        if cut is None and end > _MAX_HEAD:
            cut = _MAX_HEAD
        if cut is None and hit is not None and end == 0:
            cut = len(hit[1])  # a marker with nothing before it
        if cut is not None:
            self._not_a_call(buf[:cut])
            return buf[cut:]
        if hit is None:
            self._buf = buf
            return None
        word, marker = buf[:end], hit[1]
        self._raw += word + ("" if marker == "{" else marker)
        return word, marker

    def _in_name(self, buf: str) -> str:
        found = self._word(buf)
        if not isinstance(found, tuple):
            return found or ""
        self._name, marker = found
        rest = buf[len(self._name) :]
        self._state = "call_id" if marker == CALL_ID else "args"
        return rest if marker == "{" else rest[len(marker) :]

    def _in_call_id(self, buf: str) -> str:
        found = self._word(buf)
        if not isinstance(found, tuple):
            return found or ""
        call_id, marker = found  # the model's own id is dropped: every emitted call gets a fresh one
        rest = buf[len(call_id) :]
        if marker == CALL_ID:
            self._not_a_call("")
            return rest[len(marker) :]
        self._state = "args"
        return rest if marker == "{" else rest[len(marker) :]

    def _in_args(self, buf: str) -> str:
        stripped = buf.lstrip()
        self._raw += buf[: len(buf) - len(stripped)]
        if not stripped:
            return ""
        if stripped[0] != "{":
            self._not_a_call("")
            return stripped
        self._state = "json"
        self._json = Balanced("{}[]", '"', self.meter)
        return stripped

    def _in_json(self, buf: str) -> str:
        assert self._json is not None
        end = self._json.add(buf)
        if end is None:
            return ""
        self._close_json(complete=True)
        return buf[end:]

    def _close_json(self, complete: bool) -> None:
        assert self._json is not None
        text, raw = self._json.text(), TOOL_CALLS + self._raw + self._json.text()
        name, self._name, self._json, self._state = self._name, "", None, "text"
        if name:
            self._call(Decoded(name, text), raw)
            return
        items, repaired = _decode_list(text, complete)
        decoded = [_envelope(item, repaired) for item in items or ()]
        if not any(d is not None for d in decoded):
            self._call(None, raw)  # nothing call-shaped: the whole span is content
            return
        for item, one in zip(items or (), decoded, strict=True):
            # an item that is not a call can only be shown as its own JSON text
            self._call(one, _dumps(item))

    def _not_a_call(self, tail: str) -> None:
        raw = TOOL_CALLS + self._raw + tail
        self._state, self._raw, self._name = "text", "", ""
        self._call(None, raw)

    def _end(self) -> None:
        buf, self._buf = self._buf, ""
        if self._state == "json":
            self._close_json(complete=False)
        elif self._state == "text":
            self._text(buf)
        elif self._state == "args":
            # named, then cut off before any arguments: a parameterless call, as far as we know
            name, raw = self._name, TOOL_CALLS + self._raw
            self._state, self._raw, self._name = "text", "", ""
            self._call(Decoded(name, None, True), raw)
        else:
            self._not_a_call(buf)
        self._state = "text"


# --------------------------------------------------------------------------- adapter


def mistral_constraint(
    tools: Sequence[ToolSpec], tool_choice: ToolChoice, dialect: MistralDialect
) -> Constraint | None:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    Array dialects: ``[TOOL_CALLS]`` prefilled, then a one-item array of schema-typed envelopes.
    Name dialects: one allowed tool is prefilled up to ``[ARGS]`` and its arguments follow its JSON
    schema; several are a regex of ``name[ARGS]{…}`` alternatives.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    if dialect.call_style == "array":
        schema = {
            "type": "array",
            "items": {"anyOf": [call_schema(t) for t in allowed]},
            "minItems": 1,
            "maxItems": 1,
        }
        return Constraint(TOOL_CALLS + (" " if dialect.spaced else ""), {"json": schema})
    return named_call_constraint(allowed, TOOL_CALLS, lambda name: name + ARGS)


class MistralAdapter(TemplateAdapter):
    """The mistral family; ``dialect`` names the tokenizer generation (see ``DIALECTS``)."""

    name = "mistral"
    stop: tuple[str, ...] = ("</s>",)
    template = "mistral"

    def __init__(self, *, chat_template: str | None = None, dialect: str = "v3") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"mistral dialect must be one of {sorted(DIALECTS)}, not {dialect!r}")
        self.dialect = DIALECTS[dialect]
        d = self.dialect
        super().__init__(
            chat_template=chat_template,
            sp=" " if d.spaced else "",
            system_block=d.system_block,
            tools_first=d.tools_first,
            call_style=d.call_style,
            result_style=d.result_style,
            calls_json=_calls_json,
            args_json=_args_json,
            result_json=_result_json,
            call_id=mistral_call_id,
        )

    def bundled_vars(self, declared: Sequence[ToolSpec]) -> Mapping[str, Any]:
        return {"tools_json": _tools_json(declared)}

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return mistral_constraint(tools, tool_choice, self.dialect)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return MistralParser(tools)
