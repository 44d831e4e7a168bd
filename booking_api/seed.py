"""Demo data for GraphiQL: a tutor and a student, with tokens to use as them."""

from __future__ import annotations

from booking_api.auth import Identity, mint_token
from booking_api.db import Database, create_engine
from booking_api.settings import Settings
from domain import people
from domain.errors import InvalidInput

DEMO_TUTOR = Identity(sub="demo-tutor", name="Ada Tutor", email="ada@example.com")
DEMO_STUDENT = Identity(sub="demo-student", name="Sam Student", email="sam@example.com")


async def seed_demo(settings: Settings, url: str) -> str:
    db = Database(create_engine(url, pool_size=2))
    try:
        try:
            tutor = await people.create_tutor_profile(
                db, DEMO_TUTOR, DEMO_TUTOR.name or "", "Europe/London"
            )
        except InvalidInput:
            existing = await people.get_tutor_of_user(db, DEMO_TUTOR.sub)
            assert existing is not None
            tutor = existing
        await people.ensure_student(db, DEMO_STUDENT)
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
        f"GraphiQL: {settings.public_base_url}/graphql",
    ]
    return "\n".join(lines)
