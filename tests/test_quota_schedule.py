"""The shared schedule, pure: who owns which slot, and when a membership change may
take effect (never while a member could still rely on what it read)."""

from __future__ import annotations

import itertools
import math

import pytest

from reconciler.quota.schedule import LEASE, Epoch, MemberRow, Schedule, plan

INTERVAL = 1.015 / 20
T0 = 1_700_000_000.0


def row(member: str, *, read_at: float, joined: float = T0, connected: bool = True) -> MemberRow:
    return MemberRow(member, joined, read_at, INTERVAL, connected)


def owners(schedule: Schedule, start: float, end: float) -> list[tuple[float, str]]:
    """Every slot in [start, end) with its owner, from ``next_slot`` of each member."""
    members = schedule.dealt_to()
    slots = []
    for member in members:
        moment = start
        while (slot := schedule.next_slot(member, moment, before=end)) is not None:
            slots.append((slot, member))
            moment = slot + 1e-4
    return sorted(slots)


def test_an_epoch_deals_its_slots_round_robin_on_one_grid() -> None:
    schedule = Schedule((Epoch(T0, INTERVAL, ("a", "b", "c")),))
    slots = owners(schedule, T0, T0 + 3.0)
    assert [member for _, member in slots[:6]] == ["a", "b", "c", "a", "b", "c"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(slots)]
    assert all(math.isclose(gap, INTERVAL, abs_tol=1e-6) for gap in gaps)
    assert math.isclose(schedule.share("a", T0 + 1), 20 / 1.015 / 3)


def test_a_lone_first_member_starts_at_once() -> None:
    result = plan(Schedule(), [], me=row("a", read_at=0.0), now=T0, quiet_until=0.0)
    (epoch,) = result.schedule.epochs
    assert epoch.start == T0 and epoch.members == ("a",)


def test_a_joiner_waits_for_the_others_leases() -> None:
    first = plan(Schedule(), [], me=row("a", read_at=0.0), now=T0, quiet_until=0.0).schedule
    a = row("a", read_at=T0 + 0.9)
    result = plan(first, [a], me=row("b", read_at=0.0, joined=T0 + 1), now=T0 + 1, quiet_until=0)
    epoch = result.schedule.epochs[-1]
    assert epoch.members == ("a", "b")
    assert epoch.start >= a.read_at + LEASE  # what "a" read at 0.9 holds until 1.5
    assert epoch.start - (a.read_at + LEASE) < INTERVAL  # and no later than the next slot
    steps = (epoch.start - T0) / INTERVAL  # on the grid the first epoch set
    assert math.isclose(steps, round(steps), abs_tol=1e-4)


def test_nothing_changes_while_the_members_stay() -> None:
    schedule = Schedule((Epoch(T0, INTERVAL, ("a", "b")),))
    rows = [row("a", read_at=T0 + 4.9), row("b", read_at=T0 + 4.95)]
    result = plan(schedule, rows, me=row("a", read_at=T0 + 4.9), now=T0 + 5, quiet_until=0)
    assert result.schedule == schedule and not result.changed and result.remove == ()


def test_a_member_whose_session_ended_is_removed_after_its_lease() -> None:
    schedule = Schedule((Epoch(T0, INTERVAL, ("a", "b")),))
    rows = [row("a", read_at=T0 + 4.9), row("b", read_at=T0 + 4.95, connected=False)]
    result = plan(schedule, rows, me=row("a", read_at=T0 + 4.9), now=T0 + 5, quiet_until=0)
    assert result.remove == ("b",)
    epoch = result.schedule.epochs[-1]
    assert epoch.members == ("a",)
    assert epoch.start >= T0 + 4.95 + LEASE  # "b" may use what it read until then
    assert result.quiet_until == T0 + 4.95 + LEASE


def test_a_silent_member_is_removed_after_the_expiry() -> None:
    schedule = Schedule((Epoch(T0, INTERVAL, ("a", "b")),))
    b = row("b", read_at=T0 + 3.5)
    kept = plan(schedule, [b], me=row("a", read_at=T0 + 4.4), now=T0 + 4.45, quiet_until=0)
    assert kept.remove == ()
    gone = plan(schedule, [b], me=row("a", read_at=T0 + 4.4), now=T0 + 4.55, quiet_until=0)
    assert gone.remove == ("b",) and gone.schedule.epochs[-1].members == ("a",)


def test_leaving_hands_the_share_on_once_the_leavers_lease_is_over() -> None:
    schedule = Schedule((Epoch(T0, INTERVAL, ("a", "b")),))
    rows = [row("a", read_at=T0 + 4.9), row("b", read_at=T0 + 4.95)]
    result = plan(
        schedule, rows, me=row("b", read_at=T0 + 4.95), leaving=True, now=T0 + 5, quiet_until=0
    )
    epoch = result.schedule.epochs[-1]
    assert epoch.members == ("a",)
    assert epoch.start >= T0 + 4.95 + LEASE


def test_a_change_never_starts_before_an_epoch_already_appended() -> None:
    pending = Epoch(T0 + 10, INTERVAL, ("a", "b"))
    schedule = Schedule((Epoch(T0, INTERVAL, ("a",)), pending))
    rows = [row("a", read_at=T0 + 9.0), row("b", read_at=T0 + 9.0, connected=False)]
    result = plan(schedule, rows, me=row("a", read_at=T0 + 9.0), now=T0 + 9.1, quiet_until=0)
    assert result.schedule.epochs[-1].start > pending.start


@pytest.mark.parametrize("joined_at", [0.3, 2.0, 7.7])
def test_slots_are_never_dealt_twice_across_changes(joined_at: float) -> None:
    """Whoever believes what it last read, no slot has two owners."""
    a0 = plan(Schedule(), [], me=row("a", read_at=0.0), now=T0, quiet_until=0.0)
    b_join = T0 + joined_at
    a_row = row("a", read_at=b_join - 0.1)
    a_knows = a0.schedule  # what "a" read at b_join - 0.1, trusted until + LEASE
    after = plan(
        a_knows, [a_row], me=row("b", read_at=0.0, joined=b_join), now=b_join, quiet_until=0
    )
    a_slots = {s for s, m in owners(a_knows, T0, a_row.read_at + LEASE) if m == "a"}
    b_slots = {s for s, m in owners(after.schedule, b_join, b_join + 5) if m == "b"}
    assert not {round(s, 6) for s in a_slots} & {round(s, 6) for s in b_slots}


def test_old_epochs_are_pruned() -> None:
    schedule = Schedule(
        (
            Epoch(T0, INTERVAL, ("a",)),
            Epoch(T0 + 1, INTERVAL, ("a", "b")),
            Epoch(T0 + 2, INTERVAL, ("b",)),
        )
    )
    rows = [row("b", read_at=T0 + 9.9)]
    result = plan(schedule, rows, me=row("b", read_at=T0 + 9.9), now=T0 + 10, quiet_until=0)
    assert [e.start for e in result.schedule.epochs] == [T0 + 2]


def test_epochs_survive_their_json_form() -> None:
    epoch = Epoch(T0 + 0.123456, INTERVAL, ("a", "b"))
    assert Epoch.from_json(epoch.to_json()) == epoch
