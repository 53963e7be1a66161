"""Model name → the targets that can answer it: the model itself, then its fallbacks in order.

Each target carries what serving it needs that the config decides once: the backend's name, the
id at the backend, and for local families the adapter, built at start-up (a model's own chat
template is read and compiled then, so a bad one stops start-up naming its key).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from adapters import REGISTRY
from adapters.base import Adapter
from adapters.render import TemplateError, check_template
from server.config import ConfigError, ModelConfig, Settings
from server.errors import ModelNotFound


@dataclass(frozen=True, slots=True)
class Target:
    model: str  # the name clients send
    backend: str  # the configured backend's name
    upstream_model: str  # the id at the backend
    config: ModelConfig
    adapter: Adapter | None = None  # the family adapter (local backends)

    @property
    def family(self) -> str | None:
        return self.config.family


def build_adapter(name: str, m: ModelConfig) -> Adapter | None:
    """The model's family adapter with its options and own template; ``ConfigError`` names the key."""
    if m.family is None:
        return None
    base = REGISTRY[m.family]  # the config loader guarantees the family exists
    options: dict[str, Any] = dict(m.family_options)
    if m.chat_template is not None:
        try:
            text = Path(m.chat_template).read_text(encoding="utf-8")
            check_template(text)
        except (OSError, UnicodeDecodeError, TemplateError) as err:
            raise ConfigError(f"models.{name}.chat_template: {err}") from None
        options["chat_template"] = text
    # The config loader already built the family with these options once, so they are valid.
    return type(base)(**options) if options else base


class Router:
    def __init__(self, settings: Settings) -> None:
        self._targets = {
            name: Target(name, m.backend, m.model or name, m, build_adapter(name, m))
            for name, m in settings.models.items()
        }
        self._chains = {
            name: (self._targets[name], *(self._targets[fb] for fb in m.fallbacks))
            for name, m in settings.models.items()
        }
        self._globs = [(a, m) for a, m in settings.aliases.items() if _is_glob(a)]
        self._aliases = {a: m for a, m in settings.aliases.items() if not _is_glob(a)}

    def resolve(self, model: str) -> str | None:
        """The configured model a client's name stands for: itself, an exact alias, the first glob."""
        if model in self._chains:
            return model
        found = self._aliases.get(model)
        if found is None:
            found = next((m for pattern, m in self._globs if fnmatchcase(model, pattern)), None)
        return found

    def route(self, model: str) -> tuple[Target, ...]:
        """The chain for a model name or an alias of one; the targets carry the configured name."""
        name = self.resolve(model)
        if name is None:
            raise ModelNotFound(f"The model {model!r} does not exist or is not served by this proxy", param="model")
        return self._chains[name]

    def names(self) -> list[str]:
        return list(self._targets)

    def __contains__(self, model: str) -> bool:
        return model in self._targets


def _is_glob(alias: str) -> bool:
    return any(c in alias for c in "*?[")
