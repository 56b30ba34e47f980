"""Task seeds: the tasks an emulator starts with or is given at run time, as values,
and their three spellings — ``--task SDKAPPID/TASKID@REGION``, a seed document
``{"tasks": [{"sdkAppId", "taskId", "region", "status"}]}`` (``--tasks FILE`` and
``POST /_emulator/tasks``) — read into ``SeedTask`` values.

Pure parsers apart from ``load_tasks_file``, which reads one file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.domain import REGIONS, SDK_APP_ID_MAX, SDK_APP_ID_MIN, format_address, parse_address
from reconciler.emulator.documents import ConfigError, parse_choice, read_document

DEFAULT_REGION = "ap-singapore"

#: Keys a task entry of a seed document may carry. ``address``, ``stops`` and
#: ``stoppedAt`` are the read-only fields ``GET /_emulator/tasks`` adds, accepted (and
#: ignored) so its output can be posted back as a seed document.
_TASK_KEYS = ("sdkAppId", "taskId", "region", "status")
_READ_ONLY_TASK_KEYS = ("address", "stops", "stoppedAt")


class TaskStatus(str, enum.Enum):
    """Where a task of the emulator's table stands."""

    IN_PROGRESS = "InProgress"
    STOPPED = "Stopped"  # ended by a StopStreamIngest the emulator applied
    FINISHED = "Finished"  # ended on its own (seeded that way)

    @property
    def running(self) -> bool:
        return self is TaskStatus.IN_PROGRESS

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        return parse_choice(cls, value, what="task status")


@dataclass(frozen=True)
class SeedTask:
    """One stream-ingest task to put in the emulator's table."""

    sdk_app_id: int
    task_id: str
    region: str = DEFAULT_REGION
    status: TaskStatus = TaskStatus.IN_PROGRESS

    def __post_init__(self) -> None:
        if isinstance(self.sdk_app_id, bool) or not isinstance(self.sdk_app_id, int):
            raise ConfigError(f"sdkAppId must be an integer, got {self.sdk_app_id!r}")
        if not SDK_APP_ID_MIN <= self.sdk_app_id <= SDK_APP_ID_MAX:
            raise ConfigError(f"sdkAppId {self.sdk_app_id} is out of range 1..2^63-1")
        if not isinstance(self.task_id, str) or not self.task_id:
            raise ConfigError(f"taskId must be a non-empty string, got {self.task_id!r}")
        if self.region not in REGIONS:
            raise ConfigError(
                f"unknown region {self.region!r} (expected one of: {', '.join(sorted(REGIONS))})"
            )
        if not isinstance(self.status, TaskStatus):
            raise ConfigError(f"unknown task status {self.status!r}")

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)

    def to_json(self) -> dict[str, object]:
        """The seed-document entry for this task."""
        return {
            "sdkAppId": self.sdk_app_id,
            "taskId": self.task_id,
            "region": self.region,
            "status": self.status.value,
        }


def check_unique(tasks: Iterable[SeedTask]) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.address in seen:
            raise ConfigError(f"task {task.address} is declared twice")
        seen.add(task.address)


def parse_task_address(text: str, *, status: TaskStatus = TaskStatus.IN_PROGRESS) -> SeedTask:
    """``SDKAPPID/TASKID@REGION``: the TaskId is split off at the first ``/``, the region
    after the last ``@``."""
    rest, at, region = text.rpartition("@")
    if not at or not region:
        raise ConfigError(f"{text!r} is not a task (expected SDKAPPID/TASKID@REGION)")
    try:
        sdk_app_id, task_id = parse_address(rest)
    except ValueError:
        raise ConfigError(f"{text!r} is not a task (expected SDKAPPID/TASKID@REGION)") from None
    try:
        return SeedTask(sdk_app_id, task_id, region=region, status=status)
    except ConfigError as error:
        raise ConfigError(f"{text!r}: {error}") from None


def parse_tasks_document(document: object, *, source: str) -> tuple[SeedTask, ...]:
    """``{"tasks": [{"sdkAppId", "taskId", "region", "status"}, ...]}`` → seed tasks."""
    if not isinstance(document, Mapping) or "tasks" not in document:
        raise ConfigError(f'{source}: expected a mapping with a "tasks" list')
    unknown = sorted(str(key) for key in document if key != "tasks")
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (expected only tasks)")
    entries = document["tasks"]
    if entries is None:
        return ()
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
        raise ConfigError(f'{source}: "tasks" must be a list')
    tasks = tuple(
        _seed_entry(entry, where=f"{source}: tasks[{i}]") for i, entry in enumerate(entries)
    )
    try:
        check_unique(tasks)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return tasks


def _seed_entry(entry: object, *, where: str) -> SeedTask:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with sdkAppId, taskId, region")
    unknown = sorted(str(key) for key in entry if key not in _TASK_KEYS + _READ_ONLY_TASK_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (expected: {', '.join(_TASK_KEYS)})"
        )
    missing = [key for key in ("sdkAppId", "taskId", "region") if key not in entry]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    task_id = entry["taskId"]
    if not isinstance(task_id, str):
        raise ConfigError(f"{where}.taskId: must be a string, got {task_id!r} (quote it)")
    region = entry["region"]
    if not isinstance(region, str):
        raise ConfigError(f"{where}.region: must be a string, got {region!r}")
    try:
        return SeedTask(
            entry["sdkAppId"],
            task_id,
            region=region,
            status=TaskStatus.parse(entry.get("status", TaskStatus.IN_PROGRESS.value)),
        )
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_tasks_file(path: str) -> tuple[SeedTask, ...]:
    """Read a seed file: JSON when it ends in ``.json``, YAML (safe subset) otherwise."""
    return parse_tasks_document(read_document(path, what="tasks file"), source=path)
