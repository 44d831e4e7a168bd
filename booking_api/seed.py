"""Demo data for GraphiQL: a tutor with hours and a free service, a student, and their tokens."""

from __future__ import annotations

from datetime import time

from booking_api.clock import utcnow
from domain import availability, people, service_rules, services
from infra.auth import Identity, mint_token
from infra.db import service_database
from infra.settings import Settings

DEMO_TUTOR = Identity(sub="demo-tutor", name="Ada Tutor", email="ada@example.com")
DEMO_STUDENT = Identity(sub="demo-student", name="Sam Student", email="sam@example.com")


async def seed_demo(settings: Settings, url: str, base_url: str) -> str:
    db = service_database(settings, url, pool_size=2)
    now = utcnow()
    try:
        tutor = await people.get_tutor_of_user(db, DEMO_TUTOR.sub)
        if tutor is None:  # first run: make everything; later runs only print the tokens
            tutor = await people.create_tutor_profile(
                db, DEMO_TUTOR, DEMO_TUTOR.name or "", "Europe/London", now
            )
            # Weekdays 09:00-17:00 London time, and a free 30 or 60 minute lesson.
            rules = [availability.RuleInput(day, time(9), time(17)) for day in range(5)]
            await availability.create_schedule(
                db, DEMO_TUTOR, "Teaching hours", "Europe/London", rules, True, now
            )
            await services.create_service(
                db,
                DEMO_TUTOR,
                service_rules.ServiceRules(
                    title="Trial lesson",
                    durations=[service_rules.DurationInput(60), service_rules.DurationInput(30)],
                    minimum_notice_minutes=120,
                ),
                now,
            )
        await people.ensure_student(db, DEMO_STUDENT, now)
    finally:
        await db.engine.dispose()
    secret = settings.jwt_secret()
    lines = [
        f"Demo tutor: {tutor.display_name} ({tutor.time_zone})",
        "",
        "Tutor token (Authorization: Bearer ...):",
        mint_token(secret, DEMO_TUTOR.sub, name=DEMO_TUTOR.name, email=DEMO_TUTOR.email),
        "",
        "Student token:",
        mint_token(secret, DEMO_STUDENT.sub, name=DEMO_STUDENT.name, email=DEMO_STUDENT.email),
        "",
        f"GraphiQL: {base_url}/graphql",
        "Try: { viewer { tutor { id services { id title durations { minutes } } } } }",
        "then availableSlots(input: {serviceId: ..., from: ..., to: ..., timeZone: ...}).",
    ]
    return "\n".join(lines)
