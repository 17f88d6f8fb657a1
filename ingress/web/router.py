"""GET / and /web: the playground page; GET /web/static/{name}: its stylesheet and ES modules.

No build step and nothing from a CDN: the files in static/ are served as they are, with a strict
Content-Security-Policy (CONTENT_SECURITY_POLICY). Every URL in them is relative, so the page also works
under a route prefix (/plain/ serves /plain/web/static/...). The page and these files load without an API
key (ingress.auth.OPEN_PATHS); the API calls the page makes carry the key entered in it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from ingress.errors import APIError

STATIC_DIR = Path(__file__).parent / "static"
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# Only the files shipped in static/ are served: a name is looked up here, never joined into a path.
STATIC_FILES = {path.name: path for path in STATIC_DIR.iterdir() if path.suffix in _MEDIA_TYPES}
# What the page may load, and from where: only this gateway, and no inline script or style. data: is the
# favicon (none) and the clone's sample <audio>; blob: the clips played and the downloads.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
# The page changes with the deployment; revalidate rather than cache it for good.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY}

router = APIRouter(tags=["Playground"], include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = STATIC_FILES.get(name)
    if path is None:
        raise APIError(404, "Not found")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/")
@router.get("/web")
async def playground() -> FileResponse:
    return _file("index.html")


@router.get("/web/")
async def playground_with_slash() -> RedirectResponse:
    # The page's relative URLs resolve against /web, not /web/; a relative Location keeps any route prefix.
    return RedirectResponse("../web", status_code=308)


@router.get("/web/static/{name}")
async def static_file(name: str) -> FileResponse:
    return _file(name)
