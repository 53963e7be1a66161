"""``ClientWatch`` alone: a disconnect inside the block ends it with ``ClientGone``, a block that ends
first starts no watcher at all, and a cancellation that is not the client's passes unchanged."""

from __future__ import annotations

import asyncio

import pytest

from server.disconnect import WATCH_AFTER, ClientGone, ClientWatch


def _receive(disconnect_after: float | None) -> tuple[object, list[int]]:
    calls: list[int] = []

    async def receive() -> dict[str, str]:
        calls.append(1)
        if disconnect_after is None:
            await asyncio.sleep(3600)
        else:
            await asyncio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    return receive, calls


def test_a_disconnect_inside_the_block_raises_client_gone() -> None:
    async def main() -> None:
        receive, _ = _receive(0.01)
        with pytest.raises(ClientGone):
            async with ClientWatch(receive):  # type: ignore[arg-type]
                await asyncio.sleep(5)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(asyncio.wait_for(main(), 2))


def test_a_short_block_starts_no_watcher() -> None:
    async def main() -> None:
        receive, calls = _receive(0.0)
        async with ClientWatch(receive):  # type: ignore[arg-type]
            await asyncio.sleep(0)
        await asyncio.sleep(WATCH_AFTER * 2)
        assert calls == []  # the client was never asked: nothing to cancel afterwards either

    asyncio.run(main())


def test_another_cancellation_passes_through() -> None:
    async def main() -> None:
        receive, _ = _receive(None)

        async def guarded() -> None:
            async with ClientWatch(receive):  # type: ignore[arg-type]
                await asyncio.sleep(5)

        task = asyncio.ensure_future(guarded())
        await asyncio.sleep(WATCH_AFTER * 2)  # the watcher has started and is waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 2))
