"""The CVM instance role, through the official SDK's ``CVMRoleCredential``.

The SDK's provider asks the metadata service (``metadata.tencentyun.com``) for the
instance's role and its temporary credentials, and renews them itself five minutes
before they expire, inside ``get_credential_info``. Wrapped here so that renewal
runs in ``renew_if_due`` — before a call, never while the SDK signs one — like every
other credential of the chain. The metadata service cannot be pointed elsewhere, so
this source is the one not exercised against the emulator.
"""

from __future__ import annotations

import socket
from typing import Any


class InstanceRoleCredential:
    """The SDK's self-renewing CVM role credential, renewed between calls."""

    def __init__(self, delegate: Any) -> None:
        self._delegate = delegate

    @property
    def role_name(self) -> str:
        return str(self._delegate.role or "")

    def get_credential_info(self) -> tuple[str, str, str | None]:
        secret_id, secret_key, token = self._delegate.get_credential_info()
        return str(secret_id), str(secret_key), token

    def renew_if_due(self) -> None:
        # The SDK renews inside get_credential_info when due (and keeps the old
        # credentials if the metadata service fails); asking here makes that happen now.
        self._delegate.get_credential_info()


def probe_cvm_role(*, timeout: float) -> InstanceRoleCredential | None:
    """The instance role's credentials, or None off a CVM instance (or without a role)."""
    from tencentcloud.common.credential import CVMRoleCredential

    # The SDK asks the metadata service with no timeout; bound it so that a machine
    # off Tencent Cloud never hangs here.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        found = CVMRoleCredential().get_credential()
    except Exception:  # any failure to reach the metadata service: no instance role
        found = None
    finally:
        socket.setdefaulttimeout(previous)
    return InstanceRoleCredential(found) if found is not None else None
