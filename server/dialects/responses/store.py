"""Stored responses: what ``previous_response_id``, ``GET``/``DELETE /v1/responses/{id}`` and the
input items list read.

One record per response: the response object and every input item it answered (the earlier
turns of a chain included), so continuing a conversation is one read. Where records live is
picked by ``responses.store.url``:

- ``sqlite:///PATH`` — the default, a file under the cache directory: one host (the workers of
  one machine share it); bounded by age (``retention``) and count (``max_items``).
- ``redis://…`` / ``rediss://…`` — several replicas share it; each record expires after ``retention``.
- ``postgresql://…`` — several replicas share it; expired records are pruned as new ones arrive.

Before anything is written, secrets are scrubbed as they are from logs (the configured keys,
bearer tokens, ``sk-…`` keys, ``api_key=…`` pairs: ``server.logs.Redactor``); the store logs
ids only, never contents. A record carries the client key that made it, and only that key reads
it back (to every other key it does not exist).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread
import orjson

from server.config import ResponseStoreConfig
from server.errors import ServiceUnavailable
from server.logs import Redactor

log = logging.getLogger("toolrelay.responses")

PRUNE_EVERY = 64  # writes between sweeps of expired records (SQLite, PostgreSQL)


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    created_at: float
    owner: str | None
    response: dict[str, Any]
    input: list[dict[str, Any]]

    def dumps(self) -> bytes:
        return orjson.dumps(
            {"owner": self.owner, "created_at": self.created_at, "response": self.response, "input": self.input}
        )

    @classmethod
    def loads(cls, id: str, raw: bytes | str) -> Record:
        data = orjson.loads(raw)
        return cls(id, float(data["created_at"]), data.get("owner"), data["response"], data["input"])


class KeyValue(Protocol):
    """Where records are kept: bytes by id, with their creation time for expiry."""

    async def put(self, id: str, created_at: float, blob: bytes) -> None: ...

    async def get(self, id: str) -> bytes | None: ...

    async def delete(self, id: str) -> bool: ...

    async def aclose(self) -> None: ...


class ResponseStore:
    """Records in and out of a ``KeyValue``: scrubbed on the way in, expired and foreign ones unseen."""

    def __init__(self, kv: KeyValue, retention: float, secrets: Iterable[str] = ()) -> None:
        self.kv = kv
        self.retention = retention
        self.redactor = Redactor(secrets)

    async def put(self, record: Record) -> None:
        clean = Record(
            record.id,
            record.created_at,
            record.owner,
            self.redactor.value(record.response),
            self.redactor.value(record.input),
        )
        await self._call(self.kv.put(record.id, record.created_at, clean.dumps()))

    async def get(self, id: str, owner: str | None) -> Record | None:
        raw = await self._call(self.kv.get(id))
        if raw is None:
            return None
        try:
            record = Record.loads(id, raw)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable record in the response store", extra={"response_id": id})
            return None
        if record.owner != owner or record.created_at < time.time() - self.retention:
            return None
        return record

    async def delete(self, id: str, owner: str | None) -> bool:
        if await self.get(id, owner) is None:
            return False
        return bool(await self._call(self.kv.delete(id)))

    async def aclose(self) -> None:
        await self.kv.aclose()

    async def _call(self, op: Any) -> Any:
        try:
            return await op
        except ServiceUnavailable:
            raise
        except Exception as err:  # a driver's own error: the client sees a 503, the log the reason
            log.warning("response store failed", extra={"error": f"{type(err).__name__}: {err}"})
            raise ServiceUnavailable(f"the response store is unavailable ({type(err).__name__})") from None


def default_path() -> Path:
    base = os.environ.get("TOOLRELAY_CACHE") or str(Path.home() / ".cache" / "toolrelay")
    return Path(base) / "responses.sqlite3"


class SqliteKV:
    """SQLite in one file (WAL, so the workers of one host share it); opened on first use, so a
    read-only file system costs the store, not start-up. Calls run in a worker thread."""

    def __init__(self, path: Path, retention: float, max_items: int) -> None:
        self.path = path
        self.retention = retention
        self.max_items = max_items
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._writes = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, created_at REAL, body BLOB)")
            conn.execute("CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at)")
            self._conn = conn
            self._prune(conn)
        return self._conn

    def _prune(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM responses WHERE created_at < ?", (time.time() - self.retention,))
        conn.execute(
            "DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
            (self.max_items,),
        )

    def _put(self, id: str, created_at: float, blob: bytes) -> None:
        with self._lock:
            db = self._db()
            db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (id, created_at, blob))
            self._writes += 1
            if self._writes % PRUNE_EVERY == 0:
                self._prune(db)

    def _get(self, id: str) -> bytes | None:
        with self._lock:
            row = self._db().execute("SELECT body FROM responses WHERE id = ?", (id,)).fetchone()
        return bytes(row[0]) if row else None

    def _delete(self, id: str) -> bool:
        with self._lock:
            return self._db().execute("DELETE FROM responses WHERE id = ?", (id,)).rowcount > 0

    async def put(self, id: str, created_at: float, blob: bytes) -> None:
        await anyio.to_thread.run_sync(self._put, id, created_at, blob)

    async def get(self, id: str) -> bytes | None:
        return await anyio.to_thread.run_sync(self._get, id)

    async def delete(self, id: str) -> bool:
        return await anyio.to_thread.run_sync(self._delete, id)

    async def aclose(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class RedisKV:
    """Redis: one key per response, expiring after ``retention`` (Redis does the bounding)."""

    PREFIX = "toolrelay:response:"

    def __init__(self, url: str, retention: float) -> None:
        import redis.asyncio  # only needed when configured

        self.retention = max(int(retention), 1)
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    async def put(self, id: str, created_at: float, blob: bytes) -> None:
        await self.client.set(self.PREFIX + id, blob, ex=self.retention)

    async def get(self, id: str) -> bytes | None:
        raw = await self.client.get(self.PREFIX + id)
        return raw.encode() if isinstance(raw, str) else raw

    async def delete(self, id: str) -> bool:
        return int(await self.client.delete(self.PREFIX + id)) > 0

    async def aclose(self) -> None:
        await self.client.aclose()


class PostgresKV:
    """PostgreSQL: one row per response in ``toolrelay_responses``, created on first use; one
    connection per process, reopened after a failure."""

    def __init__(self, url: str, retention: float) -> None:
        self.url = url
        self.retention = retention
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._writes = 0

    async def _db(self) -> Any:
        import psycopg  # only needed when configured

        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS toolrelay_responses "
                "(id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, body BYTEA NOT NULL)"
            )
            await conn.execute(
                "CREATE INDEX IF NOT EXISTS toolrelay_responses_created ON toolrelay_responses (created_at)"
            )
            self._conn = conn
        return self._conn

    async def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        async with self._lock:
            try:
                db = await self._db()
                return await db.execute(sql, args)
            except Exception:
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                raise

    async def put(self, id: str, created_at: float, blob: bytes) -> None:
        await self._run(
            "INSERT INTO toolrelay_responses (id, created_at, body) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, body = EXCLUDED.body",
            (id, created_at, blob),
        )
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            await self._run("DELETE FROM toolrelay_responses WHERE created_at < %s", (time.time() - self.retention,))

    async def get(self, id: str) -> bytes | None:
        cur = await self._run("SELECT body FROM toolrelay_responses WHERE id = %s", (id,))
        row = await cur.fetchone()
        return bytes(row[0]) if row else None

    async def delete(self, id: str) -> bool:
        cur = await self._run("DELETE FROM toolrelay_responses WHERE id = %s", (id,))
        return int(cur.rowcount) > 0

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def open_store(config: ResponseStoreConfig, secrets: Iterable[str] = ()) -> ResponseStore | None:
    """The configured store, or None when it is off. Nothing connects yet: the first request does."""
    if not config.enabled:
        return None
    url = config.url
    kv: KeyValue
    if url is None or url.startswith("sqlite:///"):
        # sqlite:///relative/file, sqlite:////absolute/file (SQLAlchemy's spelling)
        path = Path(url.removeprefix("sqlite:///")) if url else default_path()
        kv = SqliteKV(path, config.retention, config.max_items)
    elif url.startswith(("redis://", "rediss://")):
        kv = RedisKV(url, config.retention)
    else:
        kv = PostgresKV(url, config.retention)
    return ResponseStore(kv, config.retention, secrets)
