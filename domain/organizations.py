"""Organizations: who belongs to which, with what role, and the rule every area asks about.

The role rule lives here, once: `manages(session, identity, tutor_id)` is true for the tutor
themselves and for an OWNER or ADMIN of the tutor's organization; `managed_tutors` is the same
rule as a set, for filtering lists. Services (consent), and bookings (an owner acting for a
member) ask these, never the tables directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from domain import events
from domain.errors import Forbidden, InvalidInput, NotFound, Policy, PolicyViolation
from domain.people import clean_name, tutor_of_user
from infra.auth import Identity
from infra.db import Database, present
from models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    Schedule,
    Service,
    ServiceTutor,
    Tutor,
)
from models.organizations import MANAGERS

MAX_MEMBERS = 100
MAX_SERVICES = 100  # what Organization.services lists

ALREADY_MEMBER = "You already belong to an organization: leave it first"


# ---------------------------------------------------------------- the role rule


async def role_of(
    session: AsyncSession, organization_id: uuid.UUID, tutor_id: uuid.UUID
) -> OrganizationRole | None:
    """The tutor's role in that organization; None when they are not a member."""
    member = await session.get(OrganizationMember, tutor_id)
    return member.role if member is not None and member.organization_id == organization_id else None


async def managed_tutors(session: AsyncSession, identity: Identity | None) -> set[uuid.UUID]:
    """Every tutor whose calendar and bookings the caller manages: themselves, and, as an
    OWNER or ADMIN, every member of their organization. Empty for a caller who is no tutor."""
    if identity is None:
        return set()
    me = await tutor_of_user(session, identity.sub)
    if me is None:
        return set()
    mine = aliased(OrganizationMember)
    theirs = aliased(OrganizationMember)
    members = await session.exec(
        select(theirs.tutor_id)
        .join(mine, col(mine.organization_id) == col(theirs.organization_id))
        .where(col(mine.tutor_id) == me.id, col(mine.role).in_(MANAGERS))
    )
    return {me.id, *members}


async def manages(session: AsyncSession, identity: Identity | None, tutor_id: uuid.UUID) -> bool:
    """Is the caller this tutor, or an OWNER or ADMIN of the tutor's organization?"""
    return tutor_id in await managed_tutors(session, identity)


def member_ids(organization_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """The organization's members' tutor ids, as a subquery for lists filtered by it. Who may
    see those rows is still the caller's own rule (`managed_tutors`)."""
    return select(OrganizationMember.tutor_id).where(
        OrganizationMember.organization_id == organization_id
    )


async def members_for_manager(
    db: Database, identity: Identity, organization_id: uuid.UUID
) -> list[uuid.UUID] | None:
    """Every member's tutor id, for an OWNER or ADMIN of the organization; None for anyone
    else (a member, an outsider, an organization that does not exist)."""
    async with db.session() as session:
        roles = await roles_of_user(session, identity, [organization_id])
        if roles.get(organization_id) not in MANAGERS:
            return None
        return list(await session.exec(member_ids(organization_id)))


async def roles_of_user(
    session: AsyncSession, identity: Identity | None, organization_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, OrganizationRole]:
    """The caller's role in each of these organizations they belong to (at most one)."""
    if identity is None:
        return {}
    rows = await session.exec(
        select(OrganizationMember)
        .join(Tutor, col(Tutor.id) == OrganizationMember.tutor_id)
        .where(
            Tutor.user_id == identity.sub,
            col(OrganizationMember.organization_id).in_(organization_ids),
        )
    )
    return {row.organization_id: row.role for row in rows}


# ---------------------------------------------------------------- changes


async def create_organization(
    db: Database, identity: Identity, name: str, now: datetime
) -> Organization:
    """A new organization with the caller, a tutor in none yet, as its OWNER."""
    clean = clean_name(name, "input.name")
    try:
        async with db.transaction() as session:
            me = await tutor_of_user(session, identity.sub)
            if me is None:
                raise InvalidInput("Only tutors make organizations: create a tutor profile first")
            if await session.get(OrganizationMember, me.id) is not None:
                raise InvalidInput(ALREADY_MEMBER)
            organization = Organization(name=clean, created_at=now)
            session.add(organization)
            await session.flush()
            session.add(
                OrganizationMember(
                    tutor_id=me.id,
                    organization_id=organization.id,
                    role=OrganizationRole.OWNER,
                    joined_at=now,
                )
            )
    except IntegrityError:
        raise InvalidInput(ALREADY_MEMBER) from None  # a concurrent join won the tutor's row
    return organization


async def caller_role(
    session: AsyncSession, identity: Identity, organization_id: uuid.UUID
) -> tuple[Tutor, OrganizationRole]:
    """The caller and their role there; NotFound for anyone outside (who may not know of it)."""
    me = await tutor_of_user(session, identity.sub)
    role = await role_of(session, organization_id, me.id) if me is not None else None
    if me is None or role is None:
        raise NotFound("No such organization")
    return me, role


async def remove_member(
    db: Database,
    identity: Identity,
    organization_id: uuid.UUID,
    tutor_id: uuid.UUID,
    now: datetime,
) -> Organization:
    """An owner or admin removes a member (only an owner removes an owner); anyone may leave.
    The last owner stays. The tutor leaves the organization's services; their bookings stay."""
    async with db.transaction() as session:
        organization = (
            await session.exec(
                select(Organization).where(Organization.id == organization_id).with_for_update()
            )
        ).first()
        if organization is None:
            raise NotFound("No such organization")
        me, my_role = await caller_role(session, identity, organization_id)
        target = await role_of(session, organization_id, tutor_id)
        if target is None:
            raise NotFound("No such member")
        if me.id != tutor_id:
            if my_role not in MANAGERS:
                raise Forbidden("Only the organization's owners and admins remove members")
            if target == OrganizationRole.OWNER and my_role != OrganizationRole.OWNER:
                raise Forbidden("Only an owner removes an owner")
        if target == OrganizationRole.OWNER:
            owners = (
                await session.exec(
                    select(func.count()).where(
                        OrganizationMember.organization_id == organization_id,
                        OrganizationMember.role == OrganizationRole.OWNER,
                    )
                )
            ).one()
            if owners == 1:
                raise PolicyViolation(
                    "The organization's last owner cannot be removed: make another owner first",
                    Policy.LAST_OWNER,
                )
        await session.exec(
            delete(OrganizationMember).where(col(OrganizationMember.tutor_id) == tutor_id)
        )
        await _leave_services(session, organization_id, tutor_id)
        events.members_changed(session, organization_id, now)
    return organization


async def _leave_services(
    session: AsyncSession, organization_id: uuid.UUID, tutor_id: uuid.UUID
) -> None:
    """A departing member leaves the organization's services. A service they were alone on
    cannot be left without a tutor: it leaves the organization with them, as their own."""
    theirs = select(ServiceTutor.service_id).where(
        ServiceTutor.tutor_id == tutor_id,
        col(ServiceTutor.service_id).in_(
            select(Service.id).where(Service.organization_id == organization_id)
        ),
    )
    someone_else = exists().where(
        col(ServiceTutor.service_id) == Service.id, col(ServiceTutor.tutor_id) != tutor_id
    )
    await session.exec(
        update(Service)
        .where(col(Service.id).in_(theirs), ~someone_else)
        .values(organization_id=None)
    )
    shared = select(Service.id).where(Service.organization_id == organization_id)
    await session.exec(
        delete(ServiceTutor).where(
            col(ServiceTutor.tutor_id) == tutor_id, col(ServiceTutor.service_id).in_(shared)
        )
    )
    # Their schedule no longer decides the hours of a service they left.
    await session.exec(
        update(Service)
        .where(
            col(Service.organization_id) == organization_id,
            col(Service.schedule_id).in_(
                select(Schedule.id).where(col(Schedule.tutor_id) == tutor_id)
            ),
        )
        .values(schedule_id=None)
    )


async def set_organization_summary(
    db: Database, identity: Identity, organization_id: uuid.UUID, enabled: bool
) -> Organization:
    """An owner opts in to (or out of) the daily email of every member's sessions; members'
    own daily summaries are per tutor and stay as they are."""
    async with db.transaction() as session:
        me, role = await caller_role(session, identity, organization_id)
        if role != OrganizationRole.OWNER:
            raise Forbidden("Only the organization's owners get its daily summary")
        await session.exec(
            update(OrganizationMember)
            .where(col(OrganizationMember.tutor_id) == me.id)
            .values(organization_summary=enabled)
        )
        return present(await session.get(Organization, organization_id), "organization")


# ---------------------------------------------------------------- reads


async def summary_opt_in(
    db: Database, identity: Identity | None, organization_id: uuid.UUID
) -> bool | None:
    """Whether the caller, an owner of the organization, gets its daily summary; None for
    anyone else."""
    if identity is None:
        return None
    async with db.session() as session:
        me = await tutor_of_user(session, identity.sub)
        member = await session.get(OrganizationMember, me.id) if me is not None else None
    if member is None or member.organization_id != organization_id:
        return None
    return member.organization_summary if member.role == OrganizationRole.OWNER else None


async def organizations_by_id(
    db: Database, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Organization]:
    async with db.session() as session:
        rows = await session.exec(select(Organization).where(col(Organization.id).in_(ids)))
        return {row.id: row for row in rows}


async def memberships(
    db: Database, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, OrganizationMember]:
    """Each tutor's membership, for those in an organization."""
    async with db.session() as session:
        rows = await session.exec(
            select(OrganizationMember).where(col(OrganizationMember.tutor_id).in_(tutor_ids))
        )
        return {row.tutor_id: row for row in rows}


async def members_of(
    db: Database, organization_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[OrganizationMember]]:
    """Each organization's members, owners first, then by when they joined."""
    found: dict[uuid.UUID, list[OrganizationMember]] = {}
    async with db.session() as session:
        rows = await session.exec(
            select(OrganizationMember)
            .where(col(OrganizationMember.organization_id).in_(organization_ids))
            .order_by(col(OrganizationMember.joined_at), col(OrganizationMember.tutor_id))
        )
        for row in rows:
            found.setdefault(row.organization_id, []).append(row)
    return found


async def service_ids_of(db: Database, organization_id: uuid.UUID) -> list[uuid.UUID]:
    async with db.session() as session:
        rows = await session.exec(
            select(Service.id)
            .where(Service.organization_id == organization_id)
            .order_by(col(Service.created_at), col(Service.id))
            .limit(MAX_SERVICES)
        )
        return list(rows)
