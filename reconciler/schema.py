"""The JSON Schema (draft 2020-12) of one manifest document, as ``reconciler schema`` prints it.

Its one job is to describe, for editors and CI linters, what ``reconciler.manifest``
accepts; the two must agree, and the tests hold them to it. Pure data: no I/O.

What a schema cannot say, the loader still checks: the same address declared twice,
a ``stopAt`` on a day its month does not have, and YAML-level rules (a plain
``12345`` is an integer to YAML, so a TaskId must be quoted; an SdkAppId is written
as a plain decimal integer; no YAML tags that build objects; no alias bombs).
"""

from __future__ import annotations

from typing import Any

from reconciler.domain import (
    API_VERSION,
    KIND,
    REGIONS,
    SDK_APP_ID_MAX,
    SDK_APP_ID_MIN,
    TASK_ID_MAX_LENGTH,
    TASK_ID_PATTERN,
)
from reconciler.instant import EXAMPLE, RFC3339_PATTERN

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:trtc-ingest-reconciler:schema:reconciler/v1:StreamIngestStop"


def manifest_schema() -> dict[str, Any]:
    """A fresh JSON Schema document for one ``reconciler/v1`` ``StreamIngestStop`` manifest."""
    regions = sorted(REGIONS)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": f"{KIND} manifest ({API_VERSION})",
        "description": (
            "Declares TRTC stream-ingest (pull-stream relay) tasks that must be stopped."
            " A task's address is <sdkAppId>/<taskId> and must be unique across all"
            " manifests. Each task takes sdkAppId and region from spec unless it sets"
            " its own. In YAML, quote a TaskId that would otherwise read as a number,"
            ' boolean, null or date ("12345", "yes").'
        ),
        "type": "object",
        "required": ["apiVersion", "kind", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": KIND},
            "metadata": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "description": "Shown in messages."},
                },
            },
            "spec": {"$ref": "#/$defs/spec"},
        },
        "$defs": {
            "spec": {
                "type": "object",
                "required": ["tasks"],
                "additionalProperties": False,
                "properties": {
                    "region": {
                        "$ref": "#/$defs/region",
                        "description": "Default region of the tasks below.",
                    },
                    "sdkAppId": {
                        "$ref": "#/$defs/sdkAppId",
                        "description": "Default SdkAppId of the tasks below.",
                    },
                    "stopAt": {
                        "$ref": "#/$defs/stopAt",
                        "description": "Default stopAt of the tasks below.",
                    },
                    "tasks": {"type": "array", "items": {"$ref": "#/$defs/task"}},
                },
                # Without a default, every task must name its own (so none is a bare string).
                "allOf": [
                    _required_on_each_task_without_default("sdkAppId"),
                    _required_on_each_task_without_default("region"),
                ],
            },
            "task": {
                "oneOf": [
                    {"$ref": "#/$defs/taskId", "description": "Short form: a bare TaskId."},
                    {
                        "type": "object",
                        "required": ["taskId"],
                        "additionalProperties": False,
                        "properties": {
                            "taskId": {"$ref": "#/$defs/taskId"},
                            "sdkAppId": {"$ref": "#/$defs/sdkAppId"},
                            "region": {"$ref": "#/$defs/region"},
                            "stopAt": {"$ref": "#/$defs/stopAt"},
                            "note": {"type": "string", "description": "Free text."},
                        },
                    },
                ]
            },
            "taskId": {
                "type": "string",
                "minLength": 1,
                "maxLength": TASK_ID_MAX_LENGTH,
                "pattern": TASK_ID_PATTERN,
                "description": "The TaskId StartStreamIngest returned.",
            },
            "sdkAppId": {
                "type": "integer",
                "minimum": SDK_APP_ID_MIN,
                "maximum": SDK_APP_ID_MAX,
            },
            "region": {
                "type": "string",
                "enum": regions,
                "description": "A region StopStreamIngest is offered in.",
            },
            "stopAt": {
                "type": "string",
                "format": "date-time",
                "pattern": f"^{RFC3339_PATTERN}$",
                "description": (
                    "Not stopped before this time: RFC 3339 with an explicit UTC offset or Z,"
                    f" e.g. {EXAMPLE}. Until then the plan shows the task as a wait."
                ),
            },
        },
    }


def _required_on_each_task_without_default(key: str) -> dict[str, Any]:
    return {
        "if": {"not": {"required": [key]}},
        "then": {
            "properties": {"tasks": {"items": {"type": "object", "required": [key]}}},
        },
    }
