"""Organizations: made by a tutor, joined by invitation, read by their members."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import invitations, organizations
from domain.errors import NotFound
from domain.invitations import Invited
from models import Organization as OrganizationRow
from models import OrganizationMember as MemberRow
from models import OrganizationRole
from resolvers.common import mutate, parse_id
from schema.context import Context
from schema.node import decode_id_of
from schema.organizations import (
    AcceptInvitationInput,
    AcceptInvitationResult,
    CreateOrganizationInput,
    CreateOrganizationResult,
    InvitationAccepted,
    InviteTutorInput,
    InviteTutorResult,
    MemberRemoved,
    Organization,
    OrganizationCreated,
    OrganizationInvitation,
    OrganizationMember,
    OrganizationSummarySet,
    RemoveMemberInput,
    RemoveMemberResult,
    SetOrganizationSummaryInput,
    SetOrganizationSummaryResult,
    TutorInvited,
    organization_of,
    visible_organization,
)


async def organization_by_pk(info: Info[Context, None], pk: uuid.UUID) -> Organization | None:
    return await visible_organization(info, pk)


async def invitation_by_pk(
    info: Info[Context, None], pk: uuid.UUID
) -> OrganizationInvitation | None:
    row = await invitations.invitation_for_manager(info.context.db, info.context.identity, pk)
    return OrganizationInvitation.from_row(row) if row else None


def _invited(invited: Invited) -> TutorInvited:
    return TutorInvited(
        invitation=OrganizationInvitation.from_row(invited.invitation), invite_token=invited.token
    )


def _accepted(joined: tuple[OrganizationRow, MemberRow]) -> InvitationAccepted:
    row, member = joined
    return InvitationAccepted(
        organization=organization_of(row, member.role),
        member=OrganizationMember.from_row(member),
    )


@strawberry.type
class Query:
    @strawberry.field(description="For its members; null for everyone else.")
    async def organization(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> Organization | None:
        pk = decode_id_of(id, "Organization")
        return await organization_by_pk(info, pk) if pk else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A new organization, with you (a tutor in none) its OWNER.")
    async def create_organization(
        self, info: Info[Context, None], input: CreateOrganizationInput
    ) -> CreateOrganizationResult:
        identity = info.context.require_identity()
        work = organizations.create_organization(
            info.context.db, identity, input.name, info.context.now()
        )
        return await mutate(
            work,
            lambda row: OrganizationCreated(
                organization=organization_of(row, OrganizationRole.OWNER)
            ),
        )

    @strawberry.mutation(
        description="Invite a tutor by email (owners and admins; only an owner invites an "
        "owner). The token is emailed and shown once; it works once, for 7 days."
    )
    async def invite_tutor(
        self, info: Info[Context, None], input: InviteTutorInput
    ) -> InviteTutorResult:
        identity = info.context.require_identity()
        context = info.context

        async def work() -> Invited:
            organization_id = parse_id(
                input.organization_id, "Organization", "input.organizationId"
            )
            return await invitations.invite_tutor(
                context.db,
                context.cipher,
                identity,
                organization_id,
                input.email,
                input.role or OrganizationRole.MEMBER,
                context.now(),
            )

        return await mutate(work(), _invited)

    @strawberry.mutation(
        description="Join the organization an invitation is for: you need a tutor profile, no "
        "organization yet, and the invitation's email as your profile's or your sign-in's."
    )
    async def accept_invitation(
        self, info: Info[Context, None], input: AcceptInvitationInput
    ) -> AcceptInvitationResult:
        identity = info.context.require_identity()
        work = invitations.accept_invitation(
            info.context.db, identity, input.token, info.context.now()
        )
        return await mutate(work, _accepted)

    @strawberry.mutation(
        description="Remove a member (owners and admins; only an owner removes an owner), or "
        "leave (your own tutorId). The last owner stays. The tutor leaves the organization's "
        "services; their bookings stay theirs."
    )
    async def remove_member(
        self, info: Info[Context, None], input: RemoveMemberInput
    ) -> RemoveMemberResult:
        identity = info.context.require_identity()
        context = info.context

        async def work() -> Organization:
            organization_id = decode_id_of(input.organization_id, "Organization")
            tutor_id = decode_id_of(input.tutor_id, "Tutor")
            if organization_id is None:
                raise NotFound("No such organization")
            if tutor_id is None:
                raise NotFound("No such member")
            row = await organizations.remove_member(
                context.db, identity, organization_id, tutor_id, context.now()
            )
            # As the caller sees it now: having left, what any member sees, no more.
            shown = await visible_organization(info, row.id)
            return shown or organization_of(row, OrganizationRole.MEMBER)

        return await mutate(work(), lambda shown: MemberRemoved(organization=shown))

    @strawberry.mutation(
        description="Owners only (others: FORBIDDEN): opt in to, or out of, the daily summary of "
        "every member's sessions."
    )
    async def set_organization_summary(
        self, info: Info[Context, None], input: SetOrganizationSummaryInput
    ) -> SetOrganizationSummaryResult:
        identity = info.context.require_identity()

        async def work() -> Organization:
            organization_id = decode_id_of(input.organization_id, "Organization")
            if organization_id is None:
                raise NotFound("No such organization")
            row = await organizations.set_organization_summary(
                info.context.db, identity, organization_id, input.enabled
            )
            return organization_of(row, OrganizationRole.OWNER)

        return await mutate(work(), lambda shown: OrganizationSummarySet(organization=shown))
