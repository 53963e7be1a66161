"""Wire models of the messages door: the Anthropic Messages request, validated once at the edge.

Unknown top-level fields are accepted and ignored (``extra="allow"``): they are Anthropic's own
(``service_tier``, ``container``, ``context_management`` …) and mean nothing to an OpenAI-style
backend. ``cache_control`` is accepted on every block and tool, and ignored. A content block or
tool this proxy cannot serve (documents, server tools) is a 400 that names it, never a guess.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictInt, Tag, model_validator

_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _tag(known: frozenset[str], default: str | None = None) -> Any:
    """A discriminator that sends every unknown ``type`` to the ``unsupported`` branch, so the
    client reads "block type 'document' is not supported" rather than a list of union tags."""

    def pick(value: Any) -> str | None:
        kind = value.get("type", default) if isinstance(value, dict) else getattr(value, "type", default)
        if kind is None:
            return None
        return kind if isinstance(kind, str) and kind in known else "unsupported"

    return Discriminator(
        pick,
        custom_error_type="missing_type",
        custom_error_message=f"a content block needs a 'type' (one of {', '.join(sorted(known))})",
    )


class TextBlock(_Open):
    type: Literal["text"]
    text: str


class ImageSource(_Open):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> ImageSource:
        if self.type == "base64" and (not self.data or not self.media_type):
            raise ValueError("a base64 image source needs 'media_type' and 'data'")
        if self.type == "url" and not self.url:
            raise ValueError("a url image source needs 'url'")
        return self

    def as_url(self) -> str:
        return self.url or "" if self.type == "url" else f"data:{self.media_type};base64,{self.data}"


class ImageBlock(_Open):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Open):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]


class UnsupportedBlock(_Open):
    """Any block type this proxy does not serve: rejected with its name."""

    type: str

    @model_validator(mode="after")
    def _reject(self) -> UnsupportedBlock:
        raise ValueError(
            f"content block type {self.type!r} is not supported by toolrelay "
            "(text, image, tool_use, tool_result, thinking and redacted_thinking are)"
        )


ResultPart = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[UnsupportedBlock, Tag("unsupported")],
    _tag(frozenset({"text", "image"})),
]


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: list[ResultPart] | str | None = None
    is_error: StrictBool | None = None


class ThinkingBlock(_Open):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_Open):
    type: Literal["redacted_thinking"]
    data: str = ""


_BLOCK_TYPES = frozenset({"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"})

Block = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[UnsupportedBlock, Tag("unsupported")],
    _tag(_BLOCK_TYPES),
]


class MessageParam(_Open):
    role: Literal["user", "assistant"]
    content: list[Block] | str


class Tool(_Open):
    """A client tool. ``type`` is absent or ``custom``; Anthropic's server tools (web search, code
    execution, bash/text editor/computer use …) are rejected: only the client can run tools here."""

    type: Literal["custom"] | None = None
    name: str
    description: str | None = None
    input_schema: dict[str, Any]

    @model_validator(mode="after")
    def _check(self) -> Tool:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid tool name {self.name!r}: use 1-128 of [A-Za-z0-9_.:-]")
        if self.input_schema.get("type", "object") != "object":
            raise ValueError("input_schema must be a JSON Schema of type 'object'")
        return self


class ServerTool(_Open):
    type: str

    @model_validator(mode="after")
    def _reject(self) -> ServerTool:
        raise ValueError(
            f"tool type {self.type!r} is an Anthropic server tool, which toolrelay cannot run: "
            "declare client tools (name, description, input_schema)"
        )


AnyTool = Annotated[
    Annotated[Tool, Tag("custom")] | Annotated[ServerTool, Tag("unsupported")],
    _tag(frozenset({"custom"}), default="custom"),
]


class ToolChoiceParam(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: StrictBool | None = None

    @model_validator(mode="after")
    def _named(self) -> ToolChoiceParam:
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs the tool's 'name'")
        return self


class ThinkingParam(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: StrictInt | None = Field(None, ge=1024)

    @model_validator(mode="after")
    def _budget(self) -> ThinkingParam:
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("thinking of type 'enabled' needs 'budget_tokens' (at least 1024)")
        return self


class OutputConfig(_Open):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class Prompt(_Open):
    """What both ``POST /v1/messages`` and ``/v1/messages/count_tokens`` take."""

    model: str = Field(min_length=1)
    messages: list[MessageParam] = Field(min_length=1)
    system: list[TextBlock] | str | None = None
    tools: list[AnyTool] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    output_config: OutputConfig | None = None


class MessagesRequest(Prompt):
    max_tokens: StrictInt = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: StrictInt | None = Field(None, ge=0)
    metadata: dict[str, Any] | None = None
    stream: StrictBool | None = False
