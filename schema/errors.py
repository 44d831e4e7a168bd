"""User errors as data: the members of result unions, built from domain.errors."""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import strawberry
from graphql import GraphQLError

from domain import errors
from domain.bookings import ALTERNATIVES
from domain.errors import NotEligibleReason, PackageUnusableReason, Policy
from schema.bounds import AtMost

if TYPE_CHECKING:
    from schema.slots import Slot


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


@strawberry.type
class StudentBusy(UserError):
    pass


@strawberry.type(
    description="Not done: the operation's time budget ran out before or during this change, "
    "which was rolled back. One item of a bulk change (a single change answers TIMEOUT)."
)
class TimedOut(UserError):
    pass


# The GraphQL enums are the domain's own: a member the domain raises is one the schema has.
strawberry.enum(Policy)
strawberry.enum(NotEligibleReason)
strawberry.enum(PackageUnusableReason)


@strawberry.type
class PolicyViolation(UserError):
    policy: Policy


@strawberry.type
class NotEligible(UserError):
    reason: NotEligibleReason


@strawberry.type
class PackageUnusable(UserError):
    reason: PackageUnusableReason


@strawberry.type
class SlotUnavailable(UserError):
    alternatives: list[Annotated[Slot, strawberry.lazy("schema.slots")]] = strawberry.field(
        description="A few free slots near the one asked for.",
        extensions=[AtMost(ALTERNATIVES)],
    )


def bad_user_input(message: str, field: str | None) -> GraphQLError:
    """What a user can fix, where the field has no result union: a top-level error."""
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": field})


@singledispatch
def user_error(error: errors.UserError) -> UserError:
    """The schema member for a domain error (each mutation's union lists the ones it can raise).

    One registration per domain error, below."""
    raise TypeError(f"No schema type for {type(error).__name__}")


@user_error.register
def _(error: errors.InvalidInput) -> UserError:
    return InvalidInput(message=error.message, field=error.field)


@user_error.register
def _(error: errors.NotFound) -> UserError:
    return NotFound(message=error.message)


@user_error.register
def _(error: errors.OverlappingRules) -> UserError:
    return OverlappingRules(message=error.message)


@user_error.register
def _(error: errors.StudentBusy) -> UserError:
    return StudentBusy(message=error.message)


@user_error.register
def _(error: errors.TimedOut) -> UserError:
    return TimedOut(message=error.message)


@user_error.register
def _(error: errors.PolicyViolation) -> UserError:
    return PolicyViolation(message=error.message, policy=error.policy)


@user_error.register
def _(error: errors.PackageUnusable) -> UserError:
    return PackageUnusable(message=error.message, reason=error.reason)


@user_error.register
def _(error: errors.NotEligible) -> UserError:
    return NotEligible(message=error.message, reason=error.reason)


@user_error.register
def _(error: errors.SlotUnavailable) -> UserError:
    from schema.people import Tutor
    from schema.slots import slot_of

    return SlotUnavailable(
        message=error.message,
        alternatives=[
            slot_of(Tutor.from_row(a.tutor), a.duration, a.slot, ZoneInfo(a.zone))
            for a in error.alternatives
        ],
    )
