"""An OpenAI Agents SDK agent (``openai-agents``, chat-completions model) against toolrelay
(``make run``), ``tool_choice: auto``.

The agent gets two ``function_tool``s and a question; ``Runner`` runs the loop (model → tool calls →
results → model) until the model answers in text. The tools are never named: with the embedded
default (SmolLM2-135M) toolrelay's ``auto`` gate decides whether a turn calls (docs/accuracy.md).
The calls the agent made are printed from the run's items. Tracing is off (it would export to
OpenAI).

    make run                                  # in another terminal
    .venv/bin/python examples/agents_sdk_agent.py
    .venv/bin/python examples/agents_sdk_agent.py --question "Convert 100 USD to EUR."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.exceptions import MaxTurnsExceeded
from agents.items import ToolCallItem, ToolCallOutputItem
from openai import AsyncOpenAI


@function_tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a city.

    Args:
        location: the city name, e.g. Paris
    """
    # A stand-in for a real weather API, so the example runs offline.
    return json.dumps({"location": location, "temperature_c": 21, "forecast": "sunny"})


@function_tool
def convert_currency(amount: float, source: str, target: str) -> str:
    """Convert an amount of money from one currency to another.

    Args:
        amount: how much money
        source: the currency code it is in, e.g. USD
        target: the currency code to convert to, e.g. EUR
    """
    return json.dumps({"amount": round(amount * 0.92, 2), "currency": target})


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run_agent(
    base_url: str, model: str, api_key: str, question: str, max_tokens: int = 200
) -> tuple[list[tuple[str, str]], str]:
    """Run the agent; returns the calls it made (name, JSON arguments) and the final answer."""
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=300) as client:
        agent = Agent(
            name="assistant",
            instructions="You are a helpful assistant. Use a tool when it helps answer.",
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
            model_settings=ModelSettings(tool_choice="auto", temperature=0, max_tokens=max_tokens),
            tools=[get_current_weather, convert_currency],
        )
        try:
            result = await Runner.run(agent, question, max_turns=4)
        except MaxTurnsExceeded:
            return [], "(stopped after the maximum number of turns)"
    calls: list[tuple[str, str]] = []
    for item in result.new_items:
        if isinstance(item, ToolCallItem):
            raw = item.raw_item
            name, arguments = getattr(raw, "name", "?"), getattr(raw, "arguments", "")
            say(f"assistant called {name}({arguments})")
            calls.append((name, arguments))
        elif isinstance(item, ToolCallOutputItem):
            say(f"tool → {item.output}")
    return calls, str(result.final_output)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="OpenAI Agents SDK agent over toolrelay, tool_choice auto.")
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    ap.add_argument("--model", default=os.environ.get("MODEL", "smollm2"))
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    ap.add_argument("--question", default="What is the current weather in Paris?")
    ap.add_argument("--max-tokens", type=int, default=200)
    args = ap.parse_args(argv)
    set_tracing_disabled(True)
    say(f"user: {args.question}")
    calls, answer = asyncio.run(run_agent(args.base_url, args.model, args.api_key, args.question, args.max_tokens))
    say(f"assistant: {answer}")
    say(f"calls made: {len(calls)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
