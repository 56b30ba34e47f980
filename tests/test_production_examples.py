"""The production examples (Dockerfile, Kubernetes, alerts, docs/production.md).

They are not run here (no container engine or cluster), so they are checked as far
as they can be without one: every YAML file parses; the CronJob, Deployment and
Dockerfile keep their safety properties; every ``reconciler …`` command in them
parses with the real CLI parser, so a renamed or removed flag breaks this test
rather than a user's pipeline; the example manifests validate; and the metric
names the alerts use are the ones the run loop writes. The CI examples are checked
in test_ci_examples.py, every install command in test_install_commands.py, the
commands docs/production.md shows in test_docs_commands.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler import operations
from reconciler.clock import Halt
from reconciler.instant import Instant
from reconciler.runloop import CycleResult, LoopSettings, run_loop
from reconciler.service import Board, LimiterGauge
from tests.examples_support import (
    ALERTS,
    DOCS,
    EXAMPLES,
    IMAGE_NAME,
    K8S,
    ROOT,
    SECRET_ENV,
    SUBCOMMANDS,
    assert_parses,
    dockerfile_instructions,
    final_stage,
    image_user,
    image_workdir,
    one_doc,
    yaml_docs,
)

# --- helpers ----------------------------------------------------------------------


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        spec: dict[str, Any] = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = workload["spec"]["template"]["spec"]
    return spec


def reconciler_container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = [c for c in spec["containers"] if IMAGE_NAME in c["image"]]
    assert len(containers) == 1, "expected exactly one reconciler container"
    return containers[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


WORKLOADS = [
    pytest.param(K8S / "cronjob.yaml", "CronJob", id="cronjob"),
    pytest.param(K8S / "deployment-run.yaml", "Deployment", id="deployment-run"),
]


# --- every YAML example ---------------------------------------------------------------


def test_every_yaml_example_parses() -> None:
    files = sorted(EXAMPLES.rglob("*.y*ml"))
    names = {p.relative_to(EXAMPLES).as_posix() for p in files}
    assert {
        "kubernetes/cronjob.yaml",
        "kubernetes/deployment-run.yaml",
        "kubernetes/configmap.yaml",
        "kubernetes/secret.example.yaml",
        "ci/github-actions.yml",
        "ci/gitlab-ci.yml",
        "prometheus/reconciler-alerts.yml",
    } <= names
    for path in files:
        docs = yaml_docs(path)
        assert docs, f"{path}: no YAML document"
        for doc in docs:
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"
            if path.parent == K8S:
                assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
                assert doc["metadata"].get("name"), path


def test_example_secret_holds_only_marked_placeholders() -> None:
    secrets = [d for d in yaml_docs(K8S / "secret.example.yaml") if d["kind"] == "Secret"]
    keys: set[str] = set()
    for secret in secrets:
        assert "data" not in secret, "use stringData with visible placeholders"
        for key, value in secret["stringData"].items():
            keys.add(key)
            assert value.startswith("REPLACE_ME"), f"{key} is not an obvious placeholder"
    assert set(SECRET_ENV) <= keys


# --- Kubernetes -----------------------------------------------------------------------


def test_cronjob_schedule_and_job_limits() -> None:
    cronjob = one_doc(K8S / "cronjob.yaml", "CronJob")
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int)
    assert isinstance(spec["successfulJobsHistoryLimit"], int)
    assert isinstance(spec["failedJobsHistoryLimit"], int)
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int)
    assert 0 < job["activeDeadlineSeconds"] < 300, "a Job must end before the next schedule"
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_cronjob_applies_unattended_from_the_configmap() -> None:
    spec = pod_spec(one_doc(K8S / "cronjob.yaml", "CronJob"))
    container = reconciler_container(spec)
    assert "command" not in container, "the image's ENTRYPOINT is reconciler; use args"
    args = container["args"]
    assert args[0] in SUBCOMMANDS
    parsed = assert_parses(args, "cronjob.yaml")
    assert parsed.command == "apply"
    assert parsed.auto_approve
    assert parsed.log_format == "json"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in parsed.paths:
        assert volumes[mounts[path]]["configMap"]["name"] == "trtc-reconciler-manifests"


@pytest.mark.parametrize(("path", "kind"), WORKLOADS)
def test_workload_takes_credentials_and_state_from_secrets(path: Path, kind: str) -> None:
    env = env_of(reconciler_container(pod_spec(one_doc(path, kind))))
    for name in SECRET_ENV:
        assert "value" not in env[name], f"{name} must not be a literal value"
        assert env[name]["valueFrom"]["secretKeyRef"]["key"], name
    for name, entry in env.items():
        if re.search(r"SECRET|PASSWORD|TOKEN", name):
            assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name} not from a Secret"
    state = urlsplit(env["RECONCILER_STATE"]["value"])
    assert state.scheme == "postgresql"
    assert state.password is None, "the state URL must not carry the password"
    assert "password" not in parse_qs(state.query)
    assert parse_qs(state.query)["state"], "name the state (?state=NAME)"


@pytest.mark.parametrize(("path", "kind"), WORKLOADS)
def test_workload_is_locked_down(path: Path, kind: str) -> None:
    spec = pod_spec(one_doc(path, kind))
    uid, gid = image_user()
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == uid
    assert pod["runAsGroup"] == gid
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], container["name"]
        assert container["resources"]["limits"]["memory"], container["name"]
    container = reconciler_container(spec)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # A read-only root needs somewhere writable: /tmp and the image's WORKDIR.
    for writable in ("/tmp", image_workdir()):
        assert "emptyDir" in volumes[mounts[writable]], f"{writable} is not an emptyDir"


def test_run_deployment_serves_metrics_and_health_itself() -> None:
    deployment = one_doc(K8S / "deployment-run.yaml", "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    spec = pod_spec(deployment)
    assert len(spec["containers"]) == 1, "no metrics sidecar: the loop serves /metrics"
    container = reconciler_container(spec)
    parsed = assert_parses(container["args"], "deployment-run.yaml")
    assert parsed.command == "run" and parsed.metrics_addr
    port = int(parsed.metrics_addr.rpartition(":")[2])
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == port
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["port"] == "metrics", probe
    scrape = deployment["spec"]["template"]["metadata"]["annotations"]
    assert [scrape["prometheus.io/port"], scrape["prometheus.io/path"]] == [str(port), "/metrics"]


def _configmap_manifests(tmp_path: Path) -> Path:
    configmap = one_doc(K8S / "configmap.yaml", "ConfigMap")
    assert configmap["data"]
    directory = tmp_path / "flat"
    directory.mkdir()
    for name, text in configmap["data"].items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_configmap_manifests_validate(tmp_path: Path) -> None:
    result = operations.validate([str(_configmap_manifests(tmp_path))])
    assert not result.problems, [str(p) for p in result.problems]
    assert result.tasks


def test_configmap_volume_layout_reads_each_manifest_once(tmp_path: Path) -> None:
    """The kubelet mounts a ConfigMap as NAME -> ..data/NAME, ..data -> ..<timestamp>/."""
    flat = _configmap_manifests(tmp_path)
    mount = tmp_path / "manifests"
    stamped = mount / "..2024_01_01_00_00_00.000000001"
    stamped.mkdir(parents=True)
    (mount / "..data").symlink_to(stamped.name)
    for source in flat.iterdir():
        (stamped / source.name).write_bytes(source.read_bytes())
        (mount / source.name).symlink_to(f"..data/{source.name}")
    expected = operations.validate([str(flat)])
    result = operations.validate([str(mount)])
    assert not result.problems, [str(p) for p in result.problems]
    assert sorted(t.address for t in result.tasks) == sorted(t.address for t in expected.tasks)


# --- Dockerfile -----------------------------------------------------------------------


def test_dockerfile_final_stage_runs_reconciler_as_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for name, rest in instructions if name == "FROM"]
    assert len(froms) >= 2, "multi-stage: build, then a clean final stage"
    uid, gid = image_user()
    assert uid >= 1000 and gid >= 1000
    final = final_stage()
    entrypoints = [json.loads(rest) for name, rest in final if name == "ENTRYPOINT"]
    assert entrypoints[-1] == ["reconciler"]
    cmd = [json.loads(rest) for name, rest in final if name == "CMD"][-1]
    assert_parses(cmd, "Dockerfile CMD")
    env = " ".join(rest for name, rest in final if name == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    assert any(name == "COPY" and rest.startswith("--from=") for name, rest in final)


def test_dockerfile_installs_the_postgres_extra_and_bakes_in_no_secret() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(rest for name, rest in instructions if name == "RUN")
    assert "--require-hashes --requirement requirements/main.txt" in runs
    locked = (ROOT / "requirements" / "main.txt").read_text(encoding="utf-8")
    assert re.search(r"^psycopg-binary==", locked, flags=re.M), "the postgres extra is locked"
    for name, rest in instructions:
        if name in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|RECONCILER_STATE", rest), rest
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore should allow-list the build context"
    assert not any(p.startswith("!.") for p in ignore), "no dot-files in the context"


# --- docs and metrics -------------------------------------------------------------------


def test_docs_cover_the_exit_codes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in (0, 1, 2, 3, 130, 143):
        assert re.search(rf"^\| {code} \|", text, flags=re.M), f"exit code {code} undocumented"


WAITS_UNTIL = Instant.from_seconds(time.time() + 3600)  # a task waits: the gauge is written


def test_alerts_and_docs_use_metrics_the_run_loop_writes(tmp_path: Path) -> None:
    metrics_file = tmp_path / "reconciler.prom"
    counts = dict.fromkeys(("already_stopped", "failed", "forgotten"), 0) | {"stopped": 1}
    result = CycleResult(
        ok=True, counts=counts, planned=1, finished_at=1.7e9, duration=0.1, next_stop=WAITS_UNTIL
    )
    board = Board(clock=Halt().clock, stale_after=3.0, rates=LimiterGauge(20.0))
    run_loop(
        lambda halt: result,
        settings=LoopSettings(interval=1, max_cycles=1),
        halt=Halt(),
        metrics_file=str(metrics_file),
        on_cycle=lambda _, text: board.cycle_finished(text),
    )
    assert board.metrics().startswith(metrics_file.read_text())  # /metrics: the file, and more
    written = set(re.findall(r"^# TYPE (\S+)", board.metrics(), flags=re.M))
    rules = [r for g in yaml_docs(ALERTS)[0]["groups"] for r in g["rules"]]
    assert rules and all(r["alert"] and r["expr"] for r in rules)
    used = set()
    for source in (ALERTS.read_text(encoding="utf-8"), DOCS.read_text(encoding="utf-8")):
        used |= set(re.findall(r"\b(reconciler_[a-z_]+)\b(?!\.py)", source))
    assert "reconciler_last_success_timestamp_seconds" in used
    assert used <= written, f"not written by the run loop: {sorted(used - written)}"
