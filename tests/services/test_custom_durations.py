"""A service's custom length through GraphQL: set, changed, removed, read back, and each check
naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import SERVICE_RESULT, GraphQLClient, make_tutor

CUSTOM = (
    "customDuration { minMinutes maxMinutes stepMinutes pricePerHour { amountMinor currency } }"
)
SAVED = SERVICE_RESULT.replace("meetingLinks", f"meetingLinks {CUSTOM}")
CREATE = (
    f"""mutation($input: CreateServiceInput!) {{ createService(input: $input) {{ {SAVED} }} }}"""
)
UPDATE = (
    f"""mutation($input: UpdateServiceInput!) {{ updateService(input: $input) {{ {SAVED} }} }}"""
)
READ = f"query($id: ID!) {{ service(id: $id) {{ {CUSTOM} }} }}"
USD = {"amountMinor": 5000, "currency": "usd"}


async def create(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    input.setdefault("title", "Coaching")
    input.setdefault("durations", [{"minutes": 60}])
    result: dict[str, Any] = (await gql(CREATE, {"input": input}, who))["createService"]
    return result


async def update(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(UPDATE, {"input": input}, who))["updateService"]
    return result


async def test_set_read_change_and_remove(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    plain = (await create(gql, ada.token))["service"]
    assert plain["customDuration"] is None

    made = await create(
        gql, ada.token, customDuration={"minMinutes": 30, "maxMinutes": 120, "pricePerHour": USD}
    )
    service = made["service"]
    expected = {
        "minMinutes": 30,
        "maxMinutes": 120,
        "stepMinutes": 15,  # the default step
        "pricePerHour": {"amountMinor": 5000, "currency": "USD"},
    }
    assert service["customDuration"] == expected
    public = await gql(READ, {"id": service["id"]})
    assert public["service"]["customDuration"] == expected

    # Other settings change; the custom length stays.
    kept = await update(gql, ada.token, id=service["id"], capacity=2)
    assert kept["service"]["customDuration"] == expected

    changed = await update(
        gql,
        ada.token,
        id=service["id"],
        customDuration={"minMinutes": 20, "maxMinutes": 60, "stepMinutes": 20},
    )
    assert changed["service"]["customDuration"] == {
        "minMinutes": 20,
        "maxMinutes": 60,
        "stepMinutes": 20,
        "pricePerHour": None,
    }
    removed = await update(gql, ada.token, id=service["id"], customDuration=None)
    assert removed["service"]["customDuration"] is None
    assert (await gql(READ, {"id": service["id"]}))["service"]["customDuration"] is None
    assert removed["service"]["durations"] == [{"minutes": 60, "price": None}]


@pytest.mark.parametrize(
    ("custom", "field", "words"),
    [
        ({"minMinutes": 0, "maxMinutes": 60}, "minMinutes", "at least 5"),
        ({"minMinutes": 32, "maxMinutes": 62}, "minMinutes", "multiple of 5"),
        ({"minMinutes": 30, "maxMinutes": 725}, "maxMinutes", "at most 720"),
        ({"minMinutes": 90, "maxMinutes": 60}, "maxMinutes", "at most maxMinutes"),
        ({"minMinutes": 30, "maxMinutes": 60, "stepMinutes": 0}, "stepMinutes", "multiple of 5"),
        ({"minMinutes": 30, "maxMinutes": 60, "stepMinutes": 7}, "stepMinutes", "multiple of 5"),
        ({"minMinutes": 30, "maxMinutes": 100}, "maxMinutes", "90 or 105"),
        (
            {
                "minMinutes": 30,
                "maxMinutes": 60,
                "pricePerHour": {"amountMinor": 0, "currency": "USD"},
            },
            "pricePerHour.amountMinor",
            "positive",
        ),
        (
            {
                "minMinutes": 30,
                "maxMinutes": 60,
                "pricePerHour": {"amountMinor": 1, "currency": "XXQ"},
            },
            "pricePerHour.currency",
            "ISO 4217",
        ),
        (
            # 5 minutes at 0.05 an hour rounds to nothing.
            {
                "minMinutes": 5,
                "maxMinutes": 50,
                "pricePerHour": {"amountMinor": 5, "currency": "USD"},
            },
            "pricePerHour.amountMinor",
            "cost nothing",
        ),
    ],
)
async def test_each_check_names_its_field(
    gql: GraphQLClient, custom: dict[str, Any], field: str, words: str
) -> None:
    ada = await make_tutor(gql, "ada")
    refused = await create(gql, ada.token, customDuration=custom)
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == f"input.customDuration.{field}"
    assert words in refused["message"]
    # The same through an update, which leaves the service as it was.
    service = (await create(gql, ada.token))["service"]
    again = await update(gql, ada.token, id=service["id"], customDuration=custom)
    assert (again["__typename"], again["field"]) == (
        "InvalidInput",
        f"input.customDuration.{field}",
    )
    assert (await gql(READ, {"id": service["id"]}))["service"]["customDuration"] is None


async def test_one_currency_with_the_listed_prices(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    listed = [{"minutes": 60, "price": {"amountMinor": 4000, "currency": "EUR"}}]
    refused = await create(
        gql,
        ada.token,
        durations=listed,
        customDuration={"minMinutes": 30, "maxMinutes": 90, "pricePerHour": USD},
    )
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.customDuration.pricePerHour.currency"
    assert "EUR" in refused["message"]

    euros = {"amountMinor": 4000, "currency": "EUR"}
    service = (
        await create(
            gql,
            ada.token,
            durations=listed,
            customDuration={"minMinutes": 30, "maxMinutes": 90, "pricePerHour": euros},
        )
    )["service"]
    # Listed prices changed to another currency later are refused too, naming the durations.
    dollars = [{"minutes": 60, "price": USD}]
    moved = await update(gql, ada.token, id=service["id"], durations=dollars)
    assert (moved["__typename"], moved["field"]) == ("InvalidInput", "input.durations")
    # Unpriced listed durations go with any currency; removing the grid frees the listed ones.
    free = await update(gql, ada.token, id=service["id"], durations=[{"minutes": 45}])
    assert free["__typename"] == "ServiceSaved"
    assert (await update(gql, ada.token, id=service["id"], customDuration=None))["service"]
    again = await update(gql, ada.token, id=service["id"], durations=dollars)
    assert again["__typename"] == "ServiceSaved"


async def test_only_its_tutors_change_it(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    service = (await create(gql, ada.token))["service"]
    custom = {"minMinutes": 30, "maxMinutes": 60}
    denied = await gql.error(
        "mutation($input: UpdateServiceInput!) { updateService(input: $input) { __typename } }",
        {"input": {"id": service["id"], "customDuration": custom}},
        bob.token,
    )
    assert denied["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(READ, {"id": service["id"]}))["service"]["customDuration"] is None
