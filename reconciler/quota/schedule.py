"""The shared schedule of a quota group: who may send when. Pure: no clock, no I/O.

All runners of a group share one grid of send slots on the database's clock,
``interval`` seconds apart — ``(window + guard) / rate``, the spacing one runner
alone would keep — so the whole group never sends more than ``rate`` in any
one-second window, whoever uses the slots. An ``Epoch`` deals the grid's slots out
round-robin among its members from its ``start``: slot ``k`` of the epoch belongs
to ``members[k % n]``, so each member's share is ``rate / n``.

Membership changes by appending an epoch, never by editing one, and only from a
time no member can still be relying on the old one. Every member reads the
schedule at each heartbeat and trusts what it read for ``lease`` seconds after
that read (its ``read_at``, on the database clock); so a new epoch starts no
earlier than ``read_at + lease`` of every member the schedule still deals slots to
— and never before an epoch already appended. A runner that stops heartbeating
stops sending once its lease runs out; its slots are dealt out again from the
first epoch that leaves it out. Safety rests on the leases alone; how soon a dead
runner is noticed (its session gone, or no heartbeat for ``expiry``) only decides
how soon its share comes back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: How long a member trusts the schedule it read (seconds of database time).
LEASE = 0.6
#: How often a member heartbeats (and reads the schedule).
HEARTBEAT = 0.15
#: A member not heard from for this long is dead, even if its session lingers.
EXPIRY = 1.0
#: Epochs that ended this long ago are dropped from the group's row.
HISTORY = 2.0
#: Times this close are the same slot (seconds since the epoch, as doubles, carry
#: about a tenth of a microsecond of rounding).
TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Epoch:
    """From ``start``, slot ``k`` at ``start + k * interval`` belongs to ``members[k % n]``."""

    start: float
    interval: float
    members: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"start": self.start, "interval": self.interval, "members": list(self.members)}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Epoch:
        members = doc["members"]
        assert isinstance(members, list)
        return cls(float(str(doc["start"])), float(str(doc["interval"])), tuple(map(str, members)))

    def grid_after(self, moment: float) -> float:
        """The first slot time of this epoch's grid at or after ``moment``."""
        if moment <= self.start:
            return self.start
        steps = math.ceil((moment - self.start - TOLERANCE) / self.interval)
        return self.start + steps * self.interval


@dataclass(frozen=True, slots=True)
class Schedule:
    """A group's epochs, in order of start; each runs until the next one starts."""

    epochs: tuple[Epoch, ...] = ()

    def next_slot(self, member: str, earliest: float, *, before: float) -> float | None:
        """The first slot of ``member`` at or after ``earliest`` and before ``before``."""
        for index, epoch in enumerate(self.epochs):
            end = self.epochs[index + 1].start if index + 1 < len(self.epochs) else math.inf
            end = min(end, before)
            if end <= earliest or member not in epoch.members:
                continue
            position, count = epoch.members.index(member), len(epoch.members)
            lowest = max(earliest, epoch.start)
            k = math.ceil((lowest - epoch.start - TOLERANCE) / epoch.interval)
            k += (position - k) % count
            slot = epoch.start + k * epoch.interval
            if slot < end:
                return slot
        return None

    def current(self, moment: float) -> Epoch | None:
        """The epoch in force at ``moment`` (the first one, if none has started yet)."""
        found = self.epochs[0] if self.epochs else None
        for epoch in self.epochs:
            if epoch.start <= moment:
                found = epoch
        return found

    def share(self, member: str, moment: float) -> float:
        """Slots per second dealt to ``member`` by the epoch in force at ``moment``."""
        epoch = self.current(moment)
        if epoch is None or member not in epoch.members:
            return 0.0
        return 1.0 / (epoch.interval * len(epoch.members))

    def dealt_to(self) -> frozenset[str]:
        return frozenset(member for epoch in self.epochs for member in epoch.members)


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member as the group's table knows it (times on the database clock)."""

    member: str
    joined: float
    read_at: float  # its last heartbeat: what it read then it trusts until + LEASE
    interval: float  # the grid spacing its own --rate asks for
    connected: bool  # its database session still exists


@dataclass(frozen=True, slots=True)
class Plan:
    """What one heartbeat transaction writes back."""

    schedule: Schedule
    quiet_until: float  # no epoch may start before this (leases of removed members)
    remove: tuple[str, ...]  # members found dead, to delete
    changed: bool


def plan(
    schedule: Schedule,
    rows: Sequence[MemberRow],
    *,
    me: MemberRow,
    leaving: bool = False,
    now: float,
    quiet_until: float,
    lease: float = LEASE,
    expiry: float = EXPIRY,
) -> Plan:
    """The schedule after ``me`` heartbeats (or leaves) at ``now``: dead members
    removed, an epoch appended if the live members (or the spacing they ask for)
    changed.

    ``me.read_at`` is its *previous* read (0 when joining): permits it booked from
    that read may still be used until its lease ends, so a change waits for that too.
    Leaving, it is dropped from the members at once but its lease still counts.
    """
    others = [r for r in rows if r.member != me.member]
    live = [r for r in others if r.connected and now - r.read_at <= expiry]
    dead = [r for r in others if r not in live]
    ended = [*dead, me] if leaving else dead
    quiet = max([quiet_until, *(r.read_at + lease for r in ended)])
    remove = tuple(r.member for r in dead)
    staying = live if leaving else [*live, me]
    members = tuple(r.member for r in sorted(staying, key=lambda r: (r.joined, r.member)))
    interval = max((r.interval for r in staying), default=0.0)
    last = schedule.epochs[-1] if schedule.epochs else None
    if not members or (last is not None and (last.members, last.interval) == (members, interval)):
        return Plan(_pruned(schedule, now), quiet, remove, bool(ended))
    dealt = schedule.dealt_to()
    leases = [r.read_at + lease for r in staying if r.member in dealt]
    start = max([now, quiet, *leases])
    if last is not None:
        start = last.grid_after(max(start, last.start + last.interval))
    new = Schedule((*schedule.epochs, Epoch(start, interval, members)))
    return Plan(_pruned(new, now), quiet, remove, True)


def _pruned(schedule: Schedule, now: float) -> Schedule:
    """Without the epochs that ended more than ``HISTORY`` ago."""
    epochs = schedule.epochs
    keep = 0
    while keep + 1 < len(epochs) and epochs[keep + 1].start <= now - HISTORY:
        keep += 1
    return Schedule(epochs[keep:])
