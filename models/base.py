"""Column conventions shared by every table: UUID keys, UTC timestamps and enum columns."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from sqlalchemy import Column, DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

E = TypeVar("E", bound=StrEnum)

# What tells the time: the wall clock in the app, one the test sets in tests. Code below the app
# takes `now` or a Clock, never reads the wall clock itself.
Clock = Callable[[], datetime]


def id_field() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


# When a row was made: the `now` its writer was given, never a default (which would read the wall
# clock). An annotation rather than a default, so mypy names every constructor that leaves it out.
CreatedAt = Annotated[datetime, Field(sa_type=DateTime(timezone=True), nullable=False)]


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its text (VARCHAR, no PostgreSQL enum type to migrate) and read back
    as the member, so code compares and passes members, and the type checker sees them."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def enum_field(enum: type[StrEnum], length: int = 20) -> Any:
    return Field(sa_column=Column(EnumText(enum, length), nullable=False))
