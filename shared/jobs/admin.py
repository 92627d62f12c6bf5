"""What `manage.py jobs` shows and does: the backlog by task, the failed jobs with their last
error, and putting failed jobs back in the queue."""

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import JobId

from .queue import TASK_HEADER

_COUNTS = """
SELECT headers->>$1 AS task, status::text AS status, count(*) AS jobs
FROM pgqueuer WHERE status IN ('queued', 'picked', 'failed')
GROUP BY 1, 2 ORDER BY 1, 2
"""
# The error is the newest log entry's: PgQueuer logs every retry and the final failure.
_FAILED = """
SELECT j.id, j.headers->>$1 AS task, j.attempts, j.updated, log.traceback
FROM pgqueuer j
LEFT JOIN LATERAL (
    SELECT traceback FROM pgqueuer_log
    WHERE job_id = j.id AND traceback IS NOT NULL ORDER BY created DESC LIMIT 1
) log ON true
WHERE j.status = 'failed'
ORDER BY j.id
"""


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    task: str
    attempts: int
    failed_at: datetime
    error: str


async def backlog(connection: asyncpg.Connection) -> list[tuple[str, str, int]]:
    """(task, status, count) for the jobs waiting, running and failed."""
    rows = await connection.fetch(_COUNTS, TASK_HEADER)
    return [(row["task"] or "?", row["status"], row["jobs"]) for row in rows]


async def failed_jobs(connection: asyncpg.Connection) -> list[FailedJob]:
    rows = await connection.fetch(_FAILED, TASK_HEADER)
    return [
        FailedJob(
            id=row["id"],
            task=row["task"] or "?",
            attempts=row["attempts"] + 1,  # PgQueuer counts the retries; this counts tries
            failed_at=row["updated"],
            error=_error_of(row["traceback"]),
        )
        for row in rows
    ]


def _error_of(traceback: str | None) -> str:
    if traceback is None:
        return ""
    record = json.loads(traceback)
    return f"{record.get('exception_type', '')}: {record.get('exception_message', '')}"


async def retry(connection: asyncpg.Connection, ids: list[int] | None) -> list[int]:
    """Put the failed jobs `ids` (None: every failed job) back in the queue, with a fresh
    count of attempts. Returns the ids that were failed and are queued again."""
    failed = {job.id for job in await failed_jobs(connection)}
    chosen = sorted(failed if ids is None else failed & set(ids))
    await Queries(AsyncpgDriver(connection)).requeue_jobs([JobId(i) for i in chosen])
    return chosen
