"""Booking, changing and listing bookings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import overload

import strawberry
from strawberry.types import Info

from domain import bookings, funnel
from domain.bookings import Booked, BookingOrder, Caller, Cancelled
from domain.errors import InvalidInput, NotFound
from models import Booking as BookingRow
from models import BookingStatus
from resolvers.common import mutate, parse_id, query
from resolvers.forms import answers_from
from schema.bookings import (
    DEFAULT_PAGE,
    AttendanceMarked,
    Booking,
    BookingCancelled,
    BookingConnection,
    BookingCreated,
    BookingEdge,
    BookingFilter,
    BookingRescheduled,
    BookingsCreated,
    BookingsUpdated,
    BookingUpdateFailure,
    CancelBookingInput,
    CancelBookingResult,
    CreateBookingInput,
    CreateBookingResult,
    CreateBookingsInput,
    CreateBookingsResult,
    MarkAttendanceInput,
    MarkAttendanceResult,
    PageInfo,
    Refund,
    RefundKind,
    RescheduleBookingInput,
    RescheduleBookingResult,
    UpdateBookingsInput,
    UpdateBookingsResult,
)
from schema.context import Context
from schema.errors import user_error
from schema.node import decode_id_of
from schema.scalars import TimeZone


def _optional_id(value: str | None, type_name: str, field: str) -> uuid.UUID | None:
    return parse_id(value, type_name, field) if value is not None else None


@overload
def _booking_id(value: str) -> uuid.UUID: ...
@overload
def _booking_id(value: str | None) -> uuid.UUID | None: ...
def _booking_id(value: str | None) -> uuid.UUID | None:
    """A booking id for results with no InvalidInput member: an unknown one is NotFound."""
    if value is None:
        return None
    pk = decode_id_of(value, "Booking")
    if pk is None:
        raise NotFound("No such booking")
    return pk


def _visit(info: Info[Context, None], visit_id: str | None) -> funnel.Visit | None:
    """The funnel visit a booking completes, forwarded to PostHog when that is configured."""
    if visit_id is None:
        return None
    return funnel.Visit(visit_id, forward=info.context.settings.funnel.forwarding)


async def booking_by_pk(info: Info[Context, None], pk: uuid.UUID) -> Booking | None:
    row = await info.context.loaders.booking.load(pk)
    return Booking.from_row(row) if row is not None else None


def _filter(where: BookingFilter | None) -> bookings.BookingFilter:
    if where is None:
        return bookings.BookingFilter()
    return bookings.BookingFilter(
        tutor_id=_optional_id(where.tutor_id, "Tutor", "filter.tutorId"),
        student_id=_optional_id(where.student_id, "Student", "filter.studentId"),
        organization_id=_optional_id(
            where.organization_id, "Organization", "filter.organizationId"
        ),
        statuses=list(where.status) if where.status else None,
        range=where.range.value if where.range else "ALL",
        start_from=where.from_,
        start_to=where.to,
        search=where.search,
        # One past the bound is enough for the domain to refuse the list.
        ids=[
            parse_id(value, "Booking", f"filter.ids[{index}]")
            for index, value in enumerate(where.ids[: bookings.MAX_IDS + 1])
        ]
        if where.ids is not None
        else None,
    )


def _connection(page: bookings.Page, order: BookingOrder, now: dt.datetime) -> BookingConnection:
    edges = [
        BookingEdge(cursor=bookings.encode_cursor(b, order), node=Booking.from_row(b))
        for b in page.rows
    ]
    return BookingConnection(
        edges=edges,
        page_info=PageInfo.of([e.cursor for e in edges], page.has_next, page.has_previous),
        total_count=page.total,
        as_of=now,
    )


@strawberry.type
class Query:
    @strawberry.field
    async def booking(self, info: Info[Context, None], id: strawberry.ID) -> Booking | None:
        pk = decode_id_of(id, "Booking")
        return await booking_by_pk(info, pk) if pk else None

    @strawberry.field(description="For guests: the booking a manage token belongs to.")
    async def booking_by_token(self, info: Info[Context, None], token: str) -> Booking | None:
        row = await bookings.booking_by_token(info.context.db, token)
        return Booking.from_row(row, token=token) if row else None

    @strawberry.field(
        description=(
            "The viewer's bookings, as tutor or as student. Forward: first (1 to 100, default "
            "20) after a cursor; backward: last (1 to 100) before a cursor, in the same order. "
            "A cursor belongs to its order."
        )
    )
    async def bookings(
        self,
        info: Info[Context, None],
        filter: BookingFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: BookingOrder | None = BookingOrder.START_ASC,
    ) -> BookingConnection:
        identity = info.context.require_identity()
        # An explicit null is the default order.
        order = order_by or BookingOrder.START_ASC
        now = info.context.now()

        async def work() -> bookings.Page:
            backward = last is not None or before is not None
            if backward and (first is not None or after is not None):
                raise InvalidInput("Page with first/after or with last/before, not both", "last")
            return await bookings.list_bookings(
                info.context.db,
                identity,
                _filter(filter),
                size if (size := last if backward else first) is not None else DEFAULT_PAGE,
                before if backward else after,
                now,
                backward=backward,
                order=order,
            )

        return _connection(await query(work()), order, now)

    @strawberry.field(
        description=(
            "A signed link (valid 10 minutes) to a CSV file of every booking the filter matches "
            "that the viewer may see, in the viewer's time zone."
        )
    )
    async def bookings_csv_url(
        self,
        info: Info[Context, None],
        filter: BookingFilter | None = None,
        *,
        time_zone: TimeZone,
    ) -> str:
        context = info.context
        identity = context.require_identity()

        async def work() -> str:
            return bookings.sign_link(
                context.secret, identity, _filter(filter), time_zone, context.now()
            )

        token = await query(work())
        return f"{context.settings.public_base_url}{bookings.CSV_PATH}?token={token}"


def _bulk_id(value: str, index: int) -> uuid.UUID | InvalidInput:
    """One of a bulk's ids: one that cannot be read fails on its own, named by its position."""
    try:
        return parse_id(value, "Booking", f"input.bookingIds[{index}]")
    except InvalidInput as error:
        return error


def _booked(result: Booked) -> BookingCreated:
    return BookingCreated(
        booking=Booking.from_row(result.bookings[0], token=result.manage_token),
        manage_token=result.manage_token,
    )


def _cancelled(result: Cancelled) -> BookingCancelled:
    return BookingCancelled(
        booking=Booking.from_row(result.booking),
        refund=Refund(kind=RefundKind(result.refund_kind), amount=result.refund_amount),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_booking(
        self, info: Info[Context, None], input: CreateBookingInput
    ) -> CreateBookingResult:
        async def work() -> Booked:
            request = bookings.BookingRequest(
                service_id=parse_id(input.service_id, "Service", "input.serviceId"),
                tutor_id=_optional_id(input.tutor_id, "Tutor", "input.tutorId"),
                slots=[bookings.SlotChoice(input.start, input.duration_minutes)],
                time_zone=input.time_zone,
                notes=input.notes,
                guest=bookings.Guest(input.guest.name, input.guest.email, input.guest.phone)
                if input.guest
                else None,
                student_id=_optional_id(input.student_id, "Student", "input.studentId"),
                package_id=_optional_id(input.package_id, "Package", "input.packageId"),
                idempotency_key=input.idempotency_key,
                reminders_enabled=input.reminders_enabled,
                answers=answers_from(input.answers) if input.answers is not None else None,
                visit=_visit(info, input.visit_id),
            )
            return await bookings.create_bookings(
                info.context.db,
                info.context.identity,
                request,
                info.context.now(),
                info.context.cipher,
                info.context.cards,
                meeting_provider=info.context.settings.meeting_provider,
            )

        return await mutate(work(), _booked)

    @strawberry.mutation
    async def create_bookings(
        self, info: Info[Context, None], input: CreateBookingsInput
    ) -> CreateBookingsResult:
        identity = info.context.require_identity()

        async def work() -> Booked:
            request = bookings.BookingRequest(
                service_id=parse_id(input.service_id, "Service", "input.serviceId"),
                tutor_id=_optional_id(input.tutor_id, "Tutor", "input.tutorId"),
                slots=[bookings.SlotChoice(s.start, s.duration_minutes) for s in input.slots],
                time_zone=input.time_zone,
                notes=input.notes,
                student_id=_optional_id(input.student_id, "Student", "input.studentId"),
                package_id=_optional_id(input.package_id, "Package", "input.packageId"),
                idempotency_key=input.idempotency_key,
                reminders_enabled=input.reminders_enabled,
                single=False,
                visit=_visit(info, input.visit_id),
            )
            return await bookings.create_bookings(
                info.context.db,
                identity,
                request,
                info.context.now(),
                info.context.cipher,
                info.context.cards,
                meeting_provider=info.context.settings.meeting_provider,
            )

        return await mutate(
            work(), lambda r: BookingsCreated(bookings=[Booking.from_row(b) for b in r.bookings])
        )

    @strawberry.mutation
    async def reschedule_booking(
        self, info: Info[Context, None], input: RescheduleBookingInput
    ) -> RescheduleBookingResult:
        async def work() -> BookingRow:
            if input.booking_id is None and not input.token:
                raise InvalidInput("Give bookingId, or the guest's token", "input.bookingId")
            return await bookings.reschedule_booking(
                info.context.db,
                Caller(info.context.identity, input.token),
                _optional_id(input.booking_id, "Booking", "input.bookingId"),
                input.new_start,
                input.duration_minutes,
                info.context.now(),
                meeting_provider=info.context.settings.meeting_provider,
            )

        return await mutate(work(), lambda b: BookingRescheduled(booking=Booking.from_row(b)))

    @strawberry.mutation
    async def cancel_booking(
        self, info: Info[Context, None], input: CancelBookingInput
    ) -> CancelBookingResult:
        async def work() -> Cancelled:
            return await bookings.cancel_booking(
                info.context.db,
                Caller(info.context.identity, input.token),
                _booking_id(input.booking_id),
                input.reason,
                info.context.now(),
                info.context.cards,
                meeting_provider=info.context.settings.meeting_provider,
            )

        return await mutate(work(), _cancelled)

    @strawberry.mutation
    async def mark_attendance(
        self, info: Info[Context, None], input: MarkAttendanceInput
    ) -> MarkAttendanceResult:
        identity = info.context.require_identity()

        async def work() -> BookingRow:
            return await bookings.mark_attendance(
                info.context.db,
                identity,
                _booking_id(input.booking_id),
                BookingStatus(input.status.value),
                input.notes,
                info.context.now(),
            )

        return await mutate(work(), lambda b: AttendanceMarked(booking=Booking.from_row(b)))

    @strawberry.mutation(
        description=(
            "Mark up to 100 bookings completed or no-show, or cancel them, each as the single "
            "mutation would, each on its own."
        )
    )
    async def update_bookings(
        self, info: Info[Context, None], input: UpdateBookingsInput
    ) -> UpdateBookingsResult:
        identity = info.context.require_identity()
        # Each booking is a change: the gate took one unit for the field, the rest are taken
        # here (a list over the bound is refused whole, so it costs no more than the bound).
        await info.context.spend(min(len(input.booking_ids), bookings.MAX_BULK) - 1)

        async def work() -> bookings.BulkOutcome:
            return await bookings.update_bookings(
                info.context.db,
                identity,
                [_bulk_id(value, i) for i, value in enumerate(input.booking_ids)],
                input.action,
                input.reason,
                info.context.now(),
                info.context.cards,
                meeting_provider=info.context.settings.meeting_provider,
            )

        def shape(outcome: bookings.BulkOutcome) -> BookingsUpdated:
            return BookingsUpdated(
                updated=[Booking.from_row(b) for b in outcome.updated],
                failed=[
                    BookingUpdateFailure(
                        booking_id=input.booking_ids[index], error=user_error(error)
                    )
                    for index, error in outcome.failed
                ],
            )

        return await mutate(work(), shape)
