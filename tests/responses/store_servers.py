"""Real Redis and PostgreSQL servers for the store tests, each started on a free loopback port in
a temporary directory and stopped afterwards (Debian's ``redis-server`` and ``postgresql``
packages, installed by ``scripts/install_store_servers.sh``). Without the binaries the tests skip,
unless ``TOOLRELAY_REQUIRE_STORES`` is set (``make test`` sets it): then they fail."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port


def _missing(what: str) -> None:
    if os.environ.get("TOOLRELAY_REQUIRE_STORES"):
        pytest.fail(f"{what} is not installed (bash scripts/install_store_servers.sh)")
    pytest.skip(f"{what} is not installed (bash scripts/install_store_servers.sh)")


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


@contextlib.contextmanager
def _running(argv: list[str], port: int, log: Path, user: str | None = None) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, user=user)
    try:
        _wait_port(port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A Redis with no persistence; yields its URL."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        _missing("redis-server")
    port = free_port()
    argv = [
        str(binary),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp),
    ]
    with _running(argv, port, tmp / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def postgres_server(tmp: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster (trust auth on loopback); yields its URL. PostgreSQL refuses
    to run as root, so as root it runs as the ``postgres`` user the Debian package creates."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        _missing("PostgreSQL (postgres)")
    bindir = Path(found[-1]).parent
    user = "postgres" if os.geteuid() == 0 else None
    # its own directory: pytest's are private to the user running the tests
    tmp = Path(tempfile.mkdtemp(prefix="toolrelay-pg-"))
    data = tmp / "pgdata"
    data.mkdir()
    if user is not None:
        shutil.chown(tmp, user)
        shutil.chown(data, user)
    try:
        with _postgres(bindir, tmp, data, user) as url:
            yield url
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _postgres(bindir: Path, tmp: Path, data: Path, user: str | None) -> Iterator[str]:
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "toolrelay", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    argv = [
        str(bindir / "postgres"),
        "-D", str(data),
        "-p", str(port),
        "-k", str(tmp),
        "-c", "listen_addresses=127.0.0.1",
        "-c", "fsync=off",
    ]  # fmt: skip
    with _running(argv, port, tmp / "postgres.log", user=user):
        yield f"postgresql://toolrelay@127.0.0.1:{port}/postgres"
