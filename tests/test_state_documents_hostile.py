"""State documents a hostile user pushes: every field a store keeps is checked
before any store sees it, so SQLite and PostgreSQL refuse the same documents (a NUL
was kept by one and refused by the other) and no record carries a time that is not
one; and a SQLite state that is not a file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StateDocumentError, StoreUnavailable
from reconciler.operations.inputs import snapshot_from_json
from reconciler.state import open_store


def document(lineage: object = "lineage-1", **record: object) -> dict[str, Any]:
    fields: dict[str, object] = {
        "address": "1400000001/a",
        "sdkAppId": 1400000001,
        "taskId": "a",
        "region": "ap-singapore",
        "outcome": "stopped",
        "requestId": "req-1",
        "time": "2026-12-05T15:00:00Z",
        "source": "manifests/a.yaml:7",
    }
    fields.update(record)
    return {"format_version": 1, "lineage": lineage, "serial": 3, "records": [fields]}


def test_a_well_formed_document_is_taken() -> None:
    snapshot = snapshot_from_json(document(), "d.json")
    assert snapshot.records["1400000001/a"].time == "2026-12-05T15:00:00Z"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lineage": "\x00"}, "lineage '\\x00' holds a control character"),
        ({"lineage": " "}, "lineage is empty"),
        ({"lineage": "x" * 5000}, "lineage is longer than"),
        ({"time": "2026-13-01T00:00:00Z"}, "time '2026-13-01T00:00:00Z'"),
        ({"time": "9999-12-31T23:59:59-23:59"}, "out of range"),
        ({"time": "yesterday"}, "is not an RFC 3339 time"),
        ({"requestId": "r\x00"}, "requestId 'r\\x00' holds a control character"),
        ({"source": "a.yaml:1\x1b[2J"}, "source"),
    ],
)
def test_fields_no_store_could_keep_the_same_are_refused(
    changes: dict[str, object], message: str
) -> None:
    lineage = changes.pop("lineage", "lineage-1")
    with pytest.raises(StateDocumentError, match=re.escape(message)):
        snapshot_from_json(document(lineage, **changes), "d.json")


@pytest.mark.timeout(20)
def test_a_sqlite_state_that_is_a_fifo_or_a_device_is_refused_by_name(tmp_path: Path) -> None:
    # A device read as an empty database showed an empty state (and a write failed
    # with "disk I/O error"); a FIFO failed with that too.
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)
    for location in (str(fifo), "/dev/null"):
        store = open_store(location)
        try:
            for attempt in (store.read, store.check_writable):
                with pytest.raises(StoreUnavailable, match="is not a regular file"):
                    attempt()
        finally:
            store.close()
