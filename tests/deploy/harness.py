"""Real processes and servers for the deployment tests: fake vLLMs on any loopback address
(127.0.0.x), toolrelay started as its users start it (``python -m server``) with the process handle
kept (the tests signal it), and streamed chat requests that record what arrived."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from tests.servers import ROOT


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_free_on(hosts: Sequence[str]) -> int:
    """One port that is free on every address in ``hosts`` (DNS discovery uses one port for all)."""
    for _ in range(50):
        port = free_port(hosts[0])
        try:
            for host in hosts[1:]:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


@contextlib.contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on ``host``; yields ``http://host:port``."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server on {host}:{port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def vllm_config(path: Path, backend: dict[str, Any]) -> Path:
    """A toolrelay config with model ``smollm2`` (family hermes) on the vllm ``backend`` given."""
    config = {
        "backends": {"local": {"kind": "vllm", "health_interval": 0.5, **backend}},
        "models": {"smollm2": {"backend": "local", "model": "smol", "family": "hermes"}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Toolrelay:
    proc: subprocess.Popen[bytes]
    url: str  # without /v1
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def toolrelay(
    config: Path, log: Path, *, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Toolrelay]:
    """``python -m server`` on a free port, its log in a file (a pipe nobody reads would fill and
    block the server); waits for ``/health``. Killed at the end if a test left it running."""
    port = free_port()
    argv = [sys.executable, "-m", "server", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*argv, *args], cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    relay = Toolrelay(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_ok(f"{relay.url}/health", proc, timeout=60)
        yield relay
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_ok(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


def chat_body(stream: bool) -> dict[str, Any]:
    return {"model": "smollm2", "messages": [{"role": "user", "content": "Say many words."}], "stream": stream}


@dataclass
class StreamResult:
    """What one streamed request received: the text deltas in order, and whether ``[DONE]`` came."""

    status: int = 0
    text: str = ""
    done: bool = False
    errors: list[str] = field(default_factory=list)


async def stream_chat(client: httpx.AsyncClient, url: str, first: Any = None) -> StreamResult:
    """POST a streamed chat request; ``first`` (an ``asyncio.Event``-like with ``set``) is set when
    the first content delta arrives, so a test can act while every stream is mid-flight (and at the
    end in any case, so a stream that failed early ends the wait instead of hanging it)."""
    try:
        return await _stream_chat(client, url, first)
    finally:
        if first is not None:
            first.set()


async def _stream_chat(client: httpx.AsyncClient, url: str, first: Any) -> StreamResult:
    result = StreamResult()
    async with client.stream("POST", f"{url}/v1/chat/completions", json=chat_body(True)) as response:
        result.status = response.status_code
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = line[len("data: ") :]
            if payload == "[DONE]":
                result.done = True
                continue
            chunk = json.loads(payload)
            if "error" in chunk:
                result.errors.append(str(chunk["error"]))
            for choice in chunk.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    result.text += piece
                    if first is not None:
                        first.set()
                        first = None
    return result
