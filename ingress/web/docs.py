"""GET /docs: Swagger UI over /openapi.json, its script and stylesheet served by the gateway itself.

FastAPI's own /docs loads Swagger UI from a CDN, so with no internet (the embedded default) it is a blank
page. Here the files come from the fastapi-offline package (GET /docs/static/{name}); FastAPI's docs_url and
redoc_url are off (ingress/gateway.py). The page has the playground's strict Content-Security-Policy, plus
the one inline script that starts Swagger UI, allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ingress.errors import APIError

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
_MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
                "favicon.png": "image/png"}
# Only these files are served: a name is looked up here, never joined into a path.
ASSETS = {name: ASSETS_DIR / name for name in _MEDIA_TYPES}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# No validator badge: Swagger UI would fetch it from the internet.
_SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

router = APIRouter(tags=["Docs"], include_in_schema=False)


def content_security_policy(page: str = "") -> str:
    """Only this gateway, no inline style, and no inline script but the page's own (each allowed by its SHA-256)."""
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                     for script in _INLINE_SCRIPT.findall(page))
    return (f"default-src 'self'; script-src 'self'{hashes}; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    # Absolute URLs under the app's root path (a Serve route prefix), as FastAPI's own /docs builds them.
    root = request.scope.get("root_path", "").rstrip("/")
    assets = f"{root}/docs/static"
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png", swagger_ui_parameters=_SWAGGER_UI_PARAMETERS)
    page.headers.update({"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                         "Content-Security-Policy": content_security_policy(bytes(page.body).decode())})
    return page


@router.get("/docs/static/{name}")
async def swagger_ui_asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise APIError(404, "Not found")
    return FileResponse(path, media_type=_MEDIA_TYPES[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": content_security_policy()})
