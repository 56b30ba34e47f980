"""``quota``: who holds what of the shared API quota now — a table per group (human),
or one JSON document."""

from __future__ import annotations

from reconciler.quota.report import GroupReport, MemberReport
from reconciler.views.base import JsonLines, JsonView, View, duration, plural


def quota_lines(groups: list[GroupReport]) -> list[str]:
    if not groups:
        return ["No runner holds a share of the quota now."]
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append("")
        lines.append(
            f"Quota group {group.group}, {group.action}: {group.rate:.1f} requests/s "
            f"shared by {plural(len(group.members), 'runner')}"
        )
        header = ("RUNNER", "HOST", "PID", "OPERATION", "SHARE/S", "HEARTBEAT", "JOINED")
        rows = [header, *(_row(member) for member in group.members)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines += ["  " + _aligned(row, widths) for row in rows]
    return lines


def _aligned(row: tuple[str, ...], widths: list[int]) -> str:
    """Numbers (pid, share) to the right, the rest to the left."""
    cells = [
        cell.rjust(width) if index in (2, 4) else cell.ljust(width)
        for index, (cell, width) in enumerate(zip(row, widths, strict=True))
    ]
    return "  ".join(cells).rstrip()


def _row(member: MemberReport) -> tuple[str, ...]:
    heartbeat = f"{member.heartbeat_age:.1f}s ago"
    if not member.connected:
        heartbeat += " (session gone)"
    share = f"{member.share:.2f}" if member.share > 0 else "waiting"
    return (
        member.member,
        member.host,
        str(member.pid),
        member.operation,
        share,
        heartbeat,
        f"{duration(member.joined_age)} ago",
    )


class QuotaHuman(View):
    def shown(self, groups: list[GroupReport]) -> None:
        self.print("\n".join(quota_lines(groups)))


class QuotaJson(JsonView):
    def shown(self, groups: list[GroupReport]) -> None:
        JsonLines(self.out).emit(
            {
                "groups": [
                    {
                        "group": group.group,
                        "action": group.action,
                        "rate": round(group.rate, 3),
                        "runners": [_member_json(member) for member in group.members],
                    }
                    for group in groups
                ]
            }
        )


def _member_json(member: MemberReport) -> dict[str, object]:
    return {
        "runner": member.member,
        "host": member.host,
        "pid": member.pid,
        "operation": member.operation,
        "rate": member.rate,
        "share": round(member.share, 3),
        "heartbeatAge": round(member.heartbeat_age, 3),
        "joinedAge": round(member.joined_age, 3),
        "connected": member.connected,
    }


QuotaView = QuotaHuman | QuotaJson
