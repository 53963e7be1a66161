"""Client API keys: 401 without a valid key, 403 for a model the key may not use, probes stay open."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import openai
import pytest

from server.auth import KeyRing
from server.config import AuthConfig, ClientKey
from tests.faults.fault_upstream import TEXT, FaultUpstream
from tests.faults.harness import Relay, relay, settings_for

KEY_A = "tr-key-alpha-0001"  # may use "ok" only
KEY_B = "tr-key-bravo-0002"  # every model
ENV_KEY = "tr-key-from-env-0003"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def guarded(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Relay]:
    monkeypatch_module.setenv("TOOLRELAY_API_KEYS", f" {ENV_KEY} ,,")
    fault = FaultUpstream()
    with fault.running() as url:
        auth = {"keys": [{"sha256": sha(KEY_A), "name": "alpha", "models": ["ok"]}, {"sha256": sha(KEY_B)}]}
        models = {"ok": ("fault", "fault:ok", []), "other": ("fault", "fault:ok", [])}
        with relay(settings_for(url, models, extra={"auth": auth})) as r:
            yield r


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture()
def http(guarded: Relay) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url.removesuffix("/v1"), timeout=10) as c:
        yield c


def chat(http: httpx.Client, model: str, key: str | None, stream: bool = False) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return http.post("/v1/chat/completions", json=body, headers=headers)


def assert_401(r: httpx.Response) -> None:
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": r.json()["error"]["message"],
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("stream", [False, True])
def test_missing_and_wrong_keys_get_401(http: httpx.Client, stream: bool) -> None:
    assert_401(chat(http, "ok", None, stream))
    wrong = chat(http, "ok", "tr-key-alpha-0002", stream)
    assert_401(wrong)
    assert "tr-key-alpha-0002" not in wrong.text  # the presented key is never echoed
    assert_401(http.post("/v1/chat/completions", headers={"authorization": f"Basic {KEY_A}"}, json={}))
    assert_401(http.post("/v1/chat/completions", headers={"authorization": "Bearer"}, json={}))


def test_valid_keys_and_per_key_models(http: httpx.Client) -> None:
    assert chat(http, "ok", KEY_A).json()["choices"][0]["message"]["content"] == TEXT
    denied = chat(http, "other", KEY_A)
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "message": "This API key may not use the model 'other'.",
        "type": "permission_error",
        "param": "model",
        "code": "model_not_allowed",
    }
    assert chat(http, "other", KEY_B).status_code == 200
    assert chat(http, "other", ENV_KEY).status_code == 200  # keys from TOOLRELAY_API_KEYS: every model


def test_sdk_sees_typed_auth_errors(guarded: Relay) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=guarded.url, api_key="nope", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.chat.completions.create(model="ok", messages=messages)
    with openai.OpenAI(base_url=guarded.url, api_key=KEY_A, max_retries=0) as sdk:
        with pytest.raises(openai.PermissionDeniedError):
            sdk.chat.completions.create(model="other", messages=messages)
        assert sdk.chat.completions.create(model="ok", messages=messages).choices[0].message.content == TEXT


def test_probes_stay_open_and_model_list_is_guarded(http: httpx.Client) -> None:
    for path in ("/health", "/metrics", "/openapi.json"):
        assert http.get(path).status_code == 200, path
    # /ready is open too; it looks at each backend, and the one on a port nobody listens on is down
    ready = http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["backends"]["dead"] is False and ready.json()["backends"]["fault"] is True
    assert_401(http.get("/v1/models"))
    assert http.get("/v1/models", headers={"authorization": f"Bearer {KEY_B}"}).status_code == 200


def test_key_is_checked_before_the_body_is_read(http: httpx.Client) -> None:
    """No key, a 20 MB body: 401 (not 413), without the proxy reading what it would refuse."""
    r = http.post(
        "/v1/chat/completions", content=b"x" * (20 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert_401(r)


def test_keyring_from_config() -> None:
    assert KeyRing.from_config(None, {}) is None  # nothing configured: open
    assert KeyRing.from_config(AuthConfig(keys=[]), {"TOOLRELAY_API_KEYS": " , "}) is None
    ring = KeyRing.from_config(
        AuthConfig(keys=[ClientKey(sha256=sha(KEY_A), models=["m"])]), {"TOOLRELAY_API_KEYS": "e1,e2"}
    )
    assert ring is not None and len(ring.keys) == 3
    assert ring.identify(f"Bearer {KEY_A}").models == frozenset({"m"})
    assert ring.identify("bearer e2").models is None  # the scheme is case-insensitive
