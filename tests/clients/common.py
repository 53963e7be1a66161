"""What every client test asks and expects: one weather tool, a question naming 1, 2 or 3 cities, and
the calls both backends answer it with (the hosted fake plans one call per city it recognises; the
fake vLLM replays the recorded hermes output ``hermes_weather_<n>``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from openai.types.chat import ChatCompletionFunctionToolParam
from pydantic import BaseModel, ConfigDict

from tests.fakes.fake_vllm import AFTER_RESULTS, WEATHER_CITIES

Path = Literal["hosted", "vllm"]
PATHS: tuple[Path, ...] = ("hosted", "vllm")
COUNTS = (1, 2, 3)
TOOL_NAME = "get_weather"

# The JSON-schema form of the tool (strict-compatible: every property required, no extras).
WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "a city name"}},
    "required": ["location"],
    "additionalProperties": False,
}
WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "The current weather in a city",
        "parameters": WEATHER_PARAMETERS,
    },
}


class GetWeather(BaseModel):
    """The current weather in a city"""

    model_config = ConfigDict(extra="forbid")
    location: str


def weather_report(location: str) -> str:
    """What the tool returns; the tests look for these strings at the backend on the next turn."""
    return f"{location}: sunny, 21 C"


@dataclass(frozen=True)
class Route:
    """One backend path and how many calls its answer holds."""

    path: Path
    n: int

    @property
    def id(self) -> str:
        return f"{self.path}-{self.n}call"

    @property
    def model(self) -> str:
        # The hosted fake reads the count from the question; the fake vLLM from the upstream model id.
        return "hosted" if self.path == "hosted" else f"vllm-{self.n}"

    @property
    def cities(self) -> tuple[str, ...]:
        return WEATHER_CITIES[: self.n]

    @property
    def question(self) -> str:
        named = self.cities[0] if self.n == 1 else ", ".join(self.cities[:-1]) + " and " + self.cities[-1]
        return f"What is the weather in {named}?"

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The calls the answer must hold, in order: (name, parsed arguments)."""
        return [(TOOL_NAME, {"location": city}) for city in self.cities]

    @property
    def reports(self) -> list[str]:
        return [weather_report(city) for city in self.cities]

    def final_answer(self, results: list[str]) -> str:
        """The text the backend answers with once ``results`` (as the backend saw them) are back."""
        if self.path == "hosted":
            return "Done: " + " ".join(results)
        return AFTER_RESULTS[f"hermes_weather_{self.n}"].removesuffix("<|im_end|>")


ROUTES = [Route(path, n) for path in PATHS for n in COUNTS]


def parsed(arguments: str) -> Any:
    """A call's arguments: a JSON string holding an object (never an object, never cut off)."""
    assert isinstance(arguments, str), f"arguments must be a JSON string, got {type(arguments).__name__}"
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as err:
        raise AssertionError(f"arguments are not whole JSON ({err}): {arguments!r}") from None
    assert isinstance(value, dict), f"arguments must be a JSON object, got {arguments!r}"
    return value
