"""gunicorn's configuration in production (`gunicorn --config python:shared.serving.gunicorn_conf`),
from the service's settings: documented settings and server hooks only.
"""

import gc

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker
from prometheus_client import multiprocess

from shared.settings import load_settings

from .worker import GRACEFUL_SHUTDOWN_SECONDS

settings = load_settings()

host = f"[{settings.host}]" if ":" in settings.host else settings.host
bind = [f"{host}:{settings.port}"]
workers = settings.workers
worker_class = "shared.serving.worker.ServingWorker"
# Above the idle timeouts of the common proxies (HAProxy's `timeout http-keep-alive`, 60 s on
# most load balancers): the proxy, not us, closes an idle upstream connection, so it never
# sends a request on one we are closing.
keepalive = settings.keepalive_timeout_seconds
# uvicorn's own graceful shutdown ends first; this only stops a worker that hangs in it.
graceful_timeout = GRACEFUL_SHUTDOWN_SECONDS + 5
# A worker that has not told the master it is alive for this long is killed and replaced. Each
# worker imports the app first: several starting together on a small machine take seconds.
timeout = 30
accesslog = None  # the app logs one structured line per request
loglevel = settings.log_level.lower()
proc_name = "modulith-api"
# No runtime control socket: several nodes share a machine in `make stack`, and the root
# filesystem is read-only in deploy/k8s. Scaling and stopping go through signals.
control_socket_disable = True


def post_worker_init(worker: Worker) -> None:
    """The app is built (modules, routes, validators, mappers): that heap lives as long as the
    process, and a full collection would walk all of it while every request waits. Frozen, it
    is left out of every collection, which then walks only what requests allocated (the
    figures are in the commit that added this, 23af398)."""
    gc.collect()  # start-up's own garbage goes now rather than being kept frozen
    gc.freeze()


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker that is gone stops counting in the live gauges (in-flight requests, the pool);
    prometheus-client's documented multiprocess hook."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
