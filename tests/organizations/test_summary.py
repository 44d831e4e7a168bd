"""An owner's opt-in to the daily summary of every member's sessions (issue 15, item 8); the
members' own summaries stay per tutor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    UPDATE_TUTOR,
    Background,
    GraphQLClient,
    at,
    book,
    make_tutor,
    monday,
    organization,
    token,
)

OPT_IN = """mutation($input: SetOrganizationSummaryInput!) { setOrganizationSummary(input: $input) {
  __typename ... on OrganizationSummarySet { organization { id dailySummary } }
  ... on NotFound { message } } }"""
SEEN = "query($id: ID!) { organization(id: $id) { dailySummary } }"
SAM = token("sam", email="sam@example.com")


async def test_an_owner_who_opts_in_gets_every_members_sessions_once_a_day(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, bob, cy = [await make_tutor(gql, n) for n in ("ada", "bob", "cy")]
    for tutor in (ada, bob):
        email = {"input": {"email": f"{tutor.sub}@studio.example"}}
        await gql(UPDATE_TUTOR, email, tutor.token)
    studio = await organization(gql, ada, bob, cy)
    assert (await gql(SEEN, {"id": studio}, ada.token))["organization"]["dailySummary"] is False
    assert (await gql(SEEN, {"id": studio}, bob.token))["organization"]["dailySummary"] is None
    refused = await gql.error(
        OPT_IN, {"input": {"organizationId": studio, "enabled": True}}, bob.token
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"
    outsider = await make_tutor(gql, "eve")
    missing = await gql(
        OPT_IN, {"input": {"organizationId": studio, "enabled": True}}, outsider.token
    )
    assert missing["setOrganizationSummary"]["__typename"] == "NotFound"
    opted = await gql(OPT_IN, {"input": {"organizationId": studio, "enabled": True}}, ada.token)
    assert opted["setOrganizationSummary"]["organization"]["dailySummary"] is True

    day = monday()
    for tutor, hour in ((bob, 10), (cy, 11)):
        service = (await tutor.service(title=f"{tutor.sub.title()}'s lesson"))["service"]["id"]
        made = await book(gql, SAM, serviceId=service, tutorId=tutor.id, start=at(day, hour))
        assert made["__typename"] == "BookingCreated", made
    await background.run()
    inbox.reset()

    eve = datetime.combine(day - timedelta(days=1), datetime.min.time(), UTC)
    await background.run(eve + timedelta(hours=18))
    await background.run(eve + timedelta(hours=21))  # later that evening: not again
    [summary] = inbox.to("ada@studio.example")
    text = summary.text.replace("\r\n", "\n")
    assert summary.subject == "Ada's studio tomorrow: 2 sessions"
    assert "Bob\n10:00–11:00  Bob's lesson with Sam" in text
    assert "Cy\n11:00–12:00  Cy's lesson with Sam" in text
    # Bob's own summary is his sessions only.
    [own] = inbox.to("bob@studio.example")
    assert own.subject == "Tomorrow: 1 session" and "Cy's lesson" not in own.text

    inbox.reset()
    await gql(OPT_IN, {"input": {"organizationId": studio, "enabled": False}}, ada.token)
    await background.run(eve + timedelta(days=1, hours=18))
    assert inbox.to("ada@studio.example") == []
