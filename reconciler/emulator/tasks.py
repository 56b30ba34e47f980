"""The emulator's in-memory table of stream-ingest tasks: who is running, who was
stopped how many times and when it last was (by the injected wall clock), and the
count of stops that really took effect.

Thread-safe (one lock of its own); no I/O, no API vocabulary — the actions in
``reconciler.emulator.actions`` turn its outcomes into answers and error codes.
"""

from __future__ import annotations

import enum
import random
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from reconciler.domain import format_address
from reconciler.emulator.api import JsonDict
from reconciler.emulator.seeds import SeedTask, TaskStatus

_TASK_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


class StopOutcome(enum.Enum):
    STOPPED = "stopped"
    ALREADY_ENDED = "already_ended"
    NOT_FOUND = "not_found"  # no such task in that region


@dataclass(frozen=True)
class TaskRecord:
    sdk_app_id: int
    task_id: str
    region: str
    status: TaskStatus
    stops: int = 0
    stopped_at: float | None = None  # wall clock of the last stop that took effect

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)

    def to_json(self) -> JsonDict:
        return {
            "address": self.address,
            "sdkAppId": self.sdk_app_id,
            "taskId": self.task_id,
            "region": self.region,
            "status": self.status.value,
            "stops": self.stops,
            "stoppedAt": self.stopped_at,
        }


class TaskTable:
    """Tasks by address, each living in one region."""

    def __init__(
        self,
        tasks: Iterable[SeedTask] = (),
        *,
        seed: int | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._wall_clock = wall_clock
        self._random = random.Random(seed)  # TaskIds for StartStreamIngest
        self._tasks: dict[str, TaskRecord] = {}
        self._effective_stops: Counter[str] = Counter()
        self.add(tasks)

    def add(self, tasks: Iterable[SeedTask]) -> list[str]:
        """Insert or replace tasks (a replaced task keeps its stop count); their addresses."""
        added = []
        with self._lock:
            for seed in tasks:
                old = self._tasks.get(seed.address)
                self._tasks[seed.address] = TaskRecord(
                    seed.sdk_app_id,
                    seed.task_id,
                    region=seed.region,
                    status=seed.status,
                    stops=old.stops if old else 0,
                    stopped_at=old.stopped_at if old else None,
                )
                added.append(seed.address)
        return added

    def stop(self, sdk_app_id: int, task_id: str, *, region: str) -> StopOutcome:
        address = format_address(sdk_app_id, task_id)
        with self._lock:
            task = self._tasks.get(address)
            if task is None or task.region != region:
                return StopOutcome.NOT_FOUND
            if not task.status.running:
                return StopOutcome.ALREADY_ENDED
            self._tasks[address] = replace(
                task,
                status=TaskStatus.STOPPED,
                stops=task.stops + 1,
                stopped_at=self._wall_clock(),
            )
            self._effective_stops[address] += 1
        return StopOutcome.STOPPED

    def running(self, sdk_app_id: int, task_id: str, *, region: str) -> bool:
        with self._lock:
            task = self._tasks.get(format_address(sdk_app_id, task_id))
        return task is not None and task.region == region and task.status.running

    def start(self, sdk_app_id: int, *, region: str) -> str:
        """A new in-progress task with a fresh 64-character TaskId; the TaskId."""
        with self._lock:
            while True:
                task_id = "".join(self._random.choice(_TASK_ID_ALPHABET) for _ in range(64))
                address = format_address(sdk_app_id, task_id)
                if address not in self._tasks:
                    break
            self._tasks[address] = TaskRecord(
                sdk_app_id, task_id, region=region, status=TaskStatus.IN_PROGRESS
            )
        return task_id

    def listing(self) -> list[JsonDict]:
        with self._lock:
            return [self._tasks[address].to_json() for address in sorted(self._tasks)]

    def effective_stops(self) -> dict[str, int]:
        """Stops that took effect since the last ``reset_stats``, by address."""
        with self._lock:
            return dict(sorted(self._effective_stops.items()))

    def reset_stats(self) -> None:
        with self._lock:
            self._effective_stops.clear()
