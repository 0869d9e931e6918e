"""Who is acting: users, roles, API tokens, canonical identities (:mod:`alerts.store.identity`).

The implementation lives beside the store tables it reads; this is the public name.
"""

from __future__ import annotations

from alerts.store.identity import (
    APPROVER_ROLES,
    ROLES,
    WRITER_ROLES,
    Identity,
    Role,
    User,
    UserDirectory,
    canonical,
    hash_token,
)

__all__ = [
    "APPROVER_ROLES",
    "ROLES",
    "WRITER_ROLES",
    "Identity",
    "Role",
    "User",
    "UserDirectory",
    "canonical",
    "hash_token",
]
