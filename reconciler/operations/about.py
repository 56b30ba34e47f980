"""``version``: which tool, SDK, Python and YAML parser this process runs.

Read from the installed distributions' metadata and the interpreter — the SDK is
not imported (only its version is read), so this works without credentials or
network and even with a broken SDK install.
"""

from __future__ import annotations

import platform
from importlib import metadata

from reconciler import __version__
from reconciler.results import Versions

SDK_DISTRIBUTION = "tencentcloud-sdk-python-trtc"
SDK_COMMON_DISTRIBUTION = "tencentcloud-sdk-python-common"


def versions() -> Versions:
    return Versions(
        tool=__version__,
        sdk=_installed(SDK_DISTRIBUTION),
        sdk_common=_installed(SDK_COMMON_DISTRIBUTION),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        pyyaml=_installed("PyYAML"),
        libyaml=_libyaml(),
    )


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _libyaml() -> str | None:
    """libyaml's version when PyYAML was built with it (the fast C loader); else None."""
    try:
        from yaml import _yaml
    except ImportError:
        return None
    version: str = _yaml.get_version_string()
    return version
