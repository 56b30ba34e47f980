"""Fixtures of the manifest tests."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
import yaml

from reconciler.manifest import safe_yaml


@pytest.fixture(params=["libyaml", "pure-python"])
def composer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with libyaml's composer and again with PyYAML's own."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML is built without libyaml")
        yield request.param
    else:
        with mock.patch.object(safe_yaml, "_WITH_LIBYAML", False):
            yield request.param
