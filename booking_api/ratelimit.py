"""Rate limits on writes: every mutation field spends one unit of its caller's budget before the
operation runs. Anonymous callers (guest bookings, a guest's token) share a budget per client
address, signed-in callers have their own per token `sub` (RATE_LIMIT_ANONYMOUS,
RATE_LIMIT_AUTHENTICATED). Queries and subscriptions are not counted here.

The counting is the `limits` package's sliding window counter: a fixed window lets a client
spend twice its budget around a window's edge, the moving window keeps one entry per hit (and
its in-memory store sweeps them with a thread hop per key), the sliding window counter keeps two
counters per key and is exact enough. memory:// counts in this process; redis://… is one
budget for every process sharing that Redis.

The client address is the connection's peer; behind a proxy, the app's ProxyHeadersMiddleware
(uvicorn's, see booking_api.app) puts the X-Forwarded-For client there, but only when the peer
is one of TRUSTED_PROXIES.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from limits import parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from infra.auth import Identity
from infra.settings import RateLimits
from schema.context import Context

log = logging.getLogger("booking_api.ratelimit")

# A Redis that does not answer must not hold requests up: the limiter then lets them through.
REDIS_TIMEOUT_SECONDS = 0.5


def _storage(url: str) -> Storage:
    if url.startswith("memory://"):
        return MemoryStorage()
    return RedisStorage(
        f"async+{url}",
        implementation="redispy",  # the redis client the service already uses, not coredis
        key_prefix="booking_api_rate",
        wrap_exceptions=True,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def client_address(connection: HTTPConnection | None) -> str:
    """The key of an anonymous caller: their address; an IPv6 one by its /64, the block one
    subscriber usually holds whole (else each address of it would be a fresh budget)."""
    host = connection.client.host if connection is not None and connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    def __init__(self, settings: RateLimits) -> None:
        self.strategy = SlidingWindowCounterRateLimiter(_storage(settings.storage_url))
        self.anonymous = parse_many(settings.anonymous)
        self.authenticated = parse_many(settings.authenticated)

    async def spend(
        self, identity: Identity | None, connection: HTTPConnection | None, cost: int
    ) -> int | None:
        """Take `cost` from the caller's budget: None when it fits, else the seconds to wait.
        Every rate of the setting must allow it ("10/second; 500/hour")."""
        if cost <= 0:
            return None
        if identity is None:
            items, keys = self.anonymous, ("anonymous", client_address(connection))
        else:
            items, keys = self.authenticated, ("user", identity.sub)
        try:
            for item in items:
                if not await self.strategy.hit(item, *keys, cost=cost):
                    stats = await self.strategy.get_window_stats(item, *keys)
                    # limits keeps time with time.time(): its reset time is on that clock.
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except StorageError as error:
            log.warning("rate limits unavailable, not applied: %s", error)
        return None


def mutation_fields(document: DocumentNode, operation_name: str | None) -> int:
    """The fields the operation runs at its root: each alias counts, fragments are expanded."""
    operation = get_operation_ast(document, operation_name)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def count(selections: SelectionSetNode) -> int:
        total = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                total += not node.name.value.startswith("__")
            elif isinstance(node, InlineFragmentNode):
                total += count(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
                total += count(fragments[node.name.value].selection_set)
        return total

    return count(operation.selection_set) if operation is not None else 0


class RateLimitGate(SchemaExtension):
    """Before a mutation runs, its fields are taken from the caller's budget; over it, nothing
    runs and the answer is HTTP 429 with Retry-After and a top-level RATE_LIMITED error."""

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, Context)
            and execution.graphql_document is not None
            and execution.operation_type is OperationType.MUTATION
        ):
            await context.spend(
                mutation_fields(execution.graphql_document, execution.operation_name)
            )
        yield
