"""Configuration: the YAML file (DESIGN.md §7), ``${ENV}`` expansion, and validation at start-up.

A bad config stops start-up with a ``ConfigError`` whose message names the offending key, so a
request never meets a half-valid setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Provider = Literal["openai", "mistral", "deepseek", "doubao", "moonshot", "generic"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    """Seconds. ``first_byte`` bounds the wait for the response head (and the first stream chunk),
    ``idle`` the gap between stream chunks, ``total`` the whole call."""

    connect: float = Field(5.0, gt=0)
    first_byte: float = Field(60.0, gt=0)
    idle: float = Field(60.0, gt=0)
    total: float = Field(600.0, gt=0)


class RetryPolicy(_Strict):
    attempts: int = Field(2, ge=0, le=10)  # retries after the first try
    backoff_initial: float = Field(0.2, ge=0)
    backoff_max: float = Field(5.0, ge=0)
    retry_after_max: float = Field(20.0, ge=0)  # a longer Retry-After is not waited for
    circuit_failures: int = Field(5, ge=1)  # consecutive failures that open the circuit
    circuit_cooldown: float = Field(10.0, gt=0)  # seconds a backend is skipped before a probe


class UpstreamBackendConfig(_Strict):
    kind: Literal["upstream"]
    provider: Provider = "generic"
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_in_flight: int | None = Field(None, gt=0)
    # Serve streamed requests from a non-streamed upstream call when tools are present
    # (some Doubao function-calling models cannot stream). None: the provider's default.
    stream_tools: bool | None = None
    # POST /v1/responses for this backend's models: translated onto its chat API (every provider),
    # or forwarded unchanged to its own /responses (a provider that speaks it: built-in tools work).
    responses: Literal["translate", "passthrough"] = "translate"

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _passthrough(self) -> UpstreamBackendConfig:
        if self.responses == "passthrough" and self.provider not in ("openai", "generic"):
            raise ValueError(f"responses: passthrough needs provider openai or generic (not {self.provider!r})")
        return self


class DnsDiscovery(_Strict):
    """vLLM replicas found by DNS (``server.backends.discovery``): every A/AAAA address of ``dns``
    is one replica at ``http://ADDRESS:port/v1``, re-resolved every ``interval`` seconds."""

    dns: str = Field(min_length=1)  # e.g. a Kubernetes headless Service: vllm.NAMESPACE.svc.cluster.local
    port: int = Field(8000, ge=1, le=65535)
    interval: float = Field(10.0, gt=0)
    # "HOST" or "HOST:PORT" of the DNS server to ask (e.g. Consul's 127.0.0.1:8600); default: the
    # system's resolver configuration (/etc/resolv.conf).
    nameserver: str | None = Field(None, pattern=r"^[^\s:]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class VllmBackendConfig(_Strict):
    kind: Literal["vllm"]
    # Fixed replicas, or ``discover`` to find them by DNS: exactly one of the two.
    urls: list[str] = Field(default_factory=list)
    discover: DnsDiscovery | None = None
    api_key: str | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_in_flight: int | None = Field(None, gt=0)
    health_interval: float = Field(5.0, gt=0)

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if not re.match(r"^https?://[^\s/]+", u):
                raise ValueError(f"not an http(s) URL: {u!r}")
        return [u.rstrip("/") for u in v]

    @model_validator(mode="after")
    def _replica_source(self) -> VllmBackendConfig:
        if self.discover is not None and self.urls:
            raise ValueError("urls and discover: give one of them, not both")
        if self.discover is None and not self.urls:
            raise ValueError("urls: at least one replica URL is required (or discover: {dns: NAME, port: PORT})")
        return self


BackendConfig = Annotated[UpstreamBackendConfig | VllmBackendConfig, Field(discriminator="kind")]


class ModelConfig(_Strict):
    backend: str
    model: str | None = None  # the id at the backend; defaults to the key
    family: str | None = None  # required for vllm backends
    # constructor options of the family adapter, e.g. {dialect: v11} for mistral, {thinking: false}
    family_options: dict[str, Any] = Field(default_factory=dict)
    fallbacks: list[str] = Field(default_factory=list)
    chat_template: str | None = None  # path to the model's own Jinja template (vllm only)
    defaults: dict[str, Any] = Field(default_factory=dict)  # sampling defaults (temperature, …)
    max_tokens: int | None = Field(None, gt=0)  # default completion budget when the client sets none
    # Streamed tool-call arguments: ``whole`` (each call's arguments in one fragment, once finalised)
    # or ``incremental`` (fragments as they are generated where nothing sent can be contradicted:
    # a hosted upstream's arguments while they read as valid JSON, a local model's forced call;
    # adapters/arg_stream.py has the rules).
    stream_arguments: Literal["whole", "incremental"] = "whole"


class Limits(_Strict):
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0)
    max_messages: int = Field(2048, gt=0)
    max_tools: int = Field(512, gt=0)
    max_tool_bytes: int = Field(256 * 1024, gt=0)  # one tool's JSON declaration
    max_in_flight: int = Field(1024, gt=0)  # the whole proxy


class ClientKey(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = "client"
    models: list[str] | None = None  # None: every model


class AuthConfig(_Strict):
    keys: list[ClientKey] = Field(default_factory=list)


class ResponseStoreConfig(_Strict):
    """Where ``POST /v1/responses`` keeps responses for ``previous_response_id`` and ``GET``.
    ``url``: ``sqlite:///PATH`` (one host), ``redis://…``/``rediss://…`` or ``postgresql://…``
    (several replicas share it); None: SQLite in ``$TOOLRELAY_CACHE`` or ``~/.cache/toolrelay``."""

    enabled: bool = True
    url: str | None = None
    retention: float = Field(30 * 86400.0, gt=0)  # seconds a stored response is kept
    max_items: int = Field(10_000, gt=0)  # SQLite: the oldest go beyond this many

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(sqlite:///.+|rediss?://.+|postgres(ql)?://.+)$", v):
            raise ValueError(f"not a sqlite:///PATH, redis:// or postgresql:// URL: {v!r}")
        return v


class ResponsesConfig(_Strict):
    store: ResponseStoreConfig = Field(default_factory=ResponseStoreConfig)


class Settings(_Strict):
    backends: dict[str, BackendConfig]
    models: dict[str, ModelConfig]
    limits: Limits = Field(default_factory=Limits)
    auth: AuthConfig | None = None
    debug_log_contents: bool = False
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)

    # Other names for configured models: a client name, or a glob (``claude-*``), → a model's key.
    # A configured model's own name always wins; among aliases an exact name, then globs in order.
    aliases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        for name, m in self.models.items():
            _check_model(name, m, self)
        for alias, model in self.aliases.items():
            if not alias.strip():
                raise ValueError("aliases: an alias must not be empty")
            if alias in self.models:
                raise ValueError(f"aliases.{alias}: is a configured model's own name")
            if model not in self.models:
                raise ValueError(f"aliases.{alias}: unknown model {model!r} (known: {sorted(self.models)})")
        if self.auth is not None:
            for i, key in enumerate(self.auth.keys):
                for model in key.models or []:
                    if model not in self.models:
                        raise ValueError(f"auth.keys.{i}.models: unknown model {model!r}")
        return self


def _check_model(name: str, m: ModelConfig, settings: Settings) -> None:
    # Imported here so that the adapter registry is complete when validation runs.
    from adapters import REGISTRY

    where = f"models.{name}"
    if m.backend not in settings.backends:
        raise ValueError(f"{where}.backend: unknown backend {m.backend!r} (known: {sorted(settings.backends)})")
    if isinstance(settings.backends[m.backend], VllmBackendConfig) and m.family is None:
        raise ValueError(f"{where}.family: required for a vllm backend ({sorted(REGISTRY)})")
    if m.family is not None and m.family not in REGISTRY:
        raise ValueError(f"{where}.family: unknown family {m.family!r} (known: {sorted(REGISTRY)})")
    if m.family_options:
        if m.family is None:
            raise ValueError(f"{where}.family_options: needs a family")
        try:
            type(REGISTRY[m.family])(**m.family_options)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}.family_options: {err}") from None
    for fb in m.fallbacks:
        if fb not in settings.models or fb == name:
            raise ValueError(f"{where}.fallbacks: {fb!r} is not another configured model")
    if m.chat_template is not None and not Path(m.chat_template).is_file():
        raise ValueError(f"{where}.chat_template: no such file {m.chat_template!r}")


# --------------------------------------------------------------------------- loading

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; an unset VAR without default is
    an error naming the key that used it."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in env:
                return env[var]
            if default is not None:
                return default
            raise ConfigError(f"{path or '<root>'}: environment variable {var} is not set")

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{path}.{i}") for i, v in enumerate(value)]
    return value


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        # Discriminated unions add the tag to the location; drop it so the key reads as written.
        loc = re.sub(r"\.(upstream|vllm)(?=\.|$)", "", loc)
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def parse_settings(data: Any, env: Mapping[str, str] | None = None) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError("the config file must be a mapping with 'backends' and 'models'")
    expanded = expand_env(data, os.environ if env is None else env)
    try:
        return Settings.model_validate(expanded)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def load_settings(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {p}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from None
    return parse_settings(data, env)
