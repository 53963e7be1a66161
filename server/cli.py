"""``python -m server --config PATH [--host H] [--port P] [--workers N]`` (also ``toolrelay``).

``python -m server detect-family PATH`` names the family of a model (directory,
``tokenizer_config.json`` or chat template file); the rules live in ``adapters.detect``.

SIGTERM drains gracefully (``server.shutdown``): ``--shutdown-delay`` seconds of serving on with
``/ready`` at 503, then up to ``--shutdown-grace`` seconds for in-flight requests; exit status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import uvicorn

from adapters.detect import DSV32_ENCODING, TEMPLATE_FILES, detect_files
from server.config import ConfigError, load_settings
from server.logs import uvicorn_log_config
from server.shutdown import DEFAULT_DELAY, DEFAULT_GRACE, DELAY_ENV, GRACE_ENV


def detect_family(argv: list[str]) -> int:
    """``toolrelay detect-family PATH``: print the family, why, and any family_options to set."""
    parser = argparse.ArgumentParser(prog="toolrelay detect-family", description="name a model's tool-call family")
    parser.add_argument("path", type=Path, help="model directory, tokenizer_config.json or chat template file")
    path: Path = parser.parse_args(argv).path
    if path.is_dir():
        found = [n for n in (*TEMPLATE_FILES, DSV32_ENCODING) if (path / n).is_file()]
        # the encoding script only has to exist: it is code, not a template to read
        files = {n: "" if n == DSV32_ENCODING else (path / n).read_text(encoding="utf-8") for n in found}
    elif path.is_file():
        files = {path.name: path.read_text(encoding="utf-8")}
    else:
        sys.stderr.write(f"toolrelay: no such file or directory: {path}\n")
        return 2
    detection = detect_files(files)
    if detection is None:
        sys.stderr.write(f"toolrelay: no family's markers in the chat template of {path}\n")
        return 1
    sys.stdout.write(f"{detection.family}\n# {detection.why}\n")
    if detection.options:
        sys.stdout.write(f"# family_options: {json.dumps(dict(detection.options))}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["detect-family"]:
        return detect_family(argv[1:])
    parser = argparse.ArgumentParser(prog="toolrelay", description="OpenAI-compatible tool-calling proxy")
    parser.add_argument(
        "--config",
        default=os.environ.get("TOOLRELAY_CONFIG", "config/models.yaml"),
        help="YAML config (default: $TOOLRELAY_CONFIG or config/models.yaml)",
    )
    parser.add_argument("--host", default=os.environ.get("TOOLRELAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TOOLRELAY_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("TOOLRELAY_WORKERS", "1")))
    parser.add_argument("--log-level", default=os.environ.get("TOOLRELAY_LOG_LEVEL", "info"))
    # SIGTERM: /ready 503 at once, serve on for the delay, then up to the grace for in-flight work.
    parser.add_argument("--shutdown-delay", type=float, default=float(os.environ.get(DELAY_ENV, DEFAULT_DELAY)))
    parser.add_argument("--shutdown-grace", type=int, default=int(os.environ.get(GRACE_ENV, DEFAULT_GRACE)))
    args = parser.parse_args(argv)
    try:
        load_settings(args.config)  # fail here, with the key named, before any worker starts
    except ConfigError as err:
        sys.stderr.write(f"toolrelay: config error: {err}\n")
        return 2
    os.environ["TOOLRELAY_CONFIG"] = os.path.abspath(args.config)
    os.environ[DELAY_ENV] = str(args.shutdown_delay)  # read by every worker's app factory
    uvicorn.run(
        "server.shutdown:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        log_config=uvicorn_log_config(args.log_level),
        access_log=False,
        # toolrelay reads no client address: rewriting it from X-Forwarded-For would be work for nothing
        proxy_headers=False,
        server_header=False,  # "server: uvicorn" tells a client nothing it needs, and an attacker the stack
        timeout_graceful_shutdown=args.shutdown_grace,
    )
    return 0
