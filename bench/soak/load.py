"""The soak's mixed load: what students and tutors do, and what the API acknowledged.

Every request goes to one of the `serve` processes at random, as a load balancer would send it;
one that finds its process killed tries another when repeating it is safe (queries, and
bookings, which carry an idempotency key), and is otherwise counted as lost, its booking's
outcome unknown. What the API acknowledged is kept, so the end can check it was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench.soak.cluster import Cluster
from tests.fakes.stripe_server import signed
from tests.helpers import (
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    ERRORS,
    MOVE_ERRORS,
    PRICE,
    REDEEM,
    pk,
    token,
    weekly,
)

HOURS = range(8, 16)  # the contended hours of each contended day, UTC
RUSH = 6  # students asking for one slot at the same moment
CREATE = f"""mutation($input: CreateBookingInput!) {{ createBooking(input: $input) {{
  __typename ... on BookingCreated {{ booking {{ id status start }} }} {ERRORS} }} }}"""
RESCHEDULE = f"""mutation($input: RescheduleBookingInput!) {{ rescheduleBooking(input: $input) {{
  __typename ... on BookingRescheduled {{ booking {{ id status start }} }} {MOVE_ERRORS} }} }}"""
CANCEL = """mutation($input: CancelBookingInput!) { cancelBooking(input: $input) {
  __typename ... on BookingCancelled { booking { id status } } } }"""
SEARCH = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  slots { start remainingCapacity } } }"""
GRANT = """mutation($input: GrantPackageInput!) { grantPackage(input: $input) {
  __typename ... on PackageGranted { package { id } } } }"""
STUDENT = """mutation { updateStudentProfile(input: {timeZone: "Europe/Berlin"}) { __typename } }"""
VIEWER = "{ viewer { student { id } } }"
WEBHOOK = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  __typename ... on WebhookEndpointCreated { secret } } }"""
EVENTS = [
    "BOOKING_CREATED",
    "BOOKING_CONFIRMED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_EXPIRED",
]

# What a student does, and how often (weights).
ACTIONS = {
    "search": 30,
    "book a lesson": 14,
    "book a group seat": 12,
    "book with package credit": 8,
    "book and pay by card": 8,
    "rush a slot": 4,
    "reschedule": 10,
    "cancel": 10,
}


@dataclass
class Tutor:
    id: str
    token: str
    lesson: str  # capacity 1
    group: str  # capacity 3
    paid: str  # capacity 1, priced


@dataclass
class Student:
    token: str
    id: str
    packages: dict[str, str] = field(default_factory=dict)  # tutor id -> package id
    bookings: list[str] = field(default_factory=list)


@dataclass
class Expected:
    """What the API last acknowledged about a booking; `certain` is False once a change to it
    was sent and its answer lost."""

    tutor: str
    status: str
    start: str
    certain: bool = True


@dataclass
class Stats:
    requests: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # typename or error kind
    errors: Counter[str] = field(default_factory=Counter)  # answered with an error: by code
    lost: int = 0  # the connection failed (the process was killed): outcome unknown
    retried: int = 0  # repeated on another process after a lost connection
    webhooks: Counter[str] = field(default_factory=Counter)  # Stripe webhook outcomes
    latencies: list[float] = field(default_factory=list)


class Lost(Exception):
    """The request's connection failed: it may or may not have taken effect."""


class Api:
    def __init__(self, cluster: Cluster, rng: random.Random, stats: Stats) -> None:
        self.cluster = cluster
        self.rng = rng
        self.stats = stats
        self.client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64))

    def url(self, port: int, path: str = "/graphql") -> str:
        return f"http://127.0.0.1:{port}{path}"

    async def post(self, path: str, retry: bool, **kwargs: Any) -> httpx.Response:
        ports = self.cluster.api_ports[:]
        self.rng.shuffle(ports)
        for n, port in enumerate(ports if retry else ports[:1]):
            self.stats.requests += 1
            began = asyncio.get_running_loop().time()
            try:
                response = await self.client.post(self.url(port, path), **kwargs)
            except httpx.TransportError:
                self.stats.lost += 1
                self.stats.retried += retry and n < len(ports) - 1
                continue
            self.stats.latencies.append(asyncio.get_running_loop().time() - began)
            if response.status_code >= 500:
                self.stats.errors[f"HTTP {response.status_code}"] += 1
            return response
        raise Lost(path)

    async def gql(self, query: str, variables: dict[str, Any], who: str, retry: bool) -> Any:
        """The operation's data; None when it answered with errors (counted by code)."""
        response = await self.post(
            "/graphql",
            retry,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {who}"},
        )
        try:
            body = response.json()
        except ValueError:
            self.stats.errors[f"HTTP {response.status_code} (not JSON)"] += 1
            return None
        if body.get("errors"):
            for error in body["errors"]:
                self.stats.errors[str((error.get("extensions") or {}).get("code"))] += 1
            return None
        return body["data"]

    async def must(self, query: str, variables: dict[str, Any], who: str) -> Any:
        """Setup: retried until it answers."""
        for _ in range(10):
            try:
                data = await self.gql(query, variables, who, retry=True)
            except Lost:
                data = None
            if data is not None:
                return data
            await asyncio.sleep(1)
        raise RuntimeError(f"setup failed: {query[:60]}")


def contended_days(today: date) -> list[date]:
    return [today + timedelta(days=3), today + timedelta(days=4)]


def starts(today: date) -> list[str]:
    return [
        datetime(d.year, d.month, d.day, h, tzinfo=UTC).isoformat()
        for d in contended_days(today)
        for h in HOURS
    ]


async def _service(api: Api, who: str, **input: Any) -> str:
    made = await api.must(CREATE_SERVICE, {"input": input}, who)
    return str(made["createService"]["service"]["id"])


async def make_world(
    api: Api, tutors: int, students: int, today: date
) -> tuple[list[Tutor], list[Student]]:
    """Tutors open around the clock with three services each and a webhook endpoint; students
    with a package of credit from every tutor."""
    made: list[Tutor] = []
    for n in range(tutors):
        who = token(f"soak-tutor-{n}", email=f"tutor{n}@tutoring.example")
        tutor = await api.must(CREATE_TUTOR, {"name": f"Tutor {n}", "tz": "UTC"}, who)
        rules = weekly("00:00", "00:00")
        await api.must(
            CREATE_SCHEDULE, {"input": {"name": "H", "timeZone": "UTC", "rules": rules}}, who
        )
        hourly = {"slotIntervalMinutes": 60, "cancellationNoticeHours": 1}
        made.append(
            Tutor(
                tutor["createTutorProfile"]["tutor"]["id"],
                who,
                await _service(api, who, title="Lesson", durations=[{"minutes": 60}], **hourly),
                await _service(
                    api, who, title="Group", durations=[{"minutes": 60}], capacity=3, **hourly
                ),
                await _service(
                    api, who, title="Paid", durations=[{"minutes": 60, "price": PRICE}], **hourly
                ),
            )
        )
        path = f"/tutor{n}"
        endpoint = {"url": api.cluster.receiver.url(path), "events": EVENTS}
        created = await api.must(WEBHOOK, {"input": endpoint}, who)
        api.cluster.receiver.secrets[path] = created["createWebhookEndpoint"]["secret"]
    people: list[Student] = []
    for n in range(students):
        who = token(f"soak-student-{n}", email=f"student{n}@example.com")
        await api.must(STUDENT, {}, who)
        student_id = (await api.must(VIEWER, {}, who))["viewer"]["student"]["id"]
        student = Student(who, student_id)
        for tutor in made:
            input = {"studentId": student_id, "unit": "SESSIONS", "total": 3}
            granted = await api.must(GRANT, {"input": input}, tutor.token)
            student.packages[tutor.id] = granted["grantPackage"]["package"]["id"]
        people.append(student)
    return made, people


@dataclass
class Load:
    api: Api
    tutors: list[Tutor]
    students: list[Student]
    starts: list[str]
    rng: random.Random
    expected: dict[str, Expected] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)  # bookings an actor is changing now
    # Stripe events acknowledged (to replay some later) and their bookings.
    paid: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    async def actor(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while loop.time() < until:
            student = self.rng.choice(self.students)
            action = self.rng.choices(names, weights)[0]
            # Counted in the stats; a booking it was changing is marked uncertain.
            with contextlib.suppress(Lost):
                await self.act(action, student)

    async def act(self, action: str, student: Student) -> None:
        tutor = self.rng.choice(self.tutors)
        if action == "search":
            day = self.starts[0][:10]
            input = {
                "serviceId": self.rng.choice([tutor.lesson, tutor.group]),
                "tutorId": tutor.id,
                "from": f"{day}T00:00:00Z",
                "to": f"{self.starts[-1][:10]}T23:59:59Z",
                "timeZone": "Europe/Berlin",
            }
            await self.api.gql(SEARCH, {"input": input}, student.token, retry=True)
        elif action == "book a lesson":
            await self.book(student, tutor, tutor.lesson)
        elif action == "book a group seat":
            await self.book(student, tutor, tutor.group)
        elif action == "book with package credit":
            await self.book(student, tutor, tutor.lesson, packageId=student.packages[tutor.id])
        elif action == "book and pay by card":
            await self.card(student, tutor)
        elif action == "rush a slot":
            await self.rush(tutor)
        elif action in ("reschedule", "cancel"):
            await self.change(action, student)

    async def rush(self, tutor: Tutor) -> None:
        """A popular slot opens: several students at once ask for one lesson or group seat."""
        service = self.rng.choice([tutor.lesson, tutor.group])
        start = self.rng.choice(self.starts)
        students = self.rng.sample(self.students, RUSH)
        await asyncio.gather(
            *(self.book(s, tutor, service, start=start) for s in students),
            return_exceptions=True,  # a Lost one is counted; the others stand
        )

    async def book(self, student: Student, tutor: Tutor, service: str, **more: Any) -> str | None:
        input = {
            "serviceId": service,
            "tutorId": tutor.id,
            "start": self.rng.choice(self.starts),
            "timeZone": "Europe/Berlin",
            # Safe to repeat on another process when the connection is lost.
            "idempotencyKey": uuid.uuid4().hex,
            **more,
        }
        data = await self.api.gql(CREATE, {"input": input}, student.token, retry=True)
        if data is None:
            return None
        result = data["createBooking"]
        self.api.stats.answers[result["__typename"]] += 1
        if result["__typename"] != "BookingCreated":
            return None
        booking = result["booking"]
        if booking["id"] not in self.expected:  # a repeat answers with the first booking
            student.bookings.append(booking["id"])
        self.expected[booking["id"]] = Expected(tutor.id, booking["status"], booking["start"])
        return str(booking["id"])

    async def card(self, student: Student, tutor: Tutor) -> None:
        """A priced booking held for payment; then the payer pays (Stripe's signed webhook, to
        any process, sometimes delivered twice), pays with package credit, or walks away."""
        booking_id = await self.book(student, tutor, tutor.paid)
        if booking_id is None:
            return
        choice = self.rng.random()
        if choice < 0.5:
            sessions = [
                s
                for s in self.api.cluster.stripe.sessions.values()
                if s["metadata"].get("booking_id") == str(pk(booking_id))
            ]
            if sessions:
                event = self.api.cluster.stripe.pay(sessions[0]["id"])
                self.paid.append((event, booking_id))
                await self.stripe(event, booking_id)
        elif choice < 0.75:
            input = {"bookingId": booking_id, "packageId": student.packages[tutor.id]}
            self.busy.add(booking_id)
            try:
                data = await self.api.gql(REDEEM, {"input": input}, student.token, retry=False)
            except Lost:
                self.expected[booking_id].certain = False
                raise
            finally:
                self.busy.discard(booking_id)
            if data is not None:
                result = data["redeemPackage"]
                self.api.stats.answers[f"redeem: {result['__typename']}"] += 1
                if result["__typename"] == "PackageRedeemed":
                    self.expected[booking_id].status = result["booking"]["status"]
        # else: the hold lapses and the sweep expires it.

    async def stripe(self, event: dict[str, Any], booking_id: str) -> None:
        body, headers = signed(event)
        response = await self.api.post("/webhooks/stripe", True, content=body, headers=headers)
        outcome = response.json().get("outcome") if response.status_code == 200 else None
        self.api.stats.webhooks[str(outcome or response.status_code)] += 1
        if outcome == "paid: confirmed":
            self.expected[booking_id].status = "CONFIRMED"

    async def replay(self) -> None:
        """Stripe delivers an event again (it does, at least once): it must change nothing."""
        if self.paid:
            event, booking_id = self.rng.choice(self.paid)
            await self.stripe(event, booking_id)

    async def change(self, action: str, student: Student) -> None:
        mine = [
            b
            for b in student.bookings
            if b not in self.busy
            and self.expected[b].certain
            and self.expected[b].status == "CONFIRMED"
        ]
        if not mine:
            return
        booking_id = self.rng.choice(mine)
        expected = self.expected[booking_id]
        self.busy.add(booking_id)
        try:
            if action == "reschedule":
                new_start = self.rng.choice(self.starts)
                input = {"bookingId": booking_id, "newStart": new_start}
                data = await self.api.gql(RESCHEDULE, {"input": input}, student.token, False)
                result = data and data["rescheduleBooking"]
                if result and result["__typename"] == "BookingRescheduled":
                    expected.start = result["booking"]["start"]
            else:
                input = {"bookingId": booking_id, "reason": "soak"}
                data = await self.api.gql(CANCEL, {"input": input}, student.token, False)
                result = data and data["cancelBooking"]
                if result and result["__typename"] == "BookingCancelled":
                    expected.status = result["booking"]["status"]
            if result:
                self.api.stats.answers[f"{action}: {result['__typename']}"] += 1
        except Lost:
            expected.certain = False
            raise
        finally:
            self.busy.discard(booking_id)
