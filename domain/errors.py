"""What a user can fix or must be told. Raised inside a unit of work, so nothing half-written
is committed; the GraphQL layer turns each into a member of the mutation's result union."""

from __future__ import annotations


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
