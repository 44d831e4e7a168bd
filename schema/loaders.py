"""Per-request DataLoaders: nested fields load in batches, never one query per parent."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from domain import (
    availability,
    bookings,
    forms,
    organizations,
    package_templates,
    packages,
    payments,
    profiles,
    reviews,
    roster,
    schedule_requests,
    services,
    waitlist,
    webhooks,
)
from domain.services import ServiceInfo
from infra.auth import Identity
from infra.db import Database
from models import (
    AvailabilityRule,
    Booking,
    BookingHistory,
    FormQuestion,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Package,
    PackageAdjustment,
    PackageTemplate,
    Payment,
    Review,
    Schedule,
    ScheduleRequest,
    Student,
    Tutor,
    WaitlistEntry,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.base import Clock

V = TypeVar("V")


def _loader(
    db: Database,
    fetch: Callable[[Database, Sequence[uuid.UUID]], Awaitable[Mapping[uuid.UUID, V]]],
    empty: V,
) -> DataLoader[uuid.UUID, V]:
    async def load(keys: list[uuid.UUID]) -> list[V]:
        found = await fetch(db, keys)
        return [found.get(key, empty) for key in keys]

    return DataLoader(load_fn=load)


async def _tutors(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Tutor | None]:
    async with db.session() as session:
        return {t.id: t for t in await session.exec(select(Tutor).where(col(Tutor.id).in_(ids)))}


async def _schedules(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Schedule | None]:
    async with db.session() as session:
        return {
            s.id: s for s in await session.exec(select(Schedule).where(col(Schedule.id).in_(ids)))
        }


async def _services(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ServiceInfo | None]:
    async with db.session() as session:
        return dict(await services.services_info(session, ids))


async def _rules(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AvailabilityRule]]:
    async with db.session() as session:
        return await availability.rules_of_schedules(session, ids)


class Loaders:
    def __init__(self, db: Database, identity: Identity | None, clock: Clock) -> None:
        self.tutor = _loader(db, _tutors, None)
        self.schedule = _loader(db, _schedules, None)
        self.service = _loader(db, _services, None)
        self.rules: DataLoader[uuid.UUID, list[AvailabilityRule]] = _loader(db, _rules, [])
        self.services_of_tutor: DataLoader[uuid.UUID, list[ServiceInfo]] = _loader(
            db, services.services_of_tutors, []
        )
        self.schedules_of_tutor: DataLoader[uuid.UUID, list[Schedule]] = _loader(
            db, availability.schedules_of_tutors, []
        )
        self.student: DataLoader[uuid.UUID, Student | None] = _loader(
            db, bookings.students_by_id, None
        )
        self.history: DataLoader[uuid.UUID, list[BookingHistory]] = _loader(
            db, bookings.history_of, []
        )
        # Check-in forms: a service's questions asked now, one question (retired too), and a
        # booking's form status (public to whoever sees the booking).
        self.questions: DataLoader[uuid.UUID, list[FormQuestion]] = _loader(
            db, forms.forms_of_services, []
        )
        self.question: DataLoader[uuid.UUID, FormQuestion | None] = _loader(
            db, forms.questions_by_id, None
        )
        self.form_status: DataLoader[uuid.UUID, forms.FormStatus] = _loader(
            db, forms.statuses, forms.FormStatus.NONE
        )
        # Reviews (public): by id, a booking's, and a tutor's count and rating sum.
        self.review: DataLoader[uuid.UUID, Review | None] = _loader(db, reviews.reviews_by_id, None)
        self.booking_review: DataLoader[uuid.UUID, Review | None] = _loader(
            db, reviews.reviews_of_bookings, None
        )
        self.review_stats: DataLoader[uuid.UUID, reviews.Stats] = _loader(
            db, reviews.stats_of_tutors, reviews.NO_REVIEWS
        )
        self._db, self._identity = db, identity
        self._answers: dict[str | None, DataLoader[uuid.UUID, list[forms.Answer]]] = {}
        self._confidential: dict[str | None, DataLoader[uuid.UUID, bookings.Confidential]] = {}
        # Public: a tutor's count of students taught. Per viewer: a student's phone (None: not
        # theirs to see).
        self.students_taught: DataLoader[uuid.UUID, int] = _loader(db, profiles.students_taught, 0)

        async def phones(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
            return await roster.phones(db, identity, ids)

        self.student_phone: DataLoader[uuid.UUID, str | None] = _loader(db, phones, None)

        async def visible(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Booking]:
            return await bookings.visible_bookings(db, identity, ids)

        # Per viewer, like the booking list: a booking the viewer may not see loads as None.
        self.booking: DataLoader[uuid.UUID, Booking | None] = _loader(db, visible, None)

        async def requests(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, ScheduleRequest]:
            return await schedule_requests.visible_requests(db, identity, ids)

        # Per viewer too: the schedule-later requests' access rule.
        self.schedule_request: DataLoader[uuid.UUID, ScheduleRequest | None] = _loader(
            db, requests, None
        )

        async def flags(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool | None]:
            return await bookings.attendance_flags(db, identity, ids, clock())

        self.ledger: DataLoader[uuid.UUID, list[PackageAdjustment]] = _loader(
            db, packages.ledgers, []
        )
        self.package: DataLoader[uuid.UUID, Package | None] = _loader(
            db, packages.packages_by_id, None
        )

        self.templates_of_tutor: DataLoader[uuid.UUID, list[PackageTemplate]] = _loader(
            db, package_templates.templates_of_tutors, []
        )
        self.payment: DataLoader[uuid.UUID, Payment | None] = _loader(
            db, payments.payments_by_id, None
        )

        async def allowances(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, bookings.Allowance | None]:
            return dict(await bookings.allowances(db, identity, ids, clock()))

        async def rebooks(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, bookings.Rebook | None]:
            return dict(await bookings.rebook_suggestions(db, identity, ids, clock()))

        # Per viewer: the allowance of a service (None: it has none), and a booking's same time
        # next week (None: not free, or not the viewer's to rebook).
        self.allowance: DataLoader[uuid.UUID, bookings.Allowance | None] = _loader(
            db, allowances, None
        )
        self.rebook: DataLoader[uuid.UUID, bookings.Rebook | None] = _loader(db, rebooks, None)

        async def allowances_for(keys: list[tuple[uuid.UUID, uuid.UUID]]) -> list[int | None]:
            by_student: dict[uuid.UUID, list[uuid.UUID]] = {}
            for service_id, student_id in keys:
                by_student.setdefault(student_id, []).append(service_id)
            found = {
                (service_id, student_id): left
                for student_id, services_ in by_student.items()
                for service_id, left in (
                    await bookings.allowances_for_student(
                        db, identity, services_, student_id, clock()
                    )
                ).items()
            }
            return [found.get(key) for key in keys]

        # Per viewer: a (service, student)'s allowance left, for the coach (None: not theirs to
        # ask about, or no allowance); one call per student asked about.
        self.allowance_for: DataLoader[tuple[uuid.UUID, uuid.UUID], int | None] = DataLoader(
            load_fn=allowances_for
        )

        async def records(
            keys: list[roster.Pair],
        ) -> list[roster.Stats | None]:
            found = await roster.records(db, identity, keys, clock())
            return [found.get(key) for key in keys]

        async def favorites(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, roster.Favorites | None]:
            return dict(await roster.favorite_times(db, identity, ids, clock()))

        # Per viewer: a (student, tutor) record (None: not theirs to see), and the signed-in
        # student's favorite times with a tutor (None: none), which slots compare with.
        self.student_stats: DataLoader[roster.Pair, roster.Stats | None] = DataLoader(
            load_fn=records
        )
        self.favorite_times: DataLoader[uuid.UUID, roster.Favorites | None] = _loader(
            db, favorites, None
        )

        # Per viewer: only a student's own tutors learn whether they are flagged.
        self.attendance_flag: DataLoader[uuid.UUID, bool | None] = _loader(db, flags, None)

        async def roles(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, OrganizationRole]:
            async with db.session() as session:
                return await organizations.roles_of_user(session, identity, ids)

        self.organization: DataLoader[uuid.UUID, Organization | None] = _loader(
            db, organizations.organizations_by_id, None
        )
        self.membership: DataLoader[uuid.UUID, OrganizationMember | None] = _loader(
            db, organizations.memberships, None
        )
        self.members: DataLoader[uuid.UUID, list[OrganizationMember]] = _loader(
            db, organizations.members_of, []
        )

        async def managed(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
            async with db.session() as session:
                mine = await organizations.managed_tutors(session, identity)
            return {key: key in mine for key in ids}

        # Per viewer: is it their own tutor profile, or a member's of an organization they own
        # or administer (the role rule)?
        self.viewer_manages: DataLoader[uuid.UUID, bool] = _loader(db, managed, False)
        # Per viewer: their role in each organization asked about, None outside it.
        self.viewer_role: DataLoader[uuid.UUID, OrganizationRole | None] = _loader(db, roles, None)

        self.webhook_endpoint: DataLoader[uuid.UUID, WebhookEndpoint | None] = _loader(
            db, webhooks.endpoints_by_id, None
        )
        self.webhook_endpoints: DataLoader[uuid.UUID, list[WebhookEndpoint]] = _loader(
            db, webhooks.endpoints_of_tutors, []
        )

        async def deliveries(keys: list[tuple[uuid.UUID, int]]) -> list[list[WebhookDelivery]]:
            """(endpoint, how many): one query for every endpoint asked about."""
            found = await webhooks.recent_deliveries(
                db, [pk for pk, _ in keys], max(n for _, n in keys)
            )
            return [found.get(pk, [])[:n] for pk, n in keys]

        self.webhook_deliveries: DataLoader[tuple[uuid.UUID, int], list[WebhookDelivery]] = (
            DataLoader(load_fn=deliveries)
        )

        async def waitlists(
            db: Database, ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, list[WaitlistEntry]]:
            return await waitlist.waitlists_of_tutors(db, identity, ids)

        async def entries(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WaitlistEntry]:
            return await waitlist.visible_entries(db, identity, ids)

        # Per viewer: a tutor's waitlist (empty unless they manage the tutor), and an entry by
        # id (None unless it is theirs, as its student or a manager of its tutors).
        self.waitlist_of_tutor: DataLoader[uuid.UUID, list[WaitlistEntry]] = _loader(
            db, waitlists, []
        )
        self.waitlist_entry: DataLoader[uuid.UUID, WaitlistEntry | None] = _loader(
            db, entries, None
        )

    def form_answers(self, token: str | None) -> DataLoader[uuid.UUID, list[forms.Answer]]:
        """Per viewer and guest token: a booking's answers, empty for one they may not see."""
        if token not in self._answers:
            identity = self._identity

            async def answers(
                db: Database, ids: Sequence[uuid.UUID]
            ) -> dict[uuid.UUID, list[forms.Answer]]:
                return await bookings.visible_answers(db, identity, token, ids)

            self._answers[token] = _loader(self._db, answers, [])
        return self._answers[token]

    def confidential(self, token: str | None) -> DataLoader[uuid.UUID, bookings.Confidential]:
        """Per viewer and guest token: a booking's lesson note and contact phone, as far as
        they may see them."""
        if token not in self._confidential:
            caller = bookings.Caller(self._identity, token)

            async def load(
                db: Database, ids: Sequence[uuid.UUID]
            ) -> dict[uuid.UUID, bookings.Confidential]:
                return await bookings.confidential(db, caller, ids)

            self._confidential[token] = _loader(self._db, load, bookings.Confidential())
        return self._confidential[token]
