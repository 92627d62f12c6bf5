"""/docs and /redoc work offline: every asset they name is served by the service itself, and
their Content-Security-Policy lets a browser load from the service's own origin only."""

import re

import httpx
import pytest

from shared.api.api_docs import DOCS_CSP

# src= and href= in the pages: what a browser fetches to show them.
_REFERENCES = re.compile(r"""(?:src|href|spec-url)="([^"]+)\"""")


def references(page: str) -> list[str]:
    return _REFERENCES.findall(page)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/docs", {"/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js",
                   "/docs/swagger-init.js", "/docs/assets/favicon.png"}),
        ("/redoc", {"/docs/assets/redoc.standalone.js", "/openapi.json",
                    "/docs/assets/favicon.png"}),
    ],
)  # fmt: skip
async def test_the_pages_load_only_what_the_service_serves(
    client: httpx.AsyncClient, path: str, expected: set[str]
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert set(references(page.text)) == expected
    assert "<script>" not in page.text  # no inline script: the policy forbids it
    for reference in expected:
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 20


async def test_swagger_starts_from_its_own_script_without_the_outside_validator(
    client: httpx.AsyncClient,
) -> None:
    script = await client.get("/docs/swagger-init.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert 'url: "/openapi.json"' in script.text
    assert "validatorUrl: null" in script.text


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"])
async def test_docs_answers_allow_only_the_services_own_origin(
    client: httpx.AsyncClient, path: str
) -> None:
    policy = (await client.get(path)).headers["content-security-policy"]
    assert policy == DOCS_CSP
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    sources = " ".join(directives.values()).split()
    allowed = {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}
    assert set(sources) <= allowed  # no host, no scheme wildcard, no 'unsafe-eval'


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/api/v1/users/me", "/nowhere"])
async def test_every_other_answer_may_load_nothing(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
