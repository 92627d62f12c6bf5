"""What background work is made of: named JSON messages and the handlers registered for them.

A `Job` is something to do once after the commit, by the one handler registered for it (send
this e-mail). An `Event` is something that happened (`users.deleted`); every module that
subscribes gets its own job, so one failing subscriber never holds back another. Both are
pydantic models with a stable dotted name, which is what the queue stores next to the JSON.

Nothing here knows the queue engine.
"""

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

DOTTED_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


class Message(BaseModel):
    """A payload stored as JSON; subclasses are declared with `name="module.what"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: ClassVar[str] = ""

    def __init_subclass__(cls, *, name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            if not DOTTED_NAME.fullmatch(name):
                raise TypeError(f"{cls.__name__}: {name!r} is not a dotted name such as 'a.b'")
            cls.name = name


class Job(Message):
    """Work with exactly one handler: `class SendEmail(Job, name="email.send")`."""


class Event(Message):
    """A fact other modules may react to: `class UserDeleted(Event, name="users.deleted")`."""

    # Lets a handler recognise a delivery it has already acted on (at least once means
    # sometimes twice).
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)


# A handler gets a session of its own, in a transaction committed when it returns.
Handler = Callable[[AsyncSession, Any], Awaitable[None]]
Handlers = Mapping[type[Message], Handler]


@dataclass(frozen=True, slots=True)
class Task:
    """One kind of queued work: a message type and the handler that does it."""

    name: str
    message: type[Message]
    handler: Handler
    # The module whose handler it is ("kernel" for the kernel's): its jobs are queued under
    # the owner's name, and a worker takes only those of the modules it loads (MODULES).
    owner: str


class TaskRegistry:
    """Every task the application knows, checked once at start-up.

    A job's task is named after the job (`email.send`); an event's subscriber after the
    event and the handler (`users.deleted:items.erase_personal_data`).
    """

    def __init__(
        self, owners: Iterable[tuple[str, Handlers]], renamed: Mapping[str, str] | None = None
    ) -> None:
        self._tasks: dict[str, Task] = {}
        self._by_message: dict[type[Message], list[Task]] = {}
        for owner, handlers in owners:
            for message, handler in handlers.items():
                self._add(owner, message, handler)
        # A task's earlier name -> its name now: jobs queued by an earlier release under the
        # old name still run (nothing new is queued under it).
        self._renamed = dict(renamed or {})
        if unknown := sorted(set(self._renamed.values()) - set(self._tasks)):
            raise TypeError(f"renamed to tasks nobody handles: {unknown}")

    def _add(self, owner: str, message: type[Message], handler: Handler) -> None:
        if not message.name:
            raise TypeError(f"{message.__name__} has no name: declare it with name='...'")
        if issubclass(message, Event):
            task_name = f"{message.name}:{owner}.{getattr(handler, '__name__', 'handler')}"
        elif issubclass(message, Job):
            if message in self._by_message:
                raise TypeError(f"{message.name} has a handler already: a job has exactly one")
            task_name = message.name
        else:
            raise TypeError(f"{message.__name__} must be a Job or an Event")
        if task_name in self._tasks:
            raise TypeError(f"two handlers are registered as {task_name}")
        task = Task(task_name, message, handler, owner)
        self._tasks[task_name] = task
        self._by_message.setdefault(message, []).append(task)

    def get(self, name: str) -> Task | None:
        return self._tasks.get(self._renamed.get(name, name))

    def tasks_for(self, message: Message) -> list[Task]:
        """The tasks a message becomes: a job's one task, one per subscriber of an event."""
        tasks = self._by_message.get(type(message), [])
        if isinstance(message, Job) and not tasks:
            raise LookupError(f"no handler is registered for the job {message.name}")
        return tasks

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    @property
    def owners(self) -> set[str]:
        return {task.owner for task in self._tasks.values()}

    def owned_by(self, owners: Iterable[str]) -> list[str]:
        """The names of the tasks of `owners`."""
        chosen = set(owners)
        return sorted(name for name, task in self._tasks.items() if task.owner in chosen)
