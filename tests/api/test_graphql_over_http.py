"""GraphQL over HTTP: `application/graphql-response+json` when asked for (a request that did not
run has no `data` and a 4xx/5xx status), `application/json` with HTTP 200 otherwise; a code on
every class of top-level error; Cache-Control on GET; introspection that can be turned off."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest

from infra.db import Database, create_engine
from infra.settings import HttpApi, QueryLimits, RateLimits, Settings
from schema.node import encode_id
from tests.conftest import app_client
from tests.helpers import token

GRAPHQL_RESPONSE = "application/graphql-response+json"
APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"
VIEWER = "{ viewer { userId } }"
CANCEL = 'mutation { cancelBooking(input: {token: "not-a-token"}) { __typename } }'
TOO_DEEP = '{ tutor(id: "x") { ' + "services { tutors { " * 7 + "id" + " } }" * 7 + " } }"
NOT_A_TUTOR = (
    'mutation { createService(input: {title: "x", durations: [{minutes: 30}]}) { __typename } }'
)


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    accept: str | None = GRAPHQL_RESPONSE,
    who: str | None = None,
) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    if who is not None:
        headers["Authorization"] = f"Bearer {who}"
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (APOLLO_ACCEPT, GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_the_media_type_follows_accept(
    http: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    response = await post(http, VIEWER, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.json() == {"data": {"viewer": {"userId": None}}}


# Each class of top-level error: its code, and its status under each media type.
CASES = [
    ("{ viewer { userId ", None, None, "GRAPHQL_PARSE_FAILED", 400),
    ("{ nothingHere }", None, None, "GRAPHQL_VALIDATION_FAILED", 400),
    ("query($id: ID!) { tutor(id: $id) { id } }", {"id": [1]}, None, "BAD_USER_INPUT", 400),
    (TOO_DEEP, None, None, "QUERY_TOO_COMPLEX", 400),
    ("{ " + "viewer { userId } " * 1000 + "}", None, None, "QUERY_TOO_COMPLEX", 400),
    (VIEWER, None, "not-a-token", "UNAUTHENTICATED", 401),
]


@pytest.mark.parametrize(("query", "variables", "who", "code", "status"), CASES)
async def test_request_errors_have_a_code_and_a_status(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None,
    who: str | None,
    code: str,
    status: int,
) -> None:
    legacy = await post(http, query, variables, accept="application/json", who=who)
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["data"] is None
    assert legacy.json()["errors"][0]["extensions"]["code"] == code

    response = await post(http, query, variables, who=who)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


async def test_a_too_costly_operation(settings: Settings, db: Database) -> None:
    cheap = replace(settings, limits=QueryLimits(max_cost=10))
    async with app_client(cheap, db) as http:
        response = await post(http, '{ tutor(id: "x") { services { id } } }')
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_rate_limited(settings: Settings, db: Database) -> None:
    once = replace(settings, rate_limits=RateLimits(anonymous="1/minute"))
    async with app_client(once, db) as http:
        assert (await post(http, CANCEL)).status_code == 200
        response = await post(http, CANCEL)
    assert response.status_code == 429
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert "Retry-After" in response.headers
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_field_errors_keep_data_and_200(http: httpx.AsyncClient, settings: Settings) -> None:
    """A refusal or a failure inside execution leaves `data` (null here): the request ran."""
    response = await post(http, NOT_A_TUTOR, who=token("nobody"))
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    down = Database(create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1))
    try:
        async with app_client(settings, down) as broken:
            ghost = encode_id("Tutor", uuid.uuid4())
            response = await post(broken, f'{{ tutor(id: "{ghost}") {{ id }} }}')
    finally:
        await down.engine.dispose()
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error == {
        "message": "Internal error.",
        "locations": [{"line": 1, "column": 3}],
        "path": ["tutor"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }


async def test_unreadable_requests_answer_in_the_media_type_asked_for(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/graphql",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_cache_control_on_get(http: httpx.AsyncClient) -> None:
    public = await http.get("/graphql", params={"query": VIEWER})
    assert public.headers["cache-control"] == f"public, max-age={HttpApi.public_max_age}"
    assert "Authorization" in public.headers["vary"]
    signed_in = await http.get(
        "/graphql", params={"query": VIEWER}, headers={"Authorization": f"Bearer {token('ada')}"}
    )
    assert signed_in.json() == {"data": {"viewer": {"userId": "ada"}}}
    assert signed_in.headers["cache-control"] == "no-store"
    failed = await http.get("/graphql", params={"query": "{ nothingHere }"})
    assert failed.headers["cache-control"] == "no-store"
    posted = await http.post("/graphql", json={"query": VIEWER})
    assert "cache-control" not in posted.headers


async def test_no_public_caching_when_turned_off(settings: Settings, db: Database) -> None:
    async with app_client(replace(settings, api=HttpApi(public_max_age=0)), db) as http:
        response = await http.get("/graphql", params={"query": VIEWER})
    assert response.headers["cache-control"] == "no-store"


async def test_introspection_can_be_turned_off(settings: Settings, db: Database) -> None:
    schema = "{ __schema { queryType { name } } }"
    async with app_client(settings, db) as http:
        on = await post(http, schema)
    assert on.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    async with app_client(replace(settings, api=HttpApi(introspection=False)), db) as http:
        off = await post(http, schema)
        typename = await post(http, "{ __typename }")
        typed = await post(http, '{ __type(name: "Query") { name } }')
    assert off.status_code == 400
    assert off.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert typed.status_code == 400
    assert typename.json() == {"data": {"__typename": "Query"}}
    assert Settings.from_env({"GRAPHQL_INTROSPECTION": "false"}).api.introspection is False
    assert Settings.from_env({}).api.introspection is True
