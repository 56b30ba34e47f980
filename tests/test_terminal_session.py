"""A terminal session, as a person sees it: the CLI on a pseudo-terminal against
the emulator, its output rendered by a terminal emulator (``tests/terminal.py``).

One writer owns the terminal: each task outcome is one line, the progress line
never shares a row with anything else, fits the width, and leaves no trace; no
escape sequence under ``NO_COLOR`` / ``--no-color``, no progress line under
``TERM=dumb``; ``run`` prints a line per cycle, ``plan --refresh`` shows progress
while it describes, and long plans are grouped by manifest file.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import APP, EmulatorFactory, cli_env, manifest, seed
from tests.terminal import Capture, run_in_terminal

PROGRESS = re.compile(r"(Refreshing )?\[\d+/\d+\] in flight \d+ · failed \d+ · [\d.]+/s · ETA \S+")


def assert_progress_alone(capture: Capture) -> int:
    """No rendered row holds the progress text together with anything else, and none
    is left on the screen at the end; how many progress lines were drawn."""
    for row in capture.rows:
        if "in flight" in row:
            assert PROGRESS.fullmatch(row.strip()), f"progress glued to other text: {row!r}"
    assert not any("in flight" in row for row in capture.rows[-3:]), capture.rows[-3:]
    return capture.raw.count(b"in flight")


def declare(
    tmp_path: Path,
    emulator_args: tuple[str, ...],
    emulators: EmulatorFactory,
    *,
    ok: int,
    failing: int = 0,
    files: int = 1,
) -> tuple[dict[str, str], list[str]]:
    """``ok`` in-progress tasks (and ``failing`` unknown ones) over ``files`` manifests."""
    emulator = emulators(*emulator_args)
    tasks = [f"t{index:04d}" for index in range(ok)]
    bad = [f"nosuch-{index}" for index in range(failing)]
    every = tasks + bad
    for index in range(files):
        manifest(tmp_path / "manifests" / f"part{index}.yaml", every[index::files])
    emulator.add_tasks(seed(tasks))
    env = cli_env(tmp_path, emulator, TERM="xterm-256color", COLUMNS="", LINES="")
    return env, [f"{APP}/{task}" for task in every]


def test_apply_of_hundreds_of_tasks_prints_each_once(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    env, addresses = declare(tmp_path, ("--latency", "0.02"), emulators, ok=300, failing=3)
    capture = run_in_terminal(["apply"], env=env, cwd=tmp_path, answer=b"yes\n", columns=120)
    assert capture.code == 1, "\n".join(capture.rows[-20:])
    after = capture.rows_after("Enter a value:")
    for address in addresses:
        rows = [row for row in after if re.search(rf"\b{re.escape(address)}\b", row)]
        assert len(rows) == 1, (address, rows)
        outcome = "failed" if "nosuch" in address else "stopped"
        assert re.match(rf"  - {re.escape(address)} +{outcome} ", rows[0]), rows[0]
        if outcome == "failed":
            assert "InvalidParameter.TaskId: " in rows[0]
    assert assert_progress_alone(capture) > 0
    assert after[-1].startswith(
        "Apply finished with failures: 300 stopped, 0 already stopped, 3 failed"
    )
    assert b"\x1b[31m" in capture.raw and b"\x1b[32m" in capture.raw  # red failures, green stops
    assert not [row for row in after if "[info" in row or '"level"' in row], "info logs shown"


def test_log_lines_clear_the_progress_line_too(tmp_path: Path, emulators: EmulatorFactory) -> None:
    env, addresses = declare(tmp_path, ("--latency", "0.05"), emulators, ok=40)
    args = ["apply", "--auto-approve", "--log-level", "info", "--log-format", "console"]
    capture = run_in_terminal(args, env=env, cwd=tmp_path, columns=100)
    assert capture.code == 0, "\n".join(capture.rows[-20:])
    assert assert_progress_alone(capture) > 0
    text = "\n".join(capture.rows)
    assert text.count("task stopped") == len(addresses)  # every log line arrived whole
    assert len(re.findall(r"^  - \S+ +stopped ", text, flags=re.M)) == len(addresses)


def test_no_color_removes_every_escape_sequence(tmp_path: Path, emulators: EmulatorFactory) -> None:
    for name, extra_env, extra_args in (
        ("env", {"NO_COLOR": "1"}, []),
        ("flag", {}, ["--no-color"]),
    ):
        where = tmp_path / name
        env, _ = declare(where, ("--latency", "0.05"), emulators, ok=30, failing=1)
        args = ["apply", "--auto-approve", "--log-level", "info", *extra_args]
        capture = run_in_terminal(args, env={**env, **extra_env}, cwd=where, columns=100)
        assert capture.code == 1, "\n".join(capture.rows[-20:])
        assert b"\x1b" not in capture.raw, name
        assert assert_progress_alone(capture) > 0, name  # drawn, and cleared with spaces
        assert any("failed" in row and "InvalidParameter" in row for row in capture.rows)


def test_dumb_terminal_gets_no_progress_line_and_no_colour(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    env, addresses = declare(tmp_path, ("--latency", "0.05"), emulators, ok=30)
    capture = run_in_terminal(
        ["apply", "--auto-approve"], env={**env, "TERM": "dumb"}, cwd=tmp_path
    )
    assert capture.code == 0
    assert b"in flight" not in capture.raw and b"\x1b" not in capture.raw
    assert sum("stopped" in row for row in capture.rows) >= len(addresses)


def test_progress_line_fits_a_narrow_terminal(tmp_path: Path, emulators: EmulatorFactory) -> None:
    env, _ = declare(tmp_path, ("--latency", "0.05"), emulators, ok=30)
    capture = run_in_terminal(["apply", "--auto-approve"], env=env, cwd=tmp_path, columns=30)
    assert capture.code == 0
    drawn = re.findall(rb"\[\d+/\d+\][^\r\n\x1b]*", capture.raw)
    assert drawn and all(len(text.decode()) <= 29 for text in drawn), drawn[:3]
    for row in capture.rows:
        assert not (row.startswith("[") and "/30]" in row), f"progress left or wrapped: {row!r}"


def test_run_prints_a_line_per_cycle_and_per_outcome(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    env, addresses = declare(tmp_path, ("--latency", "0.02"), emulators, ok=12)
    args = ["run", "--interval", "0.5s", "--max-cycles", "2"]
    capture = run_in_terminal(args, env=env, cwd=tmp_path)
    assert capture.code == 0, "\n".join(capture.rows)
    cycles = [row for row in capture.rows if row.startswith("Cycle ")]
    assert len(cycles) == 2, capture.rows
    assert re.match(r"Cycle 1 at \S+Z: 12 stopped, 0 already stopped, 0 failed", cycles[0])
    assert re.match(r"Cycle 2 at \S+Z: no changes", cycles[1])
    for address in addresses:
        assert sum(address in row for row in capture.rows) == 1, address
    assert_progress_alone(capture)
    assert not [row for row in capture.rows if "cycle finished" in row], "info logs shown"


def test_plan_refresh_shows_progress_while_it_describes(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    env, addresses = declare(tmp_path, ("--latency", "0.1"), emulators, ok=40)
    capture = run_in_terminal(["plan", "--refresh"], env=env, cwd=tmp_path)
    assert capture.code == 0, "\n".join(capture.rows)
    assert b"Refreshing [" in capture.raw
    assert_progress_alone(capture)
    assert sum("[live: InProgress]" in row for row in capture.rows) == len(addresses)


def test_long_plans_are_grouped_by_manifest_file_on_a_terminal(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    env, addresses = declare(tmp_path, (), emulators, ok=55, files=2)
    capture = run_in_terminal(["plan"], env=env, cwd=tmp_path)
    assert capture.code == 0
    headers = [row for row in capture.rows if row.startswith("manifests/")]
    assert headers == ["manifests/part0.yaml: 28 to stop", "manifests/part1.yaml: 27 to stop"]
    for address in addresses:
        assert sum(address in row for row in capture.rows) == 1
    assert capture.rows[-1] == "Plan: 55 to stop, 0 to forget, 0 unchanged."
