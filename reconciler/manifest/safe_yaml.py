"""Safe YAML: one manifest file's bytes in, its documents as YAML nodes out.

Manifests are data. Documents are composed into nodes (libyaml's composer when
PyYAML has it, else PyYAML's own) and never constructed, so no tag can build an
object or run code: a tag is only a string on a node, for the rules to judge.
Before anything is parsed, a file must be a regular file within the size limit and
valid UTF-8. While documents are composed, a per-file node budget bounds how far
they expand: an alias counts its whole target again, so an alias bomb is refused in
time linear in its text. Every failure is reported to the file's ``FileProblems``;
nothing here raises for any file content. Reads the one file and nothing else.
"""

from __future__ import annotations

import operator
import re
import sys
from collections.abc import Callable, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.manifest.problems import FileProblems, one_line
from reconciler.reading import InputTooLarge, Unreadable, read_bytes

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
#: Per-file ceiling on YAML nodes, counted as the documents expand (an alias counts
#: its whole target again). 100,000 full-form tasks need about 1,000,000.
DEFAULT_MAX_NODES = 10_000_000

#: The budget also scales with the file: a YAML node takes at least half a byte of
#: text, so only aliases can push a document past this.
_NODE_BUDGET_FLOOR = 10_000
_NODES_PER_BYTE = 2

_YAML = "tag:yaml.org,2002:"
STR = _YAML + "str"
INT = _YAML + "int"
MAP = _YAML + "map"
SEQ = _YAML + "seq"
MERGE = _YAML + "merge"
TIMESTAMP = _YAML + "timestamp"

#: What a node of each tag is, in messages. The last three come from the YAML 1.1
#: implicit resolver (``2024-01-01``, ``<<``, ``=``); none of these tags builds objects.
TAG_NAMES = {
    STR: "a string",
    INT: "an integer",
    _YAML + "float": "a number",
    _YAML + "bool": "a boolean",
    _YAML + "null": "null",
    MAP: "a mapping",
    SEQ: "a list",
    TIMESTAMP: "a date",
    MERGE: "a merge key",
    _YAML + "value": "a value key",
}
NULL = _YAML + "null"

#: Only an anchor (``&name``) lets a node count more than once, and an anchor starts
#: a token: after whitespace or a flow indicator, never inside a word like ``Q&A``.
#: (``\xbf`` ends a UTF-8 byte-order mark.) A false positive only costs a count.
_MAY_HOLD_AN_ANCHOR = re.compile(rb"(?:\A|[\s\[{,:?\-\xbf])&").search

_WITH_LIBYAML: bool = yaml.__with_libyaml__


def shown_tag(tag: str) -> str:
    """A tag as the user wrote it: ``!!binary`` rather than its full form."""
    return "!!" + tag[len(_YAML) :] if tag.startswith(_YAML) else tag


class _CountsNodes:
    """Counts the nodes a composer composes, through the two hooks PyYAML's composers
    call around each node (aliases aside) for path resolvers, which manifests never
    register. Both hooks become C callables, so counting adds no Python frame per
    node: the second takes one step of a range iterator, whose remaining length
    ``length_hint`` reads back."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self._steps = iter(range(sys.maxsize))
        self.descend_resolver = operator.is_
        self.ascend_resolver = self._steps.__next__

    @property
    def nodes_composed(self) -> int:
        return sys.maxsize - operator.length_hint(self._steps)


# (misc: the hooks' types are not those of the resolver methods they stand in for, with
# recent types-PyYAML; its floor, 6.0.12.7, sees no conflict here: unused-ignore.)
class _PureComposer(_CountsNodes, yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """PyYAML's own parser and composer with SafeLoader's tags."""


# Without libyaml this class is never used (``_composer`` picks ``_PureComposer``).
class _Composer(_CountsNodes, yaml.CSafeLoader if _WITH_LIBYAML else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's parser and composer with SafeLoader's tags, resolved cheaper.

    Tag resolution gives exactly the tags SafeLoader gives, but skips the regular
    expressions for plain scalars that no resolver could match and remembers
    repeated ones (keys, regions, SdkAppIds).
    """

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        resolvers = self.yaml_implicit_resolvers
        if None not in resolvers:  # else any plain scalar may resolve to anything
            # A closure in the instance: the composer calls it for every node.
            self.resolve = _cheaper_resolve(self, frozenset(resolvers))

    def dispose(self) -> None:
        super().dispose()
        self.__dict__.pop("resolve", None)  # the closure refers back to this composer


def _cheaper_resolve(composer: _Composer, first_chars: frozenset[str]) -> _Resolve:
    """``resolve`` for a composer, given the first characters with which a plain
    scalar may resolve to anything but a string (``yes``, ``12``, ``~``, ``<<``...)."""
    plain_tags: dict[str, str] = {}

    def resolve(kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0] or (value and value[0] not in first_chars):
                return STR  # quoted, the non-specific tag '!', or no resolver starts so
            tag = plain_tags.get(value)
            if tag is None:
                tag = plain_tags[value] = _resolve(composer, kind, value, implicit)
            return tag
        # No path resolvers (their hooks count nodes): a collection's default tag.
        return MAP if kind is MappingNode else SEQ

    return resolve


_Resolve = Callable[[type[Node], str, tuple[bool, bool]], str]
# The stubs leave it untyped; this is its real signature.
_resolve: Callable[[_Composer, type[Node], str, tuple[bool, bool]], str] = yaml.SafeLoader.resolve


def read_documents(
    path: str, *, max_file_bytes: int, max_nodes: int, problems: FileProblems
) -> Iterator[Node]:
    """The documents of the manifest file at ``path``, in order, up to the first
    problem that stops reading it (reported). Empty documents come as null scalars.

    Limits: ``max_file_bytes`` of text, checked before parsing; and a node budget of
    ``max_nodes`` or, if smaller, 10,000 plus two per byte, counted over the whole
    file as its documents expand through aliases.
    """
    data = _read(path, max_file_bytes, problems)
    if data is None or not _is_utf8(data, problems):
        return
    budget = min(max_nodes, _NODE_BUDGET_FLOOR + _NODES_PER_BYTE * len(data))
    # Without an anchor nothing expands, and the composer's count is the size; with
    # one, each document's expanded size is worked out from its shared nodes.
    may_alias = b"&" in data and _MAY_HOLD_AN_ANCHOR(data) is not None
    try:
        composer = _composer(data)
        try:
            expanded = 0
            while composer.check_node():
                root = composer.get_node()
                if root is None:  # check_node said there is one
                    return
                if may_alias:
                    expanded += _expanded_size(root, budget - expanded)
                else:
                    expanded = composer.nodes_composed
                if expanded > budget:
                    problems.at(
                        root,
                        f"document expands past the node budget of {budget:,} YAML nodes"
                        " (an alias bomb?); refused",
                        "manifests need no YAML anchors or aliases",
                    )
                    return
                yield root
        finally:
            composer.dispose()
    except yaml.YAMLError as exc:
        _report_yaml_error(exc, data, problems)
    except RecursionError:
        problems.whole_file("YAML nesting is too deep")


def _composer(data: bytes) -> _Composer | _PureComposer:
    """A composer of ``data``'s documents; only ``compose`` is ever used, never
    ``construct``."""
    if _WITH_LIBYAML:
        return _Composer(data)
    # PyYAML's reader would also accept UTF-16; it gets the checked UTF-8 text.
    return _PureComposer(data.decode("utf-8"))


def _read(path: str, max_file_bytes: int, problems: FileProblems) -> bytes | None:
    """The file's bytes, or None after reporting why it cannot be read (through the
    one bounded reader every input shares: regular files only, refused unread when
    too large)."""
    try:
        return read_bytes(path, limit=max_file_bytes, what="manifest", regular_only=True)
    except InputTooLarge as exc:
        problems.whole_file(
            f"file is larger than the limit of {exc.limit:,} bytes ({exc.size:,} bytes or more)",
            "split it into several manifest files",
        )
    except Unreadable as exc:
        problems.whole_file(exc.reason)
    return None


def _is_utf8(data: bytes, problems: FileProblems) -> bool:
    try:
        if not data.isascii():
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        problems.report(
            line,
            col,
            f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
            "manifests must be UTF-8 text",
        )
        return False
    return True


def _report_yaml_error(exc: yaml.YAMLError, data: bytes, problems: FileProblems) -> None:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        parts = [exc.problem or "", f"({exc.context})" if exc.context else ""]
        detail = one_line(" ".join(part for part in parts if part)) or "invalid YAML"
        problems.report(line, col, f"YAML syntax error: {detail}")
    elif isinstance(exc, yaml.reader.ReaderError):
        line, col = _reader_position(data, exc.position)
        code = f" (#x{exc.character:04x})" if isinstance(exc.character, int) else ""
        problems.report(line, col, f"YAML syntax error: {exc.reason}{code}")
    else:
        problems.whole_file(f"YAML error: {one_line(str(exc))}")


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
    text = data.decode("utf-8")
    offset = max(0, min(position, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1
