"""The HTTP surface: GET and POST, GraphiQL, /healthz, and refusal of oversized queries."""

from __future__ import annotations

import httpx
import pytest

from booking_api.app import build_app
from infra.db import Database, create_engine
from infra.settings import QueryLimits, Settings
from tests.helpers import GraphQLClient, token


async def test_get_and_post(http: httpx.AsyncClient) -> None:
    got = await http.get("/graphql", params={"query": "{ viewer { userId } }"})
    assert got.status_code == 200
    assert got.json() == {"data": {"viewer": {"userId": None}}}
    posted = await http.post(
        "/graphql",
        json={"query": "{ viewer { userId } }"},
        headers={"Authorization": f"Bearer {token('ada')}"},
    )
    assert posted.json() == {"data": {"viewer": {"userId": "ada"}}}


async def test_mutations_are_not_run_over_get(http: httpx.AsyncClient) -> None:
    query = (
        'mutation { createTutorProfile(input: {displayName: "A", timeZone: "UTC"}) { __typename } }'
    )
    response = await http.get("/graphql", params={"query": query})
    assert response.status_code in (400, 405)


async def test_graphiql_for_browsers(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Unable to parse request body as JSON"),
        (b'{"query": 5}', "`query` must be a string"),
        (b'"hello"', "Expected a JSON object such as"),
        (b"5", "not a number"),
        (b"null", "not null"),
        (b"[1]", "not a list that is not all objects"),
        (b"[]", "A batch holds 1 to 10 operations"),
        ('{"query": "{ viewer { userId } }"}'.encode("utf-16"), "not UTF-8"),
        (b'{"query": "{ viewer { userId } }\xff"}', "not UTF-8"),
    ],
)
async def test_malformed_requests_are_400_with_a_graphql_error(
    http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert message in error["message"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}


async def test_get_variables_must_be_an_object(http: httpx.AsyncClient) -> None:
    query = "query($id: ID!) { tutor(id: $id) { id } }"
    response = await http.get("/graphql", params={"query": query, "variables": '"x"'})
    assert response.status_code == 400
    assert "not a string" in response.json()["errors"][0]["message"]


async def test_healthz(http: httpx.AsyncClient, settings: Settings) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}

    # Nothing listens on port 1: the database does not answer, so the service is not healthy.
    down = Database(create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1))
    app = build_app(settings, down)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get("/healthz")
    await down.engine.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_alias_and_token_limits(gql: GraphQLClient) -> None:
    limits = QueryLimits()
    aliases = " ".join(f"a{i}: viewer {{ userId }}" for i in range(limits.max_aliases + 1))
    error = await gql.error(f"{{ {aliases} }}")
    assert "aliases" in error["message"].lower()

    fields = " ".join("userId" for _ in range(limits.max_tokens))
    error = await gql.error(f"{{ viewer {{ {fields} }} }}")
    assert "token" in error["message"].lower()


async def test_limits_come_from_settings(settings: Settings, db: Database) -> None:
    strict = Settings(
        database_url=settings.database_url,
        auth_jwt_secret=settings.auth_jwt_secret,
        limits=QueryLimits(max_depth=1, max_tokens=50, max_aliases=1),
    )
    app = build_app(strict, db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        gql = GraphQLClient(client)
        assert await gql("{ viewer { userId } }") == {"viewer": {"userId": None}}
        error = await gql.error("{ viewer { tutor { id } } }")
        assert error["message"] == "'anonymous' exceeds maximum operation depth of 1"
        error = await gql.error("{ a: viewer { userId } b: viewer { userId } }")
        assert "aliases" in error["message"].lower()


async def test_default_depth_limit_refuses_a_deep_query(gql: GraphQLClient) -> None:
    inner = "id"
    for level in range(QueryLimits().max_depth + 1):
        inner = f"services {{ tutors {{ {inner} }} }}" if level % 2 == 0 else inner
    error = await gql.error(f'{{ tutor(id: "x") {{ {inner} }} }}')
    assert "exceeds maximum operation depth" in error["message"]
    assert await gql('{ tutor(id: "x") { services { tutors { id } } } }') == {"tutor": None}
