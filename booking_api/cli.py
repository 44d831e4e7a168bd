"""`booking-api`: serve, worker, jobs, migrate, token, export-schema, seed-demo, graphiql install,
settle-refunds, rotate-secrets."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from infra.settings import Settings, SettingsError, data_dir_of


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"booking-api: {error}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from booking_api.migrate import upgrade
    from booking_api.startup import announce, database
    from infra.db import direct_url

    settings = _settings()
    url = database(settings)
    upgrade(direct_url(settings, url))
    announce(settings, args.host, args.port)
    # uvicorn re-raises SIGTERM once it has shut down; exiting normally instead lets the
    # embedded PostgreSQL stop with its last process (pgserver cleans up at exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "booking_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        # httptools with a deadline to receive each request and a cap on its head (server.py).
        http="booking_api.server:GuardedHttpProtocol",
        timeout_keep_alive=settings.http.keep_alive_timeout,
        ws="websockets-sansio",
        # SIGTERM: stop accepting, close websockets with 1012, give requests this long.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Events are a few hundred bytes: compressing each one for each subscriber cost 7% of a
        # fan-out's CPU (py-spy, 1,000 subscribers) and saved little on the wire.
        ws_per_message_deflate=False,
        # X-Forwarded-For only from TRUSTED_PROXIES: the app applies it (booking_api.app).
        proxy_headers=False,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    from booking_api.migrate import upgrade
    from booking_api.startup import database
    from infra.db import direct_url

    settings = _settings()
    upgrade(direct_url(settings, database(settings)), args.revision)
    print(f"migrated to {args.revision}")


def _lifetime(text: str) -> float:
    """A token's lifetime in hours: every token expires, within ten years."""
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not 0 < hours <= 24 * 365 * 10:
        raise argparse.ArgumentTypeError("give more than 0 and at most 87600 hours")
    return hours


def cmd_token(args: argparse.Namespace) -> None:
    from infra.auth import mint_token

    settings = _settings()
    print(
        mint_token(
            settings.jwt_secret(),
            args.sub,
            name=args.name,
            email=args.email,
            ttl=timedelta(hours=args.hours),
        )
    )


def cmd_export_schema(args: argparse.Namespace) -> None:
    from booking_api.api import sdl

    text = sdl()
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    import os

    from booking_api.migrate import upgrade
    from booking_api.seed import seed_demo
    from booking_api.startup import database, public_url
    from infra.db import direct_url

    settings = _settings()
    url = database(settings)
    upgrade(direct_url(settings, url))
    base = public_url(settings, explicit=bool(os.environ.get("PUBLIC_BASE_URL")))
    print(asyncio.run(seed_demo(settings, url, base)))


def cmd_settle_refunds(args: argparse.Namespace) -> None:
    from domain.stripe import Cards
    from infra.db import server_url, service_database

    settings = _settings()
    if settings.stripe is None:
        sys.exit("booking-api: STRIPE_SECRET_KEY is not set: there are no card refunds to send")
    cards = Cards(settings.stripe, settings.payment_hold_minutes)

    async def run() -> tuple[int, int]:
        db = service_database(settings, server_url(settings), pool_size=1)
        try:
            return await cards.settle_pending(db)
        finally:
            await db.engine.dispose()

    sent, left = asyncio.run(run())
    print(f"{sent} refund(s) sent, {left} still pending")
    if left:
        sys.exit(1)


def cmd_worker(args: argparse.Namespace) -> None:
    from booking_api import logs
    from booking_api.clock import utcnow
    from booking_api.migrate import upgrade
    from booking_api.startup import database
    from infra.db import direct_url
    from workers.service import run_worker

    settings = _settings()
    logs.configure(settings)
    url = database(settings)
    upgrade(direct_url(settings, url))
    asyncio.run(run_worker(settings, url, args.threads, utcnow))


def cmd_jobs(args: argparse.Namespace) -> None:
    from booking_api.clock import utcnow
    from domain import outbox
    from infra.db import server_url, service_database

    settings = _settings()

    async def run() -> None:
        db = service_database(settings, server_url(settings), pool_size=1)
        try:
            if args.retry_failed:
                async with db.transaction() as session:
                    print(f"{await outbox.retry_given_up(session, utcnow())} job(s) due again")
                return
            async with db.session() as session:
                for kind, state, rows in await outbox.counts(session):
                    print(f"{kind:<24} {state:<8} {rows:>8}")
                for job in await outbox.given_up(session):
                    print(f"failed {job.id} {job.kind} x{job.attempts}: {job.last_error}")
        finally:
            await db.engine.dispose()

    asyncio.run(run())


def cmd_rotate_secrets(args: argparse.Namespace) -> None:
    from domain import calendar_sync, outbox, webhooks
    from infra.db import server_url, service_database

    settings = _settings()
    cipher = settings.cipher()

    async def run() -> tuple[int, int, int]:
        db = service_database(settings, server_url(settings), pool_size=1)
        try:
            async with db.transaction() as session:
                links = await calendar_sync.rotate_tokens(session, cipher)
                waiting = await outbox.rotate_tokens(session, cipher)
                endpoints = await webhooks.rotate_secrets(session, cipher)
            return links, waiting, endpoints
        finally:
            await db.engine.dispose()

    links, waiting, endpoints = asyncio.run(run())
    print(
        f"re-encrypted under the first key: {links} calendar link(s), {waiting} token(s) in "
        f"jobs, {endpoints} webhook secret(s)"
    )


def cmd_graphiql_install(args: argparse.Namespace) -> None:
    from booking_api.graphiql import InstallError, install

    try:
        target = install(data_dir_of(os.environ))
    except InstallError as error:
        sys.exit(f"booking-api: {error}")
    print(f"GraphiQL installed in {target}: /graphql now serves it from this server")


cmd_serve_doc = (
    "Apply pending migrations (under an advisory lock), then serve /graphql and /healthz. "
    "With no DATABASE_URL an embedded PostgreSQL is started in BOOKING_DATA_DIR (./.data)."
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="booking-api",
        description="Booking engine for tutors, coaches and trainers (GraphQL API).",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="apply pending migrations and serve the API", description=cmd_serve_doc
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser(
        "worker",
        help="run background work: the outbox relay and the jobs (Dramatiq with BROKER_URL)",
    )
    worker.add_argument("--threads", type=int, default=8, help="jobs at once (8)")
    worker.set_defaults(func=cmd_worker)

    jobs = commands.add_parser(
        "jobs", help="background work by kind and state, and the jobs that were given up"
    )
    jobs.add_argument(
        "--retry-failed", action="store_true", help="make every given-up job due again"
    )
    jobs.set_defaults(func=cmd_jobs)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.add_argument("--revision", default="head", help="target revision (head)")
    migrate.set_defaults(func=cmd_migrate)

    token = commands.add_parser("token", help="mint a signed JWT for local use")
    token.add_argument("--sub", required=True, help="user id (the token's sub claim)")
    token.add_argument("--name", help="display name claim")
    token.add_argument("--email", help="email claim")
    token.add_argument("--hours", type=_lifetime, default=24 * 30, help="lifetime in hours (720)")
    token.set_defaults(func=cmd_token)

    export = commands.add_parser("export-schema", help="write the served SDL")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_export_schema)

    seed = commands.add_parser(
        "seed-demo", help="create a demo tutor and student and print their tokens"
    )
    seed.set_defaults(func=cmd_seed_demo)

    graphiql = commands.add_parser(
        "graphiql", help="GraphiQL's files on this server, for use without the internet"
    )
    graphiql_actions = graphiql.add_subparsers(dest="action", required=True, metavar="ACTION")
    graphiql_actions.add_parser(
        "install",
        help="install GraphiQL with npm into BOOKING_DATA_DIR/graphiql (no restart needed)",
    ).set_defaults(func=cmd_graphiql_install)

    settle = commands.add_parser(
        "settle-refunds", help="send Stripe the card refunds that could not be sent at the time"
    )
    settle.set_defaults(func=cmd_settle_refunds)

    rotate = commands.add_parser(
        "rotate-secrets",
        help="re-encrypt stored secrets under the first DATA_ENCRYPTION_KEY (then drop old keys)",
    )
    rotate.set_defaults(func=cmd_rotate_secrets)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.func(args)
