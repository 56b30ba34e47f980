"""End to end, the shared quota (issue 8): ``reconciler apply`` as subprocesses against
the emulator (which counts throttled arrivals in its window) and a real PostgreSQL —
two runners on one database share the quota, a SIGKILLed runner's share comes back,
the quota database going away mid-apply leaves one warning and a finished apply, and
``reconciler quota`` shows who holds what."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from reconciler.emulator import DEFAULT_SECRET_ID
from reconciler.quota.postgres import read_groups
from reconciler.quota.report import GroupReport
from reconciler.ratelimit import RateSettings
from tests.conftest import with_query
from tests.support import (
    EmulatorFactory,
    cli_env,
    manifest,
    names,
    reconciler,
    seed,
    start,
    wait_for,
)

#: Below the emulator's 20/s: whatever the jitter of a busy machine (a call or two
#: more than 16 in some window), a window fuller than 20 — a throttle — can only come
#: from runners not sharing: two at 16/s each would send 32.
RATE = "16"
LIMIT = 20
#: Slots per second a runner alone in its group is dealt at that rate.
FULL = float(RATE) / (1 + RateSettings().shared_guard)
APPLY = ("apply", "--auto-approve", "--json", "--log-format", "json", "--rate", RATE)


def declare(base: Path, emulator: Any, prefix: str, count: int) -> Path:
    tasks = names(prefix, count)
    emulator.add_tasks(seed(tasks))
    return manifest(base / prefix / "m.yaml", tasks).parent


def begin(
    base: Path, emulator: Any, name: str, count: int, *flags: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    """``apply`` of ``count`` new tasks named after ``name``, started in the background."""
    return start(*APPLY, str(declare(base, emulator, name, count)), *flags, env=env, cwd=base)


def wait_for_shares(location: str, count: int) -> None:
    """Until ``count`` runners are dealt a share of the grid."""
    wait_for(
        lambda: len([s for s in shares(location).values() if s > 0]) == count,
        what=f"{count} runner(s) dealt a share",
    )


def groups(location: str) -> list[GroupReport]:
    return read_groups(location)


def shares(location: str) -> dict[str, float]:
    """Runner (pid) → slots per second dealt to it now, in every group."""
    return {str(member.pid): member.share for group in groups(location) for member in group.members}


def summary(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.splitlines()[-1]), err


def warnings_about_quota(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "shared quota unreachable" in line]


@pytest.fixture
def quota_db(new_postgres_database: Callable[[], str]) -> str:
    return new_postgres_database()


def test_two_runners_on_one_database_share_the_quota_fairly(
    tmp_path: Path, emulators: EmulatorFactory, quota_db: str, running: list[Any]
) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator)
    procs = [
        begin(tmp_path, emulator, name, 100, "--state", with_query(quota_db, state=name), env=env)
        for name in ("east", "west")
    ]
    running.extend(procs)
    wait_for_shares(quota_db, 2)
    seen = shares(quota_db)
    expected = FULL / 2
    assert all(abs(share - expected) < 0.01 for share in seen.values()), seen
    (group,) = groups(quota_db)
    assert group.group.startswith("account-") and DEFAULT_SECRET_ID not in group.group
    results = [summary(proc) for proc in procs]
    assert [result["stopped"] for result, _ in results] == [100, 100]
    stats = emulator.stats()
    assert stats["max_in_window"]["StopStreamIngest"] <= LIMIT
    assert stats["rate_limited"].get("StopStreamIngest", 0) == 0
    assert sum(stats["effective_stops"].values()) == 200
    assert all(not warnings_about_quota(err) for _, err in results)
    assert groups(quota_db) == []  # both left the group


def test_a_sigkilled_runners_share_comes_back_within_two_seconds(
    tmp_path: Path, emulators: EmulatorFactory, quota_db: str, running: list[Any]
) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator)
    keep, kill = (with_query(quota_db, state=name) for name in ("keep", "kill"))
    survivor = begin(tmp_path, emulator, "keep", 150, "--state", keep, env=env)
    victim = begin(tmp_path, emulator, "kill", 150, "--state", kill, env=env)
    running.extend([survivor, victim])
    wait_for_shares(quota_db, 2)
    with psycopg.connect(quota_db) as conn:
        (killed_at,) = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
    victim.send_signal(signal.SIGKILL)

    def survivor_has_it_all() -> bool:
        return shares(quota_db).get(str(survivor.pid), 0) > FULL - 0.01

    wait_for(survivor_has_it_all, what="the survivor's share to come back", timeout=10)
    (group,) = groups(quota_db)
    (kept,) = [member.member for member in group.members if member.pid == survivor.pid]
    with psycopg.connect(quota_db) as conn:
        (document,) = conn.execute("SELECT schedule FROM reconciler_quota_groups").fetchone()
    handover = document[-1]  # the epoch that deals the whole grid to the survivor
    assert handover["members"] == [kept]
    assert handover["start"] - float(killed_at) <= 2.0
    result, err = summary(survivor)
    assert result["stopped"] == 150 and not warnings_about_quota(err)
    assert emulator.stats()["max_in_window"]["StopStreamIngest"] <= LIMIT


def test_the_quota_database_going_away_mid_apply_leaves_one_warning_and_a_finished_apply(
    tmp_path: Path, emulators: EmulatorFactory, postgres_url: str, quota_db: str, running: list[Any]
) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator)  # the state is a SQLite file
    flags = ("--quota", quota_db, "--quota-group", "team-a")
    proc = begin(tmp_path, emulator, "gone", 200, *flags, env=env)
    running.append(proc)
    wait_for_shares(quota_db, 1)
    database = urlsplit(quota_db).path.lstrip("/")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
        )
    result, err = summary(proc)
    assert result["stopped"] == 200 and result["failed"] == 0
    (warning,) = warnings_about_quota(err)
    assert json.loads(warning)["group"] == "team-a"
    assert sum(emulator.stats()["effective_stops"].values()) == 200


def test_reconciler_quota_shows_who_holds_what(
    tmp_path: Path, emulators: EmulatorFactory, quota_db: str, running: list[Any]
) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator, RECONCILER_QUOTA=quota_db, RECONCILER_QUOTA_GROUP="team-b")
    proc = begin(tmp_path, emulator, "show", 120, env=env)
    running.append(proc)
    wait_for_shares(quota_db, 1)
    shown = reconciler("quota", "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    (group,) = json.loads(shown.stdout)["groups"]
    assert (group["group"], group["action"]) == ("team-b", "StopStreamIngest")
    (runner,) = group["runners"]
    assert runner["pid"] == proc.pid and runner["operation"] == "apply" and runner["connected"]
    assert runner["heartbeatAge"] < 1.0 and abs(runner["share"] - FULL) < 0.01
    human = reconciler("quota", env=env, cwd=tmp_path)
    assert human.returncode == 0
    assert "Quota group team-b, StopStreamIngest" in human.stdout
    assert str(proc.pid) in human.stdout
    summary(proc)
    after = reconciler("quota", env=env, cwd=tmp_path)
    assert after.returncode == 0 and "No runner holds a share" in after.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--quota", "mysql://db/x"), "--quota takes a postgresql:// URL or 'off'"),
        (("--quota-group", "two words"), "quota group 'two words' must be"),
        (("--quota", "off"), "the shared quota is off"),
        ((), "the state is not on PostgreSQL"),
    ],
)
def test_quota_refuses_what_it_cannot_show(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    result = reconciler("quota", *flags, env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_quota_off_runs_alone_even_with_the_state_on_postgresql(
    tmp_path: Path, emulators: EmulatorFactory, quota_db: str
) -> None:
    emulator = emulators()
    env = cli_env(tmp_path, emulator, RECONCILER_STATE=with_query(quota_db, state="solo"))
    result = reconciler(
        *APPLY, str(declare(tmp_path, emulator, "solo", 5)), "--quota", "off", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(quota_db) as conn:
        exists = conn.execute("SELECT to_regclass('reconciler_quota_groups')").fetchone()[0]
    assert exists is None  # never joined: no quota table was even created
