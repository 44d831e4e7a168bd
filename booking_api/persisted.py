"""Automatic persisted queries, Apollo's protocol (`extensions.persistedQuery`): a client sends
the SHA-256 of its document alone; when we do not know it, the answer is the error
`PERSISTED_QUERY_NOT_FOUND` and the client sends document and hash together, which we check,
keep, and run. From then on the hash alone runs it, also over GET (cacheable URLs).

Documents are kept in this process (memory://, the least recently used dropped past
APQ_MAX_ENTRIES) or in Redis (APQ_STORAGE_URL=redis://…), shared by every process. A Redis
that does not answer is treated as empty: the client just sends the document again."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from graphql import GraphQLError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from strawberry.extensions import SchemaExtension

log = logging.getLogger("booking_api.persisted")

REDIS_TIMEOUT_SECONDS = 0.5
# Documents in Redis live a week past their last store; a client re-registers one that lapsed.
REDIS_TTL_SECONDS = 7 * 24 * 3600
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class QueryStore(Protocol):
    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class MemoryStore:
    """A bounded LRU of documents. Our own few lines: functools' caches cannot be written to."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self.queries.get(digest)
        if query is not None:
            self.queries.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self.queries[digest] = query
        self.queries.move_to_end(digest)
        while len(self.queries) > self.max_entries:
            self.queries.popitem(last=False)


class RedisStore:
    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            decode_responses=True,
        )

    @staticmethod
    def key(digest: str) -> str:
        return f"booking_api_apq:{digest}"

    async def get(self, digest: str) -> str | None:
        try:
            query = await self.redis.get(self.key(digest))
        except RedisError as error:
            log.warning("persisted queries unavailable: %s", error)
            return None
        return query if isinstance(query, str) else None

    async def put(self, digest: str, query: str) -> None:
        try:
            await self.redis.set(self.key(digest), query, ex=REDIS_TTL_SECONDS)
        except RedisError as error:
            log.warning("persisted query not stored: %s", error)


def store_for(url: str, max_entries: int) -> QueryStore:
    return MemoryStore(max_entries) if url.startswith("memory://") else RedisStore(url)


def digest_of(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def _requested(extensions: dict[str, Any] | None) -> str | None:
    """The hash the operation names, or None without a persistedQuery extension."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise GraphQLError(
            "PersistedQueryNotSupported: only version 1 of extensions.persistedQuery is",
            extensions={"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise GraphQLError(
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits",
            extensions={"code": "BAD_REQUEST"},
        )
    return digest


class PersistedQueries(SchemaExtension):
    """Before the parse: a hash alone becomes its document; a document with a hash is checked
    against it, and kept once it validates (a document that fails is not worth keeping)."""

    def __init__(self, store: QueryStore) -> None:
        self.store = store
        self.to_keep: str | None = None

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        digest = _requested(context.operation_extensions)
        if digest is not None:
            if context.query:
                if digest_of(context.query) != digest:
                    raise GraphQLError(
                        "provided sha does not match query", extensions={"code": "BAD_REQUEST"}
                    )
                self.to_keep = digest
            else:
                query = await self.store.get(digest)
                if query is None:
                    raise GraphQLError(
                        "PersistedQueryNotFound",
                        extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
                    )
                context.query = query
        yield

    async def on_validate(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        context = self.execution_context
        if self.to_keep is not None and context.query and not context.pre_execution_errors:
            await self.store.put(self.to_keep, context.query)
