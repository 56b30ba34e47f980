"""Databases that stall, fill up, refuse writes or are not ours — through the CLI.

A paused PostgreSQL (``SIGSTOP`` on its processes) cannot hold ``apply`` past a
SIGTERM; a SQLite file another program keeps locked is waited for interruptibly;
a full disk or a damaged file is one clear error (and a failed ``run`` cycle, not
the loop's end); read-only commands work on a read-only state and create nothing
there; a state that cannot be written is refused before the first call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import (
    EmulatorProcess,
    a,
    cli_env,
    error_lines,
    has_open,
    interrupt_after,
    manifest,
    names,
    no_traceback,
    pull,
    reconciler,
    seed,
    start,
    stop_calls,
)


def server_processes(url: str) -> list[int]:
    """The test PostgreSQL's postmaster and all its children (it runs on this machine)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    postmaster = int(Path(row[0], "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit():
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster:
                    children.append(int(entry.name))
    return [postmaster, *children]


@contextlib.contextmanager
def paused(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def wait_for_outcomes(proc: subprocess.Popen[str], count: int) -> list[str]:
    """Read the apply's JSON log until ``count`` tasks are recorded; then keep its
    stderr drained in the background. The lines read."""
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if sum('"task stopped"' in seen for seen in lines) >= count:
            break
    threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True).start()
    return lines


def test_a_paused_postgres_cannot_hold_apply_past_sigterm(
    tmp_path: Path,
    emulator: EmulatorProcess,
    postgres_url: str,
    postgres_state_location: Callable[..., str],
) -> None:
    tasks = names("pg", 60)
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    emulator.add_tasks(seed(tasks))
    env = cli_env(tmp_path, emulator, RECONCILER_STATE=postgres_state_location())
    proc = start(
        "apply", "--auto-approve", "--log-format", "json", "--rate", "10", env=env, cwd=tmp_path
    )
    try:
        lines = wait_for_outcomes(proc, 3)
        with paused(server_processes(postgres_url)):
            time.sleep(0.5)  # the next commit is now waiting on the paused server
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=5)  # honoured within 5 s, the server still paused
            took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 143, "".join(lines)
    assert took < 5
    text = "".join(lines)
    assert "Traceback" not in text
    # Once the server runs again, the next apply finishes the job (the lock was let go).
    again = reconciler(
        "apply", "--auto-approve", "--lock-timeout", "20s", env=env, cwd=tmp_path, timeout=90
    )
    assert again.returncode == 0, again.stderr
    assert {r["address"] for r in pull(env, tmp_path)["records"]} == {a(t) for t in tasks}


def test_a_sqlite_file_locked_by_another_program_is_waited_for_interruptibly(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    holder = subprocess.Popen(  # a foreign program holding SQLite's write lock
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)",
            env["RECONCILER_STATE"],
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = start("apply", "--auto-approve", env=env, cwd=tmp_path)
        # a second after it opened the lock file it waits for SQLite's write lock
        locking = lambda: has_open(proc.pid, Path(env["RECONCILER_STATE"] + ".lock"))  # noqa: E731
        _, err, _ = interrupt_after(proc, 2, signal.SIGTERM, within=5, ready=locking)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 143, err
    assert "interrupted while waiting to write state" in err and "Traceback" not in err
    assert stop_calls(emulator) == 1  # the write check comes before any call


@contextlib.contextmanager
def tiny_filesystem(base: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (the runner is root; skip if it may not mount)."""
    mount = base / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()
            os.fsync(out.fileno())


def test_a_full_disk_is_one_clear_error_and_a_failed_run_cycle(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    tasks = names("full", 40)
    emulator.add_tasks(seed(tasks))
    with tiny_filesystem(tmp_path) as mount:
        env = cli_env(tmp_path, emulator, RECONCILER_STATE=str(mount / "state.db"))
        manifest(tmp_path / "manifests" / "m.yaml", tasks[:5])
        assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
        fill(mount)
        manifest(tmp_path / "manifests" / "m.yaml", tasks)
        applied = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
        assert applied.returncode == 1 and no_traceback(applied), applied.stderr
        (line,) = error_lines(applied)
        assert "full" in line or "No space" in line, line
        ran = reconciler(
            "run", "--interval", "1s", "--max-cycles", "2", "--log-format", "json",
            env=env, cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == 0 and no_traceback(ran), ran.stderr
        events = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
        failed = [e for e in events if e["event"] == "cycle failed"]
        assert len(failed) == 2, ran.stderr
        assert all("full" in e["error"] or "No space" in e["error"] for e in failed)


def test_a_damaged_state_file_is_one_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    with sqlite3.connect(env["RECONCILER_STATE"]) as db:
        db.execute(
            "CREATE TABLE meta (id INTEGER PRIMARY KEY, schema_version INTEGER, lineage TEXT,"
            " serial INTEGER)"
        )
    for args in (["state", "list"], ["plan"], ["apply", "--auto-approve"]):
        result = reconciler(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1 and no_traceback(result), result.stderr
        assert "meta row is missing" in error_lines(result)[0]


def test_a_postgres_paused_before_apply_connects_cannot_hold_it_past_sigterm(
    tmp_path: Path,
    emulator: EmulatorProcess,
    postgres_url: str,
    postgres_state_location: Callable[..., str],
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    env = cli_env(tmp_path, emulator, RECONCILER_STATE=postgres_state_location())
    with paused(server_processes(postgres_url)):
        proc = start("apply", "--auto-approve", env=env, cwd=tmp_path)
        # after 2 s it is connecting: the server accepted the socket, it answers nothing
        _, err, took = interrupt_after(proc, 2, signal.SIGTERM, within=5)
    assert proc.returncode == 143 and took < 5, err
    assert "Traceback" not in err and "stopped answering" in err
    assert stop_calls(emulator) == 0
