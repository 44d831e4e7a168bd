"""Invitations to an organization: made by owners and admins, emailed with a token shown once and
kept only as its hash, accepted once within their validity."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, notifications, organizations, outbox
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.organizations import ALREADY_MEMBER, MAX_MEMBERS, roles_of_user
from domain.outbox import JobContext
from domain.people import clean_email, tutor_of_user
from infra.auth import Identity
from infra.crypto import Cipher, digest
from infra.db import Database, UnitOfWork, present
from models import (
    Organization,
    OrganizationInvitation,
    OrganizationMember,
    OrganizationRole,
    Tutor,
)
from models.organizations import MANAGERS

INVITATION_VALID = timedelta(days=7)


MAX_OPEN_INVITATIONS = 100


@dataclass(frozen=True)
class Invited:
    invitation: OrganizationInvitation
    token: str  # shown once; only its hash is kept


async def invite_tutor(
    db: Database,
    cipher: Cipher,
    identity: Identity,
    organization_id: uuid.UUID,
    email: str,
    role: OrganizationRole,
    now: datetime,
) -> Invited:
    """An invitation to `email`, valid 7 days, sent by email once this commits."""
    address = clean_email(email, "input.email")
    async with db.transaction() as session:
        me, my_role = await organizations.caller_role(session, identity, organization_id)
        if my_role not in MANAGERS:
            raise Forbidden("Only the organization's owners and admins invite tutors")
        if role == OrganizationRole.OWNER and my_role != OrganizationRole.OWNER:
            raise InvalidInput("Only an owner may invite an owner", "input.role")
        open_ones = (
            await session.exec(
                select(func.count()).where(
                    OrganizationInvitation.organization_id == organization_id,
                    col(OrganizationInvitation.accepted_at).is_(None),
                    col(OrganizationInvitation.expires_at) > now,
                )
            )
        ).one()
        if open_ones >= MAX_OPEN_INVITATIONS:
            raise InvalidInput(
                f"At most {MAX_OPEN_INVITATIONS} open invitations: wait for some to be accepted "
                "or to expire",
                "input.email",
            )
        token = secrets.token_urlsafe(32)
        invitation = OrganizationInvitation(
            organization_id=organization_id,
            email=address,
            role=role,
            token_hash=digest(token),
            invited_by=me.id,
            expires_at=now + INVITATION_VALID,
            created_at=now,
        )
        session.add(invitation)
        await session.flush()
        tutor_invited(session, cipher, invitation, token, now)
    return Invited(invitation, token)


def _addressed_to(invitation: OrganizationInvitation, tutor: Tutor, identity: Identity) -> bool:
    """The invitation's email is the tutor's profile email or the sign-in's email claim."""
    wanted = invitation.email.casefold()
    return any(a is not None and a.casefold() == wanted for a in (tutor.email, identity.email))


async def accept_invitation(
    db: Database, identity: Identity, token: str, now: datetime
) -> tuple[Organization, OrganizationMember]:
    """The caller (a tutor, in no organization, addressed by the invitation) joins."""
    try:
        async with db.transaction() as session:
            invitation = (
                await session.exec(
                    select(OrganizationInvitation)
                    .where(OrganizationInvitation.token_hash == digest(token))
                    .with_for_update()
                )
            ).first()
            if invitation is None:
                raise NotFound("No such invitation")
            if invitation.accepted_at is not None:
                raise InvalidInput("This invitation has been used already", "input.token")
            if invitation.expires_at <= now:
                raise InvalidInput("This invitation has expired: ask for a new one", "input.token")
            me = await tutor_of_user(session, identity.sub)
            if me is None:
                raise InvalidInput("Only tutors join organizations: create a tutor profile first")
            if not _addressed_to(invitation, me, identity):
                raise InvalidInput(
                    "This invitation was sent to another email address", "input.token"
                )
            # Joins and removals of one organization queue here (member limit, last owner).
            organization = (
                await session.exec(
                    select(Organization)
                    .where(Organization.id == invitation.organization_id)
                    .with_for_update()
                )
            ).one()
            if await session.get(OrganizationMember, me.id) is not None:
                raise InvalidInput(ALREADY_MEMBER, "input.token")
            members = (
                await session.exec(
                    select(func.count()).where(
                        OrganizationMember.organization_id == organization.id
                    )
                )
            ).one()
            if members >= MAX_MEMBERS:
                raise InvalidInput(
                    f"The organization has {MAX_MEMBERS} members already", "input.token"
                )
            member = OrganizationMember(
                tutor_id=me.id,
                organization_id=organization.id,
                role=invitation.role,
                joined_at=now,
            )
            session.add(member)
            invitation.accepted_at, invitation.accepted_by = now, me.id
            session.add(invitation)
            events.members_changed(session, organization.id, now)
    except IntegrityError:
        raise InvalidInput(ALREADY_MEMBER, "input.token") from None
    return organization, member


async def open_invitations(
    db: Database, organization_id: uuid.UUID, now: datetime
) -> list[OrganizationInvitation]:
    async with db.session() as session:
        rows = await session.exec(
            select(OrganizationInvitation)
            .where(
                OrganizationInvitation.organization_id == organization_id,
                col(OrganizationInvitation.accepted_at).is_(None),
                col(OrganizationInvitation.expires_at) > now,
            )
            .order_by(col(OrganizationInvitation.created_at), col(OrganizationInvitation.id))
            .limit(MAX_OPEN_INVITATIONS)
        )
        return list(rows)


async def invitation_for_manager(
    db: Database, identity: Identity | None, invitation_id: uuid.UUID
) -> OrganizationInvitation | None:
    """An invitation, for the owners and admins of its organization only."""
    async with db.session() as session:
        invitation = await session.get(OrganizationInvitation, invitation_id)
        if invitation is None:
            return None
        roles = await roles_of_user(session, identity, [invitation.organization_id])
    return invitation if roles.get(invitation.organization_id) in MANAGERS else None


# ---------------------------------------------------------------- the email


def tutor_invited(
    session: UnitOfWork,
    cipher: Cipher,
    invitation: OrganizationInvitation,
    token: str,
    now: datetime,
) -> None:
    """The invitation email, with its token: encrypted while it waits, since the invitation
    itself keeps only the token's hash."""
    payload = {"invitation": str(invitation.id), outbox.ENCRYPTED_TOKEN: cipher.encrypt(token)}
    outbox.add(session, INVITATION_EMAIL, payload, now, now=now)


async def send_invitation(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    invitation = await session.get(OrganizationInvitation, uuid.UUID(job["invitation"]))
    if ctx.mailer is None or invitation is None or invitation.accepted_at is not None:
        return
    if invitation.expires_at <= ctx.now:
        return  # no use sending a token that no longer works
    organization = present(
        await session.get(Organization, invitation.organization_id), "invitation's organization"
    )
    inviter = await session.get(Tutor, invitation.invited_by) if invitation.invited_by else None
    by = f"{inviter.display_name} invites" if inviter else "You are invited"
    until = invitation.expires_at.astimezone(ZoneInfo(inviter.time_zone if inviter else "UTC"))
    paragraphs: list[str | tuple[str, str]] = [
        f"{by} you to join {organization.name} as {invitation.role.lower()}.",
        "Sign in with this email address, create your tutor profile if you have none, and "
        f"accept with this code:\n{ctx.cipher.decrypt(job[outbox.ENCRYPTED_TOKEN])}",
        f"The code works once, until {until:%A %-d %B %Y, %H:%M} ({until:%Z}).",
    ]
    subject = f"Join {organization.name}"
    await ctx.mailer.send(notifications.compose(ctx, invitation.email, subject, paragraphs))


INVITATION_EMAIL = outbox.register("email.invitation", send_invitation)
