"""A local TRTC API 3.0 emulator (service ``trtc``, version ``2019-07-22``) that the
official SDK talks to over real HTTP: TC3 signature checks, ``StopStreamIngest`` /
``DescribeStreamIngest`` / ``StartStreamIngest`` on an in-memory task table, the
per-action 20/s limit, and injectable latency and faults.

This package re-exports its public surface; it never imports ``tencentcloud``.
"""

from reconciler.emulator.cli import configure_parser, run
from reconciler.emulator.config import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    ConfigError,
    EmulatorConfig,
    FaultKind,
    FaultRates,
    ScheduledFault,
    SeedTask,
    TaskStatus,
    load_tasks_file,
    parse_task_address,
    parse_tasks_document,
)
from reconciler.emulator.server import Emulator

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "FaultKind",
    "FaultRates",
    "ScheduledFault",
    "SeedTask",
    "TaskStatus",
    "configure_parser",
    "load_tasks_file",
    "parse_task_address",
    "parse_tasks_document",
    "run",
]
