"""What the users module announces to the others (through the kernel's job queue)."""

import uuid

from shared.jobs.messages import Event


class UserDeleted(Event, name="users.deleted"):
    """Published in the deleting transaction. The user's row is gone; foreign keys with
    ON DELETE CASCADE have already removed what hangs off it."""

    user_id: uuid.UUID
    # The address it had: what some modules key their rows by (login throttles, mail
    # quotas). None in an event queued by a release before it was carried.
    email: str | None = None
