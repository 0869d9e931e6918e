"""Who is acting: users with argon2 password hashes, roles, and API tokens bound to users.

Conventions
-----------
- A user's id is canonical: trimmed and case-folded (:func:`canonical`), so ``" Zhang.Min"`` and
  ``"zhang.min"`` are one user. Two-person rules compare these ids, never display names.
- Roles: ``officer`` works alerts; ``supervisor`` also approves (false-positive closes of
  high/critical alerts, silences) and may reveal a full account with a reason; ``auditor`` only
  reads; ``admin`` manages users and may do what a supervisor does except reveal.
- An API token is shown once when it is issued; the store keeps only its SHA-256.
- Every change to the alert store takes an :class:`Identity` made here, from a password
  (:meth:`UserDirectory.authenticate`), a token (:meth:`UserDirectory.identity_for_token`) or a
  known user id (:meth:`UserDirectory.identity`). A blank or unknown user is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from alerts.errors import IdentityError, PermissionDeniedError
from alerts.store.tables import api_tokens, users

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
    "same_user",
]

Role = Literal["officer", "supervisor", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("officer", "supervisor", "auditor", "admin")
WRITER_ROLES: frozenset[str] = frozenset({"officer", "supervisor", "admin"})
APPROVER_ROLES: frozenset[str] = frozenset({"supervisor", "admin"})
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# Verified when the user is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("riskmon-no-such-user")


def _fold(name: str) -> str:
    """How names are compared, everywhere: trimmed and case-folded."""
    return name.strip().casefold()


def same_user(first: str, second: str) -> bool:
    """Whether two stored user names stand for one user (no validation: for reading logs).

    >>> same_user(" Alice", "ALICE ")
    True
    """
    return _fold(first) == _fold(second)


def canonical(name: str) -> str:
    """The id a name stands for: trimmed and case-folded; a blank name is refused.

    >>> canonical("  Zhang.Min ")
    'zhang.min'
    """
    folded = _fold(name)
    if not folded:
        raise IdentityError("a user name must not be blank")
    if any(ch.isspace() or not ch.isprintable() for ch in folded) or len(folded) > 128:
        raise IdentityError(f"not a valid user name: {name!r}")
    return folded


def hash_token(token: str) -> str:
    """The SHA-256 of an API token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class Identity(BaseModel):
    """An authenticated user, as the store records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    display_name: str
    role: Role

    def same_as(self, other: Identity | str) -> bool:
        """Whether ``other`` is the same person: canonical ids compared, never display names."""
        other_id = other.user_id if isinstance(other, Identity) else other
        return canonical(self.user_id) == canonical(other_id)

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES

    @property
    def can_approve(self) -> bool:
        return self.role in APPROVER_ROLES

    @property
    def can_reveal(self) -> bool:
        return self.role == "supervisor"

    def require_writer(self) -> None:
        """Raise :class:`PermissionDeniedError` for a read-only role."""
        if not self.can_write:
            raise PermissionDeniedError(f"{self.user_id} ({self.role}) may only read")


class User(BaseModel):
    """A user as listed: never the password hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    display_name: str
    role: Role
    created_at: AwareDatetime
    active: bool

    def identity(self) -> Identity:
        return Identity(user_id=self.user_id, display_name=self.display_name, role=self.role)


class UserDirectory:
    """Users and their API tokens in the store's database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    @staticmethod
    def _user(row: sa.Row[tuple[object, ...]]) -> User:
        data = row._asdict()
        data.pop("password_hash", None)
        return User.model_validate(data)

    def _row(self, connection: Connection, user_id: str) -> sa.Row[tuple[object, ...]] | None:
        return connection.execute(sa.select(users).where(users.c.user_id == user_id)).first()

    def add_user(
        self, name: str, role: Role, password: str, *, display_name: str | None = None
    ) -> User:
        """Add a user; the name must be new (canonically), the password at least 8 characters."""
        user_id = canonical(name)
        if role not in ROLES:
            raise IdentityError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise IdentityError(f"a password needs at least {MIN_PASSWORD} characters")
        values = {
            "user_id": user_id,
            "display_name": (display_name or name).strip(),
            "role": role,
            "password_hash": _HASHER.hash(password),
            "created_at": self.clock(),
            "active": True,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(users.insert().values(**values))
        except IntegrityError:
            raise IdentityError(f"user {user_id!r} already exists") from None
        return self.get_user(user_id)

    def get_user(self, name: str) -> User:
        """The user ``name`` stands for; :class:`IdentityError` if there is none."""
        user_id = canonical(name)
        with self.engine.connect() as connection:
            row = self._row(connection, user_id)
        if row is None:
            raise IdentityError(f"no user {user_id!r}")
        return self._user(row)

    def list_users(self) -> list[User]:
        """Every user, by id."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(users).order_by(users.c.user_id))
            return [self._user(row) for row in rows]

    def identity(self, name: str) -> Identity:
        """The identity of an active user; blank, unknown or deactivated names are refused."""
        user = self.get_user(name)
        if not user.active:
            raise IdentityError(f"user {user.user_id!r} is deactivated")
        return user.identity()

    def verify(self, identity: Identity) -> Identity:
        """The stored identity of ``identity``'s user (role as stored now); refused if unknown."""
        if not isinstance(identity, Identity):
            raise IdentityError("a change needs an authenticated identity, not a name")
        return self.identity(identity.user_id)

    def authenticate(self, name: str, password: str) -> Identity:
        """The identity of ``name`` if ``password`` is right; :class:`IdentityError` otherwise."""
        try:
            user_id = canonical(name)
        except IdentityError:
            user_id = ""
        with self.engine.connect() as connection:
            row = self._row(connection, user_id) if user_id else None
        stored = str(row.password_hash) if row is not None else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            row = None
        if row is None or not row.active:
            raise IdentityError("unknown user or wrong password")
        if _HASHER.check_needs_rehash(stored):
            self.set_password(user_id, password)
        return self._user(row).identity()

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password."""
        if len(password) < MIN_PASSWORD:
            raise IdentityError(f"a password needs at least {MIN_PASSWORD} characters")
        self._update(name, password_hash=_HASHER.hash(password))

    def set_role(self, name: str, role: Role) -> User:
        """Change a user's role."""
        if role not in ROLES:
            raise IdentityError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        self._update(name, role=role)
        return self.get_user(name)

    def deactivate(self, name: str) -> User:
        """Stop a user from signing in or acting; their history stays."""
        self._update(name, active=False)
        return self.get_user(name)

    def _update(self, name: str, **values: object) -> None:
        user_id = canonical(name)
        with self.engine.begin() as connection:
            changed = connection.execute(
                users.update().where(users.c.user_id == user_id).values(**values)
            ).rowcount
        if changed != 1:
            raise IdentityError(f"no user {user_id!r}")

    def issue_token(self, name: str, *, label: str = "") -> str:
        """A new API token for ``name``; returned once, only its hash is kept."""
        user = self.identity(name)
        token = "rmk_" + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(
                api_tokens.insert().values(
                    token_hash=hash_token(token),
                    user_id=user.user_id,
                    label=label.strip()[:128],
                    created_at=self.clock(),
                )
            )
        return token

    def revoke_tokens(self, name: str) -> int:
        """Revoke every token of ``name``; return how many were live."""
        user_id = canonical(name)
        with self.engine.begin() as connection:
            return int(
                connection.execute(
                    api_tokens.update()
                    .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=self.clock())
                ).rowcount
            )

    def identity_for_token(self, token: str) -> Identity:
        """The identity a live token belongs to; :class:`IdentityError` for any other string."""
        digest = hash_token(token.strip())
        query = sa.select(api_tokens).where(
            api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(str(row.token_hash), digest):
            raise IdentityError("unknown or revoked API token")
        return self.identity(str(row.user_id))
