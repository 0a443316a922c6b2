"""Staff accounts: argon2 password hashes, throttled sign-in, server-side sessions, and their audit trail.

A session is a random secret in an HttpOnly cookie; the store keeps only its SHA-256, with the
session's CSRF token and expiry. Disabling an account or resetting its password ends its sessions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from broker.console.permissions import Role
from broker.errors import Conflict, NotFound, Unprocessable
from broker.ids import new_id
from broker.store.audit import audit
from broker.store.engine import now, transaction
from broker.store.tables import staff_logins, staff_sessions, staff_users

SESSION_HOURS = 10  # a working day; then sign in again
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_FAILURES = 5  # failed sign-ins per account, or per address, within the window
MIN_PASSWORD = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password of anyone")  # verified when the account is unknown: same cost


@dataclass(frozen=True)
class StaffUser:
    """A staff account (never its hash)."""

    id: str
    username: str
    display_name: str
    role: Role
    language: str
    digits: str
    disabled: bool

    @property
    def actor(self) -> str:
        """How the audit trail names this person (the CLI names officers the same way)."""
        return f"central-office:{self.username}"


@dataclass(frozen=True)
class Session:
    """A signed-in session: who, and the CSRF token its forms carry."""

    user: StaffUser
    csrf: str
    key: str


class SignInRefused(Exception):
    """Raised when a sign-in fails; the message never says whether the name or the password was wrong."""


class SignInThrottled(SignInRefused):
    """Raised when too many sign-ins failed lately for the account or the address."""


def _user(row: Any) -> StaffUser:
    return StaffUser(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        language=row.language,
        digits=row.digits,
        disabled=row.disabled_at is not None,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"a password has at least {MIN_PASSWORD} characters", field="password")


def create_user(
    engine: Engine,
    username: str,
    role: Role,
    password: str,
    *,
    display_name: str = "",
    language: str = "ar",
    actor: str,
) -> StaffUser:
    """A new account; Conflict when the username is taken."""
    if not USERNAME.match(username):
        raise Unprocessable("a username is 2 to 80 of a-z 0-9 . _ - (lower case)", field="username")
    _check_password(password)
    if language not in ("ar", "en"):
        raise Unprocessable("language is ar or en", field="language")
    at = now()
    with transaction(engine) as conn:
        if conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).first():
            raise Conflict(f"the username '{username}' is taken", state="exists")
        user_id = new_id("u")
        conn.execute(
            insert(staff_users).values(
                id=user_id,
                username=username,
                display_name=display_name or username,
                role=role.value,
                password_hash=_hasher.hash(password),
                language=language,
                digits="arab" if language == "ar" else "latn",
                disabled_at=None,
                created_at=at,
                updated_at=at,
            )
        )
        audit(conn, actor, "user.created", username, role=role.value)
        return _user(conn.execute(select(staff_users).where(staff_users.c.id == user_id)).one())


def find_user(conn: Connection, username: str) -> StaffUser:
    """An account by username; NotFound if there is none."""
    row = conn.execute(select(staff_users).where(staff_users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user '{username}'")
    return _user(row)


def list_users(conn: Connection) -> list[StaffUser]:
    """Every account, by username."""
    return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.username))]


def disable_user(engine: Engine, username: str, *, actor: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    with transaction(engine) as conn:
        user = find_user(conn, username)
        conn.execute(update(staff_users).where(staff_users.c.id == user.id).values(disabled_at=now(), updated_at=now()))
        conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user.id))
        audit(conn, actor, "user.disabled", username)


def reset_password(engine: Engine, username: str, password: str, *, actor: str) -> None:
    """Set a new password (and enable the account again); its sessions end."""
    _check_password(password)
    with transaction(engine) as conn:
        user = find_user(conn, username)
        conn.execute(
            update(staff_users)
            .where(staff_users.c.id == user.id)
            .values(password_hash=_hasher.hash(password), disabled_at=None, updated_at=now())
        )
        conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user.id))
        audit(conn, actor, "user.password_reset", username)


def set_preferences(engine: Engine, user: StaffUser, language: str, digits: str) -> None:
    """A person's language and digits in the console."""
    if language not in ("ar", "en") or digits not in ("arab", "latn"):
        raise Unprocessable("language is ar or en, digits arab or latn", field="language")
    with transaction(engine) as conn:
        conn.execute(
            update(staff_users)
            .where(staff_users.c.id == user.id)
            .values(language=language, digits=digits, updated_at=now())
        )


def _failures(conn: Connection, column: Any, value: str, since: datetime) -> int:
    query = select(func.count()).where(column == value, staff_logins.c.ok.is_(False), staff_logins.c.created_at > since)
    return int(conn.execute(query).scalar_one())


def sign_in(engine: Engine, username: str, password: str, address: str) -> Session:
    """Check a sign-in and open a session; SignInRefused (or SignInThrottled) says no, never why."""
    username = username.strip().lower()[:80]
    at = now()
    with transaction(engine) as conn:
        since = at - THROTTLE_WINDOW
        if (
            _failures(conn, staff_logins.c.username, username, since) >= THROTTLE_FAILURES
            or _failures(conn, staff_logins.c.address, address, since) >= THROTTLE_FAILURES * 4
        ):
            raise SignInThrottled("too many attempts")
    with transaction(engine) as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.username == username)).first()
        ok = _verify(row.password_hash if row is not None else _DUMMY, password)
        ok = ok and row is not None and row.disabled_at is None
        conn.execute(insert(staff_logins).values(username=username, address=address[:64], ok=ok, created_at=at))
        if not ok or row is None:
            refused = True
        else:
            refused = False
            if _hasher.check_needs_rehash(row.password_hash):
                conn.execute(
                    update(staff_users).where(staff_users.c.id == row.id).values(password_hash=_hasher.hash(password))
                )
            conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at < at))  # housekeeping
            key = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            conn.execute(
                insert(staff_sessions).values(
                    id=_digest(key),
                    user_id=row.id,
                    csrf=csrf,
                    created_at=at,
                    expires_at=at + timedelta(hours=SESSION_HOURS),
                )
            )
            user = _user(row)
            audit(conn, user.actor, "user.signed_in", username, address=address)
    if refused:  # the failed attempt is committed first: it counts towards the throttle
        raise SignInRefused("wrong username or password")
    return Session(user=user, csrf=csrf, key=key)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def session(conn: Connection, key: str) -> Session | None:
    """The live session for a cookie's secret, or None (unknown, expired, or its account disabled)."""
    row = conn.execute(
        select(staff_sessions.c.csrf, staff_sessions.c.expires_at, staff_users)
        .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.id == _digest(key))
    ).first()
    if row is None or row.expires_at <= now() or row.disabled_at is not None:
        return None
    return Session(user=_user(row), csrf=row.csrf, key=key)


def sign_out(engine: Engine, s: Session) -> None:
    """End a session."""
    with transaction(engine) as conn:
        conn.execute(delete(staff_sessions).where(staff_sessions.c.id == _digest(s.key)))
        audit(conn, s.user.actor, "user.signed_out", s.user.username)
