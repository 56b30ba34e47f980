"""Helpers for end-to-end tests: the emulator and the CLI as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, AdminClient

APP = 1400000001


class EmulatorProcess(AdminClient):
    """``reconciler emulator`` in a subprocess; this object is its admin client."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                "emulator did not start: " + (self.proc.stderr.read() if self.proc.stderr else "")
            )
        self.info = json.loads(line)
        super().__init__(self.info["url"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def cli_env(base: Path, emulator: EmulatorProcess | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "RECONCILER_"))
    }
    env.update(
        HOME=str(base / "home"),
        TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
        TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
        RECONCILER_STATE=str(base / "state.db"),
        PYTHONUNBUFFERED="1",
    )
    if emulator is not None:
        env["RECONCILER_ENDPOINT"] = emulator.url
    env.update(extra)
    return env


def reconciler(
    *args: str, env: Mapping[str, str], cwd: Path, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a subprocess; stdin is not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=dict(env),
        cwd=cwd,
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def start(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env=dict(env),
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def end(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs (a failed test's leftover)."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=30)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def manifest(
    path: Path,
    tasks: Sequence[str],
    *,
    region: str = "ap-singapore",
    app: int = APP,
    stop_at: Mapping[str, str] | None = None,
) -> Path:
    """A manifest declaring ``tasks`` (the first on line 9), each one named in
    ``stop_at`` with that stopAt."""
    times = stop_at or {}
    lines = "".join(
        f'    - {{taskId: "{t}", stopAt: "{times[t]}"}}\n' if t in times else f'    - "{t}"\n'
        for t in tasks
    )
    return write(
        path,
        f"apiVersion: reconciler/v1\nkind: StreamIngestStop\nmetadata:\n  name: {path.stem}\n"
        f"spec:\n  region: {region}\n  sdkAppId: {app}\n  tasks:{'' if tasks else ' []'}\n{lines}",
    )


def seed(
    tasks: Sequence[str],
    *,
    region: str = "ap-singapore",
    app: int = APP,
    status: str = "InProgress",
) -> list[dict[str, object]]:
    return [{"sdkAppId": app, "taskId": t, "region": region, "status": status} for t in tasks]


#: How a lock holder's "since" reads in messages.
SINCE = r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def a(task: str, app: int = APP) -> str:
    """The address of ``task`` under ``app``."""
    return f"{app}/{task}"


def stop_calls(emulator: EmulatorProcess) -> int:
    return int(emulator.stats()["calls"].get("StopStreamIngest", 0))


def pull(env: Mapping[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    """The state document, through ``reconciler state pull``."""
    result = reconciler("state", "pull", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def listed(env: Mapping[str, str], cwd: Path, *args: str) -> list[str]:
    """The recorded addresses, through ``reconciler state list``."""
    result = reconciler("state", "list", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def wait_for(predicate: Callable[[], object], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def install_or_skip(command: Sequence[str], *, what: str, registry: str, timeout: float) -> None:
    """Run an installer (npm, pip) for a test; skip the test, saying why, when it fails
    or hangs — the registry is out of reach, not the code under test at fault."""
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{what} timed out: is {registry} reachable?")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"{what} failed (is {registry} reachable?): {last}")


def no_traceback(result: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in result.stdout + result.stderr


EmulatorFactory = Callable[..., "EmulatorProcess"]
STOP = "StopStreamIngest"


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:03d}" for index in range(count)]


def addresses(tasks: list[str], app: int = APP) -> list[str]:
    return [f"{app}/{task}" for task in tasks]


def outcomes(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """address → recorded outcome, read through ``reconciler state pull``."""
    pulled = reconciler("state", "pull", env=env, cwd=cwd)
    assert pulled.returncode == 0, pulled.stderr
    return {record["address"]: record["outcome"] for record in json.loads(pulled.stdout)["records"]}


def settled(emulator: EmulatorProcess) -> dict[str, int]:
    """The effective stops once the emulator has no request in flight any more
    (a killed client's calls still take effect at the server after its death)."""
    time.sleep(0.3)  # let requests already on the wire be admitted first
    wait_for(lambda: emulator.stats()["in_flight"] == 0, timeout=15, what="the emulator to settle")
    return emulator.effective_stops()


def setup_tasks(tmp_path: Path, emulator: EmulatorProcess, prefix: str, count: int) -> list[str]:
    """Declare ``count`` in-progress tasks in a manifest and seed them in the emulator."""
    tasks = names(prefix, count)
    manifest(tmp_path / "manifests" / f"{prefix}.yaml", tasks)
    emulator.add_tasks(seed(tasks))
    return addresses(tasks)


REPO = Path(__file__).resolve().parent.parent

#: Holds a store's writer lock until killed; prints "locked" once it has it.
LOCK_HOLDER = """
import sys, time
from reconciler.clock import SYSTEM_CLOCK
from reconciler.state import current_holder, open_store
store = open_store(sys.argv[1])
with store.lock(current_holder("test", "r1", clock=SYSTEM_CLOCK)):
    print("locked", flush=True)
    time.sleep(60)
"""


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (a FIFO it is reading, say)."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def hold_lock(location: str, cwd: Path) -> subprocess.Popen[str]:
    """A process holding the state lock (as a test holder) until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, location],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "locked":
        proc.kill()
        raise AssertionError(f"lock holder did not start: {line!r} {proc.communicate()[1]}")
    return proc


#: One outcome line of ``apply`` / ``run``: ``  - ADDRESS  OUTCOME  DETAIL``.
_OUTCOME_LINE = re.compile(
    r"^  [-~] (\S+) +(stopped|already stopped|failed|forgotten)(?: +(.*))?$", flags=re.M
)


def reported(stdout: str) -> dict[str, tuple[str, str]]:
    """address → (outcome, detail) of each outcome line an apply printed."""
    return {match[1]: (match[2], match[3] or "") for match in _OUTCOME_LINE.finditer(stdout)}


def interrupt_after(
    proc: subprocess.Popen[str],
    seconds: float,
    signum: int,
    *,
    within: float,
    ready: Callable[[], object] | None = None,
) -> tuple[str, str, float]:
    """Once ``ready()`` holds (if given; a loaded machine starts slowly), let ``proc``
    run ``seconds`` more (it must still run), send it ``signum``, and wait at most
    ``within`` seconds for it to end (killed if it does not). (stdout, stderr, how
    long it took to end after the signal)."""
    try:
        if ready is not None:
            wait_for(ready, what="the process to get there", timeout=60)
        time.sleep(seconds)
        assert proc.poll() is None, "it ended before the signal"
        signalled = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=within)
        return out, err, time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
