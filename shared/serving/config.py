"""uvicorn's Config plus the settings of our own protocol and supervisor.

It is pickled into each worker process with the rest of the Config (uvicorn spawns workers),
so what the protocol reads travels with it.
"""

from typing import Any

import uvicorn


class ServerConfig(uvicorn.Config):
    def __init__(
        self,
        app: Any,
        *,
        max_header_bytes: int,
        client_timeout: float,
        shutdown_drain: float,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.max_header_bytes = max_header_bytes  # MAX_HEADER_BYTES
        self.client_timeout = client_timeout  # CLIENT_HEADER_TIMEOUT_SECONDS
        self.shutdown_drain = shutdown_drain  # SHUTDOWN_DRAIN_SECONDS
