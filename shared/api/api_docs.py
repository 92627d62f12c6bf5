"""Swagger UI (/docs) and ReDoc (/redoc), served whole by the service: no CDN, no inline
script, so they work offline and under a Content-Security-Policy of the service's own origin.

The assets come from the fastapi-offline package (it ships Swagger UI's and ReDoc's builds);
the pages and Swagger UI's start-up script are ours, because FastAPI's own pages (and
fastapi-offline's, built on them) start Swagger UI with an inline script and load ReDoc's
fonts from Google.
"""

import json
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
# Pages and assets get this policy (shared/edge/security_headers.py): only our own origin. Inline
# styles stay allowed: both UIs set style attributes; ReDoc's search runs in a blob: worker.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
DOCS_PATHS = ("/docs", "/redoc")

_SWAGGER_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}} - Swagger UI</title>
<link rel="icon" href="{ASSETS}/favicon.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script></body></html>"""

_REDOC_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}} - ReDoc</title>
<link rel="icon" href="{ASSETS}/favicon.png"></head>
<body><redoc spec-url="{{openapi_url}}"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script></body></html>"""

# validatorUrl null: Swagger UI would otherwise send the schema to validator.swagger.io.
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: %s,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def install_api_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve /docs, /redoc and their assets (the app is built with docs_url=None)."""
    static = Path(fastapi_offline.__file__).parent / "static"
    swagger = _SWAGGER_PAGE.format(title=app.title)
    redoc = _REDOC_PAGE.format(title=app.title, openapi_url=openapi_url)
    init = _SWAGGER_INIT % json.dumps(openapi_url)

    async def swagger_page(_: Request) -> Response:
        return HTMLResponse(swagger)

    async def redoc_page(_: Request) -> Response:
        return HTMLResponse(redoc)

    async def swagger_init(_: Request) -> Response:
        return Response(init, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=static), name="docs-assets")
    app.add_route("/docs", swagger_page, include_in_schema=False)
    app.add_route("/docs/swagger-init.js", swagger_init, include_in_schema=False)
    app.add_route("/redoc", redoc_page, include_in_schema=False)
