"""What a user can fix or must be told. Raised inside a unit of work, so nothing half-written
is committed; the GraphQL layer turns each into a member of the mutation's result union."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.slots import Slot
from models import ServiceDuration, Tutor


class Policy(StrEnum):
    """Which of the tutor's rules a change broke (the GraphQL enum Policy is this class)."""

    MINIMUM_NOTICE = "MINIMUM_NOTICE"
    BOOKING_WINDOW = "BOOKING_WINDOW"
    CANCELLATION_NOTICE = "CANCELLATION_NOTICE"
    RESCHEDULE_NOTICE = "RESCHEDULE_NOTICE"
    MAX_RESCHEDULES = "MAX_RESCHEDULES"
    MONTHLY_ALLOWANCE_USED = "MONTHLY_ALLOWANCE_USED"
    PACKAGE_REQUIRED = "PACKAGE_REQUIRED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    PAYMENT_UNAVAILABLE = "PAYMENT_UNAVAILABLE"
    LAST_OWNER = "LAST_OWNER"
    # Reviews: only of a completed session, once, within the review window after it.
    NOT_COMPLETED = "NOT_COMPLETED"
    ALREADY_REVIEWED = "ALREADY_REVIEWED"
    REVIEW_WINDOW = "REVIEW_WINDOW"


class NotEligibleReason(StrEnum):
    NOT_ENROLLED = "NOT_ENROLLED"
    NOT_OFFERED_BY_TUTOR = "NOT_OFFERED_BY_TUTOR"


class PackageUnusableReason(StrEnum):
    EXPIRED = "EXPIRED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    WRONG_TUTOR = "WRONG_TUTOR"
    WRONG_DURATION = "WRONG_DURATION"
    NOT_OWNER = "NOT_OWNER"


class UserError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UserError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(UserError):
    pass


class OverlappingRules(UserError):
    pass


class Forbidden(Exception):
    """The viewer may not do this: a top-level FORBIDDEN error, not a union member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StudentBusy(UserError):
    pass


class TimedOut(UserError):
    """Not done: the operation's time budget ran out before or during this change, which was
    rolled back (one item of a bulk change; a single change answers TIMEOUT instead)."""


class PolicyViolation(UserError):
    def __init__(self, message: str, policy: Policy) -> None:
        super().__init__(message)
        self.policy = policy


class NotEligible(UserError):
    def __init__(self, message: str, reason: NotEligibleReason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Alternative:
    """A free slot near the one asked for: whose, how long, when, and the zone to write it in.

    The rows are detached copies: the error outlives the transaction, whose rollback expires
    its rows."""

    tutor: Tutor
    duration: ServiceDuration
    slot: Slot
    zone: str


class SlotUnavailable(UserError):
    """The time is taken; `alternatives` are free slots nearby."""

    def __init__(self, message: str, alternatives: list[Alternative]) -> None:
        super().__init__(message)
        self.alternatives = alternatives


class PackageUnusable(UserError):
    def __init__(self, message: str, reason: PackageUnusableReason) -> None:
        super().__init__(message)
        self.reason = reason
