"""The CI examples (GitHub Actions, GitLab CI) and the release workflow.

They are not run here (no CI service), so they are checked as far as they can be
without one: every ``reconciler …`` command in them parses with the real CLI
parser; pull requests plan without failing on changes, merges apply the plan they
just made, applying jobs never overlap and take their secrets from the CI's
secret store; and every job runs in the image the release workflow publishes,
which it builds from this repository with the version the package declares.
"""

from __future__ import annotations

from typing import Any

from tests.examples_support import (
    GITHUB,
    GITLAB,
    IMAGE_NAME,
    PUBLISHED_IMAGE,
    RELEASE,
    SECRET_ENV,
    assert_parses,
    reconciler_argvs,
    yaml_docs,
)


def _workflow_jobs() -> dict[str, Any]:
    workflow = yaml_docs(GITHUB)[0]
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on:` as True
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert "main" in triggers["push"]["branches"]
    jobs: dict[str, Any] = workflow["jobs"]
    return jobs


def _job_argvs(job: dict[str, Any]) -> list[list[str]]:
    return [argv for step in job["steps"] for argv in reconciler_argvs(step.get("run", ""))]


def _job_for(event: str) -> dict[str, Any]:
    matches = [job for job in _workflow_jobs().values() if event in job.get("if", "")]
    assert len(matches) == 1, f"expected one job for {event}"
    return matches[0]


def test_github_workflow_commands_parse() -> None:
    argvs = [argv for job in _workflow_jobs().values() for argv in _job_argvs(job)]
    assert len(argvs) >= 6
    for argv in argvs:
        assert_parses(argv, GITHUB.name)


def test_github_pull_request_plans_with_detailed_exitcode() -> None:
    job = _job_for("pull_request")
    parsed = [assert_parses(a, GITHUB.name) for a in _job_argvs(job)]
    assert [p.command for p in parsed] == ["validate", "plan"]
    assert parsed[1].detailed_exitcode and parsed[1].out
    script = next(s["run"] for s in job["steps"] if "plan" in s.get("run", ""))
    assert "|| code=$?" in script and "2)" in script, "exit 2 (changes) must not fail the job"
    assert any("upload-artifact" in s.get("uses", "") for s in job["steps"])
    assert "TENCENTCLOUD_SECRET_KEY" not in job.get("env", {}), "plans need no cloud key"


def test_github_merge_applies_the_reviewed_plan() -> None:
    parsed = [assert_parses(a, GITHUB.name) for a in _job_argvs(_job_for("push"))]
    assert [p.command for p in parsed] == ["show", "apply"]  # no new plan: the reviewed one
    assert parsed[1].paths == [parsed[0].plan_file]


def test_github_schedule_runs_a_drift_check_then_applies() -> None:
    parsed = [assert_parses(a, GITHUB.name) for a in _job_argvs(_job_for("schedule"))]
    assert [p.command for p in parsed] == ["plan", "apply"]
    assert parsed[0].detailed_exitcode
    assert parsed[1].auto_approve


def test_github_applies_never_overlap_and_use_secrets() -> None:
    jobs = _workflow_jobs()
    appliers = [j for j in jobs.values() if any(a[:1] == ["apply"] for a in _job_argvs(j))]
    assert len(appliers) == 2
    groups = {j["concurrency"]["group"] for j in appliers}
    assert len(groups) == 1, "every applying job must share one concurrency group"
    assert all(j["concurrency"]["cancel-in-progress"] is False for j in appliers)
    workflow = yaml_docs(GITHUB)[0]
    envs = [workflow.get("env", {}), *(j.get("env", {}) for j in jobs.values())]
    seen = set()
    for env in envs:
        for name, value in env.items():
            if name.startswith("TENCENTCLOUD_") or name in ("PGPASSWORD", "RECONCILER_STATE"):
                seen.add(name)
                assert value == f"${{{{ secrets.{name} }}}}", f"{name} must come from secrets"
    assert {*SECRET_ENV, "RECONCILER_STATE"} <= seen


def test_gitlab_pipeline_commands_parse() -> None:
    pipeline = yaml_docs(GITLAB)[0]
    argvs = []
    for name, job in pipeline.items():
        if isinstance(job, dict) and "script" in job:
            for item in job["script"]:
                argvs.extend((name, argv) for argv in reconciler_argvs(item))
    assert len(argvs) >= 6
    parsed = {}
    for name, argv in argvs:
        parsed.setdefault(name, []).append(assert_parses(argv, f"{GITLAB.name} {name}"))
    assert any(getattr(p, "detailed_exitcode", False) for p in parsed["plan"])
    assert pipeline["apply"]["resource_group"] == pipeline["drift"]["resource_group"]


# --- what the CI examples install: the released image ----------------------------------


def test_every_github_job_runs_in_the_released_image() -> None:
    for name, job in _workflow_jobs().items():
        container = job["container"]
        assert container["image"] == PUBLISHED_IMAGE, name
        # The runner's workspace is not writable by the image's UID 10001.
        assert container["options"] == "--user 0", name
        for step in job["steps"]:
            assert "setup-python" not in step.get("uses", ""), f"{name}: nothing to install"
            assert "pip" not in step.get("run", "").split(), f"{name}: nothing to install"


def test_gitlab_jobs_run_in_the_released_image_with_a_shell() -> None:
    pipeline = yaml_docs(GITLAB)[0]
    image = pipeline["default"]["image"]
    assert image == {"name": PUBLISHED_IMAGE, "entrypoint": [""]}
    for name, job in pipeline.items():
        if isinstance(job, dict) and "script" in job:
            assert "image" not in job, f"{name}: use the default image"
            assert not any("pip" in line.split() for line in job["script"]), name


# --- the release workflow that publishes it ------------------------------------------------


def _release() -> dict[str, Any]:
    workflow: dict[str, Any] = yaml_docs(RELEASE)[0]
    return workflow


def _release_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _release()["jobs"]["publish"]["steps"]
    return steps


def test_release_runs_on_version_tags_after_the_ci_passes() -> None:
    workflow = _release()
    triggers = workflow.get("on", workflow.get(True))
    assert triggers == {"push": {"tags": ["v*"]}}
    jobs = workflow["jobs"]
    assert jobs["publish"]["needs"] == ["test", "floors"]
    assert any(step.get("run") == ".ci/run" for step in jobs["test"]["steps"])
    assert any(step.get("run") == "./scripts/test-floors.sh" for step in jobs["floors"]["steps"])
    assert jobs["publish"]["permissions"] == {"contents": "write", "packages": "write"}


def test_release_refuses_a_tag_that_is_not_the_declared_version() -> None:
    check = next(s["run"] for s in _release_steps() if s.get("id") == "version")
    assert "reconciler.__version__" in check
    assert '"$GITHUB_REF_NAME" != "v$version"' in check and "exit 1" in check
    # Published as ghcr.io/<owner, lower case>/trtc-ingest-reconciler: the examples'
    # PUBLISHED_IMAGE with the owner of the user's copy.
    assert f"image=ghcr.io/${{GITHUB_REPOSITORY_OWNER,,}}/{IMAGE_NAME}" in check


def test_release_builds_the_wheel_and_the_image_from_this_repository() -> None:
    steps = _release_steps()
    wheel = next(s["run"] for s in steps if "pip wheel" in s.get("run", ""))
    assert "--require-hashes --requirement requirements/build.txt" in wheel
    assert "--no-build-isolation" in wheel
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["context"] == "."
    assert build["with"]["push"] is True
    outputs = "${{ steps.version.outputs.image }}:${{ steps.version.outputs.version }}"
    assert build["with"]["tags"] == outputs
    publish = next(s for s in steps if "gh release create" in s.get("run", ""))
    assert "dist/*.whl" in publish["run"]
    assert publish["env"]["IMAGE"] == outputs + "@${{ steps.image.outputs.digest }}"
