"""Find the poisoned event in a batch NexusCRM keeps answering with a 500.

A 500 that repeats for one batch (``policy.SPLIT_AFTER_SERVER_ERRORS`` times) while the
server is up is a crash on something inside it — e.g. a ``NaN`` an old client let through.
Retrying the batch forever would hold every good event in it hostage, so it is bisected:
both halves are sent, a half that is accepted is done, a half answered 500 again is halved
in turn, breadth first. An event answered 500 *alone*, while other parts of its batch were
accepted, is dead-lettered with the server's answer.

What is not poison must never be buried: a half answered as in an outage (no answer,
502/503/504, ``Retry-After``, 429…) ends the bisection and everything left retries as
usual; ``policy.BLIND_PROBES`` 500s in a row with no proper answer at all mean the server
fails everything, so nothing is dead-lettered either (the client then tries smaller
batches, which also untangles several poisoned events in one batch).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from genesis_crm.outbox import Item
from genesis_crm.policy import BLIND_PROBES, Action


class Answer(Protocol):
    """What the bisection reads of a server's answer (delivery.Answer has it)."""

    @property
    def status(self) -> int | None: ...

    @property
    def body(self) -> str: ...


# Send a part; its answer, and the action applied to it (None: a server fault, not applied).
Probe = Callable[[list[Item]], Awaitable[tuple[Answer, Action | None]]]
# Keep a part for a later round, counting the server fault it got.
Keep = Callable[[list[Item], Answer], Awaitable[None]]
# Dead-letter one item with a reason.
Bury = Callable[[Item, str], Awaitable[None]]
Part = tuple[list[Item], Answer]


class Bisection:
    """One bisection of one batch; ``run`` it once."""

    def __init__(self, probe: Probe, keep: Keep, bury: Bury) -> None:
        self._probe, self._keep, self._bury = probe, keep, bury
        self.answered = 0  # proper answers (2xx, 4xx): the server itself is up
        self.blind = 0  # server faults in a row since the last proper answer
        self.buried = 0
        self.stop: Action | None = None  # RETRY: an outage answer; SPLIT: only faults

    async def run(self, items: list[Item], answer: Answer) -> Action:
        """Settle what can be settled; DONE/DEAD when finished, else RETRY or SPLIT."""
        suspects: deque[Part] = deque([(items, answer)])
        kept: list[Part] = []
        while suspects:
            part, fault = suspects.popleft()
            if self.stop is not None:
                kept.append((part, fault))
            elif len(part) > 1:
                suspects.extend(await self._halve(part, fault, kept))
            elif self.answered:
                await self._convict(part[0], fault)
            else:
                kept.append((part, fault))  # alone, but nothing got through: no proof
        for part, fault in kept:
            await self._keep(part, fault)
        if self.stop is not None:
            return self.stop
        if kept:
            return Action.RETRY
        return Action.DEAD if self.buried else Action.DONE

    async def _halve(self, part: list[Item], fault: Answer, kept: list[Part]) -> list[Part]:
        """Send both halves of ``part``; the ones answered with a server fault again."""
        mid = len(part) // 2
        faulty: list[Part] = []
        for half in (part[:mid], part[mid:]):
            if self.stop is not None:
                kept.append((half, fault))
                continue
            answer, action = await self._probe(half)
            if action is None:
                faulty.append((half, answer))
                self.blind += 1
                if self.blind >= BLIND_PROBES:
                    self.stop = Action.SPLIT
            elif action is Action.RETRY:
                self.stop = Action.RETRY  # an outage answer: already rescheduled
            else:
                self.answered, self.blind = self.answered + 1, 0
                self.buried += action is Action.DEAD
        return faulty

    async def _convict(self, item: Item, fault: Answer) -> None:
        await self._bury(
            item,
            f"poisoned: HTTP {fault.status} for this event alone, again and again for "
            f"every batch holding it, while the rest was accepted: {fault.body[:300]}",
        )
        self.buried += 1
