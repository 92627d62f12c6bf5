"""`make stack` and `make stack-check`: the production topology on one machine, without Docker,
from the machine's own binaries (haproxy, pgbouncer, PostgreSQL's, redis-server):

    edge (HAProxy, deploy/haproxy/haproxy.cfg) on EDGE_PORT
      -> API_NODES API nodes (`manage.py serve`, gunicorn), each on a port of its own
      -> PgBouncer (transaction pooling) -> a throwaway PostgreSQL primary
         with a streaming replica (DATABASE_READ_URL)
    Redis (rate limits, login throttling); JOB_WORKERS workers (`manage.py worker`);
    a local mail server keeping every e-mail the stack sends.

topology.py starts and stops it; __main__.py is `make stack`; check.py is `make stack-check`.
"""
