"""A LangChain tool-calling agent against toolrelay (``make run``), ``tool_choice: auto``.

``ChatOpenAI`` (``langchain-openai``) points at toolrelay's OpenAI-compatible API; two tools are
bound with ``bind_tools`` and the usual agent loop runs: ask, run every tool call the model makes,
send the results back as ``ToolMessage``s, until the model answers in text. The tools are never
named in the request: with the embedded default (SmolLM2-135M) toolrelay's ``auto`` gate decides
whether a turn calls (docs/accuracy.md). The calls are printed as they are made.

    make run                                  # in another terminal
    .venv/bin/python examples/langchain_agent.py
    .venv/bin/python examples/langchain_agent.py --question "Convert 100 USD to EUR."
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langchain_openai import ChatOpenAI


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a city.

    Args:
        location: the city name, e.g. Paris
    """
    # A stand-in for a real weather API, so the example runs offline.
    return json.dumps({"location": location, "temperature_c": 21, "forecast": "sunny"})


@tool
def convert_currency(amount: float, source: str, target: str) -> str:
    """Convert an amount of money from one currency to another.

    Args:
        amount: how much money
        source: the currency code it is in, e.g. USD
        target: the currency code to convert to, e.g. EUR
    """
    return json.dumps({"amount": round(amount * 0.92, 2), "currency": target})


TOOLS: list[BaseTool] = [get_current_weather, convert_currency]


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_agent(llm: ChatOpenAI, question: str, max_rounds: int = 4) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The agent loop; returns the calls it made and the final answer."""
    by_name = {t.name: t for t in TOOLS}
    model = llm.bind_tools(TOOLS, tool_choice="auto")
    messages: list[BaseMessage] = [
        SystemMessage("You are a helpful assistant. Use a tool when it helps answer."),
        HumanMessage(question),
    ]
    calls: list[tuple[str, dict[str, Any]]] = []
    for _ in range(max_rounds):
        reply = model.invoke(messages)
        assert isinstance(reply, AIMessage)
        messages.append(reply)
        if not reply.tool_calls:
            return calls, str(reply.content)
        for call in reply.tool_calls:
            say(f"assistant calls {call['name']}({json.dumps(call['args'])})")
            calls.append((call["name"], call["args"]))
            chosen = by_name.get(call["name"])
            result = chosen.invoke(call["args"]) if chosen is not None else f"unknown tool {call['name']}"
            say(f"tool {call['name']} → {result}")
            messages.append(ToolMessage(str(result), tool_call_id=call["id"] or ""))
    return calls, "(stopped after the maximum number of rounds)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="LangChain agent over toolrelay, tool_choice auto.")
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://localhost:8000/v1"))
    ap.add_argument("--model", default=os.environ.get("MODEL", "smollm2"))
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    ap.add_argument("--question", default="What is the current weather in Paris?")
    ap.add_argument("--max-tokens", type=int, default=200)
    args = ap.parse_args(argv)
    llm = ChatOpenAI(
        base_url=args.base_url, api_key=args.api_key, model=args.model, temperature=0, max_tokens=args.max_tokens
    )
    say(f"user: {args.question}")
    calls, answer = run_agent(llm, args.question)
    say(f"assistant: {answer}")
    say(f"calls made: {len(calls)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
