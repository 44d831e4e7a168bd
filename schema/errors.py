"""User errors as data: the members of result unions, built from domain.errors."""

from __future__ import annotations

import strawberry

from domain import errors


@strawberry.interface
class UserError:
    message: str


@strawberry.type
class InvalidInput(UserError):
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, as a dotted path: input.start."
    )


@strawberry.type
class NotFound(UserError):
    pass


@strawberry.type
class OverlappingRules(UserError):
    pass


def user_error(error: errors.UserError) -> UserError:
    """The schema member for a domain error (each mutation's union lists the ones it can raise)."""
    if isinstance(error, errors.InvalidInput):
        return InvalidInput(message=error.message, field=error.field)
    if isinstance(error, errors.NotFound):
        return NotFound(message=error.message)
    if isinstance(error, errors.OverlappingRules):
        return OverlappingRules(message=error.message)
    raise TypeError(f"No schema type for {type(error).__name__}")
