"""A local emulator of the Tencent Cloud account the reconciler talks to, served over
real HTTP for the official SDKs: the TRTC API 3.0 (service ``trtc``, version
``2019-07-22``: ``StopStreamIngest`` / ``DescribeStreamIngest`` /
``StartStreamIngest`` on an in-memory task table) and STS (``AssumeRole``,
``AssumeRoleWithWebIdentity``) on one loopback port; TC3 signature checks for every
credential of the account, long-term or temporary; the account-wide 20/s limit in a
sliding window, with an optional foreign client sharing it; injectable latency and
faults; and ``AdminClient`` for its ``/_emulator/`` admin API.

This package re-exports its public surface. It imports nothing from the product but
``reconciler.domain``, and never ``tencentcloud``.
"""

from reconciler.emulator.cli import configure_parser, run
from reconciler.emulator.client import AdminClient, AdminError
from reconciler.emulator.config import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    EmulatorConfig,
    FaultKind,
    FaultRates,
    KeyPair,
    ScheduledFault,
    SettingsChange,
    WebIdentity,
)
from reconciler.emulator.documents import ConfigError
from reconciler.emulator.seeds import (
    SeedTask,
    TaskStatus,
    load_tasks_file,
    parse_task_address,
    parse_tasks_document,
)
from reconciler.emulator.server import Emulator
from reconciler.emulator.window import RateCounting

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "AdminClient",
    "AdminError",
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "FaultKind",
    "FaultRates",
    "KeyPair",
    "RateCounting",
    "ScheduledFault",
    "SeedTask",
    "SettingsChange",
    "TaskStatus",
    "WebIdentity",
    "configure_parser",
    "load_tasks_file",
    "parse_task_address",
    "parse_tasks_document",
    "run",
]
