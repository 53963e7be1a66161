"""glm4 family: GLM-4-9B-chat (``dialect="glm4"``, the default) and ChatGLM3-6B (``"chatglm3"``).

Every turn is ``<|role|>{metadata}\\n{content}`` (``templates/glm4.jinja``). GLM-4 declares the
tools in a system turn of its own::

    [gMASK]<sop><|system|>
    你是一个名为 ChatGLM 的人工智能助手。…

    # 可用工具

    ## get_weather

    {
        "name": "get_weather",
        …
    }
    在调用上述函数时，请使用 Json 格式表示调用的参数。<|user|>
    Weather in Paris?<|assistant|>

The assistant answers in prose after an empty metadata line (``\\nIt is sunny.``), or calls a
function with the name as metadata and the JSON arguments as content; parallel calls are further
``<|assistant|>`` segments::

    get_weather
    {"city": "Paris"}<|assistant|>get_weather
    {"city": "Oslo"}

ChatGLM3 lists the tools as one JSON array after "Answer the following questions as best as you
can. You have access to the following tools:", and writes the arguments as a Python call::

    get_weather
     ```python
    tool_call(city='Paris', days=3)
    ```

whose keywords are read with ``ast`` (``ast.parse`` + ``ast.literal_eval`` of each value; the
original demo ``eval``s it, which we never do). Results come back as ``<|observation|>\\n…`` turns;
the model ends its turn with ``<|observation|>`` or ``<|user|>`` (the stop strings). ``prefix``
(``[gMASK]<sop>``, ChatGLM3: ``[gMASK]sop``) starts the prompt; set it to ``""`` for a tokenizer
that adds those tokens itself.

When is a segment a call? Prose also starts with a line, so a segment is a call only when its
first line is exactly the name of one of the request's tools and the next non-blank text is a
JSON object or a ``` block. Anything else — an unknown name, a known name followed by prose — is
content, verbatim (minus the empty metadata line of a prose answer). A known name followed by
JSON or code that cannot be made an object is rejected as ``invalid``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from adapters.base import Constraint, Parser, ToolChoice, ToolSpec
from adapters.family import TemplateAdapter, forced_tools, named_call_constraint
from adapters.parsing import Decoded, StreamParser
from adapters.scan import Balanced, MarkerSet, UntilMarker
from adapters.schema_regex import INTEGER, NUMBER, alternation, escape

SEGMENT = "<|assistant|>"
FENCE = "```"
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_MAX_LINE = 128  # a first line longer than this is prose, not a function name

Dialect = Literal["glm4", "chatglm3"]
PREFIXES: dict[str, str] = {"glm4": "[gMASK]<sop>", "chatglm3": "[gMASK]sop"}


# --------------------------------------------------------------------------- python calls


def python_call(arguments: Any) -> str:
    """``tool_call(a=1, b='x')`` for an arguments object (ChatGLM3's history format)."""
    if not isinstance(arguments, Mapping):
        return "tool_call()"
    parts = [f"{k}={_py_literal(v)}" for k, v in arguments.items() if str(k).isidentifier()]
    return "tool_call(" + ", ".join(parts) + ")"


def _py_literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py_literal(k)}: {_py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    return repr(value)  # str, int, float, bool, None: Python's own literal syntax


def decode_python_call(code: str) -> dict[str, Any] | None:
    """The keywords of ``tool_call(...)`` as an object, or None. Literals only: never evaluated."""
    try:
        node = ast.parse(code.strip(), mode="eval").body
        if not isinstance(node, ast.Call) or node.args:
            return None
        out: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                return None  # **kwargs
            out[kw.arg] = ast.literal_eval(kw.value)
        return out
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None


def _code_body(block: str) -> str:
    """The code inside a fence body: drop the language tag line (``python``)."""
    first, nl, rest = block.partition("\n")
    return rest if nl and (not first.strip() or first.strip().isidentifier()) else block


# --------------------------------------------------------------------------- parser


class Glm4Parser(StreamParser):
    """Segments of ``name\\n{json}`` / ``name\\n```python …```` calls or prose (module docstring)."""

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        super().__init__(tools, **kwargs)
        self._segments = MarkerSet([SEGMENT], self.meter)
        self._state = "line"  # line | after_name | fence | code | json | text
        self._buf = ""
        self._name = ""
        self._json: Balanced | None = None
        self._code: UntilMarker | None = None

    def _consume(self, delta: str) -> None:
        while delta:
            buf, self._buf = self._buf + delta, ""
            delta = getattr(self, "_in_" + self._state)(buf)

    # Each state handler takes the pending text and returns what it did not consume; a handler
    # that needs more text before it can decide keeps it in ``self._buf``.

    def _in_line(self, buf: str) -> str:
        nl = buf.find("\n", 0, _MAX_LINE + 1)
        if nl < 0:
            head = buf[:_MAX_LINE]
            if len(buf) <= _MAX_LINE and (not head.strip() or _NAME.fullmatch(head.strip())):
                self._buf = buf  # still possibly a function name
                return ""
            self._state = "text"
            return buf
        line = buf[:nl].strip()
        if line in self.tools:
            self._name = line
            self._state = "after_name"
            return buf[nl + 1 :]
        self._state = "text"
        return buf[nl + 1 :] if not line else buf  # an empty metadata line: prose follows

    def _in_after_name(self, buf: str) -> str:
        stripped = buf.lstrip()
        if not stripped:
            self._buf = buf
            return ""
        if stripped[0] == "{":
            self._state = "json"
            self._json = Balanced("{}[]", '"', self.meter)
            return stripped
        if stripped[0] == "`":
            self._state = "fence"
            return stripped
        self._state = "text"
        name, self._name = self._name, ""
        return name + "\n" + buf  # a known name followed by prose: all of it is prose

    def _in_fence(self, buf: str) -> str:
        if len(buf) < len(FENCE) and FENCE.startswith(buf):
            self._buf = buf
            return ""
        if not buf.startswith(FENCE):
            self._state = "text"
            name, self._name = self._name, ""
            return name + "\n" + buf
        self._state = "code"
        self._code = UntilMarker([FENCE], self.meter)
        return buf[len(FENCE) :]

    def _in_code(self, buf: str) -> str:
        assert self._code is not None
        found = self._code.add(buf)
        if found is None:
            return ""
        body, _, rest = found
        self._finish_code(body, complete=True)
        return rest

    def _finish_code(self, body: str, complete: bool) -> None:
        args = decode_python_call(_code_body(body))
        raw = self._name + "\n" + FENCE + body + (FENCE if complete else "")
        name, self._name, self._code, self._state = self._name, "", None, "text"
        self._call(Decoded(name, args) if args is not None else None, raw)

    def _in_json(self, buf: str) -> str:
        assert self._json is not None
        end = self._json.add(buf)
        if end is None:
            return ""
        self._finish_json()
        return buf[end:]

    def _finish_json(self) -> None:
        assert self._json is not None
        text = self._json.text()
        name, self._name, self._json, self._state = self._name, "", None, "text"
        self._call(Decoded(name, text), name + "\n" + text)

    def _in_text(self, buf: str) -> str:
        before, marker, after = self._segments.cut(buf)
        self._text(before)
        if marker is None:
            self._buf = after
            return ""
        self._state = "line"
        return after

    def _end(self) -> None:
        buf, self._buf = self._buf, ""
        if self._state == "json":
            self._finish_json()
        elif self._state == "code":
            self._finish_code(self._code.text() if self._code else "", complete=False)
        elif self._state in ("after_name", "fence"):
            self._text(self._name + "\n" + buf)
        elif self._state == "line" and buf.strip():
            self._text(buf)
        elif self._state == "text":
            self._text(buf)
        self._state = "text"


# --------------------------------------------------------------------------- constraints


def _py_value_regex(schema: Any) -> str:
    """A Python literal of the schema's type, for ChatGLM3's ``tool_call(...)`` keywords."""
    if isinstance(schema, Mapping) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return alternation([escape(repr(v)) for v in schema["enum"]])
    t = schema.get("type") if isinstance(schema, Mapping) else None
    if t == "integer":
        return INTEGER
    if t == "number":
        return NUMBER
    if t == "boolean":
        return "(True|False)"
    if t == "string":
        return r"'([^'\\\n]|\\.)*'"
    return r"[^\n)]*"  # arrays, objects, untyped: any literal text on the line


def _python_call_regex(tool: ToolSpec) -> str:
    props = tool.parameters.get("properties", {}) if tool.parameters else {}
    props = props if isinstance(props, Mapping) else {}
    required = [k for k in props if k in set(tool.parameters.get("required") or ())]
    optional = [k for k in props if k not in required]

    def kw(key: str) -> str:
        return escape(key) + "=" + _py_value_regex(props[key])

    if required:
        body = ", ".join(kw(k) for k in required) + "".join(f"(, {kw(k)})?" for k in optional)
    elif optional:
        run = ""
        for key in reversed(optional[1:]):
            run = f"(, {kw(key)}{run})?"
        body = f"({kw(optional[0])}{run})?"
    else:
        body = ""
    return r"tool_call\(" + body + r"\)\n```"


def glm4_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, dialect: Dialect) -> Constraint | None:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    glm4, one allowed tool: ``name\\n`` prefilled and ``{"json": schema}``; several: a regex of
    ``name\\n{…}`` alternatives. chatglm3: a regex of ``name\\n```python\\ntool_call(k=v, …)\\n````
    alternatives with Python literals typed by the schema.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    if dialect == "chatglm3":
        calls = [escape(t.name + "\n```python\n") + _python_call_regex(t) for t in allowed]
        return Constraint("", {"regex": alternation(calls)})
    return named_call_constraint(allowed, "", lambda name: name + "\n")


class Glm4Adapter(TemplateAdapter):
    """The glm4 family; ``dialect`` picks GLM-4 or ChatGLM3 rendering (the parser reads both)."""

    name = "glm4"
    stop: tuple[str, ...] = ("<|user|>", "<|observation|>")
    template = "glm4"

    def __init__(
        self, *, chat_template: str | None = None, dialect: Dialect = "glm4", prefix: str | None = None
    ) -> None:
        if dialect not in PREFIXES:
            raise ValueError(f"glm4 dialect must be one of {sorted(PREFIXES)}, not {dialect!r}")
        super().__init__(
            chat_template=chat_template,
            dialect=dialect,
            prefix=PREFIXES[dialect] if prefix is None else prefix,
            sp=" " if dialect == "chatglm3" else "",
            python_call=python_call,
        )
        self.dialect: Dialect = dialect

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return glm4_constraint(tools, tool_choice, self.dialect)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return Glm4Parser(tools)
