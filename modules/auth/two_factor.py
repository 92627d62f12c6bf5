"""TOTP two-factor login (RFC 6238 with pyotp: 6 digits, 30 s steps, SHA-1, ±1 step).

- The secret is stored sealed (`SecretBox`); it is shown once, at setup.
- A code is accepted once only, across every worker: accepting it moves the user's
  `last_used_step` forward in one conditional UPDATE, which a second use of the same code (or
  of an older one) cannot pass, even from another connection at the same moment.
- Ten recovery codes are made when 2FA is turned on (80 random bits each, stored as keyed
  hashes: `recovery_codes.py`) and used up by the same kind of conditional UPDATE.
- A login whose password was right gets an `mfa_token` (a challenge row, stored as a hash):
  single use, 5 minutes, ended by 5 wrong codes.
"""

import enum
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import utcnow

from .models import MfaChallenge, RecoveryCode, TotpSecret
from .recovery_codes import RecoveryCodeHasher
from .secret_box import SecretBox

STEP_SECONDS = 30
ACCEPTED_STEPS = (-1, 0, 1)  # a code from the previous or next step too: clocks drift
RECOVERY_CODE_COUNT = 10
CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5
CHALLENGE_TOKEN_BYTES = 32

TOTP_CODE = re.compile(r"[0-9]{6}")  # ASCII digits: \d would match any script's digits


class SecondFactor(enum.Enum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True, slots=True)
class PendingSetup:
    secret: str
    otpauth_uri: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TwoFactor:
    def __init__(self, box: SecretBox, recovery_codes: RecoveryCodeHasher, issuer: str) -> None:
        self.box = box
        self.recovery_codes = recovery_codes
        self.issuer = issuer

    # --- setting it up and taking it down -------------------------------------------------

    async def set_up(self, session: AsyncSession, user_id: uuid.UUID, email: str) -> PendingSetup:
        """A new pending secret, replacing an earlier pending one."""
        secret = pyotp.random_base32()
        row = {
            "user_id": user_id,
            "encrypted_secret": self.box.seal(secret),
            "confirmed_at": None,
            "last_used_step": None,
        }
        statement = insert(TotpSecret).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=[col(TotpSecret.user_id)],
            set_={k: v for k, v in row.items() if k != "user_id"},
        )
        await session.exec(statement)
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=self.issuer)
        return PendingSetup(secret, uri)

    async def has_pending_setup(self, session: AsyncSession, user_id: uuid.UUID) -> bool:
        statement = select(TotpSecret.user_id).where(
            col(TotpSecret.user_id) == user_id, col(TotpSecret.confirmed_at).is_(None)
        )
        return (await session.exec(statement)).first() is not None

    async def confirm(
        self, session: AsyncSession, user_id: uuid.UUID, code: str
    ) -> list[str] | None:
        """Turn the pending secret on with a valid code: the new recovery codes, or None."""
        if not await self._accept_totp(session, user_id, code, confirmed=False):
            return None
        await session.exec(
            sa.update(TotpSecret)
            .where(col(TotpSecret.user_id) == user_id)
            .values(confirmed_at=sa.func.now())
        )
        await session.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        codes = [self.recovery_codes.new_code() for _ in range(RECOVERY_CODE_COUNT)]
        session.add_all(
            RecoveryCode(user_id=user_id, code_hash=self.recovery_codes.hash(code))
            for code in codes
        )
        await session.flush()
        return codes

    async def turn_off(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """Forget the user's secret and recovery codes (the users row's flag is the caller's)."""
        await session.exec(sa.delete(TotpSecret).where(col(TotpSecret.user_id) == user_id))
        await session.exec(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        await session.exec(sa.delete(MfaChallenge).where(col(MfaChallenge.user_id) == user_id))

    # --- checking a code ------------------------------------------------------------------

    async def check(
        self, session: AsyncSession, user_id: uuid.UUID, code: str
    ) -> SecondFactor | None:
        """Use up `code` (a TOTP code or a recovery code) of a user with 2FA on."""
        if TOTP_CODE.fullmatch(code):
            accepted = await self._accept_totp(session, user_id, code, confirmed=True)
            return SecondFactor.TOTP if accepted else None
        if self.recovery_codes.is_code(code):
            used = await session.exec(
                sa.update(RecoveryCode)
                .where(
                    col(RecoveryCode.user_id) == user_id,
                    col(RecoveryCode.code_hash) == self.recovery_codes.hash(code),
                    col(RecoveryCode.used_at).is_(None),
                )
                .values(used_at=sa.func.now())
                .returning(col(RecoveryCode.id))
            )
            return SecondFactor.RECOVERY_CODE if used.first() is not None else None
        return None

    async def _accept_totp(
        self, session: AsyncSession, user_id: uuid.UUID, code: str, *, confirmed: bool
    ) -> bool:
        state = (
            col(TotpSecret.confirmed_at).is_not(None)
            if confirmed
            else col(TotpSecret.confirmed_at).is_(None)
        )
        sealed = (
            await session.exec(
                select(TotpSecret.encrypted_secret).where(col(TotpSecret.user_id) == user_id, state)
            )
        ).first()
        secret = self.box.open(sealed) if sealed is not None else None
        if secret is None or not TOTP_CODE.fullmatch(code):
            return False
        step = _matching_step(pyotp.TOTP(secret), code)
        if step is None:
            return False
        # Moves forward only: the same code, raced or replayed, passes once.
        accepted = await session.exec(
            sa.update(TotpSecret)
            .where(
                col(TotpSecret.user_id) == user_id,
                sa.or_(
                    col(TotpSecret.last_used_step).is_(None),
                    col(TotpSecret.last_used_step) < step,
                ),
            )
            .values(last_used_step=step)
            .returning(col(TotpSecret.user_id))
        )
        return accepted.first() is not None

    # --- the login's second step ------------------------------------------------------------

    async def challenge(self, session: AsyncSession, user_id: uuid.UUID) -> str:
        """An `mfa_token` for a login whose password was right."""
        token = secrets.token_urlsafe(CHALLENGE_TOKEN_BYTES)
        session.add(
            MfaChallenge(
                user_id=user_id,
                token_hash=_sha256(token),
                expires_at=utcnow() + CHALLENGE_LIFETIME,
            )
        )
        await session.flush()
        return token

    async def open_challenge(self, session: AsyncSession, token: str) -> MfaChallenge | None:
        """The live challenge of `token`, locked: two codes sent with one token take turns."""
        statement = (
            select(MfaChallenge)
            .where(
                col(MfaChallenge.token_hash) == _sha256(token),
                col(MfaChallenge.used_at).is_(None),
                col(MfaChallenge.expires_at) > sa.func.now(),
                col(MfaChallenge.failures) < CHALLENGE_MAX_FAILURES,
            )
            .with_for_update()
        )
        return (await session.exec(statement)).first()

    async def fail(self, session: AsyncSession, challenge: MfaChallenge) -> None:
        challenge.failures += 1
        session.add(challenge)
        await session.flush()

    async def redeem(self, session: AsyncSession, challenge: MfaChallenge) -> None:
        challenge.used_at = utcnow()
        session.add(challenge)
        await session.flush()

    async def purge(self, session: AsyncSession) -> int:
        """Delete challenges that have expired."""
        result = await session.exec(
            sa.delete(MfaChallenge).where(col(MfaChallenge.expires_at) < sa.func.now())
        )
        return int(result.rowcount)


def _matching_step(totp: pyotp.TOTP, code: str) -> int | None:
    now_step = int(time.time()) // STEP_SECONDS
    for offset in ACCEPTED_STEPS:
        step = now_step + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
