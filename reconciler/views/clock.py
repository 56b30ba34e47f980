"""How times read in views: instants in UTC (RFC 3339, ``Z``) and how far ahead a
due time is (``in 2h 13m``), relative to the time a plan was made — so a saved
plan shown later reads exactly as it did when it was made."""

from __future__ import annotations

from reconciler.instant import Instant

_UNITS = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))


def ahead(seconds: float) -> str:
    """A span in its two largest units: ``2h 13m``, ``3d 4h``, ``45s`` (whole seconds,
    rounded up: a stop due in 0.4 s is not "in 0s")."""
    left = max(0, -int(-seconds // 1))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0")) or "0s"


def until(stop_at: Instant, now: Instant | None) -> str:
    """``until 2026-12-05T15:00:00Z, in 2h 13m`` (without ``now``, only the time)."""
    text = f"until {stop_at.text()}"
    if now is not None:
        text += f", in {ahead(stop_at.seconds - now.seconds)}"
    return text


def since(stop_at: Instant) -> str:
    """``stopAt 2026-12-05T15:00:00Z`` for a stop that had one (it was due)."""
    return f"stopAt {stop_at.text()}"
