"""The floor a booking is measured against: a trivial Strawberry mutation doing one insert.

    python -m bench.mutation_floor --port 8767   (DATABASE_URL: the database to write to)

The same stack as `booking-api serve` with nothing of ours in between: Strawberry's ASGI app
under Starlette, served by uvicorn with the same HTTP protocol (one worker), one mutation that
inserts one row through SQLAlchemy's asyncpg engine in its own transaction. `bench.bookings`
drives it with the same client loop as createBooking, on the same database server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.slots import production_env
from infra.db import create_engine
from tests.processes import wait_healthy

MUTATION = """mutation($input: FloorInput!) { book(input: $input) { __typename } }"""
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "tutor text NOT NULL, start timestamptz NOT NULL)"
)
INSERT = text("INSERT INTO bench_floor (tutor, start) VALUES (:t, :s) RETURNING id")


@strawberry.input
class FloorInput:
    service_id: str
    tutor_id: str
    start: str
    time_zone: str


@strawberry.type
class Booked:
    id: strawberry.ID


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def book(self, info: Info, input: FloorInput) -> Booked:
        engine = info.context["request"].app.state.engine
        async with engine.begin() as connection:
            row = await connection.execute(
                INSERT, {"t": input.tutor_id, "s": datetime.fromisoformat(input.start)}
            )
            return Booked(id=strawberry.ID(str(row.scalar_one())))


def create_app() -> Starlette:
    engine = create_engine(os.environ["DATABASE_URL"])
    graphql: Any = GraphQL(strawberry.Schema(query=Query, mutation=Mutation))
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", lambda _: PlainTextResponse("ok")),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    """The floor's server on `port`, writing to `url` (its table made first)."""
    # The same environment as ours: the HTTP protocol reads its limits from the settings.
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.mutation_floor", "--port", str(port)], env=production_env(url)
    )
    try:
        wait_healthy(port, process)
    except AssertionError:
        process.kill()
        raise
    return process


def main() -> None:
    import asyncio

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    async def prepare() -> None:
        engine = create_engine(os.environ["DATABASE_URL"], pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(text(CREATE_TABLE))
        await engine.dispose()

    asyncio.run(prepare())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "bench.mutation_floor:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        http="booking_api.server:GuardedHttpProtocol",
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
