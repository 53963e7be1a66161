"""Reassemble a streamed chat completion while checking the delta rules the SDK stream helpers rely
on (DESIGN.md §5): one id/created/model on every chunk; tool calls on integer indices 0, 1, … in
order; each call whole before the next call's first delta (a new index closes the previous call);
id, type and name only in a call's first delta; finish_reason once, on the last choice chunk; with
``include_usage`` a final ``choices: []`` chunk with usage and ``usage: null`` before it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from openai.types.chat import ChatCompletionChunk


@dataclass
class StreamedCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class Reassembled:
    content: str = ""
    calls: list[StreamedCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage_chunks: int = 0


def reassemble(chunks: Iterable[ChatCompletionChunk], *, include_usage: bool = False) -> Reassembled:
    out = Reassembled()
    ids: set[tuple[str, int, str]] = set()
    seen = list(chunks)
    assert seen, "the stream had no chunks"
    for pos, chunk in enumerate(seen):
        ids.add((chunk.id, chunk.created, chunk.model))
        assert len(ids) == 1, f"chunk {pos} changed id/created/model: {sorted(ids)}"
        if not chunk.choices:
            assert include_usage and chunk.usage is not None, f"chunk {pos} has no choices and no usage"
            assert pos == len(seen) - 1, "the usage chunk must be the last"
            out.usage_chunks += 1
            continue
        if include_usage:
            assert chunk.usage is None, f"chunk {pos} carries usage before the final usage chunk"
        [choice] = chunk.choices
        assert choice.index == 0
        assert out.finish_reason is None, f"chunk {pos} follows the chunk with finish_reason"
        out.finish_reason = choice.finish_reason
        out.content += choice.delta.content or ""
        for tc in choice.delta.tool_calls or []:
            _tool_call_delta(out, pos, tc)
    assert out.finish_reason is not None, "no chunk carried a finish_reason"
    if include_usage:
        assert out.usage_chunks == 1, "include_usage was set but no usage chunk came"
    return out


def _tool_call_delta(out: Reassembled, pos: int, tc: object) -> None:
    index = getattr(tc, "index", None)
    assert isinstance(index, int), f"chunk {pos}: tool call delta without an integer index"
    fn = getattr(tc, "function", None)
    name = getattr(fn, "name", None)
    fragment = getattr(fn, "arguments", None) or ""
    call_id, call_type = getattr(tc, "id", None), getattr(tc, "type", None)
    assert index <= len(out.calls), f"chunk {pos}: call index {index} skips {len(out.calls)}"
    if index == len(out.calls):  # a new call: the previous one is finished from here on
        assert call_id and call_type == "function" and name, (
            f"chunk {pos}: call {index}'s first delta must carry id, type and name, got "
            f"id={call_id!r} type={call_type!r} name={name!r}"
        )
        out.calls.append(StreamedCall(call_id, name, fragment))
        return
    assert index == len(out.calls) - 1, (
        f"chunk {pos}: a delta for call {index} after call {len(out.calls) - 1} started "
        "(each call must go out whole, in index order, before the next call's first delta)"
    )
    assert call_id is None and call_type is None and name is None, (
        f"chunk {pos}: call {index} repeats id/type/name after its first delta "
        f"(id={call_id!r} type={call_type!r} name={name!r})"
    )
    out.calls[index].arguments += fragment
