"""The engine's own pages, plain files served from this package (no build step): the booking
page `/book/{service}`, its widget `/embed/{service}`, the guest's `/manage`, the tutor's
`/dashboard`, the payer's return `/checkout/success`, and their modules and styles under
`/static/`. They use only the public GraphQL API (static/gql.js speaks graphql-transport-ws).

Every page gets the same strict headers; only the widget may be framed, and only by the origins
its service's tutors list (Tutor.embedOrigins) and EMBED_ORIGINS."""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from domain import profiles
from infra.db import Database
from infra.settings import Settings
from schema.node import decode_id_of

STATIC = files(__package__) / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The files /static/ serves: every module and style in the folder (pages are served by route).
ASSETS = {
    item.name: item.read_bytes() for item in STATIC.iterdir() if item.name.endswith((".js", ".css"))
}


def security_headers(ancestors: str = "'none'") -> dict[str, str]:
    """No inline script or style, nothing fetched from elsewhere but https images (avatars);
    the API over fetch and its websocket on this origin ('self' covers ws: and wss: here)."""
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


# Every page is one document: its title and its module (static/page.html).
PAGE = Template((STATIC / "page.html").read_text())
PAGES = {
    "book": PAGE.substitute(title="Book a lesson", module="book.js"),
    "manage": PAGE.substitute(title="Your booking", module="manage.js"),
    "dashboard": PAGE.substitute(title="Bookings dashboard", module="dashboard.js"),
    "paid": PAGE.substitute(title="Payment received", module="paid.js"),
}


def page(name: str, ancestors: str = "'none'") -> Response:
    headers = {**security_headers(ancestors), "Cache-Control": "no-store"}
    return Response(PAGES[name], media_type=TYPES[".html"], headers=headers)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    body = ASSETS.get(name)
    if body is None:
        return PlainTextResponse("Not found", status_code=404, headers=security_headers())
    kind = TYPES["." + name.rsplit(".", 1)[1]]
    headers = {**security_headers(), "Cache-Control": "no-cache"}
    return Response(body, media_type=kind, headers=headers)


def routes(settings: Settings, db: Database) -> list[Route]:
    async def embed(request: Request) -> Response:
        """The booking page for an iframe: framed only by the origins allowed."""
        allowed = list(settings.api.embed_origins)
        pk = decode_id_of(request.path_params["service"], "Service")
        if pk is not None:
            allowed += await profiles.embed_origins(db, pk)
        return page("book", " ".join(dict.fromkeys(["'self'", *allowed])))

    def fixed(name: str) -> Any:
        async def show(request: Request) -> Response:
            return page(name)

        return show

    return [
        Route("/book/{service}", fixed("book"), methods=["GET"]),
        Route("/embed/{service}", embed, methods=["GET"]),
        Route("/manage", fixed("manage"), methods=["GET"]),
        Route("/dashboard", fixed("dashboard"), methods=["GET"]),
        Route("/checkout/success", fixed("paid"), methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]
