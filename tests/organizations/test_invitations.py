"""Organizations through GraphQL: making one, inviting (the email, the token kept as a hash),
and every way an invitation is refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlmodel import select

from infra.db import Database
from models import OrganizationInvitation, OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    ACCEPT,
    CLOCK,
    CREATE_ORGANIZATION,
    INVITE,
    Background,
    GraphQLClient,
    Tutor,
    email_of,
    make_tutor,
    organization,
    token,
)

ORGANIZATION = """query($id: ID!) { organization(id: $id) {
  id name members { role tutor { id } } invitations { email role } } }"""


async def invite(
    gql: GraphQLClient, by: Tutor, organization_id: str, email: str, role: str = "MEMBER"
) -> dict[str, Any]:
    variables = {"input": {"organizationId": organization_id, "email": email, "role": role}}
    result: dict[str, Any] = (await gql(INVITE, variables, by.token))["inviteTutor"]
    return result


async def accept(
    gql: GraphQLClient, who: Tutor, secret: str, email: str | None = None
) -> dict[str, Any]:
    claim = email if email is not None else email_of(who)
    result: dict[str, Any] = (await gql(ACCEPT, {"token": secret}, token(who.sub, email=claim)))[
        "acceptInvitation"
    ]
    return result


async def test_the_owner_invites_by_email_and_the_invitee_joins_with_the_emailed_token(
    gql: GraphQLClient, db: Database, background: Background, inbox: Inbox
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    created = await gql(CREATE_ORGANIZATION, {"name": "  Ada's   studio "}, ada.token)
    studio = created["createOrganization"]["organization"]["id"]
    invited = await invite(gql, ada, studio, email_of(bob), "ADMIN")
    assert invited["__typename"] == "TutorInvited"
    secret = str(invited["inviteToken"])
    invitation = invited["invitation"]
    assert isinstance(invitation, dict)
    assert (invitation["email"], invitation["role"], invitation["acceptedAt"]) == (
        email_of(bob),
        "ADMIN",
        None,
    )

    # Kept: the token's hash only; the email job carries it encrypted.
    async with db.session() as session:
        [row] = list(await session.exec(select(OrganizationInvitation)))
        jobs = list(await session.exec(select(OutboxJob)))
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.expires_at == row.created_at + timedelta(days=7)
    assert secret not in str([job.payload for job in jobs])

    await background.run()
    [mail] = inbox.to(email_of(bob))
    assert mail.subject == "Join Ada's studio"
    assert secret in mail.text and "Ada invites you" in mail.text

    owner_view = (await gql(ORGANIZATION, {"id": studio}, ada.token))["organization"]
    assert owner_view["invitations"] == [{"email": email_of(bob), "role": "ADMIN"}]

    joined = await accept(gql, bob, secret)
    assert joined["__typename"] == "InvitationAccepted"
    assert joined["member"] == {"role": "ADMIN", "tutor": {"id": bob.id}}
    view = (await gql(ORGANIZATION, {"id": studio}, bob.token))["organization"]
    assert view["name"] == "Ada's studio"
    assert view["members"] == [
        {"role": "OWNER", "tutor": {"id": ada.id}},
        {"role": "ADMIN", "tutor": {"id": bob.id}},
    ]
    assert view["invitations"] == []  # accepted: no longer open

    await background.run()
    assert len(inbox.to(email_of(bob))) == 1  # one email per invitation


async def test_an_invitation_expires_after_seven_days(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada)
    secret = str((await invite(gql, ada, studio, email_of(bob)))["inviteToken"])
    CLOCK.set(CLOCK() + timedelta(days=7, seconds=1))
    refused = await accept(gql, bob, secret)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input.token")
    assert "expired" in refused["message"]
    assert (await gql(ORGANIZATION, {"id": studio}, ada.token))["organization"]["invitations"] == []


async def test_an_invitation_works_once(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    studio = await organization(gql, ada)
    secret = str((await invite(gql, ada, studio, email_of(bob)))["inviteToken"])
    assert (await accept(gql, bob, secret))["__typename"] == "InvitationAccepted"
    again = await accept(gql, bob, secret)
    assert (again["__typename"], again["field"]) == ("InvalidInput", "input.token")
    by_another = await accept(gql, cy, secret, email=email_of(bob))
    assert "used already" in by_another["message"]


async def test_only_the_invited_address_may_accept(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    eve = await make_tutor(gql, "eve")
    studio = await organization(gql, ada)
    secret = str((await invite(gql, ada, studio, "Bob@Tutors.example"))["inviteToken"])
    wrong = await accept(gql, eve, secret)
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInput", "input.token")
    assert "another email address" in wrong["message"]
    assert (await accept(gql, eve, secret, email=""))["__typename"] == "InvalidInput"
    no_profile = (await gql(ACCEPT, {"token": secret}, token("zed", email=email_of(bob))))[
        "acceptInvitation"
    ]
    assert no_profile["__typename"] == "InvalidInput"
    assert "tutor profile" in no_profile["message"]
    unknown = await accept(gql, bob, "not-a-token")
    assert unknown["__typename"] == "NotFound"
    anonymous = await gql.error(ACCEPT, {"token": secret})
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    # The address compares without case; the invitation is still unused after the refusals.
    assert (await accept(gql, bob, secret))["__typename"] == "InvitationAccepted"


async def test_a_tutor_in_an_organization_cannot_join_or_make_another(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada)
    await organization(gql, bob)
    secret = str((await invite(gql, ada, studio, email_of(bob)))["inviteToken"])
    refused = await accept(gql, bob, secret)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input.token")
    assert "already belong" in refused["message"]
    second = (await gql(CREATE_ORGANIZATION, {"name": "Another"}, ada.token))["createOrganization"]
    assert second["__typename"] == "InvalidInput"
    blank = (await gql(CREATE_ORGANIZATION, {"name": "  "}, bob.token))["createOrganization"]
    assert blank["field"] == "input.name"
    student = (await gql(CREATE_ORGANIZATION, {"name": "S"}, token("sam")))["createOrganization"]
    assert student["__typename"] == "InvalidInput"


async def test_who_may_invite(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    eve = await make_tutor(gql, "eve")
    studio = await organization(gql, ada, bob)  # bob: MEMBER
    cy_secret = str((await invite(gql, ada, studio, email_of(cy), "ADMIN"))["inviteToken"])
    await accept(gql, cy, cy_secret)
    variables = {"input": {"organizationId": studio, "email": "x@example.com"}}
    member = await gql.error(INVITE, variables, bob.token)
    assert member["extensions"]["code"] == "FORBIDDEN"
    outsider = (await gql(INVITE, variables, eve.token))["inviteTutor"]
    assert outsider["__typename"] == "NotFound"
    owner_by_admin = await invite(gql, cy, studio, "x@example.com", "OWNER")
    assert (owner_by_admin["__typename"], owner_by_admin["field"]) == ("InvalidInput", "input.role")
    assert (await invite(gql, cy, studio, "x@example.com"))["__typename"] == "TutorInvited"
    bad_email = await invite(gql, ada, studio, "not an address")
    assert bad_email["field"] == "input.email"
    bad_id = await gql(INVITE, {"input": {"organizationId": ada.id, "email": "x@y.z"}}, ada.token)
    assert bad_id["inviteTutor"]["field"] == "input.organizationId"
