"""uvicorn's worker class for gunicorn, with the uvicorn settings gunicorn has no name for.

`CONFIG_KWARGS` is the extension point uvicorn's deployment guide documents for this.
"""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

# On SIGTERM: the longest a request in flight is waited for before it is cancelled and the app
# shut down. gunicorn's graceful_timeout (gunicorn_conf.py) is longer, and process managers
# wait longer still (SHUTDOWN_DRAIN_SECONDS + this + a margin).
GRACEFUL_SHUTDOWN_SECONDS = 20


class ServingWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only.
        "proxy_headers": False,
        "server_header": False,  # no `Server: uvicorn` telling what runs here
        "access_log": False,  # the app logs one structured line per request itself
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
