"""A property of the task rules, against a model of them written here from the
manifest format: random task entries (scalars of every YAML type, tagged values,
lists, mappings with known, unknown and repeated keys, bad regions, odd SdkAppIds,
notes) under random spec defaults give exactly the tasks the model expects, and a
problem on the line of each entry the model finds fault with, and on no other."""

from __future__ import annotations

import enum
import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.domain import REGIONS, SDK_APP_ID_MAX, TASK_ID_PATTERN
from reconciler.manifest import load_manifests
from tests.manifest.helpers import HEADER

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()
_TASK_ID = re.compile(TASK_ID_PATTERN.replace("$", r"\Z"))


class Kind(enum.Enum):
    STR = "a string"
    INT = "an integer"  # value None: not written in plain decimal
    OTHER = "anything else YAML reads: a number, a boolean, null, a date, a list..."
    TAGGED = "a tag that would build an object"


@dataclass(frozen=True)
class Value:
    """A value as written in a flow mapping, and what YAML reads it as."""

    text: str
    kind: Kind
    value: str | int | None = None


FIXED_VALUES = [
    Value("yes", Kind.OTHER),
    Value("Off", Kind.OTHER),
    Value("1.5", Kind.OTHER),
    Value(".inf", Kind.OTHER),
    Value("~", Kind.OTHER),
    Value("null", Kind.OTHER),
    Value("", Kind.OTHER),
    Value("2024-06-01", Kind.OTHER),
    Value("[a]", Kind.OTHER),
    Value("{a: b}", Kind.OTHER),
    Value("017", Kind.INT),
    Value("0x10", Kind.INT),
    Value("0b11", Kind.INT),
    Value("1_400_000_001", Kind.INT, 1400000001),
    Value("+7", Kind.INT, 7),
    Value("!!int 12", Kind.INT, 12),
    Value("!!str 12345", Kind.STR, "12345"),
    Value("!!str yes", Kind.STR, "yes"),
    Value("'12345'", Kind.STR, "12345"),
    Value("relay-7", Kind.STR, "relay-7"),
    Value("R&D", Kind.STR, "R&D"),
    Value("!!python/str x", Kind.TAGGED),
    Value("!custom x", Kind.TAGGED),
    Value("!!binary aGk=", Kind.TAGGED),
]
STRINGS = st.text(alphabet="abcXYZ019-_./+=é\u200b \t\u3000", max_size=8).map(
    lambda s: Value(json.dumps(s, ensure_ascii=False), Kind.STR, s)
)
INTS = st.one_of(st.integers(-(2**64), 2**64), st.integers(1, 3), st.just(SDK_APP_ID_MAX)).map(
    lambda n: Value(str(n), Kind.INT, n)
)
REGION_VALUES = st.one_of(
    st.sampled_from(sorted(REGIONS)).map(lambda r: Value(r, Kind.STR, r)),
    st.sampled_from(["AP-MUMBAI", "ap-singapur", "mars"]).map(lambda r: Value(r, Kind.STR, r)),
)
VALUES = st.one_of(st.sampled_from(FIXED_VALUES), STRINGS, INTS, REGION_VALUES)
KEYS = st.sampled_from(["taskId", "taskId", "sdkAppId", "region", "note", "taskID", "x"])


class Not(enum.Enum):
    ABSENT = "absent"
    INVALID = "invalid"


@dataclass(frozen=True)
class Entry:
    """One entry of ``spec.tasks``: a bare value (the short form) or key-value pairs."""

    short: Value | None = None
    pairs: tuple[tuple[str, Value], ...] = ()

    @property
    def text(self) -> str:
        if self.short is not None:
            return self.short.text
        return "{" + ", ".join(f"{key}: {value.text}" for key, value in self.pairs) + "}"


ENTRIES = st.one_of(
    st.sampled_from(FIXED_VALUES).map(lambda v: Entry(short=v)),
    STRINGS.map(lambda v: Entry(short=v)),
    st.lists(st.tuples(KEYS, VALUES), max_size=5).map(lambda pairs: Entry(pairs=tuple(pairs))),
)


def task_id(value: Value) -> str | Not:
    if value.kind is Kind.STR and isinstance(value.value, str) and _TASK_ID.match(value.value):
        return value.value
    return Not.INVALID


def sdk_app_id(value: Value) -> int | Not:
    if value.kind is Kind.INT and isinstance(value.value, int):
        return value.value if 1 <= value.value <= SDK_APP_ID_MAX else Not.INVALID
    return Not.INVALID


def region(value: Value) -> str | Not:
    return value.value if value.kind is Kind.STR and value.value in REGIONS else Not.INVALID


def note(value: Value) -> str | Not:
    return value.value if value.kind is Kind.STR and isinstance(value.value, str) else Not.INVALID


Task = tuple[int, str, str, "str | None"]


def model(entry: Entry, app: int | Not, where: str | Not) -> tuple[Task | None, bool]:
    """(the task ``entry`` declares or None, whether its own line has a problem)."""
    if entry.short is not None:
        own: dict[str, Value] = {"taskId": entry.short}
        faulty = False
    else:
        own, faulty = {}, False
        for key, value in entry.pairs:
            if key in own or key not in {"taskId", "sdkAppId", "region", "note"}:
                faulty = True  # repeated (the first stands) or unknown
            else:
                own[key] = value
    found = {
        "taskId": task_id(own["taskId"]) if "taskId" in own else Not.ABSENT,
        "sdkAppId": sdk_app_id(own["sdkAppId"]) if "sdkAppId" in own else app,
        "region": region(own["region"]) if "region" in own else where,
        "note": note(own["note"]) if "note" in own else None,
    }
    if entry.short is not None and found["taskId"] is Not.INVALID:
        return None, True  # a bad bare TaskId is all there is to say of it
    if any(key in own and found[key] is Not.INVALID for key in own):
        faulty = True
    if any(found[key] is Not.ABSENT for key in ("taskId", "sdkAppId", "region")):
        faulty = True  # missing, and spec gives no default
    app_, id_, region_, note_ = (found[k] for k in ("sdkAppId", "taskId", "region", "note"))
    if not (isinstance(app_, int) and isinstance(id_, str) and isinstance(region_, str)):
        return None, faulty
    if isinstance(note_, Not):
        return None, faulty
    return (app_, id_, region_, note_), faulty


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="manifest-rules-") as directory:
        yield Path(directory)


@PROPERTY
@given(
    entries=st.lists(ENTRIES, max_size=8),
    app=st.one_of(st.none(), INTS, st.sampled_from(FIXED_VALUES)),
    where=st.one_of(st.none(), REGION_VALUES, st.sampled_from(FIXED_VALUES)),
)
def test_the_rules_accept_and_refuse_what_the_model_does(
    workdir: Path, entries: list[Entry], app: Value | None, where: Value | None
) -> None:
    spec = [f"  sdkAppId: {app.text}"] if app is not None else []
    spec += [f"  region: {where.text}"] if where is not None else []
    first_entry_line = 4 + len(spec) + 1
    text = HEADER + "spec:\n" + "".join(f"{line}\n" for line in spec)
    text += "  tasks:\n" if entries else "  tasks: []\n"
    text += "".join(f"    - {entry.text}\n" for entry in entries)
    path = workdir / f"m{next(_counter)}.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_manifests([path])

    default_app = Not.ABSENT if app is None else sdk_app_id(app)
    default_region = Not.ABSENT if where is None else region(where)
    expected_lines = set()
    line = 4  # spec's own lines: an invalid default is a problem there, once
    for default, found in ((app, default_app), (where, default_region)):
        if default is not None:
            if found is Not.INVALID:
                expected_lines.add(line)
            line += 1
    expected_tasks: list[tuple[Task, int]] = []
    first_at: set[tuple[int, str]] = set()
    for line, entry in enumerate(entries, start=first_entry_line):
        task, faulty = model(entry, default_app, default_region)
        if task is not None and (task[0], task[1]) in first_at:
            task, faulty = None, True  # the same address twice
        if task is not None:
            first_at.add((task[0], task[1]))
            expected_tasks.append((task, line))
        if faulty:
            expected_lines.add(line)

    assert [
        ((t.sdk_app_id, t.task_id, t.region, t.note), int(t.source.rpartition(":")[2]))
        for t in result.tasks
    ] == expected_tasks, text
    assert {p.line for p in result.problems} == expected_lines, (text, result.problems)


def test_the_model_knows_what_yaml_reads_each_value_as() -> None:
    """The fixed values really are what the model takes them for."""
    yaml_tag = "tag:yaml.org,2002:"
    plain = {"float", "bool", "null", "timestamp", "seq", "map"}
    for value in FIXED_VALUES:
        node = yaml.compose(f"{{k: {value.text}}}", Loader=yaml.SafeLoader)
        assert node is not None
        tag = node.value[0][1].tag
        if value.kind is Kind.STR:
            assert tag == yaml_tag + "str", value
        elif value.kind is Kind.INT:
            assert tag == yaml_tag + "int", value
        elif value.kind is Kind.OTHER:
            assert tag.removeprefix(yaml_tag) in plain, value
        else:
            assert tag.removeprefix(yaml_tag) not in plain | {"str", "int"}, value
