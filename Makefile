# The commands the README documents. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv from PATH, else the one `make install` puts next to $(PYTHON).
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked
M ?=
m ?=

.PHONY: help install run dev worker test lint lint-edge lint-schema fmt migrate migration module superuser docs bench stack stack-check up down upgrade-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installed once, again whenever the lock file changes. Compiled to bytecode once here, as
# the Dockerfile does: where Python may not write .pyc files (PYTHONDONTWRITEBYTECODE, a
# read-only tree), every start would otherwise compile the dependencies again, which takes
# longer than the start itself.
.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv
	$(UV) sync --locked --compile-bytecode
	@touch $@

install: ## install uv if missing (pip), then the locked dependencies (uv sync), as bytecode
	@rm -f .venv/.installed
	@$(MAKE) --no-print-directory .venv/.installed

run: .venv/.installed ## create + migrate the database if needed, serve on HOST:PORT
	$(RUN) python manage.py serve

dev: .venv/.installed ## as run, with auto-reload
	$(RUN) python manage.py serve --reload

worker: .venv/.installed ## a standalone background worker; run any number, on any machines; MODULES=audit for one module's jobs
	$(RUN) python manage.py worker

test: .venv/.installed ## the whole suite on real PostgreSQL; M=<module> for one module
	$(RUN) pytest $(if $(M),tests/$(M))

lint: .venv/.installed ## ruff, mypy, import contracts, docs/modules.md fresh, Dockerfile, compose, CI and Dependabot schemas, the HAProxy config, squawk over every migration, deploy/k8s against the Kubernetes and KEDA schemas, the OpenAPI schema (Redocly)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) python manage.py docs --check
	$(RUN) hadolint Dockerfile
	$(RUN) check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(RUN) check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(RUN) check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(RUN) python -m devtools.migration_lint
	$(RUN) python -m devtools.k8s_lint
	@$(MAKE) --no-print-directory lint-edge
	@$(MAKE) --no-print-directory lint-schema

lint-edge: ## the edge's HAProxy configuration, with compose's nodes (needs haproxy)
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { echo "make lint-edge needs HAProxy (Debian: apt-get install haproxy)"; exit 2; }
	EDGE_BIND=127.0.0.1:8080 MAX_HEADER_BYTES=65536 CLIENT_HEADER_TIMEOUT_SECONDS=10 \
		$$(command -v haproxy || echo /usr/sbin/haproxy) -c -q -f deploy/haproxy/haproxy.cfg -f deploy/haproxy/compose-nodes.cfg

lint-schema: .venv/.installed ## the OpenAPI schema against Redocly's recommended rules (needs Node and npm)
	@command -v npm >/dev/null || { echo "make lint-schema needs Node.js and npm (https://nodejs.org)"; exit 2; }
	@npm ci --prefix .ci/redocly --silent --no-audit --no-fund
	@$(RUN) python manage.py openapi > .ci/redocly/openapi.json
	cd .ci/redocly && node_modules/.bin/redocly lint --config redocly.yaml openapi.json --format stylish

fmt: .venv/.installed ## ruff format + safe fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: .venv/.installed ## create the database if missing, upgrade every module's branch
	$(RUN) python manage.py migrate

migration: .venv/.installed ## autogenerate a migration in a module's branch: make migration M=items m="add sku"
	@test -n "$(M)" -a -n "$(m)" || { echo 'usage: make migration M=<module> m="what changed"'; exit 2; }
	$(RUN) python manage.py migrate
	$(RUN) alembic -x module=$(M) revision --autogenerate --head $(M)@head -m "$(m)"

superuser: .venv/.installed ## create a superuser: make superuser EMAIL=you@example.com PASSWORD=...
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || { echo 'usage: make superuser EMAIL=… PASSWORD=…'; exit 2; }
	SUPERUSER_PASSWORD='$(PASSWORD)' $(RUN) python manage.py create-superuser --email '$(EMAIL)'

module: .venv/.installed ## scaffold and register a module: make module name=orders [entity=order]
	@test -n "$(name)" || { echo 'usage: make module name=<plural noun> [entity=<singular>]'; exit 2; }
	$(RUN) python manage.py module "$(name)" $(if $(entity),--entity "$(entity)")

docs: .venv/.installed ## write docs/modules.md (routes, tables, events, settings) from the code
	$(RUN) python manage.py docs

bench: .venv/.installed ## load benchmark against the FastAPI floor and a bare-stack reference, a line per run (SMOKE=1: 2 s runs); installs wrk if it can
	@bash bench/install_wrk.sh
	$(RUN) python -m bench.run $(if $(SMOKE),--smoke)

stack: .venv/.installed ## the production topology on this machine, no Docker: edge, API_NODES nodes, PgBouncer, primary + replica, Redis, JOB_WORKERS workers
	$(RUN) python -m devtools.stack --api-nodes $(or $(API_NODES),3) --job-workers $(or $(JOB_WORKERS),2) --edge-port $(or $(EDGE_PORT),8080)

stack-check: .venv/.installed ## the stack under load while nodes, a worker and the replica fail; a line per phase, non-zero on any 5xx, reset, lost write or job
	$(RUN) python -m devtools.stack.check

upgrade-check: ## make lint test against the newest and the lowest versions pyproject.toml allows, in temporary copies
	$(PYTHON) -m devtools.upgrade_check

up: ## the whole stack with docker compose (API, migration job, PostgreSQL, Redis)
	docker compose up --build --detach

down: ## stop the stack (the database volume is kept)
	SECRET_KEY="$${SECRET_KEY:-not-needed-to-stop-the-stack}" docker compose down
