"""GraphiQL on /graphql, with or without the internet.

`booking-api graphiql install` has the machine's npm install GraphiQL, React and ReactDOM (the
versions Strawberry's own page loads) into `$BOOKING_DATA_DIR/graphiql`; the page then loads
them from /graphiql/… on this server. Without them it loads them from unpkg.com, and says on the
page what to run when that fails. The page looks for the files on every request, so a running
server picks up an install without a restart."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

PACKAGES = {"graphiql": "3.8.3", "react": "18.2.0", "react-dom": "18.2.0", "graphql": "16.15.0"}
INSTALL_COMMAND = "booking-api graphiql install"


@dataclass(frozen=True)
class Asset:
    name: str  # served as /graphiql/<name>
    path: str  # under node_modules/
    cdn: str
    integrity: str  # Strawberry's subresource integrity hashes for the CDN copies


SCRIPTS = (
    Asset(
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "https://unpkg.com/react@18.2.0/umd/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    Asset(
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    Asset(
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "https://unpkg.com/graphiql@3.8.3/graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
)
STYLE = Asset(
    "graphiql.min.css",
    "graphiql/graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css",
    "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
)
ASSETS = {asset.name: asset for asset in (*SCRIPTS, STYLE)}

# What a newcomer can run at once (README's quickstart: seed-demo prints the tokens).
EXAMPLES = [
    {
        "query": '# Who am I? Add the header {"Authorization": "Bearer <token>"} below\n'
        "# (booking-api seed-demo prints a tutor's and a student's).\n"
        "{\n  viewer {\n    userId\n    tutor { id displayName services { id title } }\n"
        "    student { id displayName }\n  }\n}\n",
    },
    {
        "query": "# Free times of a service, in your zone (ids from the first tab).\n"
        "query Slots($input: SlotSearchInput!) {\n  availableSlots(input: $input) {\n"
        "    slots { start end durationMinutes tutor { id displayName } }\n  }\n}\n",
        "variables": json.dumps(
            {
                "input": {
                    "serviceId": "<service id>",
                    "from": "2030-01-07T00:00:00Z",
                    "to": "2030-01-14T00:00:00Z",
                    "timeZone": "Europe/London",
                }
            },
            indent=2,
        ),
    },
    {
        "query": "# Book a slot (as the student).\n"
        "mutation Book($input: CreateBookingInput!) {\n  createBooking(input: $input) {\n"
        "    __typename\n    ... on BookingCreated { booking { id status start end } }\n"
        "    ... on UserError { message }\n  }\n}\n",
        "variables": json.dumps(
            {
                "input": {
                    "serviceId": "<service id>",
                    "start": "<a slot's start>",
                    "timeZone": "Europe/London",
                }
            },
            indent=2,
        ),
    },
    {
        "query": "# My bookings, as tutor or student.\n"
        "{\n  bookings(first: 20) {\n    totalCount\n"
        "    edges { node { id status start end service { title } } }\n"
        "    pageInfo { hasNextPage endCursor }\n  }\n}\n",
    },
    {
        "query": "# Live: a tutor's bookings as they happen (the tutor's token; run, then book).\n"
        "subscription Live($tutorId: ID!) {\n  bookingEvents(tutorId: $tutorId) {\n"
        "    action at booking { id status start }\n  }\n}\n",
        "variables": json.dumps({"tutorId": "<tutor id>"}, indent=2),
    },
]


def installed_in(data_dir: Path) -> Path:
    return data_dir / "graphiql"


def is_installed(data_dir: Path) -> bool:
    modules = installed_in(data_dir) / "node_modules"
    return all((modules / asset.path).is_file() for asset in ASSETS.values())


def _tag(asset: Asset, local: bool) -> str:
    if local:
        url, integrity = f"/graphiql/{asset.name}", ""
    else:
        url, integrity = asset.cdn, f' crossorigin integrity="{asset.integrity}"'
    if asset is STYLE:
        return f'<link rel="stylesheet" href="{url}"{integrity} />'
    return f'<script src="{url}"{integrity}></script>'


def page(data_dir: Path) -> HTMLResponse:
    local = is_installed(data_dir)
    run = f"<code>{html.escape(INSTALL_COMMAND)}</code>"
    if local:
        note = "Loading GraphiQL…"
        failure = f"GraphiQL's files on this server did not load: run {run} again."
    else:
        note = "Loading GraphiQL from unpkg.com…"
        failure = (
            "GraphiQL could not be loaded from unpkg.com (no internet, or a firewall). "
            f"Run {run} on the server (it uses npm), then reload this page."
        )
    config = json.dumps({"tabs": EXAMPLES, "failure": failure}).replace("</", "<\\/")
    scripts = "\n".join(
        [
            *(_tag(asset, local) for asset in SCRIPTS),
            f'<script id="graphiql-config" type="application/json">{config}</script>',
        ]
    )
    template = files("booking_api").joinpath("graphiql.html").read_text(encoding="utf-8")
    body = (
        template.replace("<!--STYLES-->", _tag(STYLE, local))
        .replace("<!--NOTE-->", note)
        .replace("<!--SCRIPTS-->", scripts)
    )
    return HTMLResponse(body)


def assets(data_dir: Path) -> Route:
    """GraphiQL's files, once installed; only the ones the page names."""

    async def asset(request: Request) -> Response:
        known = ASSETS.get(request.path_params["name"])
        path = installed_in(data_dir) / "node_modules" / known.path if known else None
        if path is None or not path.is_file():
            return Response(f"Not installed: run {INSTALL_COMMAND}", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return Route("/graphiql/{name}", asset, methods=["GET"])


class InstallError(Exception):
    pass


def install(data_dir: Path, npm: str | None = None) -> Path:
    """npm installs the pinned packages beside the live copy, which it then replaces: a running
    server sees the old files or the new ones, never half an install."""
    npm = npm or shutil.which("npm")
    if npm is None:
        raise InstallError("npm was not found: install Node.js (with npm), then run this again")
    target = installed_in(data_dir)
    fresh = target.with_name("graphiql.new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    manifest = {"name": "booking-api-graphiql", "private": True, "dependencies": PACKAGES}
    (fresh / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    done = subprocess.run(
        [npm, "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=fresh,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(fresh, ignore_errors=True)
        raise InstallError(f"npm install failed:\n{done.stderr.strip()}")
    old = target.with_name("graphiql.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    if not is_installed(data_dir):
        raise InstallError(f"npm installed the packages, but GraphiQL's files are not in {target}")
    return target
