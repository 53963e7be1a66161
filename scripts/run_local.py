"""``make run``: the embedded default. Prepares the vLLM venv and the SmolLM2 model (once, cached),
starts the CPU vLLM on 127.0.0.1:8001 and toolrelay on :8000 with ``config/local.yaml``, waits for
both, prints how to call it, and stops both (whole process groups) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts import local_model, procs
from scripts.vllm_server import ROOT, VllmServer, cache_dir, ensure_env
from server.shutdown import DEFAULT_GRACE

USAGE = """
toolrelay is ready: model "{model}" ({what} on CPU vLLM) at {base}

  curl -s {base}/chat/completions -H 'content-type: application/json' -d '{{
    "model": "{model}",
    "messages": [{{"role": "user", "content": "What is the weather in Paris?"}}],
    "tools": [{{"type": "function", "function": {{"name": "get_weather",
      "parameters": {{"type": "object", "properties": {{"city": {{"type": "string"}}}}, "required": ["city"]}}}}}}],
    "tool_choice": "required"}}'

  from openai import OpenAI
  client = OpenAI(base_url="{base}", api_key="unused")
  reply = client.chat.completions.create(model="{model}", messages=[...], tools=[...], tool_choice="required")

  .venv/bin/python examples/weather_agent.py --base-url {base} --model {model}

Logs: {logs}   Ctrl-C stops both.
"""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run CPU vLLM + toolrelay locally.")
    ap.add_argument("--port", type=int, default=8000, help="toolrelay port")
    ap.add_argument("--vllm-port", type=int, default=8001)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "local.yaml")
    ap.add_argument("--vllm-url", help="use this running vLLM (/v1 base, e.g. a GPU one) instead of starting one")
    # make run MODEL=… FAMILY=…: any local Hugging Face directory or GGUF file (scripts/local_model.py)
    ap.add_argument("--model", help="a Hugging Face model directory or .gguf file to serve instead of SmolLM2")
    ap.add_argument("--family", help="its toolrelay family (default: read off its chat template)")
    ap.add_argument("--auto", help="its auto_policy, e.g. gated: toolrelay decides call-or-text (lexical gate)")
    # On stop toolrelay drains: in-flight requests finish (within the grace) before vLLM goes down.
    # No delay by default: locally no load balancer needs time to stop sending requests here.
    ap.add_argument("--shutdown-delay", type=float, default=0.0)
    ap.add_argument("--shutdown-grace", type=int, default=DEFAULT_GRACE)
    args = ap.parse_args(argv)
    if args.auto is not None and args.model is None:
        ap.error("AUTO= goes with MODEL=: the embedded default already has its calibrated gate")

    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C stops both servers even when started from a script's background job (`make run &`),
    # where the shell hands it SIGINT ignored and Python would then not raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    served = ("smollm2", "SmolLM2-135M-Instruct")
    vllm = VllmServer(port=args.vllm_port, log=logs / "vllm.log")
    if args.model is not None:
        chosen = local_model.resolve(args.model, args.family, ensure_env)
        if args.auto is not None:
            chosen = local_model.with_auto(chosen, args.auto)
        args.config = local_model.write_config(chosen, logs / "run-model.yaml")
        served = (chosen.name, f"{chosen.model_dir.name}, family {chosen.family}")
        vllm = VllmServer(port=args.vllm_port, log=logs / "vllm.log", model_dir=chosen.model_dir)
    relay = None
    try:
        vllm_url = args.vllm_url or vllm.base_url
        if args.vllm_url is None:
            sys.stderr.write("preparing the vLLM environment and the model (cached after the first run)…\n")
            t0 = time.monotonic()
            vllm.start()
            sys.stderr.write(f"vLLM healthy at {vllm_url} ({time.monotonic() - t0:.0f} s)\n")
        relay = procs.spawn(
            [
                sys.executable,
                "-m",
                "server",
                "--config",
                str(args.config),
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--shutdown-delay",
                str(args.shutdown_delay),
                "--shutdown-grace",
                str(args.shutdown_grace),
            ],
            env={"VLLM_URL": vllm_url},
            cwd=ROOT,
        )
        procs.wait_http(f"http://127.0.0.1:{args.port}/ready", relay, 60, "toolrelay")
        base = f"http://127.0.0.1:{args.port}/v1"
        sys.stdout.write(USAGE.format(base=base, logs=logs, model=served[0], what=served[1]))
        sys.stdout.flush()
        while relay.poll() is None and (args.vllm_url is not None or (vllm.proc and vllm.proc.poll() is None)):
            time.sleep(0.5)
        sys.stderr.write("a server exited; stopping the other\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("stopping…\n")
        return 0
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as err:
        sys.stderr.write(f"run_local: {err} (logs: {logs})\n")
        return 1
    finally:
        # Ignore a second Ctrl-C while the groups shut down, so nothing is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if relay is not None:
            # SIGTERM, then SIGKILL only once toolrelay's own drain (delay + grace) had its time.
            procs.stop(relay, grace=args.shutdown_delay + args.shutdown_grace + 5)
        vllm.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
