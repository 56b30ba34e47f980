"""What README.md and docs/ say in their prose agrees with the command line and with
the repository: the usage synopsis with the parser, command for command and option
for option (and the parser with the synopsis: every option a command takes is
shown); every option named in the text is one the command it is written with takes,
with the metavar and choices ``--help`` shows, or a listed option of another tool;
every option is documented; every environment variable named is one something here
reads, paired with the option whose help names it; every repository path named
exists, and every link and anchor resolves. Read with tests/docs_support.py (a
CommonMark parser), checked against the real parser in-process.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.docs_support import ROOT, Span, all_blocks, all_spans, documents, heading_anchors, links
from tests.examples_support import assert_parses, parsers, reconciler_argvs

OPTION = re.compile(r"(?<![\w-])--[a-z][\w.-]*")
ENV_VAR = re.compile(r"\b(?:RECONCILER|TENCENTCLOUD|TKE|TCCLI)_[A-Z0-9_]+\b")
#: A metavar as --help shows one (``ADDR``, ``HOST:PORT``), after an option in a span.
METAVAR = re.compile(r"^[A-Z][A-Z0-9_:@/=]*$")
#: ``--log-format auto|console|json``: the choices, after an option in a span.
CHOICES = re.compile(r"^[a-z]+(?:\|[a-z]+)+$")

#: Options the text names that belong to other tools, by option → the tool.
FOREIGN: dict[str, str] = {
    "--all": "pip freeze",
    "--collector.textfile.directory": "node_exporter",
    "--from-file": "kubectl create configmap",
    "--generate-hashes": "uv pip compile",
    "--no-build-isolation": "pip install",
    "--no-deps": "pip install",
    "--require-hashes": "pip install",
    "--resolution": "uv pip compile",
    "--timeout": "pytest (pytest-timeout)",
    "--universal": "uv pip compile",
    "--upgrade": "./scripts/lock.sh (uv pip compile's)",
    "--upgrade-package": "./scripts/lock.sh (uv pip compile's)",
}

#: Variables the text names that no module of reconciler/ reads: who reads them.
READ_ELSEWHERE: dict[str, str] = {
    "RECONCILER_TEST_POSTGRES": "tests/conftest.py",
    "RECONCILER_UPDATE_SNAPSHOTS": "tests/test_markdown.py",
    "RECONCILER_SIGNAL_RUNS": "tests/test_e2e_signals.py",
    "RECONCILER_GITLAB_TOKEN": "examples/ci/reconciler_gitlab.py",
}

EMULATOR = "emulator"
EMULATOR_SECTION = ("README.md", "The emulator")


# --- the grammar ------------------------------------------------------------------------


@cache
def takes(command: str) -> dict[str, argparse.Action]:
    """Every option ``command`` (and its subcommands) takes, global ones included."""
    found: dict[str, argparse.Action] = {}
    for path, parser in grammar().items():
        if path in ("", command) or path.startswith(command + " "):
            for action in parser._actions:
                found.update(dict.fromkeys(action.option_strings, action))
    return found


def documented(action: argparse.Action) -> bool:
    return action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)


@cache
def grammar() -> dict[str, argparse.ArgumentParser]:
    """Every parser by command path (built once: the emulator's imports take a while)."""
    return parsers()


@cache
def commands() -> frozenset[str]:
    return frozenset(path for path in grammar() if path and " " not in path)


def any_takes(option: str) -> list[argparse.Action]:
    return [takes(command)[option] for command in commands() if option in takes(command)]


def shown_metavar(action: argparse.Action) -> str:
    """The metavar --help shows: the one given, else the destination in capitals."""
    return action.metavar if isinstance(action.metavar, str) else action.dest.upper()


def help_shows(action: argparse.Action) -> str:
    return "|".join(map(str, action.choices)) if action.choices else shown_metavar(action)


def agrees(option: str, value: str, actions: list[argparse.Action]) -> bool:
    """Whether ``value``, written after ``option``, is a metavar or the choices one of
    ``actions`` has; a value of another kind (``5m``) is not checked."""
    if METAVAR.match(value):
        return any(shown_metavar(action) == value for action in actions)
    if CHOICES.match(value):
        return any(list(action.choices or ()) == value.split("|") for action in actions)
    return True


# --- the synopsis -----------------------------------------------------------------------


def synopsis() -> tuple[list[str], dict[str, str]]:
    """The ```text block of ``reconciler …`` lines under "Command line": one entry per
    command, continuation lines joined, and the option groups it defines
    (``CALLS: [--parallelism N] …``) put in where an entry names them."""
    found = [b for b in all_blocks() if b.language == "text" and b.text.startswith("reconciler ")]
    assert len(found) == 1, [block.where for block in found]
    entries: list[str] = []
    for line in found[0].text.splitlines():
        if line.strip() and (line.startswith("reconciler ") or re.match(r"[A-Z]+:", line)):
            entries.append(line)
        elif line.strip():
            entries[-1] += " " + line.strip()
    groups = {
        entry.split(":")[0]: entry.split(":", 1)[1] for entry in entries if entry[0].isupper()
    }
    expanded = []
    for entry in entries:
        if entry.startswith("reconciler "):
            for name, text in groups.items():
                entry = entry.replace(f"[{name}]", text)
            expanded.append(entry)
    return expanded, groups


def named_with_values(text: str) -> list[tuple[str, str]]:
    """Each option in ``text`` with the word after it ("" if none or another option)."""
    words = []
    for word in re.sub(r"[\[\]()…,]", " ", text).split():
        option, equals, value = word.partition("=")
        words += [option, value] if equals and OPTION.fullmatch(option) else [word]
    return [
        (word, words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else "")
        for i, word in enumerate(words)
        if OPTION.fullmatch(word)
    ]


def test_the_synopsis_agrees_with_the_parser() -> None:
    entries, groups = synopsis()
    shown: set[str] = set()
    for entry in entries:
        command = entry.split()[1]
        shown.add(command)
        assert command in commands(), f"the synopsis shows `reconciler {command}`: no such command"
        options = takes(command)
        for option, value in named_with_values(entry):
            assert option in options, f"`reconciler {command}` takes no {option}"
            assert agrees(option, value, [options[option]]), (
                f"`reconciler {command}`: the synopsis shows {option} {value}; "
                f"--help shows {help_shows(options[option])}"
            )
        if command == EMULATOR:
            assert entry.endswith("…"), "the emulator's options are in its own table"
            continue
        own = {o for o, a in options.items() if documented(a) and o not in takes("")}
        missing = own - {option for option, _ in named_with_values(entry)}
        assert not missing, f"the synopsis of `reconciler {command}` leaves out {sorted(missing)}"
    assert commands() <= shown, f"the synopsis leaves out {sorted(commands() - shown)}"
    assert groups, "no option groups (CALLS, CREDENTIALS) defined under the synopsis"


def test_every_emulator_option_is_in_its_table() -> None:
    spans = section_spans(*EMULATOR_SECTION)
    named = {option for span in spans for option in OPTION.findall(span.text)}
    options = {
        option
        for action in grammar()[EMULATOR]._actions
        if documented(action)
        for option in action.option_strings
        if option.startswith("--")
    }
    assert named - options == set(), f"the emulator takes no {sorted(named - options)}"
    assert options - named == set(), f"the emulator section leaves out {sorted(options - named)}"


@cache
def section_spans(file: str, heading: str) -> list[Span]:
    """The code spans under the ``## heading`` of ``file``, up to the next one."""
    lines = documents()[file].splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [s for s in all_spans() if s.file == file and start < s.line <= end]


# --- options and commands in the prose ----------------------------------------------------


def command_of(span: Span) -> str | None:
    """The command a span is written with (`plan --refresh`, `reconciler run …`)."""
    words = span.text.split()
    if words[:1] == ["reconciler"]:
        words = words[1:]
    if words and words[0] in commands():
        return words[0]
    emulator = {s.text for s in section_spans(*EMULATOR_SECTION)}
    return EMULATOR if span.file == EMULATOR_SECTION[0] and span.text in emulator else None


def test_every_option_the_text_names_is_one_its_command_takes() -> None:
    foreign_used: set[str] = set()
    for span in all_spans():
        command = command_of(span)
        for option, value in named_with_values(span.text):
            where = f"{span.file}:{span.line}: `{span.text}`"
            actions = [takes(command)[option]] if command and option in takes(command) else []
            if command and not actions:
                pytest.fail(f"{where}: `reconciler {command}` takes no {option}")
            actions = actions or any_takes(option)
            if not actions:
                assert option in FOREIGN, f"{where}: {option} is no option of the reconciler"
                foreign_used.add(option)
                continue
            assert agrees(option, value, actions), (
                f"{where}: --help shows {option} {help_shows(actions[0])}"
            )
    assert foreign_used == set(FOREIGN), f"not named any more: {set(FOREIGN) - foreign_used}"


def test_every_option_is_documented() -> None:
    text = "\n".join(span.text for span in all_spans()) + "\n".join(synopsis()[0])
    named = set(OPTION.findall(text))
    missing = {
        f"{path or 'reconciler'} {option}"
        for path, parser in grammar().items()
        for action in parser._actions
        if documented(action)
        for option in action.option_strings
        if option.startswith("--") and option not in named
    }
    assert not missing, f"options the README and docs/ never name: {sorted(missing)}"


def test_inline_reconciler_commands_parse() -> None:
    """Commands written in the prose, such as `reconciler state pull > state.json`,
    parse; a mention (`reconciler apply`) is not taken as an unattended run, and a
    synopsis fragment (with ``[…]``, ``|``, ``…`` or ``<…>``) is left to the option
    checks above."""
    checked = 0
    for span in all_spans():
        if span.text.startswith("reconciler ") and not any(c in span.text for c in "[|…<"):
            for argv in reconciler_argvs(span.text):
                assert_parses(argv, f"{span.file}:{span.line}", unattended=False)
                checked += 1
    assert checked >= 20


# --- environment variables ----------------------------------------------------------------


def code_text() -> str:
    """Every span and block of the README and docs/, where variables are named."""
    return "\n".join([*(s.text for s in all_spans()), *(b.text for b in all_blocks())])


def help_texts() -> str:
    return "\n".join(parser.format_help() for path, parser in grammar().items() if path != EMULATOR)


def test_every_variable_the_help_names_is_in_the_readme() -> None:
    in_help = set(ENV_VAR.findall(help_texts())) | ({"NO_COLOR"} & set(help_texts().split()))
    named = set(ENV_VAR.findall(code_text())) | {"NO_COLOR"} & set(code_text().split())
    assert in_help - named == set(), f"--help names {sorted(in_help - named)}; the README not"


def test_every_variable_named_is_read() -> None:
    product = "\n".join(p.read_text() for p in (ROOT / "reconciler").rglob("*.py"))
    for variable in sorted(set(ENV_VAR.findall(code_text()))):
        reader = READ_ELSEWHERE.get(variable)
        if reader is None:
            assert variable in product, f"the README names {variable}: nothing reads it"
        else:
            assert variable in (ROOT / reader).read_text(), f"{reader} no longer reads {variable}"


def test_each_variable_paired_with_an_option_is_the_one_its_help_names() -> None:
    """`--state LOCATION` (env `RECONCILER_STATE`), `--assume-role-duration` /
    `TENCENTCLOUD_…`: the option's help names that variable too."""
    pair = re.compile(r"`(--[a-z][a-z-]*)[^`]*`\s*(?:\((?:env\s+)?|/\s*)`([A-Z][A-Z0-9_]+)`")
    pairs = [match.groups() for text in documents().values() for match in pair.finditer(text)]
    assert len(pairs) >= 8, pairs
    for option, variable in pairs:
        helps = " ".join(action.help or "" for action in any_takes(option))
        assert variable in helps, f"the README pairs {option} with {variable}; its help does not"


# --- paths and links ---------------------------------------------------------------------


@cache
def tracked() -> frozenset[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(listed.stdout.splitlines())


def test_every_repository_path_named_exists() -> None:
    top = {name.split("/")[0] for name in tracked()}
    checked = 0
    for span in all_spans():
        path = span.text.removeprefix("./")
        if not re.fullmatch(r"[\w.*-]+(/[\w.*-]+)*/?", path) or path.split("/")[0] not in top:
            continue
        matches = list(ROOT.glob(path.rstrip("/"))) if "*" in path else [ROOT / path]
        assert any(m.exists() for m in matches), f"{span.file}:{span.line}: no {span.text}"
        checked += 1
    assert checked >= 30


def test_every_link_resolves() -> None:
    for file, text in documents().items():
        for line, target in links(text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (ROOT / file).parent / path if path else ROOT / file
            where = f"{file}:{line}: ({target})"
            assert linked.exists(), f"{where}: no such file"
            if anchor:
                assert linked.suffix == ".md", f"{where}: an anchor in a file that is not Markdown"
                anchors = heading_anchors(linked.read_text(encoding="utf-8"))
                assert anchor in anchors, f"{where}: no such heading"


# --- claims about other tools -------------------------------------------------------------


def test_check_jsonschema_reads_one_document_per_file(tmp_path: Path) -> None:
    """What the README says of check-jsonschema: it refuses a manifest of several
    documents (so the README gives it the others; test_docs_commands.py runs that)."""
    schema = tmp_path / "reconciler.schema.json"
    made = subprocess.run(
        [sys.executable, "-m", "reconciler", "schema"], capture_output=True, text=True, check=True
    )
    schema.write_text(made.stdout)
    several = ROOT / "manifests" / "regions" / "apac.yaml"
    assert several.read_text().count("\n---") >= 1
    result = subprocess.run(
        [Path(sys.executable).with_name("check-jsonschema"), "--schemafile", schema, several],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert f"Failed to parse {several}" in said
    # Its floor (0.28.0, tested by the floors run) says no more; the locked release says
    # why, in the words the README quotes.
    if version("check-jsonschema") != "0.28.0":
        assert "expected a single document in the stream" in said
