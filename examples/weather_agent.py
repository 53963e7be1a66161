"""A multi-round tool-calling agent, after the weather → SendMessage example in Doubao's
function-calling documentation, written with the ``openai`` SDK against any OpenAI-compatible
endpoint (toolrelay's embedded default by default).

The user asks for the weather in a city and to send it to someone. The model calls
``get_current_weather``; the agent runs it and returns the result; the model calls ``SendMessage``
with a text built from that result; the agent "sends" it; the model answers in prose.

    python examples/weather_agent.py                      # toolrelay at http://localhost:8000/v1, model smollm2
    python examples/weather_agent.py --model gpt-4o-mini  # a hosted model behind toolrelay
    python examples/weather_agent.py --base-url https://api.openai.com/v1 --model gpt-4o-mini

``tool_choice`` is ``auto`` and no tool is named: with ``make run``'s default, toolrelay's auto gate
(``auto_policy: gated``) decides whether SmolLM2-135M calls, and a call it decides on is constrained
to the tool's schema. ``--tool-choice required`` instead names the next unused tool in each round
(``tool_choice`` with a function name, enforced with vLLM structured outputs) and lets the last round
answer in prose. The values are still the model's own: a 135M model may well invent them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from openai import OpenAI

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "City name, e.g. Beijing"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "SendMessage",
            "description": "Send a message to a person.",
            "parameters": {
                "type": "object",
                "properties": {
                    "receiver": {"type": "string", "description": "Who receives the message"},
                    "content": {"type": "string", "description": "The text of the message"},
                },
                "required": ["receiver", "content"],
            },
        },
    },
]


def get_current_weather(location: str, unit: str = "celsius") -> dict[str, Any]:
    # A stand-in for a real weather API, so the example runs offline.
    temp = 24 if unit == "celsius" else 75
    return {"location": location, "temperature": temp, "unit": unit, "forecast": "sunny"}


def send_message(receiver: str, content: str) -> dict[str, Any]:
    return {"status": "sent", "receiver": receiver, "content": content}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as err:
        return {"error": f"arguments are not JSON: {err}"}
    try:
        if name == "get_current_weather":
            return get_current_weather(**args)
        if name == "SendMessage":
            return send_message(**args)
    except TypeError as err:
        return {"error": f"bad arguments for {name}: {err}"}
    return {"error": f"unknown tool {name}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Weather → SendMessage agent over the OpenAI API.")
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    ap.add_argument("--model", default=os.environ.get("MODEL", "smollm2"))
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    ap.add_argument("--tool-choice", choices=["auto", "required"], default="auto")
    ap.add_argument("--max-rounds", type=int, default=5)
    # a small model may ramble until its context is full; a bounded answer keeps the history short
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--question", default="What is the weather in Beijing today? Send it to Alice in a short message.")
    args = ap.parse_args(argv)
    forced = args.tool_choice == "required"

    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    messages: list[Any] = [
        {"role": "system", "content": "You are a helpful assistant. Use the tools when they help."},
        {"role": "user", "content": args.question},
    ]
    say(f"user: {args.question}")
    used: set[str] = set()
    for _ in range(args.max_rounds):
        kwargs: dict[str, Any] = {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False}
        if forced:
            # Name the next unused tool, in the order a person would use them; then answer in prose.
            unused = [t["function"]["name"] for t in TOOLS if t["function"]["name"] not in used]
            named = {"type": "function", "function": {"name": unused[0]}} if unused else "none"
            kwargs["tool_choice"] = named
        reply = client.chat.completions.create(
            model=args.model, messages=messages, temperature=0, max_tokens=args.max_tokens, **kwargs
        )
        message = reply.choices[0].message
        if not message.tool_calls:
            say(f"assistant: {message.content}")
            return 0
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            if call.type != "function":
                continue  # custom (free-text) tools are not offered here
            name, arguments = call.function.name, call.function.arguments
            say(f"assistant calls {name}({arguments})")
            result = run_tool(name, arguments)
            used.add(name)
            say(f"tool {name} → {json.dumps(result)}")
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    sys.stderr.write("stopped after the maximum number of rounds\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
