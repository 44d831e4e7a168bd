"""Automatic persisted queries as Apollo Client's PersistedQueryLink sends them, and batches of
operations as BatchHttpLink sends them: each operation through the same limits, each answered."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any

import httpx
import pytest

from booking_api.persisted import MemoryStore, RedisStore, digest_of
from infra.db import Database
from infra.settings import HttpApi, QueryLimits, RateLimits, Settings, SettingsError
from tests.conftest import app_client
from tests.helpers import token

APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"
QUERY = "query Viewer { viewer { userId } }"
CANCEL = 'mutation { cancelBooking(input: {token: "not-a-token"}) { __typename } }'


def hashed(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest_of(query)}}


async def get_hashed(
    http: httpx.AsyncClient, query: str, accept: str = APOLLO_ACCEPT, who: str = "ada"
) -> httpx.Response:
    """useGETForHashedQueries: the hash alone, over GET."""
    params = {
        "operationName": "Viewer",
        "variables": "{}",
        "extensions": json.dumps(hashed(query)),
    }
    headers = {"Accept": accept, "Authorization": f"Bearer {token(who)}"}
    return await http.get("/graphql", params=params, headers=headers)


@pytest.mark.parametrize("accept", [APOLLO_ACCEPT, "application/json"])
async def test_the_round_trip_as_apollo_performs_it(
    settings: Settings, db: Database, accept: str
) -> None:
    async with app_client(settings, db) as http:
        # 1. The hash alone: unknown. The error Apollo's link retries on.
        first = await get_hashed(http, QUERY, accept)
        assert first.status_code == (400 if accept == APOLLO_ACCEPT else 200), first.text
        [error] = first.json()["errors"]
        assert error["message"] == "PersistedQueryNotFound"
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert not first.json().get("data")

        # 2. Document and hash together (Apollo retries over POST): checked, kept, run.
        second = await http.post(
            "/graphql",
            json={
                "operationName": "Viewer",
                "query": QUERY,
                "variables": {},
                "extensions": hashed(QUERY),
            },
            headers={"Accept": accept, "Authorization": f"Bearer {token('ada')}"},
        )
        assert second.json() == {"data": {"viewer": {"userId": "ada"}}}

        # 3. From now on the hash alone runs it, for anyone.
        third = await get_hashed(http, QUERY, accept, who="bob")
        assert third.status_code == 200
        assert third.json() == {"data": {"viewer": {"userId": "bob"}}}


async def test_a_hash_that_does_not_match_is_refused(http: httpx.AsyncClient) -> None:
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": digest_of("{ other }")}}
    response = await http.post("/graphql", json={"query": QUERY, "extensions": wrong})
    [error] = response.json()["errors"]
    assert error["message"] == "provided sha does not match query"
    assert error["extensions"]["code"] == "BAD_REQUEST"
    # Nothing was kept under that hash.
    again = await http.post("/graphql", json={"extensions": wrong})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    ("persisted", "code"),
    [
        ({"version": 2, "sha256Hash": "0" * 64}, "PERSISTED_QUERY_NOT_SUPPORTED"),
        ({"version": 1, "sha256Hash": "not a hash"}, "BAD_REQUEST"),
        ("yes", "PERSISTED_QUERY_NOT_SUPPORTED"),
    ],
)
async def test_malformed_persisted_queries(
    http: httpx.AsyncClient, persisted: Any, code: str
) -> None:
    response = await http.post("/graphql", json={"extensions": {"persistedQuery": persisted}})
    assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_a_document_that_does_not_validate_is_not_kept(http: httpx.AsyncClient) -> None:
    broken = "{ nothingHere }"
    response = await http.post("/graphql", json={"query": broken, "extensions": hashed(broken)})
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    again = await http.post("/graphql", json={"extensions": hashed(broken)})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_stored_mutation_is_still_refused_over_get(http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": CANCEL, "extensions": hashed(CANCEL)})
    response = await http.get("/graphql", params={"extensions": json.dumps(hashed(CANCEL))})
    assert response.status_code in (400, 405)


async def test_the_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=2)
    for name in ("a", "b"):
        await store.put(name, name)
    assert await store.get("a") == "a"  # now the most recently used
    await store.put("c", "c")
    assert (await store.get("a"), await store.get("b"), await store.get("c")) == ("a", None, "c")


async def test_redis_shares_documents_between_processes() -> None:
    url = "redis://127.0.0.1:6379/0"
    first, second = RedisStore(url), RedisStore(url)
    try:
        await first.redis.ping()
    except Exception:
        pytest.skip("no Redis on 127.0.0.1:6379")
    query = f"{{ viewer {{ userId }} }} # {secrets.token_hex(8)}"
    try:
        await first.put(digest_of(query), query)
        assert await second.get(digest_of(query)) == query
        assert await second.redis.ttl(RedisStore.key(digest_of(query))) > 0
        await second.redis.delete(RedisStore.key(digest_of(query)))
    finally:
        await first.redis.aclose()
        await second.redis.aclose()


async def test_an_unreachable_redis_reads_as_empty() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    await store.put("a" * 64, "{ viewer { userId } }")
    assert await store.get("a" * 64) is None
    await store.redis.aclose()


def test_storage_setting() -> None:
    assert Settings.from_env({}).api.apq_storage_url == "memory://"
    assert Settings.from_env({"APQ_STORAGE_URL": "redis://r:6379/2"}).api.apq_storage_url
    with pytest.raises(SettingsError, match="APQ_STORAGE_URL"):
        Settings.from_env({"APQ_STORAGE_URL": "postgresql://x"})


async def test_a_batch_of_three(http: httpx.AsyncClient) -> None:
    batch = [
        {"query": "{ viewer { userId } }"},
        {"query": "query($id: ID!) { tutor(id: $id) { id } }", "variables": {"id": "nothing"}},
        {"query": "{ nothingHere }"},
    ]
    response = await http.post(
        "/graphql", json=batch, headers={"Authorization": f"Bearer {token('ada')}"}
    )
    assert response.status_code == 200
    first, second, third = response.json()
    assert first == {"data": {"viewer": {"userId": "ada"}}}
    assert second == {"data": {"tutor": None}}
    assert third["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_each_operation_of_a_batch_passes_the_limits(
    settings: Settings, db: Database
) -> None:
    strict = replace(
        settings,
        limits=QueryLimits(max_cost=10),
        rate_limits=RateLimits(anonymous="2/minute"),
    )
    batch = [
        {"query": CANCEL},
        {"query": '{ tutor(id: "x") { services { id } } }'},  # costs 1 + 100 × 1
        {"query": CANCEL},
        {"query": CANCEL},
    ]
    async with app_client(strict, db) as http:
        response = await http.post("/graphql", json=batch)
    assert response.status_code == 200
    codes = [
        result["errors"][0]["extensions"]["code"] if "errors" in result else None
        for result in response.json()
    ]
    assert codes == [None, "QUERY_TOO_COMPLEX", None, "RATE_LIMITED"]


async def test_batches_are_bounded(settings: Settings, db: Database) -> None:
    async with app_client(replace(settings, api=HttpApi(max_batch=2)), db) as http:
        response = await http.post("/graphql", json=[{"query": "{ __typename }"}] * 3)
        assert response.status_code == 400
        assert "1 to 2 operations" in response.json()["errors"][0]["message"]
        response = await http.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
        assert response.json() == [{"data": {"__typename": "Query"}}] * 2
    assert Settings.from_env({"GRAPHQL_MAX_BATCH": "3"}).api.max_batch == 3


async def test_a_batch_of_persisted_queries(http: httpx.AsyncClient) -> None:
    """Apollo batches hashed operations too: each is looked up on its own."""
    known = "{ __typename }"
    await http.post("/graphql", json={"query": known, "extensions": hashed(known)})
    response = await http.post(
        "/graphql", json=[{"extensions": hashed(known)}, {"extensions": hashed(QUERY)}]
    )
    found, missing = response.json()
    assert found == {"data": {"__typename": "Query"}}
    assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
