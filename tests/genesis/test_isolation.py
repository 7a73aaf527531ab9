"""Bisection of a batch NexusCRM keeps failing: every rule checked against a scripted server.

The server here is a function of the items sent (no network), like the policy tests: the
real-server version of the same story is test_poison.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from genesis_crm.delivery import Answer
from genesis_crm.isolation import Bisection
from genesis_crm.outbox import Item
from genesis_crm.policy import BLIND_PROBES, Action

CRASH = Answer(500, "Internal Server Error", None)


@dataclass
class Server:
    """Answers 500 for any part holding a poisoned seq; ``down`` answers everything so."""

    poisoned: set[int]
    down: Answer | None = None
    probes: int = 0
    delivered: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)
    buried: dict[int, str] = field(default_factory=dict)

    async def probe(self, part: list[Item]) -> tuple[Answer, Action | None]:
        self.probes += 1
        seqs = {i.seq for i in part}
        if self.down is not None:
            if self.down.status == 500:
                return self.down, None
            self.kept |= seqs  # delivery._act reschedules an outage answer itself
            return self.down, Action.RETRY
        if seqs & self.poisoned:
            return CRASH, None
        self.delivered |= seqs
        return Answer(200, "{}", None), Action.DONE

    async def keep(self, part: list[Item], answer: Answer) -> None:
        self.kept |= {i.seq for i in part}

    async def bury(self, item: Item, reason: str) -> None:
        self.buried[item.seq] = reason

    async def run(self, n: int) -> Action:
        items = [Item(seq, "event", "{}", 3, 3) for seq in range(n)]
        return await Bisection(self.probe, self.keep, self.bury).run(items, CRASH)


async def test_one_poisoned_event_is_buried_and_the_rest_delivered() -> None:
    server = Server(poisoned={37})
    assert await server.run(500) is Action.DEAD
    assert server.delivered == set(range(500)) - {37}
    assert list(server.buried) == [37]
    assert "poisoned: HTTP 500 for this event alone" in server.buried[37]
    assert server.kept == set()
    assert server.probes <= 2 * 9  # two halves per level, log2(500) < 9 levels


async def test_every_request_failing_buries_nothing() -> None:
    server = Server(poisoned=set(), down=CRASH)
    assert await server.run(500) is Action.SPLIT  # the client tries smaller batches next
    assert server.probes == BLIND_PROBES
    assert (server.buried, server.delivered) == ({}, set())
    assert server.kept == set(range(500))


async def test_an_outage_answer_ends_the_bisection_and_buries_nothing() -> None:
    for down in (Answer(503, "busy", "1"), Answer(None, "ConnectError", None)):
        server = Server(poisoned=set(), down=down)
        assert await server.run(64) is Action.RETRY
        assert server.probes == 1
        assert server.buried == {}
        assert server.kept == set(range(64))


@given(n=st.integers(2, 300), data=st.data())
async def test_a_good_event_is_never_buried_and_none_is_lost(n: int, data: st.DataObject) -> None:
    poisoned = data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=6))
    server = Server(poisoned=poisoned)
    await server.run(n)
    assert set(server.buried) <= poisoned
    settled = [server.delivered, server.kept, set(server.buried)]
    assert set().union(*settled) == set(range(n))
    assert sum(map(len, settled)) == n  # each item exactly one fate
    assert not server.delivered & poisoned
