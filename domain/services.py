"""Services: what can be booked, by whom, for how long, at what price, under which rules."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import custom_durations, organizations, reminders
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.people import clean_name, tutor_of_user
from domain.service_rules import (
    DEFAULTS,
    MAX_TUTORS,
    DurationInput,
    ServiceRules,
    check_durations,
    check_numbers,
)
from infra.auth import Identity
from infra.db import Database
from models import OrganizationMember, Schedule, Service, ServiceDuration, ServiceTutor, Tutor
from models.organizations import MANAGERS


@dataclass(frozen=True)
class ServiceInfo:
    """A service with its lengths (in order) and its tutors (in order)."""

    row: Service
    durations: list[ServiceDuration]
    tutor_ids: list[uuid.UUID]


async def _lock_tutors(session: AsyncSession, tutor_ids: Sequence[uuid.UUID]) -> list[Tutor]:
    rows = list(await session.exec(select(Tutor).where(col(Tutor.id).in_(tutor_ids))))
    if len(rows) != len(set(tutor_ids)):
        raise NotFound("No such tutor in input.tutorIds")
    return rows


async def _schedule_tutor(session: AsyncSession, schedule_id: uuid.UUID) -> uuid.UUID:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("No such schedule (input.scheduleId)")
    return schedule.tutor_id


async def _check_schedule(
    session: AsyncSession, schedule_id: uuid.UUID, tutor_ids: Sequence[uuid.UUID]
) -> None:
    if await _schedule_tutor(session, schedule_id) not in tutor_ids:
        raise InvalidInput(
            "The schedule must belong to one of the service's tutors", "input.scheduleId"
        )


async def _check_consent(
    session: AsyncSession,
    me: Tutor,
    tutor_ids: Sequence[uuid.UUID],
    organization_id: uuid.UUID | None,
    named: Sequence[uuid.UUID] | None,
) -> None:
    """Only you, on a service of your own; on an organization's, tutors its owner or admin
    (you) names from its members. `named`: the tutorIds as given, to name the one at fault."""
    if organization_id is None:
        if list(tutor_ids) != [me.id]:
            raise InvalidInput(
                "A service of your own has you as its only tutor: name other tutors on an "
                "organization's service (organizationId)",
                "input.tutorIds",
            )
        return
    if await organizations.role_of(session, organization_id, me.id) not in MANAGERS:
        raise InvalidInput(
            "Only the organization's owners and admins make or staff its services",
            "input.organizationId",
        )
    members = set(
        await session.exec(
            select(OrganizationMember.tutor_id).where(
                OrganizationMember.organization_id == organization_id,
                col(OrganizationMember.tutor_id).in_(tutor_ids),
            )
        )
    )
    for index, tutor_id in enumerate(named or tutor_ids):
        if tutor_id not in members:
            raise InvalidInput(
                "Every tutor of an organization's service must be its member",
                f"input.tutorIds.{index}" if named else "input.tutorIds",
            )


def _apply(row: Service, rules: ServiceRules) -> None:
    for f in fields(ServiceRules):
        if f.name in ("tutor_ids", "durations", "reminders", "cleared", "custom_duration"):
            continue
        value = getattr(rules, f.name)
        if value is not None:
            setattr(row, f.name, value)
        elif f.name in rules.cleared:
            setattr(row, f.name, None)
    if rules.reminders is not None:
        row.reminder_rules = reminders.stored(rules.reminders)


async def _write_children(
    session: AsyncSession,
    service_id: uuid.UUID,
    durations: Sequence[DurationInput] | None,
    tutor_ids: Sequence[uuid.UUID] | None,
) -> None:
    if durations is not None:
        await session.exec(
            delete(ServiceDuration).where(col(ServiceDuration.service_id) == service_id)
        )
        session.add_all(
            ServiceDuration(
                service_id=service_id,
                minutes=d.minutes,
                position=i,
                price_amount_minor=d.price_amount_minor,
                price_currency=d.price_currency if d.price_amount_minor is not None else None,
            )
            for i, d in enumerate(durations)
        )
    if tutor_ids is not None:
        await session.exec(delete(ServiceTutor).where(col(ServiceTutor.service_id) == service_id))
        session.add_all(
            ServiceTutor(service_id=service_id, tutor_id=t, position=i)
            for i, t in enumerate(tutor_ids)
        )


async def create_service(
    db: Database, identity: Identity, rules: ServiceRules, now: datetime
) -> ServiceInfo:
    title = clean_name(rules.title or "", "input.title")
    durations = check_durations(rules.durations or [])
    check_numbers(rules)
    if rules.reminders is not None:
        reminders.check_rules(rules.reminders)
    async with db.transaction() as session:
        me = await tutor_of_user(session, identity.sub)
        if me is None:
            raise Forbidden("Only tutors offer services: create a tutor profile first")
        tutor_ids = list(dict.fromkeys(rules.tutor_ids)) if rules.tutor_ids else [me.id]
        if len(tutor_ids) > MAX_TUTORS:
            raise InvalidInput(f"At most {MAX_TUTORS} tutors", "input.tutorIds")
        await _lock_tutors(session, tutor_ids)
        await _check_consent(session, me, tutor_ids, rules.organization_id, rules.tutor_ids)
        if rules.schedule_id is not None:
            await _check_schedule(session, rules.schedule_id, tutor_ids)
        row = Service(title=title, kind="SESSION", created_at=now)
        _apply(row, DEFAULTS)
        _apply(row, replace(rules, title=title))
        custom_durations.apply(row, rules, durations)
        session.add(row)
        await session.flush()
        await _write_children(session, row.id, durations, tutor_ids)
    return await _info(db, row.id)


async def lock_for_change(
    session: AsyncSession, identity: Identity, service_id: uuid.UUID
) -> tuple[Service, list[uuid.UUID], Tutor]:
    """The service locked, its tutors and the caller, who is one of them or an owner or admin
    of its organization (the role rule); anyone else is refused."""
    query = select(Service).where(Service.id == service_id).with_for_update()
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound("No such service")
    tutors = select(ServiceTutor.tutor_id).where(ServiceTutor.service_id == service_id)
    current = list(await session.exec(tutors))
    me = await tutor_of_user(session, identity.sub)
    if me is None or (
        me.id not in current
        and (
            row.organization_id is None
            or await organizations.role_of(session, row.organization_id, me.id) not in MANAGERS
        )
    ):
        raise Forbidden("Only the service's tutors may change it")
    return row, current, me


async def update_service(
    db: Database, identity: Identity, service_id: uuid.UUID, rules: ServiceRules, now: datetime
) -> ServiceInfo:
    """By its tutors, or the owners and admins of its organization. Naming tutors (anyone but
    yourself, or taking anyone off) is consent's business (`_check_consent`); leaving is always
    allowed while another tutor stays. New reminder rules reschedule the reminders of the
    service's upcoming bookings, in the same transaction."""
    title = clean_name(rules.title, "input.title") if rules.title is not None else None
    durations = check_durations(rules.durations) if rules.durations is not None else None
    check_numbers(rules)
    if rules.reminders is not None:
        reminders.check_rules(rules.reminders)
    async with db.transaction() as session:
        row, current, me = await lock_for_change(session, identity, service_id)
        organization_id = rules.organization_id or row.organization_id
        tutor_ids = list(dict.fromkeys(rules.tutor_ids)) if rules.tutor_ids is not None else current
        if rules.tutor_ids is not None:
            if not tutor_ids:
                raise InvalidInput("A service needs at least one tutor", "input.tutorIds")
            if len(tutor_ids) > MAX_TUTORS:
                raise InvalidInput(f"At most {MAX_TUTORS} tutors", "input.tutorIds")
            await _lock_tutors(session, tutor_ids)
        added = set(tutor_ids) - set(current)
        others_removed = set(current) - set(tutor_ids) - {me.id}
        if added or others_removed or organization_id != row.organization_id:
            await _check_consent(session, me, tutor_ids, organization_id, rules.tutor_ids)
        schedule_id = rules.schedule_id or (
            None if "schedule_id" in rules.cleared else row.schedule_id
        )
        if rules.schedule_id is not None:
            await _check_schedule(session, rules.schedule_id, tutor_ids)
        elif schedule_id is not None and await _schedule_tutor(session, schedule_id) not in (
            tutor_ids
        ):
            # Its tutor left the service: each tutor's default schedule from now on.
            rules = replace(rules, cleared=rules.cleared | {"schedule_id"})
        _apply(row, replace(rules, title=title, organization_id=organization_id))
        listed = durations if durations is not None else await _durations_of(session, row.id)
        custom_durations.apply(row, rules, listed)
        session.add(row)
        await _write_children(session, row.id, durations, rules.tutor_ids and tutor_ids)
        if rules.reminders is not None:
            await reminders.rules_changed(session, row.id, now)
    return await _info(db, service_id)


# ---------------------------------------------------------------- reads


async def _durations_of(session: AsyncSession, service_id: uuid.UUID) -> list[ServiceDuration]:
    query = select(ServiceDuration).where(ServiceDuration.service_id == service_id)
    return list(await session.exec(query))


async def services_info(
    session: AsyncSession, service_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ServiceInfo]:
    rows = list(await session.exec(select(Service).where(col(Service.id).in_(service_ids))))
    durations: dict[uuid.UUID, list[ServiceDuration]] = defaultdict(list)
    for d in await session.exec(
        select(ServiceDuration)
        .where(col(ServiceDuration.service_id).in_(service_ids))
        .order_by(col(ServiceDuration.position))
    ):
        durations[d.service_id].append(d)
    tutors: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in await session.exec(
        select(ServiceTutor)
        .where(col(ServiceTutor.service_id).in_(service_ids))
        .order_by(col(ServiceTutor.position))
    ):
        tutors[link.service_id].append(link.tutor_id)
    return {r.id: ServiceInfo(r, durations[r.id], tutors[r.id]) for r in rows}


async def _info(db: Database, service_id: uuid.UUID) -> ServiceInfo:
    async with db.session() as session:
        return (await services_info(session, [service_id]))[service_id]


async def get_service(db: Database, service_id: uuid.UUID) -> ServiceInfo | None:
    async with db.session() as session:
        return (await services_info(session, [service_id])).get(service_id)


async def services_of_tutors(
    db: Database, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ServiceInfo]]:
    async with db.session() as session:
        links = list(
            await session.exec(
                select(ServiceTutor)
                .where(col(ServiceTutor.tutor_id).in_(tutor_ids))
                .order_by(col(ServiceTutor.service_id))
            )
        )
        infos = await services_info(session, list({link.service_id for link in links}))
    found: dict[uuid.UUID, list[ServiceInfo]] = defaultdict(list)
    for link in links:
        found[link.tutor_id].append(infos[link.service_id])
    for items in found.values():
        items.sort(key=lambda info: info.row.created_at)
    return found
