"""The manifest rules: what a document, its spec and each of its tasks must be.

YAML nodes in, ``DesiredTask`` values out, and every problem reported to the file's
``FileProblems``, never raised. Each rule is written once, as one function that
returns the value it accepts or reports why not and returns INVALID; the short and
the full form of a task go through the same functions, and there is no other path.
Nothing is converted: a scalar is judged by its resolved tag, so a plain ``12345``
where a TaskId belongs is refused with a hint to quote it. No I/O.

A task key that ``spec`` may set for all its tasks (``sdkAppId``, ``region``,
``stopAt``) is read once per document into ``_Defaults`` (ABSENT when spec lacks
it), and in ``_tasks`` from each entry, falling back to that default. Adding such a
key means: a rule for its value, the key in ``_SPEC_KEYS`` and ``_TASK_KEYS``, a
field of ``_Defaults`` read in ``_spec``, and in ``_tasks`` its own node, the
fallback, and one more INVALID check.

A ``stopAt`` is read from its text as written, whether YAML resolved it as a
timestamp (plain) or a string (quoted): YAML's own conversion would drop the offset.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.domain import (
    API_VERSION,
    KIND,
    REGIONS,
    SDK_APP_ID_MAX,
    SDK_APP_ID_MIN,
    DesiredTask,
    format_address,
    task_id_ok,
    task_id_problem,
)
from reconciler.instant import EXAMPLE, Instant, InvalidTime, parse_time
from reconciler.manifest.problems import FileProblems, fits_shown, show, suggest
from reconciler.manifest.safe_yaml import (
    INT,
    MAP,
    MERGE,
    NULL,
    SEQ,
    STR,
    TAG_NAMES,
    TIMESTAMP,
    shown_tag,
)
from reconciler.text import printable


@dataclass(frozen=True, slots=True)
class _Keys:
    """The keys a mapping may have, in the order messages list them, and the place
    of each in what ``_fields`` returns."""

    names: tuple[str, ...]
    place: dict[str, int]


def _keys(*names: str) -> _Keys:
    return _Keys(names, {name: place for place, name in enumerate(names)})


_DOCUMENT_KEYS = _keys("apiVersion", "kind", "metadata", "spec")
_METADATA_KEYS = _keys("name")
_SPEC_KEYS = _keys("region", "sdkAppId", "stopAt", "tasks")
_TASK_KEYS = _keys("taskId", "sdkAppId", "region", "stopAt", "note")

_REGIONS_SORTED = tuple(sorted(REGIONS))
#: YAML 1.1 decimal integers; its octal (``017``), hex, binary and base-60 forms are
#: refused for SdkAppIds rather than silently read in another base.
_decimal = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)").fullmatch


class _Not(enum.Enum):
    """Why there is no value for a key."""

    ABSENT = "absent"  # the mapping has no such key
    INVALID = "invalid"  # the value is wrong, and that is reported


ABSENT: Final = _Not.ABSENT
INVALID: Final = _Not.INVALID
_T = TypeVar("_T")
#: A scalar rule: the value ``node`` holds as ``what``, or INVALID after reporting why not.
_Rule = Callable[[Node, str, FileProblems], "_T | Literal[_Not.INVALID]"]


class Declared:
    """The tasks declared so far, in order, and where each address was first declared."""

    def __init__(self) -> None:
        self.tasks: list[DesiredTask] = []
        # (sdkAppId, taskId) identifies a task exactly as its address does, and
        # costs less than formatting the address for every task.
        self.first_at: dict[tuple[int, str], str] = {}


def check_document(root: Node, *, problems: FileProblems, declared: Declared) -> None:
    """Check one manifest document; its tasks go to ``declared``."""
    if root.__class__ is ScalarNode and root.tag == NULL:
        return  # an empty document
    if not _expect(root, MappingNode, MAP, "a manifest document", "a mapping", problems):
        return
    api_version, kind, metadata, spec = _fields(root, _DOCUMENT_KEYS, problems)
    ours = True
    for key, node, wanted in (("apiVersion", api_version, API_VERSION), ("kind", kind, KIND)):
        if node is None:
            problems.at(root, f"missing required key {key!r}", f"add '{key}: {wanted}'")
        elif not (node.__class__ is ScalarNode and node.tag == STR and node.value == wanted):
            ours = False
            if _expect(node, ScalarNode, STR, key, "a string", problems):
                problems.at(node, f"{key} must be {wanted!r}, not {show(node.value)}")
    if metadata is not None and _expect(
        metadata, MappingNode, MAP, "metadata", "a mapping", problems
    ):
        (name,) = _fields(metadata, _METADATA_KEYS, problems)
        if name is not None:
            _expect(name, ScalarNode, STR, "metadata.name", "a string", problems)
    if spec is None:
        problems.at(root, "missing required key 'spec'", "add 'spec:' with 'tasks:'")
    elif ours:  # a document of another kind would only drown its real problem
        _spec(spec, problems, declared)


@dataclass(frozen=True, slots=True)
class _Defaults:
    """What ``spec`` gives each of its tasks: a value, ABSENT, or INVALID (reported
    once, in spec, not again for each task)."""

    sdk_app_id: int | Literal[_Not.ABSENT, _Not.INVALID]
    region: str | Literal[_Not.ABSENT, _Not.INVALID]
    stop_at: Instant | Literal[_Not.ABSENT, _Not.INVALID]


def _spec(spec: Node, problems: FileProblems, declared: Declared) -> None:
    if not _expect(spec, MappingNode, MAP, "spec", "a mapping", problems):
        return
    region, sdk_app_id, stop_at, tasks = _fields(spec, _SPEC_KEYS, problems)
    defaults = _Defaults(
        sdk_app_id=_default(sdk_app_id, "spec.sdkAppId", _sdk_app_id, problems),
        region=_default(region, "spec.region", _region, problems),
        stop_at=_default(stop_at, "spec.stopAt", _stop_at, problems),
    )
    if tasks is None:
        problems.at(
            spec, "missing required key 'tasks' in spec", "list the TaskIds to stop under 'tasks:'"
        )
    elif _expect(tasks, SequenceNode, SEQ, "spec.tasks", "a list", problems):
        _tasks(tasks.value, defaults, problems, declared)


def _default(
    node: Node | None,
    what: str,
    rule: _Rule[_T],
    problems: FileProblems,
) -> _T | Literal[_Not.ABSENT, _Not.INVALID]:
    return ABSENT if node is None else rule(node, what, problems)


def _tasks(
    entries: list[Node], defaults: _Defaults, problems: FileProblems, declared: Declared
) -> None:
    """Declare the task of each entry of ``spec.tasks``, reporting every problem of
    each; the hot loop, with up to 100,000 entries, so written out in one function."""
    first_at = declared.first_at
    append = declared.tasks.append
    default_app, default_region = defaults.sdk_app_id, defaults.region
    default_stop = None if defaults.stop_at is ABSENT else defaults.stop_at
    # What plans, state and Markdown comments show: no raw control character.
    shown_file = printable(problems.file)
    for entry in entries:
        if entry.__class__ is ScalarNode:  # the short form: a TaskId, the rest from spec
            task_id = _task_id(entry, problems)
            if task_id is INVALID:
                continue
            own_app = own_region = own_stop = own_note = None
        elif entry.__class__ is MappingNode and entry.tag == MAP:
            own_id, own_app, own_region, own_stop, own_note = _fields(entry, _TASK_KEYS, problems)
            if own_id is None:
                problems.at(entry, "task has no 'taskId'", "add 'taskId: \"...\"'")
            task_id = INVALID if own_id is None else _task_id(own_id, problems)
        else:
            if _allowed_tag(entry, problems):
                problems.at(
                    entry,
                    "a task must be a TaskId string or a mapping with 'taskId',"
                    f" not {_kind(entry)}",
                )
            continue
        # A key spec may give: the task's own value, else spec's.
        app = default_app if own_app is None else _sdk_app_id(own_app, "sdkAppId", problems)
        if app is ABSENT:
            app = _missing(entry, "sdkAppId", problems)
        region = default_region if own_region is None else _region(own_region, "region", problems)
        if region is ABSENT:
            region = _missing(entry, "region", problems)
        stop_at = default_stop if own_stop is None else _stop_at(own_stop, "stopAt", problems)
        note = None if own_note is None else _string(own_note, "note", problems)
        if (
            task_id is INVALID
            or app is INVALID
            or region is INVALID
            or stop_at is INVALID
            or note is INVALID
        ):
            continue
        source = f"{shown_file}:{entry.start_mark.line + 1}"
        # The same address twice: the first declaration stands, the second is reported.
        first = first_at.setdefault((app, task_id), source)
        if first is not source:
            problems.at(
                entry,
                f"task {format_address(app, task_id)} is declared twice; first at {first}",
                "remove one of the two declarations",
            )
            continue
        append(DesiredTask(app, task_id, region, source, note, stop_at))


def _missing(entry: Node, key: str, problems: FileProblems) -> Literal[_Not.INVALID]:
    """Report that neither the task nor spec gives ``key``."""
    problems.at(entry, f"task has no {key}", f"set spec.{key} or the task's own {key}")
    return INVALID


# -- scalar rules: the value a node holds, or INVALID after reporting why not -----


def _task_id(node: Node, problems: FileProblems) -> str | Literal[_Not.INVALID]:
    if node.__class__ is ScalarNode and node.tag == STR:
        task_id: str = node.value
        if task_id_ok(task_id):
            return task_id
        problem = task_id_problem(task_id)  # the one TaskId rule, with its words
        if problem is not None:
            problems.at(node, problem.message, problem.hint)
        return INVALID
    _string(node, "taskId", problems)
    return INVALID


def _sdk_app_id(node: Node, what: str, problems: FileProblems) -> int | Literal[_Not.INVALID]:
    """A plain decimal YAML integer in range; nothing else is converted."""
    if node.__class__ is ScalarNode and node.tag == INT:
        text: str = node.value
        # Longer than any int64 (and than what int() converts quickly): out of range.
        if len(text) <= 40 and _decimal(text):
            value = int(text.replace("_", ""))
            if SDK_APP_ID_MIN <= value <= SDK_APP_ID_MAX:
                return value
        if _decimal(text):
            problems.at(
                node,
                f"{what} {show(text, quote=False)} is out of range"
                f" ({SDK_APP_ID_MIN}..{SDK_APP_ID_MAX})",
            )
        else:
            problems.at(
                node,
                f"{what} {show(text, quote=False)} is not a plain decimal integer",
                "write it in decimal, without leading zeros",
            )
        return INVALID
    if _allowed_tag(node, problems):
        hint = None
        if node.__class__ is ScalarNode and node.tag == STR and node.value.strip().isdigit():
            hint = f"write it without quotes: {node.value.strip()}"
        problems.at(node, f"{what} must be an integer, not {_kind(node)}", hint)
    return INVALID


def _region(node: Node, what: str, problems: FileProblems) -> str | Literal[_Not.INVALID]:
    if node.__class__ is ScalarNode and node.tag == STR:
        name: str = node.value
        if name in REGIONS:
            return name
        problems.at(
            node,
            f"unknown region {show(name)}",
            suggest(name, _REGIONS_SORTED, "accepted regions"),
        )
    elif _allowed_tag(node, problems):
        problems.at(
            node,
            f"{what} must be a string, not {_kind(node)}",
            f"accepted regions: {', '.join(_REGIONS_SORTED)}",
        )
    return INVALID


def _stop_at(node: Node, what: str, problems: FileProblems) -> Instant | Literal[_Not.INVALID]:
    """An RFC 3339 time with an explicit offset, plain (a YAML timestamp) or quoted."""
    if node.__class__ is ScalarNode and (node.tag == TIMESTAMP or node.tag == STR):
        text: str = node.value
        try:
            return parse_time(text)
        except InvalidTime as exc:
            problems.at(node, f"{what} {show(text)} {exc.reason}", exc.hint)
    elif _allowed_tag(node, problems):
        hint = f'e.g. "{EXAMPLE}"'
        if node.tag == NULL:  # no value means "no schedule" only by leaving the key out
            hint = "leave stopAt out: the task then stops at once, or at spec.stopAt if set"
        problems.at(
            node, f"{what} must be an RFC 3339 time with an offset, not {_kind(node)}", hint
        )
    return INVALID


def _string(node: Node, what: str, problems: FileProblems) -> str | Literal[_Not.INVALID]:
    """Any string; what YAML reads as something else gets a hint to quote it."""
    if node.__class__ is ScalarNode and node.tag == STR:
        text: str = node.value
        return text
    if not _allowed_tag(node, problems):
        return INVALID
    if node.__class__ is ScalarNode and node.value != "":
        text = node.value
        quoted = json.dumps(text) if fits_shown(text) else "the value"
        problems.at(
            node,
            f"{what} must be a string, but YAML reads {show(text, quote=False)} as {_kind(node)}",
            f"quote it to keep it as text: {quoted}",
        )
    else:
        problems.at(node, f"{what} must be a string, not {_kind(node)}")
    return INVALID


# -- structure ------------------------------------------------------------------------


def _fields(node: Node, keys: _Keys, problems: FileProblems) -> list[Node | None]:
    """The value of each of ``keys`` in a mapping, in their order (None: absent);
    unknown or repeated keys are reported."""
    found: list[Node | None] = [None] * len(keys.names)
    place = keys.place
    for key, value in node.value:
        at = place.get(key.value) if key.__class__ is ScalarNode and key.tag == STR else None
        if at is None:
            _unknown_key(key, keys.names, problems)
        elif found[at] is not None:
            problems.at(key, f"duplicate key {key.value!r}", "a key may appear once in a mapping")
        else:
            found[at] = value
    return found


def _unknown_key(key: Node, allowed: tuple[str, ...], problems: FileProblems) -> None:
    if key.__class__ is ScalarNode and key.tag == MERGE:
        problems.at(
            key,
            "YAML merge keys ('<<') are not supported",
            "set spec.region and spec.sdkAppId as defaults instead",
        )
    elif not _allowed_tag(key, problems):
        return
    elif key.__class__ is not ScalarNode:
        problems.at(key, f"a key must be a string, not {_kind(key)}")
    else:
        name = str(key.value)
        problems.at(key, f"unknown key {show(name)}", suggest(name, allowed, "accepted keys"))


def _expect(
    node: Node, cls: type[Node], tag: str, what: str, expected: str, problems: FileProblems
) -> bool:
    """Whether ``node`` is of class ``cls`` with ``tag``; reports it if not."""
    if node.__class__ is cls and node.tag == tag:
        return True
    if _allowed_tag(node, problems):
        problems.at(node, f"{what} must be {expected}, not {_kind(node)}")
    return False


def _allowed_tag(node: Node, problems: FileProblems) -> bool:
    """Whether ``node`` carries a plain-data tag; reports the tag if not."""
    if node.tag in TAG_NAMES:
        return True
    problems.at(
        node,
        f"YAML tag {show(shown_tag(node.tag))} is not allowed: manifests are data",
        "remove the tag",
    )
    return False


def _kind(node: Node) -> str:
    return TAG_NAMES.get(node.tag, "a tagged node")
