"""Instructions per request of each proxy's app, counted by callgrind: a figure the machine's load
does not move, for comparing builds and finding what a change saved.

    .venv/bin/python -m bench.perf.instructions [--targets toolrelay,aiorelay] [--modes json,stream]
                                                [--requests 320] [--concurrency 32]

Each target's ASGI app runs in a process of its own under ``valgrind --tool=callgrind`` with
instrumentation off; the app is driven in-process (no HTTP server in front: uvicorn's share is the
same for every target) by ``--concurrency`` tasks against the benchmark's fake upstream over real
loopback HTTP; after a warm-up, ``callgrind_control -i on`` counts exactly the measured requests.
The figure covers the app and its backend client, user space only (system calls are the kernel's).
Needs valgrind (``apt-get install valgrind``); about 15 s per target and mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.perf import targets, workload

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[Any], Awaitable[None]]], Any]
APPS = ("toolrelay", "aiorelay")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
WARMUP = 64


def _options(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(APPS), help=f"a subset of {','.join(APPS)}")
    p.add_argument("--modes", default="json,stream")
    p.add_argument("--requests", type=int, default=320, help="measured requests per target and mode")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--child", nargs=3, metavar=("TARGET", "MODE", "UPSTREAM_PORT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _app(target: str, upstream_port: int) -> ASGIApp:
    if target == "aiorelay":
        from bench.perf.relay_aiohttp import create_app

        return create_app(f"http://127.0.0.1:{upstream_port}")
    os.environ["BENCH_UPSTREAM_PORT"] = str(upstream_port)
    os.environ["TOOLRELAY_CONFIG"] = str(targets.HERE / "toolrelay.yaml")
    import logging.config

    from server.logs import uvicorn_log_config
    from server.shutdown import create_app_from_env

    logging.config.dictConfig(uvicorn_log_config("info"))  # the access line is part of the work
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    return create_app_from_env()


async def _lifespan(app: ASGIApp) -> asyncio.Task[Any]:
    """Start the app's lifespan; the task returned must be kept (the loop holds tasks weakly)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.get_running_loop().create_task(app(scope, inbox.get, send))
    await started.wait()
    return task


async def _one(app: ASGIApp, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
        "headers": headers, "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555), "state": {},
    }  # fmt: skip
    delivered = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # no disconnect: the client stays
        return {"type": "http.disconnect"}

    status: list[int] = []

    sent: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise SystemExit(f"the app answered {status}: {sent}")


async def _child(target: str, mode: str, upstream_port: int, requests: int, concurrency: int) -> None:
    app = _app(target, upstream_port)
    lifespan = await _lifespan(app)
    body = workload.request_body(mode == "stream")

    async def run(total: int) -> None:
        async def worker(n: int) -> None:
            for _ in range(n):
                await _one(app, body)

        await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))

    await run(max(WARMUP, concurrency))
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    await run(requests)
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    lifespan.cancel()


def _measure(target: str, mode: str, upstream_port: int, requests: int, concurrency: int) -> float:
    """k instructions per request."""
    with tempfile.TemporaryDirectory() as scratch:
        argv = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={scratch}/out",
            sys.executable, "-m", "bench.perf.instructions", "--requests", str(requests),
            "--concurrency", str(concurrency), "--child", target, mode, str(upstream_port),
        ]  # fmt: skip
        done = subprocess.run(argv, cwd=targets.ROOT, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{target} {mode}: callgrind run failed:\n{done.stderr[-2000:]}")
    measured = requests // concurrency * concurrency
    return int(found.group(1)) / measured / 1000


def main(argv: list[str] | None = None) -> int:
    opts = _options(argv)
    if opts.child:
        target, mode, port = opts.child
        import uvloop

        uvloop.run(_child(target, mode, int(port), opts.requests, opts.concurrency))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.stderr.write("bench.perf.instructions needs valgrind: apt-get install valgrind\n")
        return 2
    chosen = [t.strip() for t in opts.targets.split(",") if t.strip()]
    modes = [m.strip() for m in opts.modes.split(",") if m.strip()]
    if not set(chosen) <= set(APPS) or not set(modes) <= {"json", "stream"}:
        raise SystemExit(f"--targets: a subset of {','.join(APPS)}; --modes: json and/or stream")
    with tempfile.TemporaryDirectory() as logdir:
        upstream = targets.start_upstream(Path(logdir), 0.0, 0.0, 6)
        try:
            asyncio.run(targets.wait_ready(upstream, 30.0))  # the fake answers the workload itself
            out = sys.stdout
            out.write(
                f"| mode | target | k instructions / request (c={opts.concurrency}, {opts.requests} requests) |\n"
            )
            out.write("|---|---|---:|\n")
            for mode in modes:
                for target in chosen:
                    figure = _measure(target, mode, upstream.port, opts.requests, opts.concurrency)
                    out.write(f"| {mode} | {target} | {figure:,.0f} |\n")
                    out.flush()
        finally:
            upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
