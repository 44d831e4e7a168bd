"""Tutor and student profiles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import profiles
from domain.errors import InvalidInput, NotFound
from infra.auth import Identity
from infra.db import Database
from models import Student, Tutor

MAX_NAME = 200
MAX_THRESHOLD = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A signed-in student's id follows from their sub, so the id a query shows before their profile
# exists is the one it gets when a mutation first needs it. Rows made before keep their ids.
STUDENT_IDS = uuid.UUID("f3de1b4a-028a-4019-b4e2-6f096268c1fb")


def student_id_of(sub: str) -> uuid.UUID:
    return uuid.uuid5(STUDENT_IDS, sub)


def student_from_claims(identity: Identity, now: datetime) -> Student:
    """The profile a signed-in student has until a mutation stores it, and what it stores."""
    return Student(
        id=student_id_of(identity.sub),
        user_id=identity.sub,
        display_name=(identity.name or identity.sub)[:MAX_NAME],
        email=(identity.email or "")[:320],
        created_at=now,
    )


def clean_name(value: str, field: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput("The name must not be empty", field)
    if len(name) > MAX_NAME:
        raise InvalidInput(f"The name must be at most {MAX_NAME} characters", field)
    return name


def clean_email(value: str, field: str) -> str:
    email = value.strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise InvalidInput("Give a valid email address", field)
    return email


def name_or_email_matches(text: str) -> ColumnElement[bool]:
    """Students whose name or email contains the text, in any case (`%` and `_` are literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(col(Student.display_name).ilike(pattern), col(Student.email).ilike(pattern))


def claimed_email(identity: Identity) -> str | None:
    """The token's email claim when it is a usable address (a bad claim is not the user's doing)."""
    try:
        return clean_email(identity.email, "email") if identity.email else None
    except InvalidInput:
        return None


async def tutor_of_user(session: AsyncSession, user_id: str) -> Tutor | None:
    return (await session.exec(select(Tutor).where(Tutor.user_id == user_id))).first()


async def create_tutor_profile(
    db: Database,
    identity: Identity,
    display_name: str,
    time_zone: str,
    now: datetime,
    email: str | None = None,
) -> Tutor:
    name = clean_name(display_name, "input.displayName")
    # Without one given, booking emails go to the address the sign-in vouches for.
    address = clean_email(email, "input.email") if email is not None else claimed_email(identity)
    try:
        async with db.transaction() as session:
            if await tutor_of_user(session, identity.sub) is not None:
                raise InvalidInput("You already have a tutor profile")
            tutor = Tutor(
                user_id=identity.sub,
                display_name=name,
                time_zone=time_zone,
                email=address,
                created_at=now,
            )
            session.add(tutor)
    except IntegrityError:
        # Two requests raced past the check: the unique user_id decided.
        raise InvalidInput("You already have a tutor profile") from None
    return tutor


@dataclass(frozen=True)
class TutorChanges:
    """What updateTutorProfile changes; None leaves a field as it is (an empty bio, avatar URL
    or list of origins clears it)."""

    display_name: str | None = None
    time_zone: str | None = None
    email: str | None = None
    clear_email: bool = False
    low_balance_threshold: int | None = None
    bio: str | None = None
    avatar_url: str | None = None
    embed_origins: Sequence[str] | None = None


async def update_tutor_profile(db: Database, identity: Identity, changes: TutorChanges) -> Tutor:
    async with db.transaction() as session:
        tutor = await tutor_of_user(session, identity.sub)
        if tutor is None:
            raise NotFound("You have no tutor profile: create one first")
        if changes.display_name is not None:
            tutor.display_name = clean_name(changes.display_name, "input.displayName")
        if changes.time_zone is not None:
            tutor.time_zone = changes.time_zone
        if changes.clear_email:
            tutor.email = None
        elif changes.email is not None:
            tutor.email = clean_email(changes.email, "input.email")
        threshold = changes.low_balance_threshold
        if threshold is not None:
            if not 0 <= threshold <= MAX_THRESHOLD:
                raise InvalidInput(f"Choose 0 to {MAX_THRESHOLD}", "input.lowBalanceThreshold")
            tutor.low_balance_threshold = threshold
        if changes.bio is not None:
            tutor.bio = profiles.clean_bio(changes.bio)
        if changes.avatar_url is not None:
            tutor.avatar_url = profiles.clean_avatar_url(changes.avatar_url)
        if changes.embed_origins is not None:
            tutor.embed_origins = profiles.clean_origins(changes.embed_origins)
        session.add(tutor)
    return tutor


@dataclass(frozen=True)
class StudentChanges:
    """What updateStudentProfile changes; None leaves a field as it is ("" clears the phone)."""

    display_name: str | None = None
    time_zone: str | None = None
    phone: str | None = None


async def update_student_profile(
    db: Database, identity: Identity, changes: StudentChanges, now: datetime
) -> Student:
    """The signed-in user's student profile (stored now if it was not yet). Its zone is the one
    reminders and emails show from then on; bookings keep the phone they were made with."""
    async with db.transaction() as session:
        student = await student_of_user(session, identity, now, lock=True)
        if changes.display_name is not None:
            student.display_name = clean_name(changes.display_name, "input.displayName")
        if changes.time_zone is not None:
            student.time_zone = changes.time_zone
        if changes.phone is not None:
            student.phone = profiles.clean_phone(changes.phone, "input.phone")
        session.add(student)
    return student


async def ensure_student(db: Database, identity: Identity, now: datetime) -> Student:
    """The signed-in user's student profile, stored from the token's claims if it is not yet."""
    async with db.transaction() as session:
        return await student_of_user(session, identity, now)


async def viewer_student(db: Database, identity: Identity, now: datetime) -> Student:
    """The signed-in user's student profile, read only: before any mutation stored it, the one
    the token's claims describe, with the id it will be stored under. Queries never write."""
    async with db.session() as session:
        stored = (
            await session.exec(select(Student).where(Student.user_id == identity.sub))
        ).first()
    return stored or student_from_claims(identity, now)


async def student_of_user(
    session: AsyncSession, identity: Identity, now: datetime, lock: bool = False
) -> Student:
    """ensure_student, inside a unit of work that is already open (`lock`: hold its row)."""
    query = select(Student).where(Student.user_id == identity.sub)
    if lock:
        query = query.with_for_update(key_share=True)
    existing = (await session.exec(query)).first()
    if existing is not None:
        return existing
    claimed = student_from_claims(identity, now)
    await session.exec(
        insert(Student)
        .values(
            id=claimed.id,
            user_id=claimed.user_id,
            display_name=claimed.display_name,
            email=claimed.email,
            created_at=now,
        )
        # Any conflict: a concurrent first use stored the same row (same user_id, same id).
        .on_conflict_do_nothing()
    )
    return (await session.exec(query)).one()


async def get_tutor(db: Database, tutor_id: uuid.UUID) -> Tutor | None:
    async with db.session() as session:
        return await session.get(Tutor, tutor_id)


async def get_tutor_of_user(db: Database, user_id: str) -> Tutor | None:
    async with db.session() as session:
        return await tutor_of_user(session, user_id)


async def visible_student(
    db: Database, identity: Identity | None, student_id: uuid.UUID, now: datetime
) -> Student | None:
    """The viewer's own student profile (bookings.visible_student adds their tutors')."""
    if identity is None:
        return None
    async with db.session() as session:
        student = await session.get(Student, student_id)
    if student is None and student_id == student_id_of(identity.sub):
        student = await viewer_student(
            db, identity, now
        )  # not stored yet, or stored under an old id
        return student if student.id == student_id else None
    if student is None or student.user_id != identity.sub:
        return None
    return student
