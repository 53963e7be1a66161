"""Wire models of the chat door: the OpenAI Chat Completions request, validated once at the edge.

The top-level request keeps fields it does not know (``extra="allow"``): they are passed on to
the backend, neither dropped silently nor rejected. Nested shapes are strict where a mistake
would otherwise surface as a confusing upstream error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictInt, Tag, model_validator

_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Open):
    type: Literal["text"]
    text: str


class OtherPart(_Open):
    """Image/audio/file parts: accepted and passed through to hosted APIs untouched."""

    type: Literal["image_url", "input_audio", "file", "refusal"]


ContentPart = Annotated[TextPart | OtherPart, Field(discriminator="type")]
Content = str | Annotated[list[ContentPart], Field(min_length=1)]


class FunctionCallWire(_Open):
    name: str = Field(min_length=1)
    arguments: str | dict[str, Any] = "{}"


class ToolCallWire(_Open):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCallWire


class CustomCallBody(_Open):
    name: str = Field(min_length=1)
    input: str


class CustomCallWire(_Open):
    id: str = Field(min_length=1)
    type: Literal["custom"]
    custom: CustomCallBody


def _call_tag(value: Any) -> str:
    # a call without "type" is a function call (older clients leave it out)
    kind = value.get("type", "function") if isinstance(value, dict) else getattr(value, "type", "function")
    return str(kind)


AnyCallWire = Annotated[
    Annotated[ToolCallWire, Tag("function")] | Annotated[CustomCallWire, Tag("custom")],
    Discriminator(_call_tag),
]


class SystemMessage(_Open):
    role: Literal["system", "developer"]
    content: Content
    name: str | None = None


class UserMessage(_Open):
    role: Literal["user"]
    content: Content
    name: str | None = None


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[AnyCallWire] | None = None
    function_call: FunctionCallWire | None = None
    name: str | None = None
    reasoning_content: str | None = None


class ToolMessage(_Open):
    role: Literal["tool"]
    content: Content
    tool_call_id: str = Field(min_length=1)


class FunctionMessage(_Open):
    role: Literal["function"]
    name: str = Field(min_length=1)
    content: Content | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> FunctionDef:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid function name {self.name!r}: use 1-128 of [A-Za-z0-9_.:-]")
        if self.parameters is not None and self.parameters.get("type", "object") != "object":
            raise ValueError("function parameters must be a JSON Schema of type 'object'")
        return self


class ToolDef(_Open):
    type: Literal["function"]
    function: FunctionDef


class Grammar(_Open):
    definition: str
    syntax: Literal["lark", "regex"]


class CustomFormat(_Open):
    type: Literal["text", "grammar"]
    grammar: Grammar | None = None

    @model_validator(mode="after")
    def _grammar(self) -> CustomFormat:
        if self.type == "grammar" and self.grammar is None:
            raise ValueError("a grammar format needs its 'grammar': {'definition': ..., 'syntax': 'lark' | 'regex'}")
        return self


class CustomDef(_Open):
    name: str = Field(min_length=1)
    description: str | None = None
    format: CustomFormat | None = None


class CustomToolDef(_Open):
    """A free-form (custom) tool: hosted APIs that know them take them as they are."""

    type: Literal["custom"]
    custom: CustomDef


AnyToolDef = Annotated[ToolDef | CustomToolDef, Field(discriminator="type")]


class NamedFunction(BaseModel):
    name: str = Field(min_length=1)


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class NamedCustomChoice(BaseModel):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedRef(BaseModel):
    type: Literal["function", "custom"]
    function: NamedFunction | None = None
    custom: NamedFunction | None = None

    @model_validator(mode="after")
    def _named(self) -> AllowedRef:
        if (self.function if self.type == "function" else self.custom) is None:
            raise ValueError(f"a {self.type!r} entry needs its '{self.type}': {{'name': ...}}")
        return self

    @property
    def name(self) -> str:
        ref = self.function if self.type == "function" else self.custom
        assert ref is not None
        return ref.name


class AllowedTools(BaseModel):
    mode: Literal["auto", "required"]
    tools: list[AllowedRef] = Field(min_length=1)


class AllowedToolsChoice(BaseModel):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


ToolChoiceObject = Annotated[NamedToolChoice | NamedCustomChoice | AllowedToolsChoice, Field(discriminator="type")]
ToolChoiceWire = Literal["none", "auto", "required"] | ToolChoiceObject
FunctionCallChoice = Literal["none", "auto"] | NamedFunction


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    tools: list[AnyToolDef] | None = None
    tool_choice: ToolChoiceWire | None = None
    parallel_tool_calls: StrictBool | None = None
    functions: list[FunctionDef] | None = Field(None, min_length=1)
    function_call: FunctionCallChoice | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(None, ge=1, le=128)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: StrictInt | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    reasoning_effort: str | None = None  # its values are the spec's (checked in spec.py, as stop's length)
