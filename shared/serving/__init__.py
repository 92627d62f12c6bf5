"""How the API is served.

- Development (`make run`, `make dev`): one uvicorn process (`run.serve_development`).
- Production (`ENVIRONMENT=production`): gunicorn with uvicorn's worker class, `WORKERS`
  processes, configured in `gunicorn_conf.py` through its documented settings and hooks, under
  `run.serve_production`, which drains before gunicorn's graceful stop (`drain.py`).

What an edge proxy does (bounding headers and slow clients) is HAProxy's job, in front:
deploy/haproxy/haproxy.cfg.
"""
