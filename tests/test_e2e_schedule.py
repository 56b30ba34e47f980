"""Scheduled stops through the CLI against the emulator, on the system clock with
stopAts set relative to it: plan, show and Markdown with stop, wait and forget
lines; apply leaving the waits alone; saved plans (their waits never stopped, a
stop whose manifest gained a later stopAt refused as stale, a stop this machine's
clock does not find due yet left a wait); and ``run --interval 1h`` stopping a task
within two seconds of its stopAt, measured by the emulator's record of the stop."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from reconciler.instant import Instant, parse_time
from tests.support import (
    APP,
    EmulatorProcess,
    a,
    cli_env,
    end,
    error_lines,
    manifest,
    reconciler,
    seed,
    start,
    wait_for,
)
from tests.test_metrics_endpoint import Lines, get

HOUR = 3600.0


def rfc3339(seconds_from_now: float) -> str:
    """The time that many seconds from now, to the whole second, as RFC 3339."""
    return Instant.from_seconds(round(time.time() + seconds_from_now)).text()


def schedule(tmp_path: Path, tasks: dict[str, str | None], name: str = "final.yaml") -> None:
    """``manifests/NAME`` declaring ``tasks`` in ap-jakarta, each with its stopAt (if any)."""
    times = {task: at for task, at in tasks.items() if at is not None}
    manifest(tmp_path / "manifests" / name, list(tasks), region="ap-jakarta", stop_at=times)


def stopped(emulator: EmulatorProcess) -> dict[str, dict[str, object]]:
    return {t["taskId"]: t for t in emulator.tasks() if t["status"] == "Stopped"}


def test_plan_show_and_markdown_with_stop_wait_and_forget(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["now", "past", "final", "old"], region="ap-jakarta"))
    manifest(tmp_path / "manifests" / "old.yaml", ["old"], region="ap-jakarta")
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    (tmp_path / "manifests" / "old.yaml").unlink()  # recorded, no longer declared
    final = rfc3339(2 * HOUR + 13 * 60 + 30)
    schedule(tmp_path, {"now": None, "past": "2025-01-01T07:00:00+07:00", "final": final})

    result = reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    wait = rf"^  @ {a('final')} +wait +ap-jakarta +until {final}, in 2h 1[34]m"
    assert re.search(wait + r"  \(manifests/final.yaml:11\)$", out, re.M), out
    assert re.search(
        rf"^  - {a('past')} +stop +ap-jakarta +stopAt 2025-01-01T00:00:00Z ", out, re.M
    )
    assert re.search(rf"^  - {a('now')} +stop +ap-jakarta +\(manifests/final.yaml:9\)$", out, re.M)
    assert re.search(rf"^  ~ {a('old')} +forget +state only", out, re.M)
    assert "Plan: 2 to stop, 1 waiting, 1 to forget, 0 unchanged." in out

    shown = reconciler("show", "plan.json", env=env, cwd=tmp_path)
    assert shown.stdout == out.split("\n\nSaved the plan")[0] + "\n"  # as plan printed it
    doc = json.loads(reconciler("show", "plan.json", "--json", env=env, cwd=tmp_path).stdout)
    waits = [c for c in doc["changes"] if c["action"] == "wait"]
    assert waits == [
        {
            "address": a("final"),
            "action": "wait",
            "sdkAppId": APP,
            "taskId": "final",
            "region": "ap-jakarta",
            "source": "manifests/final.yaml:11",
            "stopAt": final,
        }
    ]
    assert doc["summary"] == {"stop": 2, "wait": 1, "forget": 1, "unchanged": 0}
    assert doc["manifests"] == ["manifests"] and parse_time(doc["timestamp"])

    markdown = reconciler("show", "plan.json", "--markdown", env=env, cwd=tmp_path).stdout
    assert markdown.startswith("Plan: 2 to stop, 1 waiting, 1 to forget, 0 unchanged.\n")
    assert re.search(
        rf"^@ {a('final')} +wait +ap-jakarta +until {final}, in 2h 1[34]m", markdown, re.M
    )
    assert "@@ manifests/final.yaml: 2 to stop, 1 waiting @@" in markdown


def test_waiting_alone_is_no_change_and_apply_leaves_it(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["now", "final"], region="ap-jakarta"))
    schedule(tmp_path, {"now": None, "final": rfc3339(HOUR)})
    assert reconciler("plan", "--detailed-exitcode", env=env, cwd=tmp_path).returncode == 2
    applied = reconciler("apply", "--auto-approve", "--json", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    events = [json.loads(line) for line in applied.stdout.splitlines()]
    assert [(e["type"], e.get("address")) for e in events[:-1]] == [("stopped", a("now"))]
    assert events[-1]["waiting"] == 1 and events[-1]["stopped"] == 1
    assert list(stopped(emulator)) == ["now"]
    quiet = reconciler("plan", "--detailed-exitcode", env=env, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout  # an apply now would do nothing
    assert quiet.stdout.startswith("Nothing to do now; these tasks wait for their stopAt:")
    again = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert again.returncode == 0 and list(stopped(emulator)) == ["now"]


def test_a_saved_plans_wait_is_not_stopped_by_it_even_once_due(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["soon"], region="ap-jakarta"))
    due = rfc3339(2)
    schedule(tmp_path, {"soon": due})
    assert reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path).returncode == 0
    wait_for(lambda: time.time() > parse_time(due).seconds + 0.2, what="the stopAt")
    applied = reconciler("apply", "plan.json", "--json", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout.splitlines()[-1])["waiting"] == 1
    assert stopped(emulator) == {}
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    assert list(stopped(emulator)) == ["soon"]  # a fresh plan finds it due


def test_a_saved_stop_whose_manifest_gained_a_later_stop_at_is_stale(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["show"], region="ap-jakarta"))
    schedule(tmp_path, {"show": None})
    assert reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path).returncode == 0
    later = rfc3339(HOUR)
    schedule(tmp_path, {"show": later})  # another pull request, merged meanwhile
    result = reconciler("apply", "plan.json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    (message,) = error_lines(result)
    assert f"saved plan is stale: its manifests now schedule {a('show')} for {later}" in message
    assert emulator.stats()["calls"] == {} and stopped(emulator) == {}


def test_a_saved_stop_not_due_by_this_machines_clock_stays_a_wait(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    # Made on a machine whose clock runs an hour ahead: there, the stopAt had come.
    emulator.add_tasks(seed(["early", "now"], region="ap-jakarta"))
    at = rfc3339(HOUR / 2)
    schedule(tmp_path, {"early": at, "now": None})
    assert reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path).returncode == 0
    doc = json.loads((tmp_path / "plan.json").read_text())
    doc["timestamp"] = rfc3339(HOUR)
    for change in doc["changes"]:
        change["action"] = "stop"
    doc["manifests"] = []  # what an older plan, naming no manifests, would say
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    human = reconciler("apply", "plan.json", env=env, cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert re.search(
        rf"^  @ {a('early')} +waiting +until {at}: not due yet by this machine's clock, not sent$",
        human.stdout,
        re.M,
    ), human.stdout
    assert re.search(rf"^  - {a('now')} +stopped +RequestId ", human.stdout, re.M)
    assert "Apply complete! 1 stopped, 0 already stopped, 0 failed, 0 forgotten, 1 waiting" in (
        human.stdout
    )
    assert list(stopped(emulator)) == ["now"]
    assert reconciler("state", "list", env=env, cwd=tmp_path).stdout.split() == [a("now")]


def test_run_stops_a_task_within_two_seconds_of_its_stop_at(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    emulator.add_tasks(seed(["soon"], region="ap-jakarta"))
    due = parse_time(rfc3339(6))
    schedule(tmp_path, {"soon": due.text()})
    env = cli_env(tmp_path, emulator)
    metrics = tmp_path / "reconciler.prom"
    proc = start(
        "run",
        "--interval",
        "1h",
        "--metrics-file",
        str(metrics),
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    logs = Lines(proc.stderr)
    try:
        base = f"http://{logs.first('metrics endpoint listening')['address']}"
        first = logs.first("cycle finished")
        assert first["next_stop_at"] == due.text() and first["waiting"] == 1
        assert float(str(first["next_cycle_in"])) < 7  # not the hour
        gauge = f"reconciler_next_stop_timestamp_seconds {due.seconds!r}"
        assert gauge in metrics.read_text()
        assert gauge in get(base + "/metrics")[1]
        wait_for(lambda: "soon" in stopped(emulator), what="the scheduled stop", timeout=30)
        late = float(str(stopped(emulator)["soon"]["stoppedAt"])) - due.seconds
        assert 0 <= late <= 2, late  # never early, and on time with a one-hour interval
        stop = logs.first("task stopped")
        assert stop["stop_at"] == due.text() and stop["address"] == a("soon")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        end(proc)
    assert "reconciler_next_stop_timestamp_seconds" not in metrics.read_text()  # none waits
