"""What a user can fix or must be told. Raised inside a unit of work, so nothing half-written
is committed; the GraphQL layer turns each into a member of the mutation's result union."""

from __future__ import annotations

from typing import Any


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


class PolicyViolation(UserError):
    def __init__(self, message: str, policy: str) -> None:
        super().__init__(message)
        self.policy = policy


class NotEligible(UserError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SlotUnavailable(UserError):
    """The time is taken; `alternatives` are free slots nearby, as (tutor row, duration, slot)."""

    def __init__(self, message: str, alternatives: list[Any]) -> None:
        super().__init__(message)
        self.alternatives = alternatives


class PackageUnusable(UserError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
