"""Each door as a client sees it: how a case is asked, and how its JSON answer and its stream are
read back into one door-neutral ``Answer`` — checking that door's own rules on the way.

To add a door: implement ``Door`` (``body``, ``read``, ``read_stream``) and put it in ``DOORS``;
``test_conformance`` then runs every case through it, streamed and not, and checks that it agrees
with the other doors on the calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
from openai.types.chat import ChatCompletionChunk

from tests.anthropic.events import check_message, message_from_events
from tests.clients.stream_rules import reassemble
from tests.doors.cases import Case

Stop = Literal["tool_calls", "stop", "length"]


@dataclass
class Answer:
    """What a client ends up with, whatever the door."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, parsed arguments)
    ids: list[str] = field(default_factory=list)  # the call ids the client must answer with
    text: str = ""
    reasoning: str = ""
    stop: Stop = "stop"


@dataclass(frozen=True)
class Event:
    """One SSE event: its ``event:`` name (None when the door sends none) and its ``data:``."""

    name: str | None
    data: str


def sse(lines: Iterable[str]) -> Iterator[Event]:
    name: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Event(name, "\n".join(data))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # comments (": keep-alive") and other fields carry nothing for the client
    if data:
        yield Event(name, "\n".join(data))


def arguments(text: Any) -> dict[str, Any]:
    """Call arguments as every door must deliver them: whole JSON object text."""
    assert isinstance(text, str), f"arguments must be a JSON string, got {text!r}"
    value = json.loads(text)
    assert isinstance(value, dict), f"arguments must be a JSON object, got {text!r}"
    return value


class Door(Protocol):
    name: str
    path: str

    def body(self, case: Case, *, stream: bool) -> dict[str, Any]: ...

    def read(self, data: dict[str, Any]) -> Answer: ...

    def read_stream(self, events: list[Event]) -> Answer: ...


def ask(http: httpx.Client, door: Door, case: Case, *, stream: bool) -> Answer:
    """One request through ``door``, read back with its rules checked."""
    body = door.body(case, stream=stream)
    if not stream:
        r = http.post(door.path, json=body)
        assert r.status_code == 200, r.text
        return door.read(r.json())
    with http.stream("POST", door.path, json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse(r.iter_lines()))
    return door.read_stream(events)


# ---------------------------------------------------------------------------- chat completions

_CHAT_STOP: dict[str, Stop] = {"tool_calls": "tool_calls", "stop": "stop", "length": "length"}


class ChatDoor:
    name = "chat"
    path = "/v1/chat/completions"

    def body(self, case: Case, *, stream: bool) -> dict[str, Any]:
        return {
            "model": case.model,
            "messages": [{"role": "user", "content": case.question}],
            "tools": [{"type": "function", "function": t} for t in case.tools],
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        }

    def read(self, data: dict[str, Any]) -> Answer:
        assert data["object"] == "chat.completion"
        [choice] = data["choices"]
        msg = choice["message"]
        calls = msg.get("tool_calls") or []
        assert all(c["type"] == "function" and c["id"] for c in calls)
        return Answer(
            calls=[(c["function"]["name"], arguments(c["function"]["arguments"])) for c in calls],
            ids=[c["id"] for c in calls],
            text=msg.get("content") or "",
            reasoning=msg.get("reasoning_content") or "",
            stop=_CHAT_STOP[choice["finish_reason"]],
        )

    def read_stream(self, events: list[Event]) -> Answer:
        assert events and events[-1].data == "[DONE]", "a chat stream ends with data: [DONE]"
        raw = [json.loads(e.data) for e in events[:-1]]
        out = reassemble([ChatCompletionChunk.model_validate(c) for c in raw], include_usage=True)
        reasoning = "".join(ch["delta"].get("reasoning_content") or "" for c in raw for ch in c["choices"])
        assert out.finish_reason is not None
        return Answer(
            calls=[(c.name, arguments(c.arguments)) for c in out.calls],
            ids=[c.id for c in out.calls],
            text=out.content,
            reasoning=reasoning,
            stop=_CHAT_STOP[out.finish_reason],
        )


# ---------------------------------------------------------------------------- responses


def responses_answer(response: dict[str, Any]) -> Answer:
    """A Responses ``response`` object, its rules checked: item ids with their prefixes, calls
    with unique ``call_id``s and whole JSON arguments, ``output_text`` as the messages' text."""
    assert response["object"] == "response" and response["id"].startswith("resp_")
    out = Answer()
    texts: list[str] = []
    for item in response["output"]:
        kind = item["type"]
        assert item["status"] in ("completed", "incomplete"), item
        if kind == "function_call":
            assert item["id"].startswith("fc_") and item["call_id"], item
            out.calls.append((item["name"], arguments(item["arguments"])))
            out.ids.append(item["call_id"])
        elif kind == "message":
            assert item["id"].startswith("msg_") and item["role"] == "assistant"
            texts.extend(p["text"] for p in item["content"] if p["type"] == "output_text")
        elif kind == "reasoning":
            assert item["id"].startswith("rs_")
            out.reasoning += "".join(s["text"] for s in item["summary"])
        else:
            raise AssertionError(f"unexpected output item type {kind!r}")
    assert len(set(out.ids)) == len(out.ids), f"call_ids repeat: {out.ids}"
    out.text = "".join(texts)
    assert response.get("output_text", out.text) == out.text
    if response["status"] == "incomplete":
        assert response["incomplete_details"]["reason"] == "max_output_tokens"
        out.stop = "length"
    else:
        assert response["status"] == "completed", response["status"]
        out.stop = "tool_calls" if out.calls else "stop"
    return out


def responses_events(events: list[Event]) -> dict[str, Any]:
    """Check a Responses stream and return its final response object.

    The rules: every event named by ``event:`` as its ``type``; ``sequence_number`` 0, 1, 2, …;
    ``response.created`` then ``response.in_progress`` first and one of ``response.completed`` /
    ``.incomplete`` / ``.failed`` last, all of one response id; output items added at indices 0, 1, …,
    one open at a time, each closed by ``output_item.done`` before the next is added; every content
    event names the open item (``item_id``, ``output_index``); text and argument deltas concatenate to
    their ``.done`` text, which is the text of the item at ``output_item.done``; a call's item has its
    ``call_id`` and ``name`` from the start (``arguments`` empty); the final response lists exactly the
    finished items."""
    assert events, "the stream had no events"
    data = [json.loads(e.data) for e in events]
    for n, (e, d) in enumerate(zip(events, data, strict=True)):
        assert e.name == d["type"], f"event {n}: 'event: {e.name}' but type {d['type']!r}"
        assert d["sequence_number"] == n, f"event {n} has sequence_number {d['sequence_number']}"
    kinds = [d["type"] for d in data]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds[:2]
    assert kinds[-1] in ("response.completed", "response.incomplete", "response.failed"), kinds[-1]
    assert data[0]["response"]["status"] == "in_progress" and data[0]["response"]["output"] == []
    rid = data[0]["response"]["id"]
    done: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    buffer = ""
    for d in data[2:-1]:
        kind = d["type"]
        if kind == "response.output_item.added":
            assert current is None, f"item {d['output_index']} added while item {len(done)} is open"
            assert d["output_index"] == len(done), f"output_index {d['output_index']}, expected {len(done)}"
            current, buffer = d["item"], ""
            if current["type"] == "function_call":
                assert current["call_id"] and current["name"] and current["arguments"] == ""
            continue
        assert current is not None, f"{kind} outside an output item"
        if kind == "response.output_item.done":
            item = d["item"]
            assert d["output_index"] == len(done) and item["id"] == current["id"] and item["type"] == current["type"]
            text = {
                "function_call": lambda i: i["arguments"],
                "message": lambda i: "".join(p["text"] for p in i["content"]),
                "reasoning": lambda i: "".join(s["text"] for s in i["summary"]),
            }[item["type"]](item)
            assert text == buffer, f"item {len(done)}: deltas {buffer!r} but done {text!r}"
            if item["type"] == "function_call":
                assert (item["call_id"], item["name"]) == (current["call_id"], current["name"])
            done.append(item)
            current = None
            continue
        assert (d["item_id"], d["output_index"]) == (current["id"], len(done)), f"{kind} names another item"
        if kind in (
            "response.output_text.delta",
            "response.function_call_arguments.delta",
            "response.reasoning_summary_text.delta",
        ):
            assert d["delta"], f"{kind} with an empty delta"
            buffer += d["delta"]
        elif kind in ("response.output_text.done", "response.reasoning_summary_text.done"):
            assert d["text"] == buffer
        elif kind == "response.function_call_arguments.done":
            assert d["arguments"] == buffer
        else:
            assert kind in (
                "response.content_part.added",
                "response.content_part.done",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_part.done",
            ), f"unexpected event {kind}"
    assert current is None, "the stream ended with an output item still open"
    final = data[-1]["response"]
    assert final["id"] == rid and data[1]["response"]["id"] == rid
    assert [(i["id"], i["type"]) for i in final["output"]] == [(i["id"], i["type"]) for i in done]
    assert final["output"] == done
    return dict(final)


class ResponsesDoor:
    name = "responses"
    path = "/v1/responses"

    def body(self, case: Case, *, stream: bool) -> dict[str, Any]:
        return {
            "model": case.model,
            "input": case.question,
            "tools": [{"type": "function", **t} for t in case.tools],
            "stream": stream,
            "store": False,
        }

    def read(self, data: dict[str, Any]) -> Answer:
        return responses_answer(data)

    def read_stream(self, events: list[Event]) -> Answer:
        return responses_answer(responses_events(events))


# ---------------------------------------------------------------------------- messages (Anthropic)

_MESSAGES_STOP: dict[str, Stop] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


def messages_answer(message: dict[str, Any]) -> Answer:
    """An Anthropic ``message``, its rules checked (``tests/anthropic/events.check_message``)."""
    check_message(message)
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    return Answer(
        calls=[(b["name"], b["input"]) for b in uses],
        ids=[b["id"] for b in uses],
        text="".join(b["text"] for b in message["content"] if b["type"] == "text"),
        reasoning="".join(b["thinking"] for b in message["content"] if b["type"] == "thinking"),
        stop=_MESSAGES_STOP[message["stop_reason"]],
    )


class MessagesDoor:
    name = "messages"
    path = "/v1/messages"

    def body(self, case: Case, *, stream: bool) -> dict[str, Any]:
        return {
            "model": case.model,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": case.question}],
            "tools": [
                {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
                for t in case.tools
            ],
            "stream": stream,
        }

    def read(self, data: dict[str, Any]) -> Answer:
        return messages_answer(data)

    def read_stream(self, events: list[Event]) -> Answer:
        # the event rules (block order, indices, deltas of the block's kind, one message_delta …)
        return messages_answer(message_from_events([(e.name, e.data) for e in events]))


DOORS: dict[str, Door] = {"chat": ChatDoor(), "responses": ResponsesDoor(), "messages": MessagesDoor()}
