"""Personal-data exports (README, "Personal data"): a person asks for a copy of what every
module holds about them; the `users.build_export` job gathers it from each module's exporter
(shared/personal_data.py), stores it in pieces and e-mails them; they download it until it
expires, then the hourly housekeeping purges it.

The archive is written and served piece by piece (EXPORT_CHUNK_BYTES): however much a person
owns, neither the worker nor the API holds it whole.
"""

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.data.db import utcnow
from shared.email import SendEmail
from shared.jobs.messages import Job
from shared.jobs.queue import JobQueue
from shared.personal_data import Exporter, Person, archive
from shared.settings import Settings

from .errors import ExportExpired, ExportInProgress, ExportNotFound, ExportNotReady
from .models import DataExport, DataExportChunk, User

EXPORT_CHUNK_BYTES = 256 * 1024
# The newest a person is shown; they expire after EXPORT_RETENTION_DAYS anyway.
LISTED = 100


class BuildExport(Job, name="users.build_export"):
    export_id: uuid.UUID


class DataExports:
    def __init__(
        self,
        settings: Settings,
        jobs: Callable[[], JobQueue],
        exporters: Sequence[tuple[str, Exporter]],
    ) -> None:
        self.retention = timedelta(days=settings.export_retention_days)
        self.frontend = str(settings.frontend_url).rstrip("/")
        # The queue's provider, called when used: the queue's task registry holds `build`,
        # so the queue cannot be built before this.
        self._jobs = jobs
        # Every module's, loaded in this process or not (MODULES): the archive is whole.
        self.exporters = tuple(exporters)

    async def request(self, session: AsyncSession, user_id: uuid.UUID) -> DataExport:
        """A new pending export and the job that builds it; ExportInProgress while one is
        pending (the partial unique index decides, whatever the race)."""
        created = await session.exec(
            insert(DataExport)
            .values(id=uuid.uuid4(), user_id=user_id, requested_at=utcnow())
            .on_conflict_do_nothing(
                index_elements=["user_id"], index_where=sa.text("completed_at IS NULL")
            )
            .returning(DataExport)
        )
        export: DataExport | None = created.scalar_one_or_none()
        if export is None:
            raise ExportInProgress
        await self._jobs().enqueue(session, BuildExport(export_id=export.id))
        return export

    @staticmethod
    async def of_person(session: AsyncSession, user_id: uuid.UUID) -> list[DataExport]:
        statement = (
            select(DataExport)
            .where(col(DataExport.user_id) == user_id)
            .order_by(col(DataExport.requested_at).desc(), col(DataExport.id).desc())
            .limit(LISTED)
        )
        return list(await session.exec(statement))

    async def get(self, session: AsyncSession, user_id: uuid.UUID, export_id: str) -> DataExport:
        """The caller's export; someone else's, unknown or malformed: ExportNotFound."""
        try:
            wanted = uuid.UUID(export_id)
        except ValueError:
            raise ExportNotFound from None
        export = await session.get(DataExport, wanted)
        if export is None or export.user_id != user_id:
            raise ExportNotFound
        return export

    def downloadable(self, export: DataExport) -> None:
        if export.completed_at is None or export.expires_at is None:
            raise ExportNotReady
        if export.expires_at <= utcnow():
            raise ExportExpired

    async def pieces(self, session: AsyncSession, export_id: uuid.UUID) -> list[int]:
        """The numbers of the archive's pieces, in order."""
        statement = (
            select(DataExportChunk.seq)
            .where(col(DataExportChunk.export_id) == export_id)
            .order_by(col(DataExportChunk.seq))
        )
        return list(await session.exec(statement))

    @staticmethod
    async def piece(session: AsyncSession, export_id: uuid.UUID, seq: int) -> bytes:
        chunk = await session.get(DataExportChunk, (export_id, seq))
        if chunk is None:  # purged while being downloaded
            raise ExportExpired
        return chunk.content

    async def build(self, session: AsyncSession, job: BuildExport) -> None:
        """The job: the archive from every module's exporter, stored, the export ready and
        its owner told. At least once: a second run finds it ready (or gone) and stops; a run
        cut off midway left nothing, its transaction rolled back."""
        export = await session.get(DataExport, job.export_id, with_for_update=True)
        if export is None or export.completed_at is not None:
            return
        user = await session.get(User, export.user_id)
        if user is None:  # deleted meanwhile: the export went with the account
            return
        person = Person(user.id, user.email)
        generated_at = utcnow()
        pieces = archive(session, person, generated_at, self.exporters)
        async for seq, content in _in_chunks(pieces, EXPORT_CHUNK_BYTES):
            # Written at once; the session keeps no reference to a flushed piece (its
            # identity map is weak), so no more than a piece is held.
            session.add(DataExportChunk(export_id=export.id, seq=seq, content=content))
            await session.flush()
        expires_at = generated_at + self.retention
        export.completed_at, export.expires_at = generated_at, expires_at
        session.add(export)
        await self._jobs().enqueue(session, self._ready_email(user.email, export.id, expires_at))

    def _ready_email(self, address: str, export_id: uuid.UUID, expires_at: datetime) -> SendEmail:
        return SendEmail(
            to=address,
            subject="Your data export is ready",
            text="The copy of your data you asked for is ready. Download it, logged in, from\n"
            f"GET /api/v1/users/me/exports/{export_id}/download\n"
            f"until {expires_at:%Y-%m-%d %H:%M} UTC ({self.frontend}).\n\n"
            "If you did not ask for it, change your password.",
        )

    async def purge(self, session: AsyncSession) -> int:
        """Exports past their expiry, and pending ones older than the retention (a job that
        kept failing): with their pieces (ON DELETE CASCADE)."""
        now = utcnow()
        result = await session.exec(
            sa.delete(DataExport).where(
                (col(DataExport.expires_at) <= now)
                | (
                    col(DataExport.completed_at).is_(None)
                    & (col(DataExport.requested_at) <= now - self.retention)
                )
            )
        )
        return int(result.rowcount)


async def _in_chunks(pieces: AsyncIterator[bytes], size: int) -> AsyncIterator[tuple[int, bytes]]:
    """`pieces` joined into numbered chunks of at most about `size` bytes."""
    buffer = bytearray()
    seq = 0
    async for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield seq, bytes(buffer[:size])
            del buffer[:size]
            seq += 1
    if buffer or seq == 0:
        yield seq, bytes(buffer)
