"""Who may read and write the state, through the CLI: read-only commands work on a
read-only SQLite state (a mounted ConfigMap, a read-only cache) and create nothing
there; a state that cannot be written, or whose schema is not ours, is refused
before the first StopStreamIngest."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import (
    EmulatorProcess,
    a,
    cli_env,
    error_lines,
    manifest,
    no_traceback,
    reconciler,
    seed,
    stop_calls,
)


def without_root_powers(args: list[str]) -> list[str]:
    """``args`` run so that file permissions bind: as root (the test runner in CI),
    without the capabilities that override them."""
    if os.geteuid() != 0:
        return args
    drop = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--", *args]


@pytest.fixture
def read_only_state(tmp_path: Path, emulator: EmulatorProcess) -> Iterator[tuple[Path, dict]]:
    """A state with two records in a directory that is then made read-only."""
    directory = Path(tempfile.mkdtemp(prefix="ro-state-", dir=tmp_path))
    env = cli_env(tmp_path, emulator, RECONCILER_STATE=str(directory / "state.db"))
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    (directory / "state.db.lock").unlink()  # a ConfigMap holds the database alone
    (directory / "state.db").chmod(0o444)
    directory.chmod(0o555)
    try:
        yield directory, env
    finally:
        directory.chmod(0o755)


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = without_root_powers([sys.executable, "-m", "reconciler", *args])
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_read_only_commands_work_on_a_read_only_state_and_create_nothing(
    tmp_path: Path, emulator: EmulatorProcess, read_only_state: tuple[Path, dict[str, str]]
) -> None:
    directory, env = read_only_state
    probe = cli(env, tmp_path, "state", "list")
    assert probe.returncode == 0, probe.stderr
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "c"])
    for args, expected in (
        (["state", "list"], a("b")),
        (["state", "pull"], '"lineage"'),
        (["state", "show", a("a")], '"outcome"'),
        (["plan"], "1 to stop, 1 to forget"),
        (["validate"], "no problems"),
    ):
        result = cli(env, tmp_path, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)
    assert sorted(p.name for p in directory.iterdir()) == ["state.db"]  # no -wal, -shm, lock
    applied = cli(env, tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 1 and no_traceback(applied), applied.stderr
    (line,) = error_lines(applied)
    assert "state" in line and ("read-only" in line or "lock file" in line), line
    assert stop_calls(emulator) == 2  # the fixture's; none since


def test_a_state_whose_schema_is_not_ours_is_refused_before_any_call(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    with sqlite3.connect(env["RECONCILER_STATE"]) as db:  # someone else's idea of a table
        db.execute("ALTER TABLE records RENAME TO old_records")
        db.execute(
            "CREATE TABLE records (address TEXT PRIMARY KEY, sdk_app_id INTEGER, task_id TEXT,"
            " region TEXT, outcome TEXT CHECK (outcome = 'done'), request_id TEXT, time TEXT,"
            " source TEXT)"
        )
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    applied = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert applied.returncode == 1 and no_traceback(applied), applied.stderr
    assert "CHECK constraint failed" in error_lines(applied)[0]
    assert stop_calls(emulator) == 1  # the first apply's; none since


def test_a_postgres_role_that_cannot_write_is_refused_before_any_call(
    tmp_path: Path,
    emulator: EmulatorProcess,
    new_postgres_database: Callable[[], str],
) -> None:
    import psycopg

    from tests.conftest import with_query

    url = new_postgres_database()
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = cli_env(tmp_path, emulator, RECONCILER_STATE=url)
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    role = f"reader_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader = with_query(url, user=role)
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    applied = reconciler("apply", "--auto-approve", "--state", reader, env=env, cwd=tmp_path)
    assert applied.returncode == 1 and no_traceback(applied), applied.stderr
    assert "permission denied" in error_lines(applied)[0]
    assert stop_calls(emulator) == 1
    listed = reconciler("state", "list", "--state", reader, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split() == [a("a")], listed.stderr


def test_the_read_only_state_is_really_read_only(
    tmp_path: Path, read_only_state: tuple[Path, dict[str, str]]
) -> None:
    """The guard on the test above: the CLI's process truly cannot write there."""
    directory, _ = read_only_state
    assert not stat.S_IMODE(directory.stat().st_mode) & 0o222
    probe = subprocess.run(
        without_root_powers(["touch", str(directory / "x")]), capture_output=True, text=True
    )
    assert probe.returncode != 0
