"""Fakes for in-process tests: a clock whose waits advance its own time, a scripted
TRTC API, and a scripted prompt."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from reconciler.domain import CallError, LiveStatus
from reconciler.errors import CloudCallError
from reconciler.operations.ports import CloudLink
from reconciler.trtc import classify


class FakeClock:
    """Fake time: ``wait`` returns at once, moving the clock on instead of sleeping.

    Thread-safe, so worker threads and the calling thread can share it; every wait
    that was not cut short by its event is recorded in ``waits``.
    """

    def __init__(self, *, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self.now = start
        self.epoch = epoch
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def wall(self) -> float:
        with self._lock:
            return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        with self._lock:
            self.now += max(0.0, seconds)
            self.waits.append(seconds)
        return event.is_set()


class ScriptedCloud:
    """A scripted TRTC API: each address answers its listed error codes in turn (None
    for a success), then succeeds. Also a ``CloudConnector`` for operations' ports.

    Every worker's client (``api()``) shares the script and the call log.
    """

    def __init__(
        self,
        script: Mapping[str, Sequence[str | None]] | None = None,
        *,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        self.script = {address: list(answers) for address, answers in (script or {}).items()}
        self.calls: list[str] = []
        self.on_call = on_call
        self.connected = 0
        self._lock = threading.Lock()

    def connect(self) -> CloudLink:
        self.connected += 1
        return CloudLink(self.api, account="scripted")

    def api(self) -> ScriptedCloud:
        return self

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str:
        address = f"{sdk_app_id}/{task_id}"
        with self._lock:
            self.calls.append(address)
            answers = self.script.get(address, [])
            code = answers.pop(0) if answers else None
            count = len(self.calls)
        if self.on_call is not None:
            self.on_call(count)
        if code is not None:
            raise CloudCallError(CallError(code, f"scripted {code}", "req-x"), classify(code))
        return f"req-{address}"

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus:
        self.stop(sdk_app_id=sdk_app_id, task_id=task_id, region=region)
        return LiveStatus.IN_PROGRESS if task_id != "gone" else LiveStatus.NOT_EXIST


class ScriptedPrompt:
    """A prompt answered from a list; ``interactive`` says whether anyone is there."""

    def __init__(self, *answers: str | None, interactive: bool = True) -> None:
        self.answers = list(answers)
        self.interactive = interactive
        self.questions: list[str] = []

    def ask(self, question: str) -> str | None:
        self.questions.append(question)
        return self.answers.pop(0) if self.answers else None
