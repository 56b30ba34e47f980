"""A reader that stops reading: stdout or stderr on a pipe nobody drains. The run
waits for it (backpressure is not an error) until a signal; then it commits what
finished and exits at once, with everything it recorded done at the server."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import EmulatorProcess, cli_env, settled, setup_tasks

F_SETPIPE_SZ = 1031  # Linux: the pipe's capacity


def wait_until_stalled(emulator: EmulatorProcess, *, timeout: float = 30) -> int:
    """The effective stops once they stop growing for a second."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        count = len(emulator.effective_stops())
        if count == last and count > 0:
            return count
        last = count
        time.sleep(1)
    raise AssertionError("the run never stalled on its undrained stream")


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_signal_ends_a_run_stalled_on_an_undrained_pipe(
    tmp_path: Path, emulator: EmulatorProcess, stream: str
) -> None:
    setup_tasks(tmp_path, emulator, "stall", 200)
    env = cli_env(tmp_path, emulator)
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, F_SETPIPE_SZ, 4096)
    stdout = write_fd if stream == "stdout" else subprocess.DEVNULL
    stderr = write_fd if stream == "stderr" else subprocess.DEVNULL
    command = ["apply", "manifests", "--auto-approve", "--json", "--log-level", "info"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *command],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )
    os.close(write_fd)
    try:
        assert wait_until_stalled(emulator) < 200, "the pipe never filled"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(read_fd)
    pulled = subprocess.run(
        [sys.executable, "-m", "reconciler", "state", "pull"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    recorded = {record["address"] for record in json.loads(pulled.stdout)["records"]}
    assert recorded <= set(settled(emulator))
