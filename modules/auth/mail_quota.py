"""EMAILS_PER_ADDRESS_PER_HOUR: the password-reset and verification e-mails one address gets
in an hour, whoever asks, so a stranger cannot flood someone's inbox through the forms.

Counted per normalized address whether or not an account has it (the answer is the same
`202` either way), in PostgreSQL so every worker and replica shares the count.
"""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from .models import MailQuota
from .throttle import throttle_key

WINDOW = timedelta(hours=1)


class MailQuotas:
    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour

    async def take(self, session: AsyncSession, address: str) -> bool:
        """Counts one more e-mail to `address`: False when its hour's quota is used up."""
        current = col(MailQuota.window_start) > sa.func.now() - WINDOW
        statement = (
            insert(MailQuota)
            .values(key=throttle_key(address), window_start=sa.func.now(), sent=1)
            .on_conflict_do_update(
                index_elements=[col(MailQuota.key)],
                set_={
                    "sent": sa.case((current, col(MailQuota.sent) + 1), else_=1),
                    "window_start": sa.case(
                        (current, col(MailQuota.window_start)), else_=sa.func.now()
                    ),
                },
            )
            .returning(col(MailQuota.sent))
        )
        sent: int = (await session.exec(statement)).scalar_one()
        return sent <= self.per_hour

    async def purge(self, session: AsyncSession) -> int:
        """Forget the counts of hours that are over."""
        result = await session.exec(
            sa.delete(MailQuota).where(col(MailQuota.window_start) < sa.func.now() - WINDOW)
        )
        return int(result.rowcount)
