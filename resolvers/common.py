"""How resolvers turn domain outcomes into GraphQL: union members, or top-level errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import GraphQLError

from booking_api.context import forbidden
from domain.errors import Forbidden, InvalidInput, NotFound, UserError
from schema.errors import bad_user_input, user_error

T = TypeVar("T")


async def mutate(work: Awaitable[T], shape: Callable[[T], Any]) -> Any:
    """Run one service call: its result shaped, a user error as data, a refusal as FORBIDDEN."""
    try:
        value = await work
    except UserError as error:
        return user_error(error)
    except Forbidden as error:
        raise forbidden(error.message) from None
    return shape(value)


async def query(work: Awaitable[T]) -> T:
    """For fields with no result union: user errors become top-level errors with a code."""
    try:
        return await work
    except InvalidInput as error:
        raise bad_user_input(error.message, error.field) from None
    except NotFound as error:
        raise GraphQLError(error.message, extensions={"code": "NOT_FOUND"}) from None
    except Forbidden as error:
        raise forbidden(error.message) from None
