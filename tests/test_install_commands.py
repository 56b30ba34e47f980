"""Every install command in README.md, docs/ and examples/ (and in the Dockerfile and
the release workflow they lead to) installs something this repository produces.

Commands are read out of Markdown code, workflow steps and Dockerfile RUN lines and
cut into simple commands. A ``pip install`` installs a lock file of requirements/
with ``--require-hashes``, or this project's own source or wheel with ``--no-deps``;
nothing from the index by name. ``docker build`` / ``pull`` / ``run`` and every
``image:`` name the image the release workflow publishes, tagged with the version
``reconciler/__init__.py`` declares; other images are pinned. The base image is
pinned by digest, and nothing upgrades pip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.examples_support import (
    DOCKERFILE,
    EXAMPLES,
    IMAGE_NAME,
    PUBLISHED_IMAGE,
    RELEASE,
    ROOT,
    VERSION,
    dockerfile_instructions,
    shell_commands,
    yaml_docs,
)

README = ROOT / "README.md"
DOCS_DIR = ROOT / "docs"
_IMAGE_REF = re.compile(
    r"(?<![\w./-])((?:[\w.-]+/)*" + re.escape(IMAGE_NAME) + r"(?::[\w.-]+)?(?:@sha256:[\w…]+)?)"
)
_FENCE = re.compile(r"```(?:sh|bash|shell)\n(.*?)```", flags=re.S)
_INLINE = re.compile(r"`((?:pip|python3? -m pip|docker|git tag) [^`]+)`")


# --- reading the commands -----------------------------------------------------------


def markdown_scripts(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return _FENCE.findall(text) + _INLINE.findall(text)


def workflow_scripts(path: Path) -> list[str]:
    """The shell of every step (GitHub) or job script (GitLab) of a workflow file."""
    scripts = []
    for doc in yaml_docs(path):
        for job in (doc.get("jobs") or doc).values():
            if not isinstance(job, dict):
                continue
            scripts += [step["run"] for step in job.get("steps", []) if "run" in step]
            for key in ("before_script", "script"):
                scripts += job.get(key, [])
    return scripts


def dockerfile_scripts() -> list[str]:
    return [rest for name, rest in dockerfile_instructions() if name == "RUN"]


def sources() -> dict[str, list[str]]:
    """Every place that tells someone how to install: {name: its shell scripts}."""
    found = {"README.md": markdown_scripts(README)}
    for path in sorted(DOCS_DIR.rglob("*.md")):
        found[path.relative_to(ROOT).as_posix()] = markdown_scripts(path)
    for path in sorted([*EXAMPLES.rglob("*.y*ml"), RELEASE]):
        found[path.relative_to(ROOT).as_posix()] = workflow_scripts(path)
    found["Dockerfile"] = dockerfile_scripts()
    return found


def commands(scripts: list[str], *programs: str) -> Iterator[list[str]]:
    """The simple commands of ``scripts`` that run one of ``programs`` (``pip`` also as
    ``python -m pip``), from the program's name on."""
    for script in scripts:
        for words in shell_commands(script):
            for i, word in enumerate(words):
                name = Path(word).name
                if name in programs:
                    yield [name, *words[i + 1 :]]
                    break
                is_python = name.startswith("python") and "pip" in programs
                if is_python and words[i + 1 : i + 3] == ["-m", "pip"]:
                    yield ["pip", *words[i + 3 :]]
                    break


def split_options(words: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """pip's options (those that take a value, with it) and its positional words."""
    takes_value = {"-r", "--requirement", "--wheel-dir", "-w", "--python", "--find-links"}
    options: dict[str, str | None] = {}
    positional = []
    words = iter(words)
    for word in words:
        if word.startswith("-"):
            options[word] = next(words) if word in takes_value else None
        else:
            positional.append(word)
    return options, positional


# --- pip ------------------------------------------------------------------------------


def check_pip(argv: list[str], where: str) -> None:
    """One ``pip install`` / ``pip wheel``: from the lock with hashes, or this project."""
    requirement_files = [argv[i + 1] for i, w in enumerate(argv) if w in ("-r", "--requirement")]
    options, positional = split_options(argv[1:])
    targets = positional[1:]
    for name in requirement_files:
        assert re.fullmatch(r"requirements/\w+\.txt", name), f"{where}: -r {name}"
        assert (ROOT / name).is_file(), f"{where}: {name} does not exist"
        assert "--require-hashes" in options, f"{where}: {name} without --require-hashes"
    for target in targets:
        own = target in (".", "$work/src") or re.fullmatch(r"/?dist/\*\.whl", target)
        assert own, f"{where}: `{' '.join(argv)}` installs {target!r} from the index"
        assert "--no-deps" in options, f"{where}: {target}: its dependencies come from the lock"
    assert requirement_files or targets, f"{where}: `{' '.join(argv)}` installs nothing"


def pip_commands() -> list[tuple[str, list[str]]]:
    """Every ``pip install`` and ``pip wheel`` (not ``pip freeze``, ``pip --version``)."""
    return [
        (where, argv)
        for where, scripts in sources().items()
        for argv in commands(scripts, "pip", "pip3")
        if split_options(argv[1:])[1][:1] in (["install"], ["wheel"])
    ]


def test_every_pip_install_takes_the_lock_or_this_project() -> None:
    found = pip_commands()
    for where, argv in found:
        check_pip(argv, where)
    where_found = {where for where, _ in found}
    assert {"README.md", "Dockerfile", ".github/workflows/release.yml"} <= where_found
    assert len(found) >= 8


def test_readme_install_is_the_one_check_reproducible_runs() -> None:
    """scripts/check-reproducible.sh (in .ci/run) runs the README's install for real."""
    readme = [argv for where, argv in pip_commands() if where == "README.md"]
    check = (ROOT / "scripts" / "check-reproducible.sh").read_text(encoding="utf-8")
    ran = list(commands([check], "pip"))
    assert [" ".join(a) for a in readme] == [
        "pip install --require-hashes -r requirements/main.txt -r requirements/build.txt",
        "pip install --no-deps --no-build-isolation .",
    ]
    assert ran[0][:6] == ["pip", "install", "--require-hashes", "-r", "$lock", "-r"]
    assert ran[1][:4] == ["pip", "install", "--no-deps", "--no-build-isolation"]


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "scripts").glob("*.sh")),
        ROOT / ".ci" / "run",
        DOCKERFILE,
        RELEASE,
        *sorted(EXAMPLES.rglob("*.y*ml")),
    ],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_nothing_upgrades_pip_and_every_requirement_file_is_hashed(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    assert not re.search(r"install\b[^\n]*(--upgrade|-U)\b[^\n]*\bpip\b", text), path.name
    for line in text.splitlines():
        if re.search(r"\binstall\b.*(--requirement|\s-r)\s", line):
            assert "--require-hashes" in line, f"{path.name}: {line.strip()}"


# --- images ---------------------------------------------------------------------------


def image_refs(text: str) -> list[str]:
    """This project's image as named in ``text``: with a registry or a tag (the bare
    project name, a package name or a ``cronjob/NAME`` reference is no image)."""
    refs = []
    for ref in _IMAGE_REF.findall(text):
        first = ref.split("/")[0]
        if ":" in ref.rsplit("/", 1)[-1] or ("/" in ref and "." in first):
            refs.append(ref)
    return refs


def text_sources() -> dict[str, str]:
    paths = [README, *DOCS_DIR.rglob("*.md"), *EXAMPLES.rglob("*"), DOCKERFILE, RELEASE]
    return {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(paths)
        if p.is_file()
    }


def test_every_mention_of_the_image_is_the_published_one() -> None:
    found = {where: image_refs(text) for where, text in text_sources().items()}
    for where, refs in found.items():
        for ref in refs:
            assert ref.split("@")[0] == PUBLISHED_IMAGE, f"{where}: {ref} is not {PUBLISHED_IMAGE}"
            assert "@" not in ref or ref.endswith("@sha256:…"), f"{where}: {ref}"
    named = {where for where, refs in found.items() if refs}
    assert {
        "README.md",
        "docs/production.md",
        "Dockerfile",
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
        "examples/kubernetes/cronjob.yaml",
        "examples/kubernetes/deployment-run.yaml",
    } <= named


def test_docker_commands_build_pull_and_run_the_published_image() -> None:
    seen = set()
    for where, scripts in sources().items():
        for argv in commands(scripts, "docker"):
            verb = argv[1]
            seen.add(verb)
            if verb == "build":
                tag = argv[argv.index("-t") + 1]
                assert tag == PUBLISHED_IMAGE, f"{where}: docker build -t {tag}"
                assert argv[-1] == "." and DOCKERFILE.is_file(), f"{where}: build context"
            elif verb in ("pull", "run"):
                assert PUBLISHED_IMAGE in argv, f"{where}: `{' '.join(argv)}`"
            else:
                pytest.fail(f"{where}: unexpected `docker {verb}`")
    assert seen == {"build", "pull", "run"}


def test_release_commands_tag_the_declared_version() -> None:
    tags = [
        argv
        for scripts in sources().values()
        for argv in commands(scripts, "git")
        if argv[1] == "tag"
    ]
    assert tags, "the docs show how to make a release"
    assert all(argv[2] == f"v{VERSION}" for argv in tags), tags


def yaml_images(node: Any) -> Iterator[str]:
    """Every ``image:`` value in a YAML document (GitLab's may be {name: …})."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image":
                yield value["name"] if isinstance(value, dict) else value
            else:
                yield from yaml_images(value)
    elif isinstance(node, list):
        for item in node:
            yield from yaml_images(item)


def test_every_example_image_is_ours_or_pinned() -> None:
    images = [
        (path.name, image)
        for path in sorted(EXAMPLES.rglob("*.y*ml"))
        for doc in yaml_docs(path)
        for image in yaml_images(doc)
    ]
    ours = [image for _, image in images if IMAGE_NAME in image]
    assert len(ours) >= 4 and set(ours) == {PUBLISHED_IMAGE}
    for where, image in images:
        if IMAGE_NAME not in image:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest", f"{where}: pin {image}"


def test_the_base_image_is_pinned_by_digest() -> None:
    instructions = dockerfile_instructions()
    args = dict(rest.split("=", 1) for name, rest in instructions if name == "ARG" and "=" in rest)
    bases = [rest.split()[0] for name, rest in instructions if name == "FROM"]
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert re.fullmatch(r"python:3\.13[\w.-]*@sha256:[0-9a-f]{64}", image), image
