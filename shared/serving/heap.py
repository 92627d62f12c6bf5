"""What a serving process's start-up built, set aside from the garbage collector.

Start-up builds a heap that lives as long as the process: about 180,000 objects (the modules,
the app and its routes, pydantic's validators, SQLAlchemy's mappers). CPython's full
collection walks all of them, about 60 ms on the benchmark machine, while every request in the
process waits; under `make bench`'s load one ran every few seconds (1 worker: 90 full
collections, 8.3 s in all, the longest 145 ms). Frozen (`gc.freeze`), they are left out of
every collection, and a full one takes about 9 ms; what requests allocate is collected
as before.
"""

import gc

from .drain import serving_server


def freeze_startup_heap() -> None:
    """Called at the end of the app's start-up. Only in a process uvicorn serves: the tests
    build many apps in one process, and freezing would keep each one's garbage for good."""
    if serving_server() is None:
        return
    gc.collect()  # start-up's own garbage goes now rather than being kept frozen
    gc.freeze()
