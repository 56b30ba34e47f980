"""Credentials: the chain that finds them (``chain`` decides the order, ``sources``
reads each source), tccli's profile files (``profiles``), roles and web identity
through STS (``sts``), the CVM instance role (``instance``), and the thread-safe
credential object that renews them before they expire (``renewing``).

With the TRTC adapter, the only code that imports the official SDK.
"""

from reconciler.credentials.chain import (
    SOURCES,
    CredentialOptions,
    CredentialSource,
    no_credentials_message,
    resolve,
)
from reconciler.credentials.renewing import Issued, RenewingCredential
from reconciler.credentials.sts import DEFAULT_DURATION_SECONDS, MAX_DURATION_SECONDS

__all__ = [
    "DEFAULT_DURATION_SECONDS",
    "MAX_DURATION_SECONDS",
    "SOURCES",
    "CredentialOptions",
    "CredentialSource",
    "Issued",
    "RenewingCredential",
    "no_credentials_message",
    "resolve",
]
