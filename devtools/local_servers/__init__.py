"""The machine's own server programs (PostgreSQL, PgBouncer, Redis, HAProxy), run privately on
127.0.0.1 and free ports: by the tests that restart, crash or freeze them, by the fault run
(bench/faults.py) and by `make stack` (devtools/stack).
"""
