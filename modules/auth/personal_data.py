"""What auth holds about a person: their login sessions (with the address and user agent of
each login), their API keys (names, scopes and times), whether two-factor login is on, and
the login throttle and mail quota kept under their address. Never a token, a key or its hash,
a TOTP secret or a recovery code."""

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.personal_data import Person, PersonalData, Section

from .models import (
    ApiKey,
    AuthSession,
    LoginThrottle,
    MailQuota,
    MfaChallenge,
    RecoveryCode,
    TotpSecret,
)
from .throttle import throttle_key


async def export_auth(session: AsyncSession, person: Person) -> Section:
    sessions = await session.exec(
        select(AuthSession)
        .where(col(AuthSession.user_id) == person.id)
        .order_by(col(AuthSession.created_at))
    )
    yield (
        "sessions",
        [
            {
                "id": login.id,
                "created_at": login.created_at,
                "last_used_at": login.last_used_at,
                "authenticated_at": login.authenticated_at,
                "expires_at": login.expires_at,
                "revoked_at": login.revoked_at,
                "ip": login.ip,
                "user_agent": login.user_agent,
            }
            for login in sessions
        ],
    )
    keys = await session.exec(
        select(ApiKey).where(col(ApiKey.user_id) == person.id).order_by(col(ApiKey.created_at))
    )
    yield (
        "api_keys",
        [
            {
                "id": key.id,
                "name": key.name,
                "scopes": key.scopes,
                "created_at": key.created_at,
                "expires_at": key.expires_at,
                "last_used_at": key.last_used_at,
                "revoked_at": key.revoked_at,
            }
            for key in keys
        ],
    )
    totp = await session.get(TotpSecret, person.id)
    yield "two_factor", {"enabled": totp is not None and totp.confirmed_at is not None}


async def erase_auth(session: AsyncSession, person: Person) -> None:
    """The rows keyed by the account went with it (ON DELETE CASCADE) and are deleted again
    here, idempotently; those keyed by the address (a hash of it) go here."""
    for table in (AuthSession, ApiKey, TotpSecret, RecoveryCode, MfaChallenge):
        await session.exec(sa.delete(table).where(col(table.user_id) == person.id))
    if person.email is not None:
        key = throttle_key(person.email)
        for keyed in (LoginThrottle, MailQuota):
            await session.exec(sa.delete(keyed).where(col(keyed.key) == key))


PERSONAL_DATA = PersonalData(export=export_auth, erase=erase_auth)
