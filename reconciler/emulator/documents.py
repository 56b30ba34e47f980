"""Read one small settings document — a task seed file or a credentials file — as JSON
(when the name ends in ``.json``) or as YAML's safe subset, with a size limit and
one-line ``ConfigError`` messages that name the file, line and column.
"""

from __future__ import annotations

import json

import yaml

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
