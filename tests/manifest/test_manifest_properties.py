"""Property tests of the manifest loader: whatever the bytes, ``load_manifests``
returns a ``LoadResult`` and never raises; valid manifests round-trip; and its
libyaml composer resolves tags exactly as PyYAML's SafeLoader does."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.domain import REGIONS, SDK_APP_ID_MAX, SDK_APP_ID_MIN, DesiredTask
from reconciler.manifest import LoadResult, Problem, load_manifests, safe_yaml

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="manifest-properties-") as directory:
        yield Path(directory)


def load_bytes(directory: Path, data: bytes, **limits: int) -> LoadResult:
    path = directory / f"m{next(_counter)}.yaml"
    path.write_bytes(data)
    try:
        return load_manifests([path], **limits)
    finally:
        path.unlink()


def assert_well_formed(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    for problem in result.problems:
        assert isinstance(problem, Problem)
        assert problem.line >= 0 and problem.col >= 0
        assert "\n" not in str(problem)
    for task in result.tasks:
        assert isinstance(task, DesiredTask)
    if result.truncated:
        assert result.problems


# -- never raises ----------------------------------------------------------------------

YAML_TOKENS = [
    *"-:?[]{},&*!|>'\"%@`#~ \t\n\r.0123456789aeknoprsty",
    *["taskId", "sdkAppId", "region", "tasks", "spec", "ap-mumbai", "\n  ", "\n    - "],
    *["apiVersion: reconciler/v1\nkind: StreamIngestStop\n", "!!python/object:x", "<<"],
    *["\u00e9", "\x00", "\x85", "\ufeff", "\U0001f600", "\\u", "&a ", "*a "],
]
YAML_ISH = st.lists(st.sampled_from(YAML_TOKENS), max_size=120).map("".join)


@PROPERTY
@given(data=st.binary(max_size=400))
def test_any_bytes_give_a_result(workdir: Path, data: bytes) -> None:
    assert_well_formed(load_bytes(workdir, data))


@PROPERTY
@given(text=YAML_ISH, libyaml=st.booleans())
def test_any_yaml_ish_text_gives_a_result(workdir: Path, text: str, libyaml: bool) -> None:
    with mock.patch.object(safe_yaml, "_WITH_LIBYAML", libyaml and yaml.__with_libyaml__):
        assert_well_formed(
            load_bytes(workdir, text.encode("utf-8", "surrogatepass"), max_problems=5)
        )


# -- near-valid manifests --------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "~", "12345", "2024-06-01", "0x1F", "1_0", "<<", "="]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
TASK_KEYS = st.sampled_from(["taskId", "sdkAppId", "region", "note", "taskID", "regoin", "x"])


@st.composite
def near_valid_documents(draw: st.DrawFn) -> Any:
    """Manifest-shaped data with random wrong keys, types and values mixed in."""
    task = st.one_of(
        st.text(max_size=8),
        ODD_VALUES,
        st.dictionaries(
            TASK_KEYS,
            st.one_of(st.text(max_size=8), st.sampled_from(sorted(REGIONS)), ODD_VALUES),
            max_size=4,
        ),
    )
    spec: dict[Any, Any] = {"tasks": draw(st.one_of(st.lists(task, max_size=6), ODD_VALUES))}
    if draw(st.booleans()):
        spec["region"] = draw(st.one_of(st.sampled_from(sorted(REGIONS)), ODD_VALUES))
    if draw(st.booleans()):
        spec["sdkAppId"] = draw(st.one_of(st.integers(1, 2**63), ODD_VALUES))
    document: dict[Any, Any] = {
        "apiVersion": draw(st.sampled_from(["reconciler/v1", "reconciler/v1", "v2", 1])),
        "kind": draw(st.sampled_from(["StreamIngestStop", "StreamIngestStop", "Other"])),
        "spec": spec,
    }
    if draw(st.booleans()):
        document["metadata"] = draw(
            st.one_of(st.fixed_dictionaries({"name": ODD_VALUES}), ODD_VALUES)
        )
    for key in draw(st.lists(st.sampled_from(["apiVersion", "kind", "spec", "extra"]), max_size=1)):
        if draw(st.booleans()):
            document.pop(key, None)
        else:
            document[key] = draw(ODD_VALUES)
    return document


@PROPERTY
@given(
    documents=st.lists(near_valid_documents(), min_size=1, max_size=3),
    flow=st.sampled_from([None, True, False]),
)
def test_near_valid_manifests_give_a_result(
    workdir: Path, documents: list[Any], flow: bool | None
) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    assert_well_formed(load_bytes(workdir, text.encode("utf-8", "surrogatepass")))


# -- valid manifests round-trip ---------------------------------------------------------

TASK_IDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=20,
)
SDK_APP_IDS = st.one_of(
    st.integers(SDK_APP_ID_MIN, SDK_APP_ID_MAX), st.sampled_from([1, 1400000001])
)


@st.composite
def valid_manifest_files(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Files of documents of tasks, every address unique."""
    addresses: set[tuple[int, str]] = set()
    files = []
    for _ in range(draw(st.integers(1, 3))):
        documents = []
        for _ in range(draw(st.integers(0, 3))):
            spec: dict[str, Any] = {}
            if draw(st.booleans()):
                spec["region"] = draw(st.sampled_from(sorted(REGIONS)))
            if draw(st.booleans()):
                spec["sdkAppId"] = draw(SDK_APP_IDS)
            tasks: list[Any] = []
            for task_id in draw(st.lists(TASK_IDS, max_size=5)):
                app = spec.get("sdkAppId")
                entry: dict[str, Any] = {"taskId": task_id}
                if app is None or draw(st.booleans()):
                    app = entry["sdkAppId"] = draw(SDK_APP_IDS)
                if "region" not in spec or draw(st.booleans()):
                    entry["region"] = draw(st.sampled_from(sorted(REGIONS)))
                if draw(st.booleans()):
                    entry["note"] = draw(st.text(max_size=10))
                if (app, task_id) in addresses:
                    continue
                addresses.add((app, task_id))
                short = list(entry) == ["taskId"] and draw(st.booleans())
                tasks.append(task_id if short else entry)
            spec["tasks"] = tasks
            document: dict[str, Any] = {"apiVersion": "reconciler/v1", "kind": "StreamIngestStop"}
            if draw(st.booleans()):
                document["metadata"] = {"name": draw(st.text(max_size=8))}
            document["spec"] = spec
            documents.append(document)
        files.append(documents)
    return files


def expected_tasks(documents: list[dict[str, Any]]) -> list[tuple[int, str, str, str | None]]:
    expected = []
    for document in documents:
        spec = document["spec"]
        for entry in spec["tasks"]:
            entry = {"taskId": entry} if isinstance(entry, str) else entry
            expected.append(
                (
                    entry.get("sdkAppId", spec.get("sdkAppId")),
                    entry["taskId"],
                    entry.get("region", spec.get("region")),
                    entry.get("note"),
                )
            )
    return expected


@PROPERTY
@given(files=valid_manifest_files(), flow=st.sampled_from([None, True, False]))
def test_valid_manifests_round_trip(
    workdir: Path, files: list[list[dict[str, Any]]], flow: bool | None
) -> None:
    directory = workdir / f"round-trip-{next(_counter)}"
    directory.mkdir()
    for index, documents in enumerate(files):
        text = yaml.safe_dump_all(
            documents, default_flow_style=flow, allow_unicode=True, sort_keys=False
        )
        (directory / f"{index:02d}.yaml").write_text(text, encoding="utf-8")
    result = load_manifests([directory])
    assert result.ok, [str(p) for p in result.problems]
    # What PyYAML reads back (it folds a few characters, such as NEL, in plain text).
    expected = [
        task
        for path in sorted(directory.iterdir())
        for task in expected_tasks(list(yaml.safe_load_all(path.read_text(encoding="utf-8"))))
    ]
    assert len(expected) == sum(len(expected_tasks(documents)) for documents in files)
    assert [(t.sdk_app_id, t.task_id, t.region, t.note) for t in result.tasks] == expected
    assert len({t.address for t in result.tasks}) == len(result.tasks)
    for task in result.tasks:
        file, _, line = task.source.rpartition(":")
        assert file in result.files and int(line) >= 1


# -- tag resolution ----------------------------------------------------------------------

PLAIN_SCALARS = st.one_of(
    st.from_regex(r"[-+]?[0-9_]{1,6}(\.[0-9]*)?([eE][-+][0-9]+)?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.from_regex(r"[-+]?0[xob][0-9a-fA-F_]{1,4}", fullmatch=True),
    st.from_regex(r"[0-9]{1,2}(:[0-9]{2}){1,2}", fullmatch=True),
    st.sampled_from(["yes", "No", "ON", "off", "y", "n", "true", "False", "~", "null", "Null"]),
    st.sampled_from(["<<", "=", ".inf", "-.Inf", ".NaN", "", "!", "taskId", "ap-mumbai"]),
    st.text(alphabet="abcdefnotyNOTY0123456789.-+_:", min_size=1, max_size=8),
)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML is built without libyaml")
@PROPERTY
@given(scalars=st.lists(PLAIN_SCALARS, min_size=1, max_size=8), quoted=st.booleans())
def test_the_composer_resolves_tags_as_the_safe_loaders_do(
    scalars: list[str], quoted: bool
) -> None:
    values = "".join(f"- {json_quote(s) if quoted else s}\n" for s in scalars)
    mapping = "".join(f"{s}: {s}\n" for s in scalars if s and not s.startswith(("!", "-")))
    for text in (values, mapping):
        try:
            expected = yaml.compose(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            assume(False)
        assert tags(yaml.compose(text, Loader=safe_yaml._Composer)) == tags(expected)
        if "!" not in text:  # PyYAML's own parser reads a bare '!' tag differently
            assert tags(yaml.compose(text, Loader=yaml.SafeLoader)) == tags(expected)


def json_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tags(node: Any) -> Any:
    if node is None:
        return None
    if isinstance(node.value, list):
        return (
            node.tag,
            [
                tags(child) if not isinstance(child, tuple) else tuple(map(tags, child))
                for child in node.value
            ],
        )
    return (node.tag, node.value)
