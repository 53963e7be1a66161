"""``python -m server --config PATH [--host H] [--port P] [--workers N]`` (also ``toolrelay``).

SIGTERM drains gracefully (``server.shutdown``): ``--shutdown-delay`` seconds of serving on with
``/ready`` at 503, then up to ``--shutdown-grace`` seconds for in-flight requests; exit status 0.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from server.config import ConfigError, load_settings
from server.logs import uvicorn_log_config
from server.shutdown import DEFAULT_DELAY, DEFAULT_GRACE, DELAY_ENV, GRACE_ENV


def main(argv: list[str] | None = None) -> int:
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
        timeout_graceful_shutdown=args.shutdown_grace,
    )
    return 0
