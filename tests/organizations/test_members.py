"""Who sees an organization (queries, node, nested fields), and removing members: roles,
the last owner, and what a removed tutor keeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from infra.db import Database
from models import Booking
from tests.helpers import (
    CLOCK,
    INVITE,
    GraphQLClient,
    Tutor,
    add_booking,
    make_tutor,
    organization,
    pk,
    token,
)

SEEN = """query($id: ID!, $tutor: ID!) {
  organization(id: $id) { id members { role } invitations { email } services { id } }
  node(id: $id) { __typename ... on Organization { name } }
  tutor(id: $tutor) { organization { id } } }"""
INVITATION = "query($id: ID!) { node(id: $id) { ... on OrganizationInvitation { email role } } }"
REMOVE = """mutation($input: RemoveMemberInput!) { removeMember(input: $input) {
  __typename ... on MemberRemoved { organization { id members { tutor { id } } } }
  ... on PolicyViolation { message policy } ... on NotFound { message } } }"""
SERVICE = "query($id: ID!) { service(id: $id) { organization { id } tutors { id } } }"


async def remove(gql: GraphQLClient, by: Tutor, organization_id: str, who: Tutor) -> dict[str, Any]:
    variables = {"input": {"organizationId": organization_id, "tutorId": who.id}}
    result: dict[str, Any] = (await gql(REMOVE, variables, by.token))["removeMember"]
    return result


async def test_members_see_the_organization_outsiders_see_nothing(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    eve = await make_tutor(gql, "eve")
    studio = await organization(gql, ada, bob)
    service = (await ada.service(organizationId=studio, tutorIds=[ada.id, bob.id]))["service"]
    invited = await gql(
        INVITE, {"input": {"organizationId": studio, "email": "cy@example.com"}}, ada.token
    )
    invitation = invited["inviteTutor"]["invitation"]["id"]

    owner = await gql(SEEN, {"id": studio, "tutor": bob.id}, ada.token)
    assert owner["organization"]["invitations"] == [{"email": "cy@example.com"}]
    assert owner["organization"]["services"] == [{"id": service["id"]}]
    assert owner["node"] == {"__typename": "Organization", "name": "Ada's studio"}
    assert owner["tutor"]["organization"] == {"id": studio}

    member = await gql(SEEN, {"id": studio, "tutor": ada.id}, bob.token)
    assert member["organization"]["members"] == [{"role": "OWNER"}, {"role": "MEMBER"}]
    assert member["organization"]["invitations"] == []  # owners and admins only
    assert member["node"]["name"] == "Ada's studio"

    for viewer in (eve.token, token("sam"), None):
        seen = await gql(SEEN, {"id": studio, "tutor": ada.id}, viewer)
        assert seen == {"organization": None, "node": None, "tutor": {"organization": None}}
        assert (await gql(SERVICE, {"id": service["id"]}, viewer))["service"][
            "organization"
        ] is None
    assert (await gql(SERVICE, {"id": service["id"]}, bob.token))["service"]["organization"] == {
        "id": studio
    }

    assert (await gql(INVITATION, {"id": invitation}, ada.token))["node"]["role"] == "MEMBER"
    for viewer in (bob.token, eve.token, None):
        assert (await gql(INVITATION, {"id": invitation}, viewer))["node"] is None
    assert (await gql(SEEN, {"id": ada.id, "tutor": ada.id}, ada.token))["organization"] is None


async def test_who_may_remove_whom_and_the_last_owner_stays(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    dee = await make_tutor(gql, "dee")
    eve = await make_tutor(gql, "eve")
    studio = await organization(gql, ada, bob, cy)  # members
    admins = await organization(gql, dee)
    assert (await remove(gql, eve, studio, bob))["__typename"] == "NotFound"
    assert (await remove(gql, dee, studio, bob))["__typename"] == "NotFound"
    assert (await remove(gql, ada, studio, dee))["__typename"] == "NotFound"  # not a member
    variables = {"input": {"organizationId": studio, "tutorId": cy.id}}
    denied = await gql.error(REMOVE, variables, bob.token)
    assert denied["extensions"]["code"] == "FORBIDDEN"

    last = await remove(gql, ada, studio, ada)
    assert (last["__typename"], last["policy"]) == ("PolicyViolation", "LAST_OWNER")
    dee_leaves = await remove(gql, dee, admins, dee)
    assert dee_leaves["policy"] == "LAST_OWNER"

    removed = await remove(gql, ada, studio, cy)
    assert removed["__typename"] == "MemberRemoved"
    assert [m["tutor"]["id"] for m in removed["organization"]["members"]] == [ada.id, bob.id]
    left = await remove(gql, bob, studio, bob)  # anyone may leave
    assert [m["tutor"]["id"] for m in left["organization"]["members"]] == [ada.id]
    seen = await gql(SEEN, {"id": studio, "tutor": bob.id}, bob.token)
    assert seen["organization"] is None and seen["tutor"]["organization"] is None
    junk = await gql(REMOVE, {"input": {"organizationId": "junk", "tutorId": bob.id}}, ada.token)
    assert junk["removeMember"]["__typename"] == "NotFound"


async def test_a_removed_tutor_leaves_the_services_and_keeps_the_bookings(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada, bob)
    shared = (
        await ada.service(
            organizationId=studio, tutorIds=[ada.id, bob.id], scheduleId=bob.schedule_id
        )
    )["service"]
    bobs_own = (await ada.service(organizationId=studio, tutorIds=[bob.id]))["service"]
    start = CLOCK().replace(microsecond=0) + timedelta(days=3)
    booking = await add_booking(db, bob.id, shared["id"], start)

    assert (await remove(gql, ada, studio, bob))["__typename"] == "MemberRemoved"
    after = (await gql(SERVICE, {"id": shared["id"]}, ada.token))["service"]
    assert after == {"organization": {"id": studio}, "tutors": [{"id": ada.id}]}
    schedule = await gql(
        "query($id: ID!) { service(id: $id) { schedule { id } } }", {"id": shared["id"]}, ada.token
    )
    assert schedule["service"]["schedule"] is not None  # ada's default, not bob's any more
    # Alone on it, bob takes the service with him: it leaves the organization.
    alone = (await gql(SERVICE, {"id": bobs_own["id"]}, bob.token))["service"]
    assert alone == {"organization": None, "tutors": [{"id": bob.id}]}
    async with db.session() as session:
        row = (await session.exec(select(Booking).where(Booking.id == booking))).one()
    assert (row.tutor_id, row.service_id) == (pk(bob.id), pk(shared["id"]))
