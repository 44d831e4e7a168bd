"""The production shape on one machine, started and broken on purpose.

4 `serve` and 2 `worker` processes on a fresh database behind their own PgBouncer (transaction
mode; LISTEN and migrations past it), live updates through a Redis of their own (so restarting
it disturbs nobody else), jobs through a RabbitMQ virtual host of their own, and the fakes of
what they call: Stripe, an SMTP server, a webhook receiver. The system PostgreSQL and RabbitMQ
are the machine's (.ci/run starts them).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.fakes import smtp_server, stripe_server, webhook_receiver
from tests.helpers import REPO, create_database, drop_database
from tests.processes import BIN, free_port, production_env, start, wait_healthy

SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"


@dataclass
class Process:
    """One `serve` (with its port) or `worker`, restartable with the same settings."""

    name: str
    port: int | None
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    env: dict[str, str]
    direct_url: str
    logs: Path
    stripe: stripe_server.FakeStripe
    receiver: webhook_receiver.FakeReceiver
    inbox: smtp_server.Inbox
    redis_port: int
    processes: list[Process] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None
    events: list[str] = field(default_factory=list)  # faults, as they happened
    began: float = field(default_factory=time.monotonic)

    @property
    def api_ports(self) -> list[int]:
        return [p.port for p in self.processes if p.port is not None]

    def log(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.began:6.1f} s  {what}")
        print(f"  [{time.monotonic() - self.began:6.1f} s] {what}", flush=True)

    def _output(self, name: str) -> IO[bytes]:
        return (self.logs / f"{name}.log").open("ab")

    def launch(self, proc: Process) -> None:
        if proc.port is not None:
            proc.process = start(self.env, proc.port, self._output(proc.name))
            wait_healthy(proc.port, proc.process)
        else:
            proc.process = subprocess.Popen(
                [str(BIN), "worker", "--threads", "4"],
                env={**self.env, "LOG_LEVEL": "INFO"},
                stdout=self._output(proc.name),
                stderr=subprocess.STDOUT,
            )

    def kill_one(self, rng: random.Random) -> None:
        """`kill -9` of a process chosen at random, then the same process started again."""
        proc = rng.choice(self.processes)
        assert proc.process is not None
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait()
        self.log(f"kill -9 {proc.name}")
        self.launch(proc)
        self.log(f"{proc.name} is back")

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=self._output("redis"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the soak's Redis did not start")
            time.sleep(0.1)

    def restart_redis(self, down_seconds: float = 2.0) -> None:
        assert self.redis is not None
        self.redis.send_signal(signal.SIGKILL)
        self.redis.wait()
        self.log("Redis killed")
        time.sleep(down_seconds)
        self.start_redis()
        self.log("Redis is back")

    def stop(self) -> None:
        for proc in self.processes:
            if proc.process is not None and proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        for proc in self.processes:
            if proc.process is not None:
                try:
                    proc.process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.process.kill()
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def _vhost() -> Iterator[str]:
    name = f"soak_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"{RABBITMQ}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def _pgbouncer() -> Iterator[int]:
    # A folder of its own: .ci/pgbouncer hands it to the postgres user (PgBouncer refuses root).
    folder = Path(tempfile.mkdtemp(prefix="soak-pgbouncer-"))
    if not Path("/usr/sbin/pgbouncer").exists():
        raise SystemExit("the soak needs Debian's pgbouncer package (apt-get install pgbouncer)")
    port = free_port()
    subprocess.run(["bash", str(REPO / ".ci/pgbouncer"), str(port), str(folder)], check=True)
    try:
        yield port
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((folder / "pgbouncer.pid").read_text()), signal.SIGTERM)


@contextlib.contextmanager
def started(admin_url: str, api: int = 4, workers: int = 2) -> Iterator[Cluster]:
    """Everything up, migrated and healthy; torn down (database included) afterwards."""
    logs = Path(tempfile.mkdtemp(prefix="soak-"))
    direct = create_database(admin_url, prefix="booking_soak")
    stripe, stripe_server_ = stripe_server.start()
    receiver, receiver_server = webhook_receiver.start()
    inbox, smtp = smtp_server.start()
    cluster: Cluster | None = None
    try:
        with _pgbouncer() as bouncer_port, _vhost() as broker:
            database = direct.rsplit("/", 1)[1]
            redis_port = free_port()
            env = production_env(
                f"postgresql://postgres@127.0.0.1:{bouncer_port}/{database}",
                DATABASE_DIRECT_URL=direct,
                BROADCAST_URL=f"redis://127.0.0.1:{redis_port}/0",
                BROKER_URL=broker,
                STRIPE_SECRET_KEY=stripe_server.API_KEY,
                STRIPE_WEBHOOK_SECRET=stripe_server.WEBHOOK_SECRET,
                STRIPE_API_BASE=stripe.base,
                SMTP_URL=f"smtp://127.0.0.1:{inbox.port}",
                EMAIL_FROM="soak@tutoring.example",
                WEBHOOK_ALLOW_PRIVATE_TARGETS="1",
                # A killed worker's leased jobs are handed over again after this, not 5 minutes.
                OUTBOX_LEASE_SECONDS="20",
                PAYMENT_HOLD_MINUTES="1",
                HOLD_SWEEP_SECONDS="5",
                # Correctness under faults, not latency, is measured: 4 servers, 2 workers and
                # the load share 2 cores.
                GRAPHQL_TIMEOUT_SECONDS="20",
                SHUTDOWN_GRACE_SECONDS="5",
            )
            subprocess.run([str(BIN), "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            cluster = Cluster(env, direct, logs, stripe, receiver, inbox, redis_port)
            cluster.start_redis()
            cluster.processes = [Process(f"api{n}", free_port()) for n in range(api)] + [
                Process(f"worker{n}", None) for n in range(workers)
            ]
            for proc in cluster.processes:
                cluster.launch(proc)
            stripe.webhook_url = f"http://127.0.0.1:{cluster.api_ports[0]}/webhooks/stripe"
            yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        stripe_server_.should_exit = True
        receiver_server.should_exit = True
        smtp.stop()
        drop_database(admin_url, direct)
