"""Dashboard users: create, list, log in (argon2id), sessions and JWTs voided by epoch, disable.

Every session cookie and JWT carries the user's ``session_epoch``; bumping it (logout
everywhere, password change, disable) voids all of them at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit.service import record
from nexus_crm.errors import Conflict, InvalidInput, NotFound
from nexus_crm.models import USER_ROLES, DashboardUser
from nexus_crm.security import passwords
from nexus_crm.security import user_repository as repo

CLI_ACTOR = "system:cli"  # the actor of changes made from the command line
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


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(USER_ROLES)}", field="role")


async def _existing(session: AsyncSession, email: str) -> DashboardUser:
    user = await repo.get_by_email(session, normalize_email(email))
    if user is None:
        raise NotFound(f"no dashboard user with email {email!r}", field="email")
    return user


async def _audit(
    session: AsyncSession, actor: str, action: str, user: DashboardUser, **details: object
) -> None:
    await record(session, actor=actor, action=action, target=f"user:{user.email}", details=details)


async def create_user(
    session: AsyncSession, *, email: str, password: str, role: str, actor: str = CLI_ACTOR
) -> DashboardUser:
    """Create a dashboard user (audited); 409 if the email is taken, 422 on bad role/password."""
    address = normalize_email(email)
    _check_role(role)
    check_password(password)
    if await repo.get_by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists", field="email")
    user = DashboardUser(email=address, password_hash=passwords.hash_password(password), role=role)
    await repo.add_user(session, user)
    await _audit(session, actor, "user.create", user, role=role)
    return user


async def set_role(
    session: AsyncSession, *, email: str, role: str, actor: str = CLI_ACTOR
) -> DashboardUser:
    """Change a user's role (audited; their tokens carry the new scopes at once); 404 if unknown."""
    _check_role(role)
    user = await _existing(session, email)
    if user.role != role:
        before, user.role = user.role, role
        await session.flush()
        await _audit(session, actor, "user.role_change", user, **{"from": before, "to": role})
    return user


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
    """Log a user out everywhere (audited): every cookie and JWT issued so far stops working."""
    user = await repo.get_by_id(session, user_id)
    if user is not None:
        user.session_epoch += 1
        await session.flush()
        await _audit(session, f"user:{user.email}", "user.logout", user)


async def disable_user(
    session: AsyncSession, *, email: str, now: datetime, actor: str = CLI_ACTOR
) -> DashboardUser:
    """Disable a user (audited; no login; sessions and JWTs end); 404 if unknown."""
    user = await _existing(session, email)
    user.disabled_at = user.disabled_at or now
    user.session_epoch += 1
    await session.flush()
    await _audit(session, actor, "user.disable", user)
    return user


async def set_password(
    session: AsyncSession, *, email: str, password: str, actor: str = CLI_ACTOR
) -> DashboardUser:
    """Give a user a new password (audited) and end their sessions and JWTs; 404 if unknown."""
    check_password(password)
    user = await _existing(session, email)
    user.password_hash = passwords.hash_password(password)
    user.session_epoch += 1
    await session.flush()
    await _audit(session, actor, "user.password_change", user)
    return user
