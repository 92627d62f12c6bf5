"""What a serving process's start-up built, set aside from the garbage collector.

Start-up builds a heap that lives as long as the process (the modules, the app and its
routes, pydantic's validators, SQLAlchemy's mappers). CPython's full collection walks all of
it while every request in the process waits, and under load one runs every few seconds.
Frozen (`gc.freeze`), that heap is left out of every collection, which then walks only what
requests allocated (the figures are in the commit that added this, 23af398).
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
