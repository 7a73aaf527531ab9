"""Dashboard users: create, list, log in (argon2id), sessions voided by logout, disable."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.errors import Conflict, InvalidInput, NotFound
from nexus_crm.models import USER_ROLES, DashboardUser
from nexus_crm.security import passwords
from nexus_crm.security import user_repository as repo

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """The stored spelling of an email (trimmed, lower case); 422 if it is not one."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInput(f"{email!r} is not an email address", field="email")
    return value


def check_password(password: str) -> None:
    """422 unless the password has a usable length."""
    if not passwords.MIN_PASSWORD_LENGTH <= len(password) <= passwords.MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a password needs {passwords.MIN_PASSWORD_LENGTH} to "
            f"{passwords.MAX_PASSWORD_LENGTH} characters",
            field="password",
        )


async def create_user(
    session: AsyncSession, *, email: str, password: str, role: str
) -> DashboardUser:
    """Create a dashboard user; 409 if the email is taken, 422 on a bad role or password."""
    address = normalize_email(email)
    if role not in USER_ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(USER_ROLES)}", field="role")
    check_password(password)
    if await repo.get_by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists", field="email")
    user = DashboardUser(email=address, password_hash=passwords.hash_password(password), role=role)
    return await repo.add_user(session, user)


async def list_users(session: AsyncSession) -> Sequence[DashboardUser]:
    """All dashboard users (without password hashes in any output)."""
    return await repo.list_users(session)


async def authenticate_user(
    session: AsyncSession, *, email: str, password: str, now: datetime
) -> DashboardUser | None:
    """The active user with these credentials (recording the login), else None."""
    try:
        address = normalize_email(email)
    except InvalidInput:
        address = ""
    user = await repo.get_by_email(session, address) if address else None
    if user is None:
        passwords.verify_password(passwords.dummy_hash(), password)  # same time either way
        return None
    if not passwords.verify_password(user.password_hash, password) or user.disabled_at:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    await session.flush()
    return user


async def session_user(
    session: AsyncSession, *, user_id: uuid.UUID, epoch: int
) -> DashboardUser | None:
    """The user a session cookie names, if still active and not logged out since."""
    user = await repo.get_by_id(session, user_id)
    if user is None or user.disabled_at is not None or user.session_epoch != epoch:
        return None
    return user


async def end_sessions(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Log a user out everywhere: every cookie issued so far stops working."""
    user = await repo.get_by_id(session, user_id)
    if user is not None:
        user.session_epoch += 1
        await session.flush()


async def disable_user(session: AsyncSession, *, email: str, now: datetime) -> DashboardUser:
    """Disable a user (no login, sessions end); 404 if unknown."""
    user = await repo.get_by_email(session, normalize_email(email))
    if user is None:
        raise NotFound(f"no dashboard user with email {email!r}", field="email")
    user.disabled_at = user.disabled_at or now
    user.session_epoch += 1
    await session.flush()
    return user


async def set_password(session: AsyncSession, *, email: str, password: str) -> DashboardUser:
    """Give a user a new password and end their sessions; 404 if unknown."""
    check_password(password)
    user = await repo.get_by_email(session, normalize_email(email))
    if user is None:
        raise NotFound(f"no dashboard user with email {email!r}", field="email")
    user.password_hash = passwords.hash_password(password)
    user.session_epoch += 1
    await session.flush()
    return user
