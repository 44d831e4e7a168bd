"""Schedules and overrides (the tutor's own), and the public slot search."""

from __future__ import annotations

import uuid
from collections import Counter
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from domain import availability
from domain.bookings import TutorSlot
from domain.errors import NotFound
from domain.slot_search import SlotSearchResult, search_slots
from models import AvailabilityOverride as OverrideRow
from models import Schedule as ScheduleRow
from resolvers.common import mutate, parse_id, query
from schema.availability import (
    AddOverrideInput,
    AddOverrideResult,
    AvailabilityOverride,
    CreateScheduleInput,
    OverrideAdded,
    OverrideRemoved,
    RemoveOverrideResult,
    SaveScheduleResult,
    Schedule,
    ScheduleSaved,
    SetWeeklyRulesInput,
)
from schema.context import Context
from schema.node import decode_id_of
from schema.people import Tutor
from schema.slots import Slot, SlotDay, SlotSearch, SlotSearchInput, slot_of


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_schedule(
        self, info: Info[Context, None], input: CreateScheduleInput
    ) -> SaveScheduleResult:
        identity = info.context.require_identity()
        work = availability.create_schedule(
            info.context.db,
            identity,
            input.name,
            input.time_zone,
            [r.to_domain() for r in input.rules],
            input.is_default,
            info.context.now(),
        )
        return await mutate(work, lambda row: ScheduleSaved(schedule=Schedule.from_row(row)))

    @strawberry.mutation
    async def set_weekly_rules(
        self, info: Info[Context, None], input: SetWeeklyRulesInput
    ) -> SaveScheduleResult:
        identity = info.context.require_identity()

        async def work() -> ScheduleRow:
            schedule_id = parse_id(input.schedule_id, "Schedule", "input.scheduleId")
            return await availability.set_weekly_rules(
                info.context.db,
                identity,
                schedule_id,
                input.time_zone,
                [r.to_domain() for r in input.rules],
            )

        return await mutate(work(), lambda row: ScheduleSaved(schedule=Schedule.from_row(row)))

    @strawberry.mutation
    async def add_override(
        self, info: Info[Context, None], input: AddOverrideInput
    ) -> AddOverrideResult:
        identity = info.context.require_identity()

        async def work() -> OverrideRow:
            schedule_id = parse_id(input.schedule_id, "Schedule", "input.scheduleId")
            return await availability.add_override(
                info.context.db,
                identity,
                schedule_id,
                input.date,
                input.start,
                input.end,
                input.available,
                now=info.context.now(),
                capacity=input.capacity,
            )

        return await mutate(
            work(), lambda row: OverrideAdded(row=row, override=AvailabilityOverride.from_row(row))
        )

    @strawberry.mutation
    async def remove_override(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> RemoveOverrideResult:
        identity = info.context.require_identity()

        async def work() -> uuid.UUID:
            pk = decode_id_of(id, "AvailabilityOverride")
            if pk is None:
                raise NotFound("No such override")
            return await availability.remove_override(info.context.db, identity, pk)

        return await mutate(work(), lambda _: OverrideRemoved(id=id))


@strawberry.type
class Query:
    @strawberry.field
    async def available_slots(
        self, info: Info[Context, None], input: SlotSearchInput
    ) -> SlotSearch:
        async def work() -> SlotSearchResult:
            service_id = parse_id(input.service_id, "Service", "input.serviceId")
            tutor_id = (
                parse_id(input.tutor_id, "Tutor", "input.tutorId")
                if input.tutor_id is not None
                else None
            )
            return await search_slots(
                info.context.db,
                service_id,
                tutor_id,
                input.duration_minutes,
                input.from_,
                input.to,
                now=info.context.now(),
                group_by_start=bool(input.group_by_start),
            )

        result = await query(work())
        if info.context.identity is not None:
            # Each slot's `favorite` then answers without an await (schema/slots.py).
            await info.context.loaders.favorite_times.load_many(list(result.tutors))
        zone = ZoneInfo(input.time_zone)
        viewer = info.context.identity.sub if info.context.identity else None
        # One Tutor object per tutor, shared by their slots; seats only on the viewer's own.
        tutors = {pk: Tutor.from_row(row) for pk, row in result.tutors.items()}
        mine = next((pk for pk, row in result.tutors.items() if row.user_id == viewer), None)

        def shape(found: TutorSlot) -> Slot:
            tutor_id, slot = found
            seats = slot.remaining if tutor_id == mine else None
            return slot_of(tutors[tutor_id], result.duration, slot, zone, seats)

        slots = [shape(found) for found in result.slots]
        per_day = Counter(slot.start.date() for slot in slots)
        return SlotSearch(
            time_zone=input.time_zone,
            slots=slots,
            days=[SlotDay(date=day, slot_count=count) for day, count in sorted(per_day.items())],
            next_available=shape(result.next_available) if result.next_available else None,
        )
