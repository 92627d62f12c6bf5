"""The drain before a graceful stop, as the serving processes see it.

`serve_production` receives SIGTERM, creates the file this variable names, waits
SHUTDOWN_DRAIN_SECONDS, then stops gunicorn. Meanwhile every worker answers `/ready` with 503
(a load balancer polling it stops sending new work) and still serves every request. A file,
because the flag must reach every worker process gunicorn forked, and only them.
"""

import os

DRAIN_FLAG_VARIABLE = "MODULITH_DRAIN_FLAG"


def is_draining() -> bool:
    """True in a serving process whose server received SIGTERM and is about to stop."""
    flag = os.environ.get(DRAIN_FLAG_VARIABLE)
    return flag is not None and os.path.exists(flag)
