"""Organizations, their members and invitations. An organization is visible to its members
only; its open invitations to its owners and admins only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import agenda, invitations, organizations
from infra.db import present
from models import Organization as OrganizationRow
from models import OrganizationInvitation as InvitationRow
from models import OrganizationMember as MemberRow
from models import OrganizationRole
from models.organizations import MANAGERS
from schema.agenda import TutorAgenda, checked
from schema.bounds import AtMost, OnePerId
from schema.context import Context
from schema.errors import InvalidInput, NotFound, PolicyViolation
from schema.node import Node, decode_id_of
from schema.people import Tutor, tutor_of
from schema.scalars import TimeZone
from schema.services import Service

# The GraphQL enum is the model's own: one vocabulary, checked by mypy.
strawberry.enum(OrganizationRole)


@strawberry.type
class OrganizationMember:
    role: OrganizationRole
    joined_at: dt.datetime
    tutor_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: MemberRow) -> OrganizationMember:
        return cls(role=row.role, joined_at=row.joined_at, tutor_id=row.tutor_id)

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor:
        return await tutor_of(info, self.tutor_id)


@strawberry.type
class OrganizationInvitation(Node):
    email: str
    role: OrganizationRole
    expires_at: dt.datetime
    accepted_at: dt.datetime | None = strawberry.field(description="Null until accepted.")

    @classmethod
    def from_row(cls, row: InvitationRow) -> OrganizationInvitation:
        return cls(
            pk=row.id,
            email=row.email,
            role=row.role,
            expires_at=row.expires_at,
            accepted_at=row.accepted_at,
        )


@strawberry.type(
    description="A studio or school: a primary tutor (owner) and the tutors who work with them."
)
class Organization(Node):
    name: str
    # The viewer's role in it: only members are ever shown one.
    viewer_role: strawberry.Private[OrganizationRole]

    @strawberry.field(
        description="Visible to the organization's members.",
        extensions=[AtMost(organizations.MAX_MEMBERS)],
    )
    async def members(self, info: Info[Context, None]) -> list[OrganizationMember]:
        rows = await info.context.loaders.members.load(self.pk)
        return [OrganizationMember.from_row(r) for r in rows]

    @strawberry.field(
        description="Open invitations; visible to owners and admins only (empty for others).",
        extensions=[AtMost(invitations.MAX_OPEN_INVITATIONS)],
    )
    async def invitations(self, info: Info[Context, None]) -> list[OrganizationInvitation]:
        if self.viewer_role not in MANAGERS:
            return []
        rows = await invitations.open_invitations(info.context.db, self.pk, info.context.now())
        return [OrganizationInvitation.from_row(r) for r in rows]

    @strawberry.field(
        description="Services that belong to the organization.",
        extensions=[AtMost(organizations.MAX_SERVICES)],
    )
    async def services(self, info: Info[Context, None]) -> list[Service]:
        ids = await organizations.service_ids_of(info.context.db, self.pk)
        found = await info.context.loaders.service.load_many(ids)
        return [Service.from_info(s) for s in found if s is not None]

    @strawberry.field(
        description="Each chosen member's open hours and bookings over a range, side by side, "
        "for the owner's calendar view. Owners and admins see every member; a member sees only "
        "themselves. At most 31 days. Times are written in timeZone. tutorIds: the members to "
        "show, in that order (ids of anyone else are left out); omitted, every member you see. "
        f"Priced for cost as {organizations.MAX_MEMBERS} agendas, or one per id in tutorIds.",
        extensions=[OnePerId(organizations.MAX_MEMBERS, "tutorIds")],
    )
    async def agenda(
        self,
        info: Info[Context, None],
        from_: Annotated[dt.datetime, strawberry.argument(name="from")],
        to: dt.datetime,
        time_zone: TimeZone,
        tutor_ids: list[strawberry.ID] | None = None,
    ) -> list[TutorAgenda]:
        context = info.context
        # An id that names no tutor names no member: left out like any outsider's.
        chosen = [decode_id_of(i, "Tutor") for i in tutor_ids] if tutor_ids is not None else None
        found = await checked(
            agenda.organization_agenda(
                context.db, context.identity, self.pk, chosen, from_, to, context.now()
            )
        )
        return [TutorAgenda.of(a, time_zone) for a in found]

    @strawberry.field(
        description="Whether you, an owner, get the daily email of every member's sessions "
        "tomorrow (setOrganizationSummary); null for anyone but an owner."
    )
    async def daily_summary(self, info: Info[Context, None]) -> bool | None:
        if self.viewer_role != OrganizationRole.OWNER:
            return None
        return await organizations.summary_opt_in(info.context.db, info.context.identity, self.pk)


async def visible_organization(
    info: Info[Context, None], organization_id: uuid.UUID
) -> Organization | None:
    """The organization, for its members; None for everyone else."""
    loaders = info.context.loaders
    role = await loaders.viewer_role.load(organization_id)
    if role is None:
        return None
    row = present(await loaders.organization.load(organization_id), "organization")
    return Organization(pk=row.id, name=row.name, viewer_role=role)


def organization_of(row: OrganizationRow, role: OrganizationRole) -> Organization:
    """A mutation's organization, shown to the caller whose role it just established."""
    return Organization(pk=row.id, name=row.name, viewer_role=role)


@strawberry.input
class CreateOrganizationInput:
    name: str


@strawberry.type
class OrganizationCreated:
    organization: Organization


CreateOrganizationResult = Annotated[
    OrganizationCreated | InvalidInput, strawberry.union("CreateOrganizationResult")
]


@strawberry.input
class InviteTutorInput:
    organization_id: strawberry.ID
    email: str
    role: OrganizationRole | None = OrganizationRole.MEMBER


@strawberry.type
class TutorInvited:
    invitation: OrganizationInvitation
    invite_token: str = strawberry.field(
        description="Secret for acceptInvitation; shown once (also emailed to the invitee), "
        "kept only as a hash."
    )


InviteTutorResult = Annotated[
    TutorInvited | InvalidInput | NotFound, strawberry.union("InviteTutorResult")
]


@strawberry.input
class AcceptInvitationInput:
    token: str


@strawberry.type
class InvitationAccepted:
    organization: Organization
    member: OrganizationMember


AcceptInvitationResult = Annotated[
    InvitationAccepted | InvalidInput | NotFound, strawberry.union("AcceptInvitationResult")
]


@strawberry.input
class RemoveMemberInput:
    organization_id: strawberry.ID
    tutor_id: strawberry.ID


@strawberry.type
class MemberRemoved:
    organization: Organization = strawberry.field(
        description="As the caller sees it now (having left: its members, no invitations)."
    )


RemoveMemberResult = Annotated[
    MemberRemoved | PolicyViolation | NotFound, strawberry.union("RemoveMemberResult")
]


@strawberry.input(
    description="An owner's opt-in to a daily email of every member's sessions tomorrow, sent "
    "at the hour members' own summaries go, in the owner's zone."
)
class SetOrganizationSummaryInput:
    organization_id: strawberry.ID
    enabled: bool


@strawberry.type
class OrganizationSummarySet:
    organization: Organization


SetOrganizationSummaryResult = Annotated[
    OrganizationSummarySet | NotFound, strawberry.union("SetOrganizationSummaryResult")
]
