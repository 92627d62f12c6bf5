"""How the API is served: uvicorn, with the bounds and the graceful drain it lacks.

`run.serve_api` is what `manage.py serve` (`make run`) calls; `drain.is_draining` is what
`/ready` reads.
"""
