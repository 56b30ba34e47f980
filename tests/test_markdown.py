"""``plan --markdown`` / ``show --markdown``: the pull-request comment, as snapshots
through the CLI for a plan of each kind (no changes, stops only, forgets only,
mixed, scheduled stops, 5,000 changes truncated, manifest problems), and the rules
each obeys:
summary first, symbols in column 0 of a diff block, grouped by file, folded past
20 changes, never over 65,000 characters, a footer with the state and version.

``RECONCILER_UPDATE_SNAPSHOTS=1 pytest tests/test_markdown.py`` rewrites the
snapshots; review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from tests.support import APP, cli_env, manifest, reconciler, write

SNAPSHOTS = Path(__file__).parent / "snapshots" / "markdown"
LINEAGE = "5d0c3a9e-6f1b-4c2a-9e7d-2b8f4a6c1e3d"
LIMIT = 65_000
ACTIONS = ("stop", "wait", "forget")


def change(task: str, action: str, source: str, **extra: object) -> dict[str, object]:
    region = extra.pop("region", "ap-singapore")
    return {
        "address": f"{APP}/{task}",
        "action": action,
        "sdkAppId": APP,
        "taskId": task,
        "region": region,
        "source": source,
        **extra,
    }


def plan_document(changes: list[dict[str, object]], *, unchanged: int = 4) -> dict[str, Any]:
    count = {action: sum(c["action"] == action for c in changes) for action in ("stop", "forget")}
    return {
        "format_version": 1,
        "state": {"lineage": LINEAGE, "serial": 7},
        "timestamp": "2026-12-05T12:46:12Z",  # a wait's "in 2h 13m" counts from it
        "changes": changes,
        "summary": {**count, "unchanged": unchanged},
    }


FINAL = "2026-12-05T15:00:00Z"  # 22:00 in Jakarta
PLANS: dict[str, list[dict[str, object]]] = {
    "no-changes": [],
    "stops-only": [
        change("show-a", "stop", "manifests/events/weekend.yaml:9"),
        change("show-b", "stop", "manifests/events/weekend.yaml:10", region="ap-jakarta"),
        change("lobby", "stop", "manifests/regions/apac.yaml:12", live="InProgress"),
    ],
    "forgets-only": [
        change("old-1", "forget", "manifests/events/friday.yaml:8"),
        change("old-2", "forget", "manifests/events/friday.yaml:9"),
    ],
    "mixed": [
        change("show-a", "stop", "manifests/events/weekend.yaml:9"),
        change("show-b", "stop", "manifests/events/weekend.yaml:10", live="NotExist"),
        change("old-1", "forget", "manifests/events/friday.yaml:8"),
        change("cn-1", "stop", "manifests/regions/china.yaml:7", region="ap-beijing"),
        change("old-2", "forget", "manifests/regions/china.yaml:11", region="ap-shanghai"),
    ],
    "scheduled": [
        change("final-cam-1", "wait", "manifests/events/final.yaml:10", stopAt=FINAL),
        change("final-cam-2", "wait", "manifests/events/final.yaml:11", stopAt=FINAL),
        change("warmup", "stop", "manifests/events/final.yaml:13", stopAt="2025-01-01T00:00:00Z"),
        change("lobby", "stop", "manifests/regions/apac.yaml:12"),
        change("old-1", "forget", "manifests/events/friday.yaml:8"),
    ],
    "5000-truncated": [
        change(
            f"event-{index // 250:02d}-camera-{index % 250:03d}",
            "forget" if index % 10 == 9 else "stop",
            f"manifests/events/day-{index % 4 + 1}.yaml:{9 + index // 4}",
        )
        for index in range(5000)
    ],
}


def show_markdown(tmp_path: Path, name: str) -> str:
    plan_file = tmp_path / f"{name}.json"
    plan_file.write_text(json.dumps(plan_document(PLANS[name])))
    # No credentials, no state: show needs neither.
    env = {k: v for k, v in cli_env(tmp_path).items() if not k.startswith("TENCENTCLOUD_")}
    env["RECONCILER_STATE"] = str(tmp_path / "nowhere" / "state.db")
    result = reconciler("show", "--markdown", plan_file.name, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "nowhere").exists()
    return result.stdout


def check_snapshot(name: str, body: str) -> None:
    text = body.replace(__version__, "{version}")
    path = SNAPSHOTS / f"{name}.md"
    if os.environ.get("RECONCILER_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with RECONCILER_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"{name}: differs from {path}"


def assert_well_formed(body: str) -> None:
    assert len(body) <= LIMIT
    assert body.count("```") % 2 == 0, "an unclosed code block"
    assert body.count("<details>") == body.count("</details>")
    blocks = re.findall(r"```diff\n(.*?)```", body, flags=re.S)
    for block in blocks:
        for line in block.splitlines():
            assert line[:2] in ("- ", "@ ", "~ ") or line.startswith("@@ "), line
    assert body.rstrip().splitlines()[-1].startswith("<sub>trtc-ingest-reconciler ")


@pytest.mark.parametrize("name", list(PLANS))
def test_markdown_snapshot(tmp_path: Path, name: str) -> None:
    body = show_markdown(tmp_path, name)
    check_snapshot(name, body)
    assert_well_formed(body)
    changes = PLANS[name]
    first = body.splitlines()[0]
    if not changes:
        assert first == "No changes."
        return
    stops, waits, forgets = (sum(c["action"] == x for c in changes) for x in ACTIONS)
    waiting = f"{waits} waiting, " if waits else ""
    assert first == f"Plan: {stops} to stop, {waiting}{forgets} to forget, 4 unchanged."
    assert f"state lineage <code>{LINEAGE}</code>, serial 7" in body
    assert f"trtc-ingest-reconciler {__version__}" in body
    shown = re.findall(r"^[-@~] (\S+) ", body, flags=re.M)
    if len(changes) > 20:
        assert body.count("<details>") >= 1
    else:
        assert "<details>" not in body
    if name == "5000-truncated":
        assert len(body) > LIMIT - 2000, "the budget is used"
        note = re.search(r"\*\*([\d,]+) of 5,000 changes are not shown\*\*", body)
        assert note and int(note[1].replace(",", "")) == 5000 - len(shown)
        assert f"reconciler show {name}.json" in body
    else:
        assert sorted(shown) == sorted(str(c["address"]) for c in changes)
        for item in changes:  # each with its source, under its file's header
            assert f"({item['source']})" in body
        assert "not shown" not in body


def test_manifest_problems_snapshot(tmp_path: Path) -> None:
    write(
        tmp_path / "manifests" / "broken.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-singapore
          sdkAppId: {APP}
          tasks:
            - taskID: typo
            - 12345
            - taskId: "a<b>*c"
              region: mars
        """,
    )
    env = cli_env(tmp_path)
    result = reconciler("plan", "--markdown", "--detailed-exitcode", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: 4 problems in the manifests" in result.stderr  # and on stderr, as text
    check_snapshot("manifest-problems", result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Plan failed: 4 problems in the manifests")
    items = [line for line in lines if line.startswith("- `manifests/broken.yaml:")]
    assert len(items) == 4 and all(re.match(r"- `[^`]+:\d+:\d+` ", item) for item in items)
    assert_well_formed(result.stdout)


def test_plan_markdown_matches_show_markdown_of_its_saved_plan(tmp_path: Path) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c"])
    env = cli_env(tmp_path)
    planned = reconciler(
        "plan", "--markdown", "--out", "plan.json", "--detailed-exitcode", env=env, cwd=tmp_path
    )
    assert planned.returncode == 2, planned.stderr
    shown = reconciler("show", "plan.json", "--markdown", env=env, cwd=tmp_path)
    assert shown.stdout == planned.stdout
    assert planned.stdout.startswith("Plan: 3 to stop, 0 to forget, 0 unchanged.\n")
    assert "no state yet (serial 0)" in planned.stdout


def test_json_and_markdown_cannot_go_together(tmp_path: Path) -> None:
    result = reconciler("plan", "--json", "--markdown", env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "usage_error"
    assert "not allowed with argument" in result.stderr
