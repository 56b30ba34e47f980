"""Fixtures of the emulator's own tests: no proxies, and an in-process emulator
seeded with a few tasks and one assumable role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.emulator import Emulator, EmulatorConfig, SeedTask, TaskStatus
from tests.emulator.sdk import APP, ROLE


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK and requests both honour proxy variables; loopback must go direct.
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(
        seed=7,
        roles=(ROLE,),
        tasks=(
            SeedTask(APP, "t-1"),
            SeedTask(APP, "t-2"),
            SeedTask(APP, "t-jkt", region="ap-jakarta"),
            SeedTask(APP, "t-done", status=TaskStatus.FINISHED),
        ),
    )
    with Emulator(config) as running:
        yield running
