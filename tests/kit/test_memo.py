"""Read caches live with a sessionmaker: shared by its sessions, never by another app's."""

from __future__ import annotations

import asyncio
import threading

from nexus_crm.db import create_engine, create_sessionmaker
from nexus_crm.kit.memo import Memo, memo_of, memos_of
from nexus_crm.settings import Settings


def test_the_least_recently_used_goes_first() -> None:
    memo = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # "b" is now the least recently used
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, None, 3)
    assert len(memo) == 2
    memo.clear()
    assert memo.get("a") is None


async def test_sessions_of_one_sessionmaker_share_a_memo_and_no_other_does(
    settings: Settings,
) -> None:
    engine = create_engine(settings)
    try:
        app, other = create_sessionmaker(engine), create_sessionmaker(engine)
        async with app() as s1, app() as s2, other() as s3:
            memo_of(s1, "windows", 4).put("k", "v")
            assert memo_of(s2, "windows", 4).get("k") == "v"
            assert memo_of(s3, "windows", 4).get("k") is None
        borrowed = create_sessionmaker(engine, memos=memos_of(app))
        async with borrowed() as s4:
            assert memo_of(s4, "windows", 4).get("k") == "v"  # e.g. the dashboard's thread
    finally:
        await engine.dispose()


def test_each_event_loop_gets_its_own_lock() -> None:
    memo = Memo(1)

    async def lock_id() -> int:
        async with memo.lock():
            return id(memo.lock())

    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(asyncio.run(lock_id())))

    async def hold_while_another_loop_locks() -> None:
        async with memo.lock():
            thread.start()
            # Held here, yet free on the other loop: one shared lock would deadlock.
            await asyncio.to_thread(thread.join, 10)

    asyncio.run(hold_while_another_loop_locks())
    assert not thread.is_alive()
    assert len(seen) == 1
