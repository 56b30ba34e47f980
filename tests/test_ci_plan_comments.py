"""The CI examples post the plan where the team reviews it: one pull / merge request
comment, updated on each push, the plan file kept as an artifact, and on merge
that reviewed plan applied only if the state has not moved.

Checked as far as they can be without GitHub or GitLab: both files validate
against the published workflow and pipeline schemas (vendored by
check-jsonschema); the steps run the commands they should (and those parse with
the real CLI); the GitHub scripts run under Node.js against a fake API; the
GitLab helper runs against a fake GitLab API on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from reconciler.cli.parser import build_parser
from tests.support import REPO

CI = REPO / "examples" / "ci"
GITHUB, GITLAB, HELPER = (
    CI / "github-actions.yml",
    CI / "gitlab-ci.yml",
    CI / "reconciler_gitlab.py",
)
MARKER = "<!-- trtc-ingest-reconciler plan -->"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def parsed(command: str) -> Any:
    return build_parser().parse_args(command.split()[1:])


@pytest.mark.parametrize(
    ("path", "schema"), [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")]
)
def test_examples_validate_against_the_published_schemas(path: Path, schema: str) -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(tool), "--builtin-schema", schema, str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def github_jobs() -> dict[str, Any]:
    jobs: dict[str, Any] = load(GITHUB)["jobs"]
    return jobs


def step(job: dict[str, Any], *, uses: str = "", run: str = "") -> dict[str, Any]:
    found = [
        s for s in job["steps"]
        if (uses and s.get("uses", "").startswith(uses)) or (run and run in s.get("run", ""))
    ]  # fmt: skip
    assert found, f"no step {uses or run!r}"
    return found[0]


def test_github_pull_request_comments_the_markdown_plan_and_keeps_it() -> None:
    job = github_jobs()["plan"]
    assert job["permissions"]["pull-requests"] == "write"
    plan = step(job, run="reconciler plan")
    line = next(x for x in plan["run"].splitlines() if x.startswith("reconciler plan"))
    args = parsed(line.split(">")[0].split("||")[0])
    assert args.markdown and args.detailed_exitcode and args.out == "plan.json"
    assert "> plan.md" in line and '"$GITHUB_STEP_SUMMARY"' in plan["run"]
    assert plan["if"] == "${{ !cancelled() }}"  # broken manifests get a comment too
    comment = step(job, uses="actions/github-script")
    assert MARKER in comment["with"]["script"] and "plan.md" in comment["with"]["script"]
    upload = step(job, uses="actions/upload-artifact")
    assert "plan.json" in upload["with"]["path"]
    assert upload["with"]["name"] == "reconciler-plan-pr${{ github.event.pull_request.number }}"


def test_github_merge_applies_the_reviewed_plan_only() -> None:
    job = github_jobs()["apply"]
    runs = [s["run"] for s in job["steps"] if "run" in s and "reconciler" in s["run"]]
    assert not any("reconciler plan" in run for run in runs), "the merge must not re-plan"
    assert any(run.startswith("reconciler show plan.json") for run in runs)
    apply = next(run for run in runs if "reconciler apply" in run)
    assert parsed(apply.split("|")[0]).paths == ["plan.json"]
    download = step(job, uses="actions/download-artifact")
    assert download["with"]["name"] == "reconciler-plan-pr${{ steps.reviewed.outputs.pr }}"
    assert download["with"]["run-id"] == "${{ steps.reviewed.outputs.run-id }}"
    assert job["permissions"]["actions"] == "read"


# --- the GitHub scripts, under Node.js against a fake API -----------------------------

NODE_HARNESS = r"""
const state = JSON.parse(process.argv[2]);
const calls = [];
const api = (name) => async (args) => { calls.push([name, args]); return { data: state[name] }; };
const github = {
  paginate: async (fn, args) => (await fn(args)).data,
  rest: {
    issues: { listComments: api("listComments"), updateComment: api("updateComment"),
              createComment: api("createComment") },
    repos: { listPullRequestsAssociatedWithCommit: api("pulls") },
    actions: { getWorkflowRun: api("run"), listWorkflowRuns: api("runs") },
  },
};
const outputs = {};
const core = {
  setOutput: (k, v) => { outputs[k] = v; },
  setFailed: (m) => { outputs.failed = m; },
};
const context = { repo: { owner: "o", repo: "r" }, sha: "abc", runId: 9,
                  payload: { pull_request: { number: 5, head: { sha: "0123456789" } } } };
const script = require("fs").readFileSync(process.argv[3], "utf8");
(async () => {
  await new (Object.getPrototypeOf(async function () {}).constructor)(
    "require", "github", "context", "core", script)(require, github, context, core);
  console.log(JSON.stringify({ calls, outputs }));
})();
"""


def run_script(tmp_path: Path, script: str, state: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: cannot run the github-script steps")
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    (tmp_path / "script.js").write_text(script)
    result = subprocess.run(
        [node, "harness.js", json.dumps(state), "script.js"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_github_comment_is_created_once_then_updated(tmp_path: Path) -> None:
    script = step(github_jobs()["plan"], uses="actions/github-script")["with"]["script"]
    (tmp_path / "plan.md").write_text("Plan: 1 to stop, 0 to forget, 0 unchanged.\n")
    first = run_script(tmp_path, script, {"listComments": [{"id": 1, "body": "LGTM"}]})
    [(name, args)] = [c for c in first["calls"] if c[0] != "listComments"]
    assert name == "createComment" and args["issue_number"] == 5
    assert args["body"].startswith(MARKER + "\nPlan: 1 to stop")
    existing = [{"id": 1, "body": "LGTM"}, {"id": 7, "body": MARKER + "\nold plan"}]
    second = run_script(tmp_path, script, {"listComments": existing})
    [(name, args)] = [c for c in second["calls"] if c[0] != "listComments"]
    assert name == "updateComment" and args["comment_id"] == 7


def test_github_finds_the_merged_pull_requests_last_plan_run(tmp_path: Path) -> None:
    script = step(github_jobs()["apply"], uses="actions/github-script")["with"]["script"]
    pulls = [{"number": 5, "merged_at": "2026-01-01T00:00:00Z", "head": {"sha": "h5"}}]
    runs = {
        "workflow_runs": [{"id": 41, "conclusion": "failure"}, {"id": 40, "conclusion": "success"}]
    }
    found = run_script(tmp_path, script, {"pulls": pulls, "run": {"workflow_id": 3}, "runs": runs})
    assert found["outputs"] == {"pr": "5", "run-id": "40"}
    listed = next(args for name, args in found["calls"] if name == "runs")
    assert listed["head_sha"] == "h5" and listed["workflow_id"] == 3
    none = run_script(tmp_path, script, {"pulls": [], "run": {}, "runs": runs})
    assert "no merged pull request" in none["outputs"]["failed"]


# --- GitLab -------------------------------------------------------------------------------


def gitlab_script(job: str) -> list[str]:
    return [line for item in load(GITLAB)[job]["script"] for line in item.splitlines()]


def test_gitlab_merge_request_comments_the_plan_and_the_merge_applies_it() -> None:
    pipeline = load(GITLAB)
    plan = gitlab_script("plan")
    line = next(x for x in plan if x.startswith("reconciler plan"))
    args = parsed(line.split(">")[0])
    assert args.markdown and args.detailed_exitcode and args.out == "plan.json"
    assert "python3 ci/reconciler_gitlab.py comment plan.md" in plan
    assert pipeline["plan"]["artifacts"]["when"] == "always"
    assert "plan.json" in pipeline["plan"]["artifacts"]["paths"]
    apply = gitlab_script("apply")
    assert apply[0] == "python3 ci/reconciler_gitlab.py reviewed-plan plan.json"
    assert "reconciler show plan.json" in apply
    assert not any(x.startswith("reconciler plan") for x in apply), "the merge must not re-plan"
    applied = next(x for x in apply if x.startswith("reconciler apply"))
    assert parsed(applied.split("|")[0]).paths == ["plan.json"]


class FakeGitLab:
    """Just the endpoints the helper calls, on loopback."""

    def __init__(self, *, notes: list[dict[str, Any]], plans: dict[int, bytes]) -> None:
        self.notes = notes
        self.plans = plans  # job id -> its plan.json
        self.calls: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, doc: object, content_type: str = "application/json") -> None:
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                assert self.headers["PRIVATE-TOKEN"] == "glpat-test"
                parts = urlsplit(self.path)
                path = parts.path.removeprefix("/api/v4/projects/42")
                fake.calls.append((method, path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if path == "/merge_requests/5/notes" and method == "GET":
                    page = int(parse_qs(parts.query)["page"][0])
                    return self._answer(fake.notes[(page - 1) * 100 : page * 100])
                if path == "/merge_requests/5/notes" and method == "POST":
                    fake.notes.append({"id": 1000 + len(fake.notes), **body})
                    return self._answer(fake.notes[-1])
                if path.startswith("/merge_requests/5/notes/") and method == "PUT":
                    note = next(n for n in fake.notes if str(n["id"]) == path.rsplit("/")[-1])
                    note["body"] = body["body"]
                    return self._answer(note)
                if path == "/repository/commits/c0ffee/merge_requests":
                    return self._answer([{"iid": 5}])
                if path == "/merge_requests/5/pipelines":
                    return self._answer([{"id": 77}, {"id": 70}])
                if path == "/pipelines/77/jobs":
                    return self._answer([{"id": job, "name": "plan"} for job in fake.plans])
                if path.startswith("/jobs/") and path.endswith("/artifacts/plan.json"):
                    return self._answer(
                        fake.plans[int(path.split("/")[2])], "application/octet-stream"
                    )
                self.send_error(404)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PUT(self) -> None:
                self._route("PUT")

        return Handler


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(notes=[{"id": n, "body": f"review {n}"} for n in range(150)], plans={})
    yield fake
    fake.server.shutdown()


def helper(tmp_path: Path, gitlab: FakeGitLab, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CI_API_V4_URL": gitlab.url,
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "5",
        "CI_COMMIT_SHA": "c0ffee",
        "RECONCILER_GITLAB_TOKEN": "glpat-test",
    }
    return subprocess.run(
        [sys.executable, str(HELPER), *args], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def test_gitlab_helper_keeps_one_comment_per_merge_request(
    tmp_path: Path, gitlab: FakeGitLab
) -> None:
    (tmp_path / "plan.md").write_text("Plan: 2 to stop, 0 to forget, 1 unchanged.\n")
    for _ in range(2):
        result = helper(tmp_path, gitlab, "comment", "plan.md")
        assert result.returncode == 0, result.stderr
    mine = [note for note in gitlab.notes if note["body"].startswith(MARKER)]
    assert len(mine) == 1 and mine[0]["body"].endswith(
        "Plan: 2 to stop, 0 to forget, 1 unchanged.\n"
    )
    assert ("PUT", f"/merge_requests/5/notes/{mine[0]['id']}") in gitlab.calls
    assert sum(call == ("POST", "/merge_requests/5/notes") for call in gitlab.calls) == 1


def test_gitlab_helper_fetches_the_reviewed_plan(tmp_path: Path, gitlab: FakeGitLab) -> None:
    missing = helper(tmp_path, gitlab, "reviewed-plan", "plan.json")
    assert missing.returncode != 0 and "no successful plan job" in missing.stderr
    gitlab.plans[901] = b'{"format_version": 1}\n'
    found = helper(tmp_path, gitlab, "reviewed-plan", "plan.json")
    assert found.returncode == 0, found.stderr
    assert (tmp_path / "plan.json").read_bytes() == b'{"format_version": 1}\n'
