"""Who holds what of a shared quota now: the values ``reconciler quota`` shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemberReport:
    member: str
    host: str
    pid: int
    operation: str
    rate: float  # its --rate
    share: float  # slots per second dealt to it now (0 while it waits for its epoch)
    heartbeat_age: float  # seconds since its last heartbeat
    joined_age: float  # seconds since it joined
    connected: bool  # its database session still exists


@dataclass(frozen=True, slots=True)
class GroupReport:
    group: str
    action: str  # the API whose quota this is
    rate: float  # slots per second the whole group may use now
    members: tuple[MemberReport, ...]
