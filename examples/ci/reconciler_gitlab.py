"""The GitLab API calls of the example pipeline (gitlab-ci.yml), on Python's
standard library alone (the job image has Python, not curl or jq).

    python3 ci/reconciler_gitlab.py comment plan.md
        Create, or update, the merge request's one plan comment (found by its
        first line): reviewers see the newest plan, and pushes make no new comments.
    python3 ci/reconciler_gitlab.py reviewed-plan plan.json
        Save the plan.json of the last successful ``plan`` job of the merge request
        that the current commit merged: the plan that was reviewed.

Environment: GitLab's CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID (for
``comment``) and CI_COMMIT_SHA (for ``reviewed-plan``); RECONCILER_GITLAB_TOKEN, a
project access token with the ``api`` scope.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any

MARKER = "<!-- trtc-ingest-reconciler plan -->"
PAGE = 100


def call(method: str, path: str, body: object = None) -> Any:
    """One API call; the JSON answer (or the raw bytes of a file)."""
    api = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}"
    request = urllib.request.Request(
        api + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "PRIVATE-TOKEN": os.environ["RECONCILER_GITLAB_TOKEN"],
            "Content-Type": "application/json",
        },
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        data = answer.read()
        if answer.headers.get_content_type() == "application/json":
            return json.loads(data)
        return data


def comment(path: str) -> None:
    notes = f"/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes"
    with open(path, encoding="utf-8") as handle:
        body = f"{MARKER}\n{handle.read()}"
    page = 1
    while True:
        found = call("GET", f"{notes}?per_page={PAGE}&page={page}&sort=asc")
        mine = [note for note in found if note["body"].startswith(MARKER)]
        if mine:
            call("PUT", f"{notes}/{mine[0]['id']}", {"body": body})
            print(f"updated the plan comment (note {mine[0]['id']})")
            return
        if len(found) < PAGE:
            note = call("POST", notes, {"body": body})
            print(f"posted the plan comment (note {note['id']})")
            return
        page += 1


def reviewed_plan(path: str) -> None:
    merged = call("GET", f"/repository/commits/{os.environ['CI_COMMIT_SHA']}/merge_requests")
    if not merged:
        sys.exit(f"no merge request merged {os.environ['CI_COMMIT_SHA']}: nothing reviewed")
    iid = merged[0]["iid"]
    for pipeline in call("GET", f"/merge_requests/{iid}/pipelines"):  # newest first
        for job in call("GET", f"/pipelines/{pipeline['id']}/jobs?scope[]=success"):
            if job["name"] == "plan":
                plan = call("GET", f"/jobs/{job['id']}/artifacts/plan.json")
                with open(path, "wb") as handle:
                    handle.write(plan if isinstance(plan, bytes) else json.dumps(plan).encode())
                print(f"the plan reviewed in !{iid} (job {job['id']}) saved to {path}")
                return
        break  # only the newest pipeline of the merge request holds its reviewed plan
    sys.exit(f"no successful plan job in the newest pipeline of !{iid}: nothing reviewed")


if __name__ == "__main__":
    commands = {"comment": comment, "reviewed-plan": reviewed_plan}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} comment FILE | reviewed-plan FILE")
    commands[sys.argv[1]](sys.argv[2])
