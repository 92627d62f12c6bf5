# syntax=docker/dockerfile:1
# Build: the locked production dependencies only (no dev tools), compiled to bytecode.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_NO_CACHE_DIR=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini main.py manage.py ./
COPY shared ./shared
COPY modules ./modules
COPY migrations ./migrations

# Run: the virtual environment and the code, as an unprivileged user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --user-group app
WORKDIR /app
COPY --from=build --chown=app:app /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 ENVIRONMENT=production HOST=0.0.0.0 PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
# Migrations run as a job of their own (compose.yaml): replicas never race on them.
CMD ["python", "manage.py", "serve", "--skip-migrations"]
