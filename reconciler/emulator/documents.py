"""The emulator's settings input and how it fails: ``ConfigError`` (a one-line,
user-facing message), reading one small settings document — a task seed file or a
credentials file — as JSON (when the name ends in ``.json``) or as YAML's safe
subset, and picking a setting's enum member by its name.
"""

from __future__ import annotations

import enum
import json
from typing import TypeVar

import yaml

Choice = TypeVar("Choice", bound=enum.Enum)

#: Seed and credential files are short lists; anything bigger is a mistake.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024


class ConfigError(ValueError):
    """A setting, file or admin request the emulator refuses; one-line message."""


def read_document(path: str, *, what: str) -> object:
    """The parsed document at ``path``; ``what`` names it in messages ("tasks file")."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{path}: {what} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: {what} is not UTF-8 text") from None
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        raise ConfigError(f"{where}: invalid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None


def parse_choice(kind: type[Choice], value: object, *, what: str) -> Choice:
    """The member of the string enum ``kind`` named ``value`` (case and surrounding
    space ignored); ``what`` names the setting in the message."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in kind:
            if str(member.value).lower() == wanted:
                return member
    names = ", ".join(str(member.value) for member in kind)
    raise ConfigError(f"unknown {what} {value!r} (expected one of: {names})")
