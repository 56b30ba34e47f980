"""The manifest loader: YAML files in, desired tasks and every problem out.

Its one job is to turn the manifests under the given paths into ``DesiredTask``
values, collecting each problem as a ``FILE:LINE:COL`` diagnostic instead of raising.
It reads files and nothing else: no network, no database, no state, no clock. It
never raises for any file content; every failure becomes a ``Problem``.

Manifests are data. Documents are composed into YAML nodes (libyaml when available)
and validated by walking those nodes; nothing is ever constructed from a tag, so an
``!!python/...`` tag cannot run code. Scalars are judged by their resolved tag, never
converted: a plain ``12345`` where a TaskId belongs is refused with a hint to quote it.
Alias bombs are refused by counting how far a document expands (shared nodes count
once per use) against a per-file node budget, and files over a size limit are refused
before they are parsed.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.domain import (
    API_VERSION,
    KIND,
    REGIONS,
    SDK_APP_ID_MAX,
    SDK_APP_ID_MIN,
    TASK_ID_CHAR,
    TASK_ID_MAX_LENGTH,
    DesiredTask,
    Problem,
    format_address,
    task_id_problem,
)
from reconciler.reading import InputTooLarge, Unreadable, read_bytes

MANIFEST_SUFFIXES = (".yaml", ".yml")

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
#: Per-file ceiling on YAML nodes, counted as the document expands (an alias counts
#: its whole target again). 100,000 full-form tasks need about 1,000,000.
DEFAULT_MAX_NODES = 10_000_000
DEFAULT_MAX_PROBLEMS = 100

#: The budget also scales with the file: a YAML node takes at least half a byte of
#: text, so only aliases can push a document past this.
_NODE_BUDGET_FLOOR = 10_000
_NODES_PER_BYTE = 2

_task_id_ok = re.compile(f"{TASK_ID_CHAR}{{1,{TASK_ID_MAX_LENGTH}}}").fullmatch

_YAML = "tag:yaml.org,2002:"
_STR = _YAML + "str"
_INT = _YAML + "int"
_FLOAT = _YAML + "float"
_BOOL = _YAML + "bool"
_NULL = _YAML + "null"
_MAP = _YAML + "map"
_SEQ = _YAML + "seq"
_TIMESTAMP = _YAML + "timestamp"
_MERGE = _YAML + "merge"
_VALUE = _YAML + "value"

#: What a scalar of each tag is, in messages. The last three come from the YAML 1.1
#: implicit resolver (``2024-01-01``, ``<<``, ``=``); none of these tags builds objects.
_TAG_NAMES = {
    _STR: "a string",
    _INT: "an integer",
    _FLOAT: "a number",
    _BOOL: "a boolean",
    _NULL: "null",
    _MAP: "a mapping",
    _SEQ: "a list",
    _TIMESTAMP: "a date",
    _MERGE: "a merge key",
    _VALUE: "a value key",
}

_DOCUMENT_KEYS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_KEYS = ("name",)
_SPEC_KEYS = ("region", "sdkAppId", "tasks")
_TASK_KEYS = ("taskId", "sdkAppId", "region", "note")

_REGION_LIST = ", ".join(sorted(REGIONS))
#: YAML 1.1 decimal integers; its octal (``017``), hex, binary and base-60 forms are
#: refused for SdkAppIds rather than silently read in another base.
_decimal = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)").fullmatch
_SHOWN_CHARS = 60
#: Only an anchor (``&name``) lets a node count more than once, and an anchor starts
#: a token: after whitespace or a flow indicator, never inside a word like ``Q&A``.
#: (``\xbf`` ends a UTF-8 byte-order mark.) A false positive only costs a count.
_MAY_HOLD_AN_ANCHOR = re.compile(rb"(?:\A|[\s\[{,:?\-\xbf])&").search


_WITH_LIBYAML: bool = yaml.__with_libyaml__

if _WITH_LIBYAML:

    class _Composer(yaml.CSafeLoader):
        """libyaml's parser and composer with SafeLoader's tags, resolved cheaper.

        Only ``compose`` is used, never ``construct``. Tag resolution gives exactly
        the tags SafeLoader gives, but skips the regular expressions for plain
        scalars that no resolver could match and remembers repeated ones (keys,
        regions, SdkAppIds). Path resolvers are never registered, so the per-node
        bookkeeping for them is skipped too.
        """

        def __init__(self, stream: bytes) -> None:
            super().__init__(stream)
            self.plain_tags: dict[str, str] = {}
            resolvers = self.yaml_implicit_resolvers
            # The first characters for which a plain scalar may resolve to anything
            # but a string (``yes``, ``12``, ``~``, ``<<``, ...); None: any may.
            self.first_chars = None if None in resolvers else frozenset(resolvers)

        def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode and self.first_chars is not None:
                if not implicit[0]:
                    return _STR  # quoted, or the non-specific tag '!'
                if value and value[0] not in self.first_chars:
                    return _STR
                tag = self.plain_tags.get(value)
                if tag is None:
                    tag = self.plain_tags[value] = _resolve(self, kind, value, implicit)
                return tag
            return _resolve(self, kind, value, implicit)

        def descend_resolver(self, current_node: Node | None, current_index: object) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    # The stubs leave it untyped; this is its real signature.
    _resolve: Callable[[_Composer, type[Node], str, tuple[bool, bool]], str] = (
        yaml.CSafeLoader.resolve
    )


@dataclass(frozen=True)
class LoadResult:
    """What the manifests declare, and everything wrong with them.

    ``tasks`` come in file order, then document order, then list order. Callers
    must not plan when ``problems`` is non-empty.
    """

    tasks: tuple[DesiredTask, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...]
    truncated: bool = False  # more problems were found than max_problems

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifests(
    paths: Sequence[str | Path],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> LoadResult:
    """Read every ``*.yaml`` / ``*.yml`` under ``paths`` (each a directory, searched
    recursively, or one file) in sorted order, each file once.

    Never raises for anything found on disk: missing paths, unreadable or oversized
    files, bad encodings, YAML syntax errors, unsafe tags, alias bombs and schema
    violations all come back as problems, in file order then position order, at
    most ``max_problems`` of them (``truncated`` says when there were more).

    Limits, per file: ``max_file_bytes`` of text, checked before parsing; and a node
    budget of ``max_nodes`` or, if smaller, 10,000 plus two per byte of the file,
    counted as documents expand through aliases.
    """
    if isinstance(paths, (str, os.PathLike)):  # one path, not a sequence of characters
        paths = [paths]
    loader = _ManifestLoader(
        max_file_bytes=max_file_bytes, max_nodes=max_nodes, max_problems=max(1, max_problems)
    )
    # The walk allocates many small objects that all stay alive until the end;
    # generational GC passes over them would cost more than the parse itself. The
    # result is built, and the loader's own bookkeeping dropped, before GC resumes.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        loader.run(paths)
        result = loader.result()
        del loader
    finally:
        if gc_was_enabled:
            gc.enable()
    return result


@dataclass(frozen=True, slots=True)
class _Defaults:
    """What a document's ``spec`` gives its tasks; ``need_*``: the key was absent."""

    app: int | None
    region: str | None
    need_app: bool
    need_region: bool


class _TooManyProblems(Exception):
    """Internal: the problem cap is reached; stop looking."""


class _OverBudget(Exception):
    """Internal: the current file expands past its node budget."""


class _ManifestLoader:
    """One run of ``load_manifests``: the files, the tasks and the problems so far."""

    def __init__(self, *, max_file_bytes: int, max_nodes: int, max_problems: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.max_nodes = max_nodes
        self.max_problems = max_problems
        self.tasks: list[DesiredTask] = []
        # (sdkAppId, taskId) -> source of its first declaration
        self.declared: dict[tuple[int, str], str] = {}
        self.files: list[str] = []
        # (file ordinal, line, col, arrival) sorts problems by place, stably.
        self.problems: list[tuple[int, int, int, int, Problem]] = []
        self.truncated = False
        self.file = ""
        self.file_ordinal = 0
        self.budget = 0
        self.spent = 0
        self.document_line = 0
        self.document_col = 0

    # -- results ---------------------------------------------------------------

    def result(self) -> LoadResult:
        self.problems.sort(key=lambda entry: entry[:4])
        return LoadResult(
            tasks=tuple(self.tasks),
            problems=tuple(entry[4] for entry in self.problems),
            files=tuple(self.files),
            truncated=self.truncated,
        )

    def report(self, line: int, col: int, message: str, hint: str | None = None) -> None:
        if len(self.problems) >= self.max_problems:
            self.truncated = True
            raise _TooManyProblems
        problem = Problem(self.file, line, col, message, hint)
        self.problems.append((self.file_ordinal, line, col, len(self.problems), problem))

    def report_at(self, node: Node, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        self.report(mark.line + 1, mark.column + 1, message, hint)

    # -- files -----------------------------------------------------------------

    def run(self, paths: Sequence[str | Path]) -> None:
        with contextlib.suppress(_TooManyProblems):  # ``truncated`` says so
            self.load_all(paths)

    def load_all(self, paths: Sequence[str | Path]) -> None:
        found = list(self.discover(paths))
        if not found and not self.problems:
            self.file = ", ".join(os.fspath(p) for p in paths) or "."
            self.report(0, 0, "no manifest files (*.yaml, *.yml) found")
        for ordinal, name in enumerate(found, start=1):
            self.file = name
            self.file_ordinal = ordinal
            self.files.append(name)
            self.load_file(name)

    def discover(self, paths: Sequence[str | Path]) -> Iterator[str]:
        """Each manifest file once, named as the user gave its path, in reading order."""
        seen: set[str] = set()
        for given in paths:
            for name in self.files_under(os.fspath(given)):
                real = os.path.realpath(name)
                if real not in seen:
                    seen.add(real)
                    yield name

    def files_under(self, shown: str) -> list[str]:
        try:
            info = os.stat(shown)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            self.file = shown
            self.report(0, 0, _os_message(exc))
            return []
        if not stat.S_ISDIR(info.st_mode):
            return [shown]

        def walk_error(exc: OSError) -> None:
            self.file = exc.filename or shown
            self.report(0, 0, _os_message(exc))

        names: list[tuple[tuple[str, ...], str]] = []
        for root, dirs, files in os.walk(shown, onerror=walk_error):
            # Hidden folders are not manifests: .git, and the timestamped copies
            # (..2024_…, ..data) a Kubernetes ConfigMap mount links its files to.
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.endswith(MANIFEST_SUFFIXES):
                    path = os.path.join(root, name)
                    names.append((Path(os.path.relpath(path, shown)).parts, path))
        names.sort()
        return [path for _, path in names]

    def load_file(self, path: str) -> None:
        data = self.read(path)
        if data is None:
            return
        try:
            if not data.isascii():
                data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, col = _line_col(data, exc.start)
            self.report(
                line,
                col,
                f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
                "manifests must be UTF-8 text",
            )
            return
        self.budget = min(self.max_nodes, _NODE_BUDGET_FLOOR + _NODES_PER_BYTE * len(data))
        self.spent = 0
        # Two counts against the same budget: how far the documents expand through
        # aliases (only worth computing when there may be an anchor), and how many
        # nodes the walk below visits (``self.spent``).
        may_alias = b"&" in data and _MAY_HOLD_AN_ANCHOR(data) is not None
        expanded = 0
        try:
            for root in _compose_all(data):
                self.document_line = root.start_mark.line + 1
                self.document_col = root.start_mark.column + 1
                if may_alias:
                    expanded += _expanded_size(root, self.budget - expanded)
                    if expanded > self.budget:
                        raise _OverBudget
                self.document(root)
        except _OverBudget:
            self.report(
                self.document_line,
                self.document_col,
                f"document expands past the node budget of {self.budget:,} YAML nodes"
                " (an alias bomb?); refused",
                "manifests need no YAML anchors or aliases",
            )
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            self.report(line, col, f"YAML syntax error: {_yaml_problem(exc)}")
        except yaml.reader.ReaderError as exc:
            line, col = _reader_position(data, exc.position)
            detail = f" (#x{exc.character:04x})" if isinstance(exc.character, int) else ""
            self.report(line, col, f"YAML syntax error: {exc.reason}{detail}")
        except yaml.YAMLError as exc:
            self.report(0, 0, f"YAML error: {_one_line(str(exc))}")
        except RecursionError:
            self.report(0, 0, "YAML nesting is too deep")

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None after reporting why it cannot be read (through the
        one bounded reader every input shares)."""
        try:
            return read_bytes(path, limit=self.max_file_bytes, what="manifest", regular_only=True)
        except InputTooLarge as exc:
            message = _too_large(exc.size, exc.limit)
            self.report(0, 0, message, "split it into several manifest files")
        except Unreadable as exc:
            self.report(0, 0, exc.reason)
        return None

    # -- documents -------------------------------------------------------------

    def document(self, root: Node) -> None:
        if root.__class__ is ScalarNode and root.tag == _NULL:
            return  # an empty document
        if not self.expect(root, MappingNode, _MAP, "a manifest document", "a mapping"):
            return
        fields = self.fields(root, _DOCUMENT_KEYS)
        ours = True
        for key, wanted in (("apiVersion", API_VERSION), ("kind", KIND)):
            node = fields.get(key)
            if node is None:
                self.report_at(root, f"missing required key {key!r}", f"add '{key}: {wanted}'")
            elif not (node.__class__ is ScalarNode and node.tag == _STR and node.value == wanted):
                ours = False
                if self.expect(node, ScalarNode, _STR, key, "a string"):
                    self.report_at(node, f"{key} must be {wanted!r}, not {_show(node.value)}")
        metadata = fields.get("metadata")
        if metadata is not None and self.expect(
            metadata, MappingNode, _MAP, "metadata", "a mapping"
        ):
            name = self.fields(metadata, _METADATA_KEYS).get("name")
            if name is not None:
                self.expect(name, ScalarNode, _STR, "metadata.name", "a string")
        spec = fields.get("spec")
        if spec is None:
            self.report_at(root, "missing required key 'spec'", "add 'spec:' with 'tasks:'")
        elif ours:  # a document of another kind would only drown its real problem
            self.spec(spec)

    def spec(self, spec: Node) -> None:
        if not self.expect(spec, MappingNode, _MAP, "spec", "a mapping"):
            return
        fields = self.fields(spec, _SPEC_KEYS)
        app_node = fields.get("sdkAppId")
        default_app = None if app_node is None else self.sdk_app_id(app_node, "spec.sdkAppId")
        region_node = fields.get("region")
        default_region = None if region_node is None else self.region(region_node, "spec.region")
        tasks = fields.get("tasks")
        if tasks is None:
            self.report_at(
                spec,
                "missing required key 'tasks' in spec",
                "list the TaskIds to stop under 'tasks:'",
            )
        elif self.expect(tasks, SequenceNode, _SEQ, "spec.tasks", "a list"):
            self.task_list(
                tasks,
                _Defaults(
                    app=default_app,
                    region=default_region,
                    # A default that is present but invalid is reported once, not per task.
                    need_app=app_node is None,
                    need_region=region_node is None,
                ),
            )

    def task_list(self, tasks: Node, defaults: _Defaults) -> None:
        # The hot loop: up to 100,000 entries. The common cases (a valid bare
        # TaskId; a small mapping of known keys with valid plain values) are decided
        # inline; anything else goes to ``task_entry``, which reports every problem.
        declared = self.declared
        append = self.tasks.append
        file = self.file
        budget = self.budget
        spent = self.spent
        default_app = defaults.app
        default_region = defaults.region
        fast_short = default_app is not None and default_region is not None
        app: int | None
        region: str | None
        note: str | None
        task_id: str
        for item in tasks.value:
            spent += 1
            fast = False
            if item.__class__ is ScalarNode:
                task_id = item.value
                if item.tag == _STR and fast_short and _task_id_ok(task_id):
                    app, region, note = default_app, default_region, None
                    fast = True
            elif item.__class__ is MappingNode and item.tag == _MAP:
                pairs = item.value
                spent += 2 * len(pairs)
                id_node = app_node = region_node = note_node = None
                for key, value in pairs:
                    if key.tag != _STR or value.__class__ is not ScalarNode:
                        break
                    name = key.value
                    if name == "taskId" and id_node is None:
                        id_node = value
                    elif name == "sdkAppId" and app_node is None:
                        app_node = value
                    elif name == "region" and region_node is None:
                        region_node = value
                    elif name == "note" and note_node is None:
                        note_node = value
                    else:
                        break
                else:
                    if id_node is not None and id_node.tag == _STR:
                        task_id = id_node.value
                        fast = _task_id_ok(task_id) is not None
                    app = default_app if app_node is None else _sdk_app_id_value(app_node)
                    if region_node is None:
                        region = default_region
                    elif region_node.tag == _STR and region_node.value in REGIONS:
                        region = region_node.value
                    else:
                        region = None
                    if note_node is None:
                        note = None
                    elif note_node.tag == _STR:
                        note = note_node.value
                    else:
                        fast = False
            if spent > budget:
                raise _OverBudget
            if not fast or app is None or region is None:
                entry = self.task_entry(item, defaults)
                if entry is None:
                    continue
                app, task_id, region, note = entry
            source = f"{file}:{item.start_mark.line + 1}"
            # (sdkAppId, taskId) identifies a task exactly as its address does, and
            # costs less than formatting the address for every task.
            first = declared.setdefault((app, task_id), source)
            if first is not source:
                self.report_at(
                    item,
                    f"task {format_address(app, task_id)} is declared twice; first at {first}",
                    "remove one of the two declarations",
                )
                continue
            append(DesiredTask(app, task_id, region, source, note))
        self.spent = spent

    def task_entry(
        self, item: Node, defaults: _Defaults
    ) -> tuple[int, str, str, str | None] | None:
        """(sdkAppId, taskId, region, note) of one task entry, or None after reporting
        every problem it has."""
        if item.__class__ is ScalarNode and item.tag == _STR:
            if _task_id_ok(item.value) is None:
                self.bad_task_id(item)
                return None
            fields: dict[str, Node] = {}
        elif item.__class__ is MappingNode and item.tag == _MAP:
            fields = self.fields(item, _TASK_KEYS)
        else:
            self.bad_task_entry(item)
            return None
        valid = True
        task_id = ""
        if item.__class__ is ScalarNode:
            task_id = item.value
        else:
            node = fields.get("taskId")
            if node is None:
                self.report_at(item, "task has no 'taskId'", "add 'taskId: \"...\"'")
                valid = False
            elif node.__class__ is ScalarNode and node.tag == _STR and _task_id_ok(node.value):
                task_id = node.value
            else:
                self.bad_task_id(node)
                valid = False
        node = fields.get("sdkAppId")
        app = defaults.app if node is None else self.sdk_app_id(node, "sdkAppId")
        if app is None and node is None and defaults.need_app:
            self.missing_default(item, "sdkAppId")
        node = fields.get("region")
        region = defaults.region if node is None else self.region(node, "region")
        if region is None and node is None and defaults.need_region:
            self.missing_default(item, "region")
        node = fields.get("note")
        note = None
        if node is not None:
            if node.__class__ is ScalarNode and node.tag == _STR:
                note = node.value
            else:
                self.not_a_string(node, "note")
                valid = False
        if not valid or app is None or region is None:
            return None
        return app, task_id, region, note

    # -- checks ----------------------------------------------------------------

    def fields(self, node: Node, allowed: tuple[str, ...]) -> dict[str, Node]:
        """The values of a mapping's known keys; unknown or repeated keys are reported."""
        found: dict[str, Node] = {}
        for key, value in node.value:
            if key.__class__ is ScalarNode and key.tag == _STR and key.value in allowed:
                name = key.value
                if name in found:
                    self.report_at(
                        key, f"duplicate key {name!r}", "a key may appear once in a mapping"
                    )
                else:
                    found[name] = value
            else:
                self.unknown_key(key, allowed)
        return found

    def unknown_key(self, key: Node, allowed: tuple[str, ...]) -> None:
        if key.__class__ is ScalarNode and key.tag == _MERGE:
            self.report_at(
                key,
                "YAML merge keys ('<<') are not supported",
                "set spec.region and spec.sdkAppId as defaults instead",
            )
            return
        if not self.allowed_tag(key):
            return
        if key.__class__ is not ScalarNode:
            self.report_at(key, f"a key must be a string, not {_TAG_NAMES.get(key.tag, 'a node')}")
            return
        name = str(key.value)
        self.report_at(key, f"unknown key {_show(name)}", _suggest(name, allowed, "accepted keys"))

    def allowed_tag(self, node: Node) -> bool:
        """Whether ``node`` carries a plain-data tag; reports the tag if not."""
        if node.tag in _TAG_NAMES:
            return True
        tag = node.tag
        shown = "!!" + tag[len(_YAML) :] if tag.startswith(_YAML) else tag
        self.report_at(
            node, f"YAML tag {_show(shown)} is not allowed: manifests are data", "remove the tag"
        )
        return False

    def expect(self, node: Node, cls: type[Node], tag: str, what: str, expected: str) -> bool:
        """Whether ``node`` is of class ``cls`` with ``tag``; reports it if not."""
        if node.__class__ is cls and node.tag == tag:
            return True
        if self.allowed_tag(node):
            self.report_at(node, f"{what} must be {expected}, not {_kind(node)}")
        return False

    def not_a_string(self, node: Node, what: str) -> None:
        if not self.allowed_tag(node):
            return
        if node.__class__ is ScalarNode and node.value != "":
            text: str = node.value
            quoted = json.dumps(text) if len(text) <= _SHOWN_CHARS else "the value"
            self.report_at(
                node,
                f"{what} must be a string, but YAML reads {_show(text, quote=False)}"
                f" as {_kind(node)}",
                f"quote it to keep it as text: {quoted}",
            )
        else:
            self.report_at(node, f"{what} must be a string, not {_kind(node)}")

    def bad_task_id(self, node: Node) -> None:
        if not (node.__class__ is ScalarNode and node.tag == _STR):
            self.not_a_string(node, "taskId")
            return
        problem = task_id_problem(node.value)  # the one TaskId rule, with its words
        if problem is not None:
            self.report_at(node, problem.message, problem.hint)

    def bad_task_entry(self, node: Node) -> None:
        if node.__class__ is ScalarNode:
            self.not_a_string(node, "taskId")
        elif self.allowed_tag(node):
            self.report_at(
                node,
                f"a task must be a TaskId string or a mapping with 'taskId', not {_kind(node)}",
            )

    def missing_default(self, item: Node, key: str) -> None:
        self.report_at(item, f"task has no {key}", f"set spec.{key} or the task's own {key}")

    def sdk_app_id(self, node: Node, what: str) -> int | None:
        """The SdkAppId ``node`` holds, or None after reporting why it is not one."""
        value = _sdk_app_id_value(node)
        if value is not None:
            return value
        if node.__class__ is ScalarNode and node.tag == _INT:
            text = _show(node.value, quote=False)
            if _decimal(node.value):
                self.report_at(
                    node, f"{what} {text} is out of range ({SDK_APP_ID_MIN}..{SDK_APP_ID_MAX})"
                )
            else:
                self.report_at(
                    node,
                    f"{what} {text} is not a plain decimal integer",
                    "write it in decimal, without leading zeros",
                )
            return None
        if not self.allowed_tag(node):
            return None
        hint = None
        if node.__class__ is ScalarNode and node.tag == _STR and node.value.strip().isdigit():
            hint = f"write it without quotes: {node.value.strip()}"
        self.report_at(node, f"{what} must be an integer, not {_kind(node)}", hint)
        return None

    def region(self, node: Node, what: str) -> str | None:
        """The region ``node`` names, or None after reporting why it is not one."""
        if node.__class__ is ScalarNode and node.tag == _STR:
            name: str = node.value
            if name in REGIONS:
                return name
            self.report_at(
                node,
                f"unknown region {_show(name)}",
                _suggest(name, tuple(sorted(REGIONS)), "accepted regions"),
            )
            return None
        if self.allowed_tag(node):
            self.report_at(
                node,
                f"{what} must be a string, not {_kind(node)}",
                f"accepted regions: {_REGION_LIST}",
            )
        return None


# -- helpers -----------------------------------------------------------------------


def _compose_all(data: bytes) -> Iterator[Node]:
    if _WITH_LIBYAML:
        yield from yaml.compose_all(data, Loader=_Composer)
    else:  # PyYAML's own reader would also accept UTF-16; it gets checked UTF-8 text
        yield from yaml.compose_all(data.decode("utf-8"), Loader=yaml.SafeLoader)


def _expanded_size(root: Node, limit: int) -> int:
    """How many nodes ``root`` has once every alias is expanded, stopping past ``limit``.

    Shared nodes are sized once and reused, so this takes time linear in the distinct
    nodes however far they would expand. A cycle expands without end: ``limit + 1``.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            in_progress.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                return limit + 1
            sizes[key] = size
        elif key in sizes:
            continue
        elif key in in_progress:
            return limit + 1  # a node that contains itself
        elif node.__class__ is ScalarNode:
            sizes[key] = 1
        else:
            in_progress.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _sdk_app_id_value(node: Node) -> int | None:
    """The SdkAppId a node holds if it is a valid one: a plain decimal YAML integer
    in range. Never converts anything else."""
    if node.__class__ is not ScalarNode or node.tag != _INT:
        return None
    text: str = node.value
    # Longer than any int64 (and than what int() converts quickly): out of range.
    if len(text) > 40 or not _decimal(text):
        return None
    value = int(text.replace("_", ""))
    return value if SDK_APP_ID_MIN <= value <= SDK_APP_ID_MAX else None


def _kind(node: Node) -> str:
    return _TAG_NAMES.get(node.tag, "a tagged node")


def _show(text: str, *, quote: bool = True) -> str:
    """User text for a one-line message: shortened, control characters escaped."""
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    if quote or not text.isprintable():
        return repr(text)
    return text


def _suggest(name: str, choices: tuple[str, ...], listing: str) -> str:
    """A did-you-mean hint for ``name`` among ``choices``, else the list of choices."""
    by_lower = {choice.lower(): choice for choice in choices}
    lower = name.lower()
    if lower in by_lower:
        return f"did you mean {by_lower[lower]!r}?"
    close = difflib.get_close_matches(lower, list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_lower[close[0]]!r}?"
    return f"{listing}: {', '.join(choices)}"


def _too_large(size: int, limit: int) -> str:
    return f"file is larger than the limit of {limit:,} bytes ({size:,} bytes or more)"


def _os_message(exc: OSError | ValueError) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return _one_line(text).lower().rstrip(".")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    parts = [exc.problem or "", f"({exc.context})" if exc.context else ""]
    return _one_line(" ".join(part for part in parts if part)) or "invalid YAML"


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte ``offset`` in ``data``."""
    offset = max(0, min(offset, len(data)))
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace"))
    return data.count(b"\n", 0, offset) + 1, column + 1


def _reader_position(data: bytes, position: int) -> tuple[int, int]:
    """Line and column of a reader error: libyaml counts bytes, PyYAML characters."""
    if _WITH_LIBYAML:
        return _line_col(data, position)
    return _line_col_text(data.decode("utf-8"), position)


def _line_col_text(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1
