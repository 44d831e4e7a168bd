"""Shared services only with consent: the cross-tenant repro of issue 15 refused, organization
services staffed by owners and admins from members, and any tutor free to leave a service."""

from __future__ import annotations

from typing import Any

from tests.helpers import (
    SERVICE_RESULT,
    GraphQLClient,
    Tutor,
    make_tutor,
    organization,
)

UPDATE = f"""mutation($input: UpdateServiceInput!) {{
  updateService(input: $input) {{ {SERVICE_RESULT} }} }}"""
SERVICES = "query($id: ID!) { tutor(id: $id) { services { title } } }"


async def update(gql: GraphQLClient, who: Tutor, **input: object) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(UPDATE, {"input": input}, who.token))["updateService"]
    return result


async def titles(gql: GraphQLClient, tutor: Tutor) -> list[str]:
    return [s["title"] for s in (await gql(SERVICES, {"id": tutor.id}))["tutor"]["services"]]


async def test_a_tutor_cannot_list_another_or_use_their_schedule(gql: GraphQLClient) -> None:
    alice = await make_tutor(gql, "alice")
    bob = await make_tutor(gql, "bob")
    attack = await bob.service(
        title="Bob's crowd",
        tutorIds=[alice.id, bob.id],
        scheduleId=alice.schedule_id,
        capacity=50,
    )
    assert (attack["__typename"], attack["field"]) == ("InvalidInput", "input.tutorIds")
    schedule = await bob.service(title="Bob's crowd", scheduleId=alice.schedule_id)
    assert (schedule["__typename"], schedule["field"]) == ("InvalidInput", "input.scheduleId")
    # Bob's own organization does not make alice his to list.
    bobs = await organization(gql, bob)
    outside = await bob.service(organizationId=bobs, tutorIds=[bob.id, alice.id])
    assert (outside["__typename"], outside["field"]) == ("InvalidInput", "input.tutorIds.1")
    # Nor does someone else's organization he belongs to as a member.
    carol = await make_tutor(gql, "carol")
    studio = await organization(gql, carol, alice)
    not_his = await bob.service(organizationId=studio, tutorIds=[alice.id, bob.id])
    assert (not_his["__typename"], not_his["field"]) == ("InvalidInput", "input.organizationId")

    own = (await bob.service(title="Bob's own"))["service"]
    grab = await update(gql, bob, id=own["id"], tutorIds=[bob.id, alice.id])
    assert (grab["__typename"], grab["field"]) == ("InvalidInput", "input.tutorIds")
    moved = await update(gql, bob, id=own["id"], scheduleId=alice.schedule_id)
    assert moved["field"] == "input.scheduleId"
    assert await titles(gql, alice) == []


async def test_owners_and_admins_staff_organization_services_from_members(
    gql: GraphQLClient,
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    studio = await organization(gql, ada, bob, cy)
    # The owner need not teach it; a member's schedule may be the service's.
    saved = await ada.service(
        title="Duo", organizationId=studio, tutorIds=[bob.id, cy.id], scheduleId=bob.schedule_id
    )
    assert saved["__typename"] == "ServiceSaved", saved
    service = saved["service"]["id"]
    # A member on it may change its settings, not who teaches it.
    assert (await update(gql, bob, id=service, capacity=2))["service"]["capacity"] == 2
    adding = await update(gql, bob, id=service, tutorIds=[bob.id, cy.id, ada.id])
    assert adding["field"] == "input.organizationId"
    dropping = await update(gql, bob, id=service, tutorIds=[bob.id])
    assert dropping["field"] == "input.organizationId"
    # The owner, not on it, may.
    staffed = await update(gql, ada, id=service, tutorIds=[ada.id, bob.id, cy.id])
    assert [t["id"] for t in staffed["service"]["tutors"]] == [ada.id, bob.id, cy.id]


async def test_a_member_leaves_a_service(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada, bob)
    service = (
        await ada.service(
            title="Duo",
            organizationId=studio,
            tutorIds=[ada.id, bob.id],
            scheduleId=bob.schedule_id,
        )
    )["service"]["id"]
    assert await titles(gql, bob) == ["Duo"]
    left = await update(gql, bob, id=service, tutorIds=[ada.id])
    assert [t["id"] for t in left["service"]["tutors"]] == [ada.id]
    assert await titles(gql, bob) == []
    schedule = await gql(
        "query($id: ID!) { service(id: $id) { schedule { id } } }", {"id": service}, ada.token
    )
    assert schedule["service"]["schedule"] is not None  # bob's schedule went with him
    gone = await gql.error(UPDATE, {"input": {"id": service, "capacity": 3}}, bob.token)
    assert gone["extensions"]["code"] == "FORBIDDEN"
    # The last tutor stays: a service has at least one.
    last = await update(gql, ada, id=service, tutorIds=[])
    assert (last["__typename"], last["field"]) == ("InvalidInput", "input.tutorIds")


async def test_a_service_of_ones_own_moves_into_the_organization(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada, bob)
    own = (await ada.service(title="Solo"))["service"]["id"]
    moved = await update(gql, ada, id=own, organizationId=studio, tutorIds=[ada.id, bob.id])
    assert moved["__typename"] == "ServiceSaved"
    org = await gql(
        "query($id: ID!) { service(id: $id) { organization { id } } }", {"id": own}, ada.token
    )
    assert org["service"]["organization"] == {"id": studio}
    bobs = (await bob.service(title="Bob's"))["service"]["id"]
    by_member = await update(gql, bob, id=bobs, organizationId=studio)
    assert by_member["field"] == "input.organizationId"
